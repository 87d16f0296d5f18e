"""The Ax 1.x example of docs/bo.md runs as written (``ax.api.Client`` over our evaluator).

Ax is the optional extra ``.[ax]`` (``make test`` installs it); without it this test is
skipped with that reason. The example is the documented block itself, so the page and the
test cannot drift apart.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest

DOC = pathlib.Path(__file__).resolve().parents[1] / "docs" / "bo.md"


def _ax_block() -> str:
    blocks = [
        b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S) if "from ax" in b
    ]
    assert len(blocks) == 1, "docs/bo.md should hold exactly one Ax example"
    return blocks[0]


@pytest.mark.long
def test_ax_client_example_runs(tmp_path, monkeypatch):
    pytest.importorskip("ax.api", reason="Ax is the optional extra .[ax]")
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(_ax_block(), str(DOC), "exec"), ns)  # noqa: S102 - our own documentation
    client, front, f = ns["client"], ns["front"], ns["f"]
    trials = client._experiment.trials  # noqa: SLF001 - checking what Ax did
    assert len(trials) == 5 and all(t.status.is_completed for t in trials.values())
    assert front, "a two-objective experiment has a non-empty Pareto frontier"
    for params, outcome, _, _ in front:
        assert 0.0 <= params["x0"] <= 1.0
        assert 0.0 <= outcome["der"][0] <= 1.0 and outcome["utility"][0] > 0
    snapshot = json.loads((tmp_path / "ax-jaxfair.json").read_text())
    assert snapshot  # the experiment was stored
    assert f.dim == 1
