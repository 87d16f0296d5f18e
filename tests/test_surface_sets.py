"""`jaxfair surface` over a preference set (issue #20 items 3-4) and for K >= 3 labels (issue #21 item 3)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

import jaxfair as jf
from jaxfair.cli import main
from jaxfair.surface import compute_surface


def test_surface_cli_prefs_set_writes_bands_spread_and_shares(tmp_path, capsys):
    out = tmp_path / "s"
    argv = ["surface", "--users", "300", "--grid", "9", "--prefs-set", "dirichlet:20:16", "--out", str(out)]
    assert main(argv + ["--robust-q", "0.5", "--robust-tau", "0.8"]) == 0
    for name in ("bands.png", "optimum_spread.png", "over_set.csv", "optima.csv", "surface.png", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    s = json.loads((out / "summary.json").read_text())
    assert s["prefs_set"]["kind"] == "dirichlet" and s["prefs_set"]["n_members"] == 16
    assert s["prefs_set"]["params"]["concentration"] == 20.0
    assert "not a confidence interval" in s["over_set_note"]
    for st in s["statements"]:
        assert 0.0 <= st["share"] <= 1.0
        assert (
            st["label"] == "robust (holds for every member of the set)"
            if st["share"] == 1
            else "holds for" in st["label"]
        )
    rc = s["robust_choice"]
    assert rc["q"] == 0.5 and rc["tau"] == 0.8 and len(rc["alpha"]) == 2
    over = pd.read_csv(out / "over_set.csv")
    assert len(over) == 4 * 9 + 1 and (over["utility_min"] <= over["utility_median"] + 1e-15).all()
    # the robust choice maximises the median (q = 0.5) among α with robust DER >= 0.8
    ok = over["robust_der"] >= 0.8
    assert rc["feasible"] == bool(ok.any())
    if ok.any():
        assert rc["utility_q"] == pytest.approx(over.loc[ok, "utility_median"].max())
    assert len(pd.read_csv(out / "optima.csv")) == 16
    text = capsys.readouterr().out
    assert "over the preference set (dirichlet, 16 members" in text and "robust choice" in text or "no α has" in text


@pytest.mark.parametrize("bad", [["--prefs-set", "gauss:3"], ["--robust-tau", "1.5"], ["--prefs-set", "dirichlet:0"]])
def test_surface_cli_prefs_set_errors_are_one_line(tmp_path, capsys, bad):
    assert main(["surface", "--users", "50", "--grid", "5", "--out", str(tmp_path / "x"), *bad]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("jaxfair: error:")


def test_statement_is_robust_for_a_tight_set_and_holds_for_a_share_of_a_wide_one():
    """Widening the set flips "robust" to "holds for X % of the set" (SPEC §9)."""
    sc = jf.scenarios.load("toy")
    kw = dict(n_users=400, n_grid=9, method="grid")
    tight = compute_surface(sc, prefs_set="dirichlet:1e9:16", **kw).summary["statements"][0]
    wide = compute_surface(sc, prefs_set="dirichlet:1:64", **kw).summary["statements"][0]
    assert tight["robust"] and tight["share"] == 1.0 and tight["label"].startswith("robust")
    assert not wide["robust"] and wide["share"] < 1.0 and wide["label"].startswith("holds for ")
    assert "is the most useful" in wide["statement"]


def test_surface_cli_three_labels_marks_the_grid_argmax(tmp_path):
    out = tmp_path / "k3"
    argv = ["surface", "--option", "n_labels=3", "--users", "300", "--grid", "11", "--out", str(out)]
    assert main(argv + ["--prefs-set", "dirichlet:30:8"]) == 0
    for name in ("simplex.png", "simplex_set.png", "simplex.csv", "frontier.csv", "over_set.csv"):
        assert (out / name).stat().st_size > 0, name
    s = json.loads((out / "summary.json").read_text())
    table = pd.read_csv(out / "simplex.csv")
    assert len(table) == len(jf.simplex_grid(3, 11))
    i = int(np.nanargmax(table["utility"]))
    assert s["best_utility"]["alpha"] == {f"label{k}": table[f"alpha_label{k}"][i] for k in range(3)}
    assert s["best_utility"]["utility"] == pytest.approx(table["utility"][i])
    j = int(np.nanargmax(table["der"]))
    assert s["best_der"]["der"] == pytest.approx(table["der"][j])
    assert s["grid"]["kind"] == "simplex" and s["method"] == "grid"


def test_surface_cli_four_labels_writes_the_frontier_table(tmp_path):
    out = tmp_path / "k4"
    assert main(["surface", "--option", "n_labels=4", "--users", "200", "--grid", "5", "--out", str(out)]) == 0
    f = pd.read_csv(out / "frontier.csv")
    t = pd.read_csv(out / "simplex.csv")
    assert f["der_level"].iloc[0] == "none" and f["der_level"].iloc[-1] == "max"
    levels = f["der_level"].iloc[1:-1].astype(float)
    rec = json.loads((out / "summary.json").read_text())["frontier_levels"]
    assert list(levels) == rec["levels"] and rec["der_min"] == pytest.approx(t["der"].min())
    assert (levels > rec["der_at_best_utility"]).all() and (levels < t["der"].max()).all()
    assert f["utility"].iloc[0] == pytest.approx(t["utility"].max())
    assert f["der"].iloc[-1] == pytest.approx(t["der"].max())
    for _, row in f.iloc[1:-1].iterrows():  # each level's α is the best utility among DER >= level
        ok = t["der"] >= float(row["der_level"])
        assert row["utility"] == pytest.approx(t.loc[ok, "utility"].max()) and row["der"] >= float(row["der_level"])
    assert (out / "frontier.png").exists() and (out / "marginals.png").exists()
    m = pd.read_csv(out / "marginals.csv")
    assert set(m["score"]) == {f"label{k}" for k in range(4)} and m["max_utility"].max() == pytest.approx(
        t["utility"].max()
    )


def test_frontier_levels_come_from_the_grids_der_range():
    """Real logs: every DER was > 0.989, so fixed levels 0.5 … 0.999 all chose one α. The levels
    now lie evenly between the best-utility α's DER and the largest DER the grid attains."""
    from jaxfair.surface.simplex import best_per_der_level, der_levels

    rng = np.random.default_rng(0)
    a = jf.simplex_grid(4, 11)
    der = 0.989 + 0.0107 * rng.random(len(a))  # the audit's range, 0.989 … 0.9997
    utility = 0.7 + 0.1 * rng.random(len(a)) - 5.0 * (der - 0.989)  # fairer costs utility
    table = pd.DataFrame({f"alpha_l{k}": a[:, k] for k in range(4)})
    table["utility"], table["der"], table["worst_best_ratio"] = utility, der, 0.9
    d0 = der[np.argmax(utility)]
    levels = der_levels(der, d0)
    assert len(levels) == 9 and np.all(np.diff(levels) > 0)
    assert d0 < levels[0] and levels[-1] < der.max()  # inside the observed range, above the unconstrained α
    gap = (der.max() - d0) / 10
    np.testing.assert_allclose(levels, d0 + gap * np.arange(1, 10), atol=gap / 10)  # evenly spaced, span it
    f, rec = best_per_der_level(table, [f"l{k}" for k in range(4)])
    assert list(f["der_level"][1:-1].astype(float)) == list(levels)  # the written level is the floor applied
    assert rec["kind"] == "grid range" and rec["levels"] == list(levels)
    assert (rec["der_min"], rec["der_max"], rec["der_at_best_utility"]) == (der.min(), der.max(), d0)
    assert "evenly spaced between the best-utility α's DER" in rec["rule"]
    assert f["level_rule"].iloc[1] == "level 1 of 9 between the best-utility α's DER and the largest DER"
    assert f[["alpha_l0", "alpha_l1", "alpha_l2", "alpha_l3"]].drop_duplicates().shape[0] > 3  # not one α
    for lv, (_, row) in zip(levels, f.iloc[1:-1].iterrows(), strict=True):
        assert row["der"] >= lv and row["utility"] == pytest.approx(utility[der >= lv].max())
    assert len(der_levels(der, der.max())) == 0  # the best-utility α is the DER-best: no floor binds


def test_surface_cli_three_label_logs(tmp_path):
    """Your own logs with three labels: a tiny CSV, prefs by group name."""
    rng = np.random.default_rng(0)
    rows = [
        dict(user=f"u{u}", grp="a" if u % 3 else "b", f1=rng.random(), f2=rng.random(), f3=rng.random(),
             y1=int(rng.random() < 0.5), y2=int(rng.random() < 0.5), y3=int(rng.random() < 0.5))
        for u in range(30)
        for _ in range(4)
    ]  # fmt: skip
    path = tmp_path / "logs.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    out = tmp_path / "k3logs"
    argv = ["surface", "--data", str(path), "--scores", "f1,f2,f3", "--labels", "y1,y2,y3", "--group", "grp"]
    argv += ["--user", "user", "--prefs", "a=0.6,0.2,0.2;b=0.2,0.2,0.6", "--grid", "6", "--out", str(out)]
    assert main(argv) == 0
    s = json.loads((out / "summary.json").read_text())
    assert s["labels"] == ["y1", "y2", "y3"] and set(s["prefs"]) == {"a", "b"}
    assert (out / "simplex.png").exists()


def test_surface_cli_sweep_refused_for_three_labels(tmp_path, capsys):
    argv = ["surface", "--option", "n_labels=3", "--method", "sweep", "--out", str(tmp_path / "x")]
    assert main(argv) == 2
    assert "K = 2" in capsys.readouterr().err
