"""The command line end to end on small sizes."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from jaxfair.cli import main


def test_surface_cli_writes_figures_and_tables(tmp_path):
    out = tmp_path / "surf"
    assert main(["surface", "--scenario", "toy", "--users", "400", "--grid", "11", "--out", str(out)]) == 0
    for name in ("surface.png", "groups.png", "surface.csv", "direction.csv", "summary.json"):
        assert (out / name).stat().st_size > 0
    box = pd.read_csv(out / "surface.csv")
    assert len(box) == 121 and {"utility", "der"} <= set(box)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_users"] == 400 and summary["scenario"] == "toy"


def test_surface_cli_grid_method_matches_sweep(tmp_path):
    main(["surface", "--users", "300", "--grid", "9", "--out", str(tmp_path / "a"), "--method", "grid"])
    main(["surface", "--users", "300", "--grid", "9", "--out", str(tmp_path / "b"), "--method", "sweep"])
    a = pd.read_csv(tmp_path / "a" / "surface.csv")
    b = pd.read_csv(tmp_path / "b" / "surface.csv")
    pd.testing.assert_series_equal(a["utility"], b["utility"], atol=2 / 300)


def test_surface_cli_scenario_options(tmp_path):
    out = tmp_path / "o"
    main(["surface", "--users", "200", "--grid", "5", "--out", str(out), "--option", "n_candidates=5"])
    assert json.loads((out / "summary.json").read_text())["n_candidates"] == 5


def test_help_lists_commands():
    res = subprocess.run([sys.executable, "-m", "jaxfair.cli", "--help"], capture_output=True, text=True, check=True)
    assert "surface" in res.stdout
