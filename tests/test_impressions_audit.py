"""Impression logs as a new user meets them (issue #27 audit): a log filled with zeros is flagged,
α is named by the score columns as everywhere else, shares follow the one percent rule, and the
printed "best" says how far the log can tell it from the rest."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest

from jaxfair import scenarios
from jaxfair.cli import main
from jaxfair.scenarios.log_checks import ZeroFilledLabelsWarning

PREFS = "a=0.8,0.2;b=0.2,0.8"


def impression_frame(n_sessions: int = 600, m: int = 4, seed: int = 0) -> pd.DataFrame:
    """A top-1 log served uniformly at random (propensity 1/m): scores f_click/f_like, labels on the shown row only,
    plus the full labels (``full_*``) the log hides."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sessions):
        shown = rng.integers(m)
        for c in range(m):
            f = rng.random(2)
            y = (rng.random(2) < f).astype(float)
            on = c == shown
            rows.append(
                dict(
                    user=f"u{s // 2}",
                    session=s,
                    group="a" if (s // 2) % 3 else "b",
                    candidate=c,
                    shown=int(on),
                    p=1.0 / m if on else np.nan,
                    f_click=f[0],
                    f_like=f[1],
                    click=y[0] if on else np.nan,
                    like=y[1] if on else np.nan,
                    full_click=y[0],
                    full_like=y[1],
                )  # fmt: skip
            )
    return pd.DataFrame(rows)


BASE = ["--scores", "f_click,f_like", "--user", "user", "--group", "group", "--session", "session"]
BASE += ["--candidate", "candidate", "--prefs", PREFS, "--quiet"]


def _run(tmp_path, frame, *extra, labels="click,like"):
    path = tmp_path / "log.csv"
    frame.to_csv(path, index=False)
    return main(["surface", "--data", str(path), "--labels", labels, *BASE, "--out", str(tmp_path / "out"), *extra])


def test_zero_filled_impression_log_warns_and_points_at_shown(tmp_path, capsys):
    frame = impression_frame().fillna({"click": 0.0, "like": 0.0})
    assert _run(tmp_path, frame, "--replay", "--grid", "11") == 0
    err = capsys.readouterr().err
    assert "jaxfair: warning: labels: in every one of the 600 sessions" in err
    assert "--shown COL" in err and "docs/impressions.md" in err and err.count("warning") == 1
    # kept with the outputs, not only on the terminal
    recorded = json.loads((tmp_path / "out" / "summary.json").read_text())["warnings"]
    assert len(recorded) == 1 and recorded[0].startswith("ZeroFilledLabelsWarning: labels: in every one of the 600")
    with pytest.warns(ZeroFilledLabelsWarning, match="filled with 0"):  # the Python API says it too
        scenarios.from_frame(
            frame, user="user", group="group", session="session", candidate="candidate", scores=["f_click", "f_like"],
            labels=["click", "like"], replay=True, prefs={"a": [0.8, 0.2], "b": [0.2, 0.8]},
        )  # fmt: skip


def test_full_labels_and_real_impression_logs_do_not_warn(tmp_path, capsys):
    frame = impression_frame()
    assert _run(tmp_path, frame, "--replay", "--grid", "11", labels="full_click,full_like") == 0
    assert "warning" not in capsys.readouterr().err
    with warnings.catch_warnings():
        warnings.simplefilter("error", ZeroFilledLabelsWarning)  # the impression path fills its unshown labels itself
        assert _run(tmp_path, frame, "--shown", "shown", "--propensity", "p", "--grid", "11", "--n-boot", "50") == 0
    assert "warning" not in capsys.readouterr().err
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["warnings"] == []


def test_offpolicy_alpha_is_named_by_the_score_columns(tmp_path, capsys):
    assert _run(tmp_path, impression_frame(), "--shown", "shown", "--propensity", "p", "--grid", "11",
                "--n-boot", "50", "--prefs-set", "dirichlet:20:16") == 0  # fmt: skip
    out = tmp_path / "out"
    t = pd.read_csv(out / "direction.csv")
    assert {"alpha_f_click", "alpha_f_like"} <= set(t.columns) and "alpha_click" not in t.columns
    assert {"alpha_f_click", "alpha_f_like"} <= set(pd.read_csv(out / "over_set.csv").columns)
    s = json.loads((out / "summary.json").read_text())
    assert set(s["best_utility"]["alpha"]) == {"f_click", "f_like"} and s["scores"] == ["f_click", "f_like"]
    assert s["labels"] == ["click", "like"]  # the preferences still weight the labels


def test_simulated_truth_names_alpha_as_the_read_back_surface(tmp_path):
    out = tmp_path / "sim"
    argv = ["simulate-log", "--scenario", "toy", "--logging", "dirichlet:5@0.5,0.5", "--sessions", "600"]
    assert main([*argv, "--grid", "11", "--n-boot", "50", "--out", str(out), "--quiet"]) == 0
    s = json.loads((out / "summary.json").read_text())
    read_back = [a.strip("'") for a in s["read_back"].split()[1:]]
    assert main([*read_back, "--grid", "11", "--n-boot", "50", "--out", str(tmp_path / "back"), "--quiet"]) == 0
    truth, back = pd.read_csv(out / "truth.csv"), pd.read_csv(tmp_path / "back" / "direction.csv")
    alpha = [c for c in truth.columns if c.startswith("alpha_")]
    assert alpha == ["alpha_score_label0", "alpha_score_label1"] and alpha == [
        c for c in back.columns if c.startswith("alpha_")
    ]
    assert set(s["truth_best"]["alpha"]) == {"score_label0", "score_label1"}


def test_summary_lines_use_the_percent_rule_and_back_the_best(tmp_path, capsys):
    assert _run(tmp_path, impression_frame(), "--shown", "shown", "--propensity", "p", "--grid", "21",
                "--n-boot", "50") == 0  # fmt: skip
    printed = capsys.readouterr().out
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    n = s["not_identified"]["n_alpha"] - s["not_identified"]["n_not_identified"]
    from jaxfair.utils.percent import percent

    assert f"identified: {percent(n, 21)} of 21 α" in printed
    assert printed.count("(impression log)") == 1 and ": impression log," not in printed
    # a propensity column gives only the shown items' propensities: support deficiency is not checked, and said so
    assert "support deficiency not checked" in printed
    tie = s["best_utility"]["indistinguishable"]
    assert 1 <= tie["n"] <= tie["of"] == n and tie["w_range"][0] <= s["best_utility"]["w"] <= tie["w_range"][1]
    if tie["n"] > 1:
        assert f"the log cannot tell this best from {tie['n'] - 1} other identified α" in printed


def test_dm_says_its_cis_leave_out_the_outcome_model(tmp_path, capsys):
    args = ("--shown", "shown", "--propensity", "p", "--grid", "11", "--n-boot", "50", "--estimator", "dm")
    assert _run(tmp_path, impression_frame(), *args) == 0
    assert "DM: the CIs resample users with the outcome model held fixed" in capsys.readouterr().out


def test_best_at_the_edge_of_the_identified_region_is_flagged():
    from jaxfair.engine.grids import direction_grid, simplex_grid
    from jaxfair.surface.offpolicy import _at_edge

    grid = np.asarray(direction_grid(5), np.float64)
    ok = np.array([False, True, True, True, False])
    for u, edge in (([0, 1, 3, 2, 0], False), ([0, 3, 1, 2, 0], True), ([0, 1, 2, 3, 0], True)):
        assert _at_edge(grid, ok, pd.DataFrame({"global_utility": np.array(u, float)}), 5) is edge
    assert _at_edge(grid, np.ones(5, bool), pd.DataFrame({"global_utility": np.arange(5.0)}), 5) is False  # grid end
    tri = np.asarray(simplex_grid(3, 5), np.float64)  # 15 points, step 0.25
    centre = int(np.argmin(np.abs(tri - [0.5, 0.25, 0.25]).sum(axis=1)))
    u = pd.DataFrame({"global_utility": -np.abs(tri - tri[centre]).sum(axis=1)})
    assert _at_edge(tri, np.ones(len(tri), bool), u, 5) is False
    near = np.isclose(np.abs(tri - tri[centre]).sum(axis=1), 0.5)
    assert _at_edge(tri, ~(near & (tri[:, 0] > 0.5)), u, 5) is True
