"""Tiny studies: rows and files per method, pairing, resume after a kill, report, CLI wiring."""

import argparse

import numpy as np
import pandas as pd
import pytest

import jaxfair.bo.study as study_mod
from jaxfair.bo import report, run_study
from jaxfair.bo.study import TIMING_COLUMNS, load_rows

pytestmark = pytest.mark.long

TINY = dict(trials=1, iterations=2, n_init=3, users_per_eval=200, exact_users=2000, seed=3, progress=False)
FAST = {"grid_size": 41, "mc_samples": 32}


def _opts(methods):
    return {m: dict(FAST) for m in methods if m != "random"}


@pytest.mark.parametrize("method", ["random", "ei", "fair-ehvi", "nehvi", "eic"])
def test_tiny_study_per_method(tmp_path, method):
    opts = _opts([method])
    if method == "nehvi":  # q > 1 is what this test checks; 8 MC samples keep qNEHVI's box decompositions cheap
        opts[method].update(q=3, mc_samples=8)
    rows = run_study("toy", [method], out=tmp_path, method_options=opts, **TINY)
    assert len(rows) == 5
    assert list(rows["eval"]) == [0, 1, 2, 3, 4]
    assert list(rows["iteration"]) == [0, 0, 0, 1, 2]
    cols = ["utility", "der", "utility_exact", "der_exact", "alpha_label0", "alpha_label1"]
    cols += ["group_utility_majority", "group_utility_minority"]  # columns named after labels and groups
    assert np.isfinite(rows[cols].to_numpy()).all()
    np.testing.assert_allclose(rows["alpha_label0"] + rows["alpha_label1"], 1.0)
    assert (tmp_path / "study.json").exists() and (tmp_path / "rows.csv").exists()
    assert (tmp_path / "rows" / f"{method}__trial000.csv").exists()
    bo = rows[rows["phase"] == "bo"]
    if method in ("fair-ehvi", "nehvi"):
        assert (bo["n_batch"] > 1).all()
    if method != "random":
        assert (bo["t_fit"] > 0).all()


def test_paired_initial_design_and_report(tmp_path):
    methods = ["random", "ei", "fair-ehvi"]
    rows = run_study("toy", methods, out=tmp_path, method_options=_opts(methods), **{**TINY, "trials": 2})
    init = rows[rows["phase"] == "init"]
    for _, g in init.groupby(["trial", "eval"]):
        assert g["x0"].nunique() == 1 and g["utility"].nunique() == 1  # same α, same user batch
    assert init.groupby("trial")["x0"].first().nunique() == 2  # trials differ
    res = report(tmp_path)
    for name in (
        "summary.csv",
        "summary.md",
        "wilcoxon.csv",
        "wilcoxon.md",
        "frontier_toy.png",
        "hypervolume_toy.png",
        "summary_toy.png",
    ):
        assert (tmp_path / "report" / name).exists(), name
    assert set(res["wilcoxon"]["comparison"]) == {"fair-ehvi vs random", "fair-ehvi vs ei"}
    assert len(res["summary"]) == 3


def test_resume_after_kill_gives_identical_rows(tmp_path, monkeypatch):
    methods = ["random", "ei", "fair-ehvi"]
    kw = dict(method_options=_opts(methods), **{**TINY, "iterations": 3})
    full = run_study("toy", methods, out=tmp_path / "a", **kw)

    calls = {"n": 0}
    real = study_mod.propose

    def dying(*a, **k):
        calls["n"] += 1
        if calls["n"] == 4:  # die in the middle of the second method's BO iterations
            raise KeyboardInterrupt
        return real(*a, **k)

    monkeypatch.setattr(study_mod, "propose", dying)
    with pytest.raises(KeyboardInterrupt):
        run_study("toy", methods, out=tmp_path / "b", **kw)
    partial = load_rows(tmp_path / "b")
    assert 0 < len(partial) < len(full)
    monkeypatch.setattr(study_mod, "propose", real)
    resumed = run_study("toy", methods, out=tmp_path / "b", **kw)
    keep = [c for c in full.columns if c not in TIMING_COLUMNS]
    a = full[keep].sort_values(["method", "trial", "eval"]).reset_index(drop=True)
    b = resumed[keep].sort_values(["method", "trial", "eval"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b, check_exact=True)


def test_resume_refuses_other_config(tmp_path):
    run_study("toy", ["random"], out=tmp_path, **TINY)
    with pytest.raises(ValueError, match="different configuration"):
        run_study("toy", ["random"], out=tmp_path, **{**TINY, "users_per_eval": 100})


def test_bad_arguments():
    with pytest.raises(ValueError, match="methods"):
        run_study("toy", ["sgd"], **TINY)
    with pytest.raises(ValueError, match="trials"):
        run_study("toy", ["random"], **{**TINY, "trials": 0})
    with pytest.raises(ValueError, match="strategy"):
        run_study("toy", ["fair-ehvi"], method_options={"fair-ehvi": {"strategy": "best"}}, **TINY)


def test_cli_registers_bo_and_report(tmp_path):
    from jaxfair.bo.cli import add_subcommands

    parser = argparse.ArgumentParser()
    add_subcommands(parser.add_subparsers(dest="cmd"))
    args = parser.parse_args(
        [
            "bo",
            "--scenario",
            "toy",
            "--methods",
            "random",
            "--trials",
            "1",
            "--iterations",
            "1",
            "--n-init",
            "2",
            "--users",
            "100",
            "--exact-users",
            "1000",
            "--out",
            str(tmp_path),
        ]
    )
    assert args.func(args) == 0
    args = parser.parse_args(["report", str(tmp_path), "--no-figures"])
    assert args.func(args) == 0
    assert (tmp_path / "report" / "summary.md").exists()
