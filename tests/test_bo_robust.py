"""Robust BO objectives over a preference set (issue #20 item 4) and the BO output labels (issue #21 item 7)."""

import json

import jax
import numpy as np
import pandas as pd
import pytest
import torch

from jaxfair import evaluate, scenarios
from jaxfair.bo import Evaluator, report, run_study
from jaxfair.bo.figures import scalarised_ylabel
from jaxfair.bo.objectives import parse_objectives
from jaxfair.bo.rows import RowNames
from jaxfair.bo.statistics import wilcoxon_note, wilcoxon_table
from jaxfair.preferences import PrefSet

TINY = dict(trials=1, iterations=0, n_init=3, users_per_eval=200, exact_users=1000, seed=3, progress=False)


@pytest.fixture(scope="module")
def toy():
    return scenarios.load("toy")


@pytest.fixture(scope="module")
def pset(toy):
    return PrefSet.dirichlet(toy.prefs, 5.0, q=9, seed=1, group_names=toy.group_names, label_names=toy.label_names)


def test_robust_objectives_equal_brute_force_per_member(toy, pset):
    ev = Evaluator(toy, users=300, exact_users=1000, prefs_set=pset, objectives="utility_q10,der_min")
    X = torch.linspace(0.0, 1.0, 7, dtype=torch.float64)[:, None]
    key = jax.random.PRNGKey(11)
    res = ev.evaluate(X, key=key)
    batch = toy.sample(key, 300)  # the batch the evaluator drew (attempt 0 uses the key itself)
    members = [evaluate(res.alphas, batch, pset.values[q], return_label_means=True) for q in range(pset.n_members)]
    u = np.stack([m.utility for m in members])
    d = np.stack([m.der for m in members])
    # float64 after one float32 label-sum kernel pass, both ways: only summation order differs (tolerance 1e-12).
    np.testing.assert_allclose(res.set_utility, u, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.set_der, d, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(res.Y[:, 0].numpy(), np.quantile(u, 0.10, axis=0), rtol=1e-12)
    np.testing.assert_allclose(res.Y[:, 1].numpy(), d.min(axis=0), rtol=1e-12)
    # member 0 of a Dirichlet set is the point: its values are the point values (the point's come
    # from the folded-utility kernel: equal to float32 rounding of the block sums, the engine's rule)
    np.testing.assert_allclose(res.set_utility[0], res.utility, rtol=1e-5, atol=1e-6)
    assert np.isfinite(res.Y.numpy()).all()


def test_prefs_set_bound_by_name(toy, pset):
    flipped = PrefSet(pset.values[:, ::-1], pset.group_names[::-1], pset.label_names, "explicit")
    X = torch.tensor([[0.3]], dtype=torch.float64)
    key = jax.random.PRNGKey(2)
    a = Evaluator(toy, users=200, prefs_set=pset, objectives="utility_q50,der_min").evaluate(X, key=key)
    b = Evaluator(toy, users=200, prefs_set=flipped, objectives="utility_q50,der_min").evaluate(X, key=key)
    np.testing.assert_array_equal(a.Y.numpy(), b.Y.numpy())
    other = PrefSet(pset.values, ("a", "b"), pset.label_names)
    with pytest.raises(ValueError, match="prefs_set: its groups"):
        Evaluator(toy, prefs_set=other)
    with pytest.raises(ValueError, match="prefs_set: objectives utility_q10,der_min"):
        Evaluator(toy, objectives="utility_q10,der_min")


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("utility_q10,der_min", ("utility_q10", "der_min")),
        (("utility", "der_min"), ("utility", "der_min")),
        ("utility_q0, der", ("utility_q0", "der")),
        ("utility_q100,der_min,provider_der", ("utility_q100", "der_min", "provider_der")),
        ("utility,der", ("utility", "der")),
    ],
)
def test_parse_objectives_accepts(spec, expected):
    assert parse_objectives(spec) == expected


@pytest.mark.parametrize(
    "spec",
    ["der,utility", "utility_q101,der", "utility_q05,der", "utility_q,der", "der_min", "utility,der,foo", "u,d"],
)
def test_parse_objectives_refuses(spec):
    with pytest.raises(ValueError, match="objectives: expected UTILITY,DER"):
        parse_objectives(spec)


def test_study_records_set_refuses_another_and_names_columns(tmp_path, toy, pset):
    rows = run_study(toy, ["random"], out=tmp_path, objectives="utility_q10,der_min", prefs_set=pset, **TINY)
    cfg = json.loads((tmp_path / "study.json").read_text())
    assert cfg["objectives"] == ["utility_q10", "der_min"]
    assert cfg["prefs_set"]["kind"] == "dirichlet" and cfg["prefs_set"]["n_members"] == 9
    assert len(cfg["prefs_set"]["values_sha256"]) == 64
    for c in ("alpha_label0", "alpha_label1", "group_utility_majority", "group_utility_exact_minority"):
        assert c in rows.columns
    for c in ("utility_q10", "der_min", "utility_q10_exact", "der_min_exact", "utility", "der"):
        assert np.isfinite(rows[c]).all()
    assert (rows["der_min"] <= rows["der"] + 1e-12).all()  # member 0 is the point
    other = PrefSet.dirichlet(toy.prefs, 5.0, q=9, seed=2, group_names=toy.group_names, label_names=toy.label_names)
    with pytest.raises(ValueError, match="prefs_set"):
        run_study(toy, ["random"], out=tmp_path, objectives="utility_q10,der_min", prefs_set=other, **TINY)
    # the same set resumes (nothing to do: every row is there)
    again = run_study(toy, ["random"], out=tmp_path, objectives="utility_q10,der_min", prefs_set=pset, **TINY)
    pd.testing.assert_frame_equal(again.drop(columns=list(_timing())), rows.drop(columns=list(_timing())))


def _timing():
    from jaxfair.bo.study import TIMING_COLUMNS

    return TIMING_COLUMNS


def test_old_positional_columns_still_report(tmp_path, toy):
    rows = run_study(toy, ["random"], out=None, **{**TINY, "trials": 2})
    old = rows.rename(
        columns={
            "alpha_label0": "alpha0",
            "alpha_label1": "alpha1",
            "group_utility_majority": "group_utility_0",
            "group_utility_minority": "group_utility_1",
            "group_utility_exact_majority": "group_utility_exact_0",
            "group_utility_exact_minority": "group_utility_exact_1",
        }
    )
    res = report(old, tmp_path / "report", figures=False)
    assert np.isfinite(res["metrics"]["final_worst_best_ratio"]).all()
    # a resumed old study keeps its positional columns
    names = RowNames.build(toy.label_names, toy.group_names, [old])
    assert names.alphas == ("alpha0", "alpha1") and names.group_utility_exact == ("group_utility_exact_0",) + (
        "group_utility_exact_1",
    )
    assert RowNames.build(toy.label_names, toy.group_names).alphas == ("alpha_label0", "alpha_label1")


def test_wilcoxon_note_small_samples():
    assert "0.0625" in wilcoxon_note(5) and "6 pairs" in wilcoxon_note(5)
    assert wilcoxon_note(6) == ""
    m = pd.DataFrame(
        dict(
            scenario="toy",
            method=["fair-ehvi"] * 3 + ["random"] * 3,
            trial=[0, 1, 2] * 2,
            mean_der=[0.9, 0.8, 0.95, 0.7, 0.6, 0.5],
        )
    )
    wil = wilcoxon_table(m, columns=("mean_der",))
    assert wil["note"].iloc[0].startswith("3 pairs: p >= 0.25")


def test_scalarised_ylabel_says_what_is_plotted():
    three = scalarised_ylabel(["utility_exact", "der_exact", "provider_der_exact"])
    assert "norm. global utility + norm. DER + norm. provider DER" in three
    assert "sum of 3, at most 3" in three
    robust = scalarised_ylabel(["utility_q10_exact", "der_min_exact"])
    assert "utility q10 % over set" in robust and "min DER over set" in robust and "sum of 2" in robust


def test_bo_data_dir_refused_for_synthetic(tmp_path, capsys):
    from jaxfair.cli import main

    assert main(["bo", "--scenario", "synthetic", "--data-dir", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["jaxfair: error: --data-dir: scenario 'synthetic' reads no data files"]
