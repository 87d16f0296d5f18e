"""The quickstart notebook runs top to bottom (so it never rots)."""

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

# make test-all only (issue #28: suite time): every call in the notebook is a path the default
# run covers — sweep2/evaluate (test_sweep.py), Evaluator (test_bo_evaluator.py), run_study and
# report (test_bo_study.py), diagnose_scenario and write_report (test_diagnose_cli.py), simulate
# and plot_dynamics (test_dynamics.py, test_dynamics_prefs_set.py); what only this adds is the
# Jupyter kernel executing the cells.
pytestmark = [pytest.mark.slow, pytest.mark.long]

NB = Path(__file__).resolve().parents[1] / "notebooks" / "quickstart.ipynb"


def test_quickstart_notebook_executes(tmp_path):
    nb = nbformat.read(NB, as_version=4)
    NotebookClient(nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.output_type == "error"]
    assert not errors
    images = [
        o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if "image/png" in o.get("data", {})
    ]
    assert len(images) >= 3  # surfaces + frontier + hypervolume
