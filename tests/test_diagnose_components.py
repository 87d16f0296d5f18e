"""Diagnosis: retrieval quality / Theorem 3.3, component attribution, calibration, Lemma 2.3 check."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from reference import shapley3_ref, user_utility_ref
from strategies import batches

from jaxfair import make_batch, scenarios
from jaxfair.diagnose.attribution import attribute, oracle_retrieval_mask, random_retrieval_mask, shapley
from jaxfair.diagnose.calibration import expected_calibration_error, lemma23_check, reliability_table
from jaxfair.diagnose.retrieval import retrieval_diagnosis, retrieval_quality_per_user


@given(data=batches(), st_data=st.data())
@settings(max_examples=6)  # an identity checked per example; 12 took 15 s of the suite's 8 min (issue #28)
def test_attribution_shares_add_up_to_the_gap(data, st_data):
    scores, labels, mask, group, prefs = data
    assume(np.any(group == 0) and np.any(group == 1))
    batch = make_batch(scores, labels, mask, group)
    k = scores.shape[2]
    alpha = np.array(st_data.draw(st.lists(st.integers(1, 8), min_size=k, max_size=k)), float) / 8
    m = st_data.draw(st.integers(1, scores.shape[1]))
    at = attribute(alpha, batch, prefs, groups=(0, 1), m=m)
    shares = at.gap_shares
    assert sum(shares.values()) == pytest.approx(at.gap, abs=1e-9)
    full = at.pipelines.query("retrieval and scoring and serving")
    none = at.pipelines.query("not retrieval and not scoring and not serving")
    assert sum(at.loss_shares.values()) == pytest.approx(full["utility"].iloc[0] - none["utility"].iloc[0], abs=1e-9)
    # Production pipeline = plain serving, checked against the float64 reference per user.
    u = np.array(
        [
            user_utility_ref(alpha, scores[i : i + 1], labels[i : i + 1], mask[i : i + 1], group[i : i + 1], prefs)[0]
            for i in range(len(group))
        ]
    )
    assert none["mu_g1"].iloc[0] == pytest.approx(u[group == 0].mean(), abs=1e-5)


def test_shapley_matches_permutation_formula():
    rng = np.random.default_rng(0)
    table = {frozenset(s): rng.normal() for s in [(), (0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (0, 1, 2)]}
    table[frozenset()] = 0.0
    np.testing.assert_allclose(shapley(table.__getitem__), shapley3_ref(table.__getitem__), rtol=1e-12)


def test_oracle_retrieval_takes_top_m_by_label_sum():
    labels = np.array([[[1, 0], [1, 1], [0, 0], [1, 1]]], np.float32)
    corpus = np.array([[True, True, True, False]])
    np.testing.assert_array_equal(oracle_retrieval_mask(labels, corpus, 2), [[True, True, False, False]])
    r = random_retrieval_mask(jax.random.PRNGKey(0), np.ones((50, 10), bool), 3)
    assert np.all(r.sum(1) == 3)


def test_retrieval_quality_and_theorem33_on_toy_built_for_it():
    sc = scenarios.load("toy", covariate_shift=1.0, covariate_effect=0.5, retrieval_gradient=3.0)
    batch = sc.sample(jax.random.PRNGKey(0), 20_000)
    q = retrieval_quality_per_user(batch)
    lab, msk = np.asarray(batch.labels), np.asarray(batch.mask)
    ref = np.array([max([lab[i, j].sum() for j in range(msk.shape[1]) if msk[i, j]], default=0.0) for i in range(300)])
    np.testing.assert_array_equal(q[:300], ref)
    r = retrieval_diagnosis(batch, sc.prefs, groups=(1, 0), exact=True, scenario=sc, n_boot=100)
    # Retrieval is worse where the majority lives: the minority's quality beats the shared space's.
    assert r.q_g1 > r.q_sx > r.q_g0 and r.epsilon > 0
    assert r.epsilon_ci[0] > 0 and r.applies, r.premise  # ε > 0 backed by its CI; toy scores are calibrated
    assert r.term4_ci[0] > 0 and r.margin_ci[0] >= 0 and r.holds is True
    assert r.verdict.startswith("holds") and r.summary()["applies"] is True
    # The same groups the other way round: ε < 0, so the theorem does not apply (never "holds").
    rev = retrieval_diagnosis(batch, sc.prefs, groups=(0, 1), exact=True, scenario=sc, n_boot=50)
    assert rev.epsilon < 0 and rev.applies is False and rev.holds is None
    assert rev.verdict.startswith("does not apply") and "ε" in rev.premise
    assert retrieval_diagnosis(batch, sc.prefs, groups=(1, 0), exact=True, scenario=sc, n_boot=0).applies is None


def test_reliability_and_ece():
    # Hand example: one label, two groups; group 0 calibrated in its bin, group 1 off by 0.5.
    scores = np.array([[[0.25]], [[0.25]], [[0.25]], [[0.25]], [[0.75]]], np.float32)
    labels = np.array([[[0.0]], [[1.0]], [[0.0]], [[0.0]], [[0.25]]], np.float32)
    b = make_batch(scores, labels, group=[0, 0, 0, 0, 1])
    t = reliability_table(b, n_bins=2)
    ece = expected_calibration_error(t).set_index("group")["ece"]
    assert ece["group 0"] == pytest.approx(0.0)
    assert ece["group 1"] == pytest.approx(0.5)
    assert ece["all"] == pytest.approx(0.8 * 0.0 + 0.2 * 0.5)
    sc = scenarios.load("toy")
    t = reliability_table(sc.sample(jax.random.PRNGKey(1), 5000), sc.label_names, sc.group_names)
    assert expected_calibration_error(t)["ece"].max() < 0.02  # toy's scores are calibrated by construction


def test_lemma23_check_on_calibrated_toy():
    sc = scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(2), 20_000)
    out = lemma23_check(batch, sc.prefs, group_names=sc.group_names, n_boot=50)
    assert list(out["group"]) == ["majority", "minority"]
    assert np.all(out["shortfall"] >= 0)
    assert np.all(out["relative_shortfall"] < 0.005)
    assert out["applies"].all() and (out["shortfall_ci_low"] <= 0).all() and (out["holds"] == True).all()  # noqa: E712
    # Scores that are not calibrated: the premise is not met, the check does not apply.
    bad = make_batch(np.clip(np.asarray(batch.scores) * 0.5, 0, 1), batch.labels, batch.mask, batch.group)
    out = lemma23_check(bad, sc.prefs, n_boot=20)
    assert not out["applies"].any() and out["holds"].isna().all()
    assert out["verdict"].str.startswith("does not apply").all() and out["premise"].str.contains("not calibrated").all()
    assert lemma23_check(batch, sc.prefs, n_boot=0)["holds"].isna().all()  # no CI: no verdict
    with pytest.raises(ValueError, match="n_grid"):
        lemma23_check(sc.sample(jax.random.PRNGKey(2), 10), sc.prefs, n_grid=1)


def test_attribution_rejects_bad_masks():
    sc = scenarios.load("toy")
    b = sc.sample(jax.random.PRNGKey(0), 50)
    with pytest.raises(ValueError, match="production: expected a bool mask"):
        attribute([0.5, 0.5], b, sc.prefs, groups=(1, 0), production=np.ones((50, 3), bool))
    with pytest.raises(ValueError, match="m: expected"):
        attribute([0.5, 0.5], b, sc.prefs, groups=(1, 0), m=0)


def test_largest_follows_the_sign_of_the_gap_and_blame_needs_cis():
    import pandas as pd

    from jaxfair.diagnose.attribution import Attribution

    pipes = pd.DataFrame([{"retrieval": False, "scoring": False, "serving": False, "gap": -0.3}])
    at = Attribution(
        alpha=np.ones(2),
        groups=(1, 0),
        pipelines=pipes,
        gap_shares={"retrieval": 0.05, "scoring": -0.1, "serving": -0.25, "residual": 0.0},
        loss_shares={},
    )
    assert at.largest == "serving"
    assert at.blamed is None and at.verdict[1].startswith("inconclusive (no bootstrap")  # no CIs, no blame


def test_blame_verdict_rule():
    from jaxfair.diagnose.attribution import blame_verdict

    rng = np.random.default_rng(0)
    b = 400
    noise = rng.normal(0, 0.01, (b, 3))
    shares = {"retrieval": 0.02, "scoring": 0.2, "serving": 0.05}
    est = np.array(list(shares.values()))
    boot = est + noise
    # Clear case: gap CI above 0, scoring's share above 0 and above each other share, paired.
    assert blame_verdict(0.27, shares, boot.sum(1), boot) == ("scoring", "blames scoring")
    # A negative gap: the most negative share is blamed.
    neg = {k: -v for k, v in shares.items()}
    assert blame_verdict(-0.27, neg, -boot.sum(1), -boot)[0] == "scoring"
    # Gap CI containing 0.
    who, why = blame_verdict(0.27, shares, rng.normal(0, 0.5, b), boot)
    assert who is None and why.startswith("inconclusive (gap CI")
    # Two shares that the bootstrap cannot tell apart.
    close = {"retrieval": 0.02, "scoring": 0.2, "serving": 0.199}
    bc = np.array(list(close.values())) + noise
    who, why = blame_verdict(0.42, close, bc.sum(1), bc)
    assert who is None and why == "inconclusive (shares overlap: scoring vs serving)"
    # The largest share's CI contains 0.
    tiny = {"retrieval": 0.001, "scoring": 0.002, "serving": 0.0}
    bt = np.array(list(tiny.values())) + noise
    who, why = blame_verdict(0.3, tiny, 0.3 + noise[:, 0], bt)
    assert who is None and "contains 0" in why


def test_attribution_bootstrap_matches_decompose_and_adds_up():
    from jaxfair.diagnose.decompose import decompose
    from jaxfair.diagnose.pipeline import sample_for_diagnosis

    sc = scenarios.load("toy", covariate_shift=1.0)
    smp = sample_for_diagnosis(sc, jax.random.PRNGKey(0), 1500, pool_factor=2)
    key = jax.random.PRNGKey(7)
    kw = dict(groups=(1, 0), m=smp.m, production=smp.production, corpus=smp.corpus)
    at = attribute([0.5, 0.5], smp.wide, sc.prefs, n_boot=60, key=key, **kw)
    plain = attribute([0.5, 0.5], smp.wide, sc.prefs, **kw)
    assert at.gap_shares == pytest.approx(plain.gap_shares, abs=1e-12) and at.n_boot == 60
    # Every resample's shares add up to its gap (components + residual), as the point estimates do.
    np.testing.assert_allclose(at.boot_gap_shares.sum(1), at.boot_gap, atol=1e-12)
    assert all(lo <= hi for lo, hi in at.gap_share_ci.values())
    # Same key and resampling unit as decompose: the production gap's CI is decompose's (the
    # compact production batch serves the same items as the wide batch's production mask).
    dec = decompose(
        np.array([[0.5, 0.5]]), smp.batch, sc.prefs, groups=(1, 0), weights=np.ones(1500), n_boot=60, key=key
    )
    np.testing.assert_allclose(at.gap_ci, dec.ci[0, 3], atol=1e-5)
    assert at.gap == pytest.approx(dec.gap[0], abs=1e-5)
    s = at.summary()
    assert s["verdict"] == at.verdict[1] and s["gap_shares"]["scoring"]["ci"] == list(at.gap_share_ci["scoring"])
    frame = at.shares_frame()
    assert {"gap_share_ci_low", "loss_share_ci_high"} <= set(frame.columns)
    with pytest.raises(ValueError, match="n_boot"):
        attribute([0.5, 0.5], smp.wide, sc.prefs, n_boot=-1, **kw)
    with pytest.raises(ValueError, match="clusters"):
        attribute([0.5, 0.5], smp.wide, sc.prefs, n_boot=2, clusters=np.zeros(3, int), **kw)


def test_bound_split_range_where_the_bound_is_flat():
    from jaxfair.diagnose.bound import bound_from_sums

    # α*(1) = (1, 0), α*(0) = (0, 1), F = (1, 1), R = 0. Row 0, α = (1, 1): m0 = |c| + |c − 1|,
    # m1 = |c − 1| + |c|: B = 2 on all of c in [0, 1], but the split is (1, 1) throughout.
    # Row 1, α = (1, 0): m0 = c + 1, m1 = 1 − c: B = 2 on [0, 1] and the split runs from (1, 1) to (2, 0).
    alphas = np.array([[1.0, 1.0], [1.0, 0.0]])
    a1, a0 = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    b = bound_from_sums(alphas, a1, a0, np.zeros(2), np.ones((2, 2)), np.zeros(2))
    np.testing.assert_array_equal(b.scale, [0, 0])
    np.testing.assert_array_equal(b.scale_high, [1, 1])
    np.testing.assert_array_equal(b.split_unique, [True, False])
    np.testing.assert_allclose(b.parts_range[1], [[0, 0], [1, 2], [0, 1]])
    np.testing.assert_allclose(b.optimal, [2, 2])
    assert b.holds.all() and b.row(1)["applies"] and not b.row(1)["split_unique"]


@given(data=batches(), m=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=20)
def test_oracle_retrieval_matches_reference_and_bootstrap_keeps_group_sizes(data, m, seed):
    from reference import oracle_retrieval_ref

    from jaxfair.diagnose.decompose import stratified_counts

    scores, labels, mask, group, prefs = data
    np.testing.assert_array_equal(oracle_retrieval_mask(labels, mask, m), oracle_retrieval_ref(labels, mask, m))
    counts = np.asarray(stratified_counts(jax.random.PRNGKey(seed), jax.numpy.asarray(group), 7))
    for g in np.unique(group):
        assert np.all(counts[:, group == g].sum(1) == np.sum(group == g))  # every resample keeps group sizes
    assert np.all(counts >= 0) and np.all(counts == np.round(counts))
