"""Impression logs end to end (SPEC §10, issue #27): ``jaxfair simulate-log`` writes a log that
``jaxfair surface --shown`` reads back; the off-policy outputs carry their CIs and honesty columns,
never a number for a not-identified cell, and recommend only identified α."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jaxfair.cli import main

# Concentrated logging (C = 200 around w = 0.5): the ends of the w axis are never explored.
LOGGING = "dirichlet:200@0.5,0.5"


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("simlog")
    argv = ["simulate-log", "--scenario", "toy", "--logging", LOGGING, "--sessions", "1500", "--grid", "11"]
    assert main([*argv, "--n-boot", "50", "--out", str(out), "--quiet"]) == 0
    return out


def test_simulate_log_writes_log_truth_and_the_randomisation_answer(simulated, capsys):
    log = pd.read_csv(simulated / "log.csv")
    for col in ("session", "user", "group", "candidate", "retrieved", "shown", "propensity"):
        assert col in log.columns
    labels = [c for c in log.columns if c.startswith("label_")]
    shown = log["shown"] == 1
    assert log.loc[~shown, labels].isna().all().all() and log.loc[shown, labels].notna().all().all()
    assert log.groupby("session")["shown"].sum().eq(1).all()
    truth = pd.read_csv(simulated / "truth.csv")
    assert len(truth) == 11 and {"w", "global_utility", "der", "worst_best_ratio"} <= set(truth.columns)
    s = json.loads((simulated / "summary.json").read_text())
    assert s["randomisation_cost"] >= 0 and "randomising costs" in s["answer"]
    assert s["logging"]["spec"] == LOGGING and s["n_sessions"] == 1500
    assert "--shown shown" in s["read_back"] and str(simulated) in s["read_back"]


def _surface(simulated, out, *extra):
    s = json.loads((simulated / "summary.json").read_text())
    argv = s["read_back"].split()[1:]  # "jaxfair surface --data ..." without the program name
    argv = [a.strip("'") for a in argv]
    return main([*argv, "--grid", "21", "--n-boot", "50", "--out", str(out), "--quiet", *extra])


def test_surface_reads_the_simulated_log_back_off_policy(simulated, tmp_path, capsys):
    out = tmp_path / "surface"
    assert _surface(simulated, out) == 0
    printed = capsys.readouterr().out
    assert "estimator: dr (default)" in printed and f"declared {LOGGING}" in printed
    t = pd.read_csv(out / "direction.csv")
    groups = [c[len("utility_") :] for c in t.columns if c.startswith("utility_") and not c.endswith(("low", "high"))]
    assert len(t) == 21 and len(groups) == 2
    for g in groups:
        for c in ("ci_low", "ci_high"):
            assert f"utility_{g}_{c}" in t.columns
        for c in ("ess", "matched", "mean_weight", "deficient_share", "identified"):
            assert f"{c}_{g}" in t.columns
    for c in ("global_utility", "der", "worst_best_ratio"):
        assert {c, f"{c}_ci_low", f"{c}_ci_high"} <= set(t.columns)
    ident = t["identified"].astype(bool)
    assert ident.any() and not ident.all()  # C = 200 never explores the ends of the w axis
    assert t.loc[~ident, ["global_utility", "der", "global_utility_ci_low"]].isna().all().all()
    assert t.loc[ident, "global_utility"].notna().all()
    s = json.loads((out / "summary.json").read_text())
    for key in ("estimator", "logging", "clip", "n_sessions", "identified_share", "best_utility", "not_identified"):
        assert key in s
    assert s["estimator"] == "dr" and s["logging"]["declared"]["spec"] == LOGGING and s["n_sessions"] == 1500
    best = s["best_utility"]
    row = t.iloc[int(np.argmin(np.abs(t["w"] - best["w"])))]
    assert bool(row["identified"]) and best["chosen_among"] == "identified α only"
    assert s["identified_share"] == pytest.approx(ident.mean())
    assert (out / "groups.png").stat().st_size > 0


def test_surface_on_a_log_with_a_preference_set_and_ips(simulated, tmp_path, capsys):
    out = tmp_path / "surface-set"
    assert _surface(simulated, out, "--estimator", "ips", "--prefs-set", "dirichlet:50:8") == 0
    printed = capsys.readouterr().out
    assert "estimator: ips;" in printed and "over the preference set" in printed
    o = pd.read_csv(out / "over_set.csv")
    assert {"utility_min", "utility_median", "utility_max", "der_min"} <= set(o.columns)
    assert o.loc[~o["identified"].astype(bool), "utility_median"].isna().all()


def test_nothing_identified_recommends_nothing(simulated, tmp_path, capsys):
    out = tmp_path / "surface-none"
    assert _surface(simulated, out, "--min-ess", "1e9") == 0
    printed = capsys.readouterr().out
    assert "no recommendation" in printed
    s = json.loads((out / "summary.json").read_text())
    assert (
        s["best_utility"] is None and s["identified_share"] == 0.0 and "none is recommended" in s["best_utility_note"]
    )
