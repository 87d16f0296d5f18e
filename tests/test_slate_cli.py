"""`jaxfair surface --slate` end to end on small sizes, and its one-line errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import jaxfair as jf
from jaxfair.cli import main


def test_surface_cli_slate_writes_provider_figures(tmp_path):
    out = tmp_path / "s"
    assert (
        main(
            [
                "surface",
                "--scenario",
                "toy",
                "--users",
                "300",
                "--grid",
                "5",
                "--slate",
                "3",
                "--position-weights",
                "geometric",
                "--gamma",
                "0.5",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    summary = json.loads((out / "summary.json").read_text())
    assert summary["slate"] == 3 and summary["method"] == "grid"
    np.testing.assert_allclose(summary["position_weights"], [1.0, 0.5, 0.25])
    for g, v in summary["oracle_full_information_by_group"].items():
        assert v >= summary["oracle_by_group"][g] - 1e-6
        assert summary["regret_at_best_utility_by_group"][g]["full_information"] >= -1e-6
    d = pd.read_csv(out / "direction.csv")
    if "provider_der" in d:  # the scenario has provider groups
        assert (out / "tradeoff.png").stat().st_size > 0
        assert summary["provider"]["n_item_groups"] >= 2


@pytest.mark.parametrize(
    "args,match",
    [
        (["--slate", "0"], "slate"),
        (["--slate", "2.5"], "slate"),
        (["--slate", "50"], "--slate"),
        (["--slate", "2", "--position-weights", "0.5,1"], "position_weights"),
        (["--slate", "2", "--position-weights", "zipf"], "position-weights"),
        (["--slate", "2", "--position-weights", "geometric", "--gamma", "2"], "gamma"),
    ],
)
def test_surface_cli_bad_slate_arguments_are_one_line_errors(tmp_path, capsys, args, match):
    assert main(["surface", "--users", "50", "--grid", "3", "--out", str(tmp_path / "x")] + args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxfair: error:") and match in err[0]


def test_sweep2_refuses_slates_and_surface_uses_the_grid():
    rng = np.random.default_rng(0)
    b = jf.make_batch(rng.random((20, 4, 2)), rng.integers(0, 2, (20, 4, 2)), group=np.arange(20) % 2)
    with pytest.raises(ValueError, match="slate"):
        jf.sweep2(b, np.eye(2), slate=3)
