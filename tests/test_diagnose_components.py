"""Diagnosis: retrieval quality / Theorem 3.3, component attribution, calibration, Lemma 2.3 check."""
from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from jaxfair import make_batch, scenarios
from jaxfair.diagnose.attribution import attribute, oracle_retrieval_mask, random_retrieval_mask, shapley
from jaxfair.diagnose.calibration import expected_calibration_error, lemma23_check, reliability_table
from jaxfair.diagnose.retrieval import retrieval_diagnosis, retrieval_quality_per_user
from reference import shapley3_ref, user_utility_ref
from strategies import batches


@given(data=batches(), st_data=st.data())
@settings(max_examples=12)
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
    u = np.array([user_utility_ref(alpha, scores[i:i + 1], labels[i:i + 1], mask[i:i + 1], group[i:i + 1], prefs)[0]
                  for i in range(len(group))])
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
    assert r.term4_ci[0] > 0 and r.holds


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
    out = lemma23_check(sc.sample(jax.random.PRNGKey(2), 20_000), sc.prefs, group_names=sc.group_names)
    assert list(out["group"]) == ["majority", "minority"]
    assert np.all(out["shortfall"] >= 0)
    assert np.all(out["relative_shortfall"] < 0.005)
    with pytest.raises(ValueError, match="n_grid"):
        lemma23_check(sc.sample(jax.random.PRNGKey(2), 10), sc.prefs, n_grid=1)


def test_attribution_rejects_bad_masks():
    sc = scenarios.load("toy")
    b = sc.sample(jax.random.PRNGKey(0), 50)
    with pytest.raises(ValueError, match="production: expected a bool mask"):
        attribute([0.5, 0.5], b, sc.prefs, groups=(1, 0), production=np.ones((50, 3), bool))
    with pytest.raises(ValueError, match="m: expected"):
        attribute([0.5, 0.5], b, sc.prefs, groups=(1, 0), m=0)


def test_blamed_follows_the_sign_of_the_gap():
    import pandas as pd

    from jaxfair.diagnose.attribution import Attribution

    pipes = pd.DataFrame([{"retrieval": False, "scoring": False, "serving": False, "gap": -0.3}])
    at = Attribution(alpha=np.ones(2), groups=(1, 0), pipelines=pipes,
                     gap_shares={"retrieval": 0.05, "scoring": -0.1, "serving": -0.25, "residual": 0.0}, loss_shares={})
    assert at.blamed == "serving"


@given(data=batches(), m=st.integers(1, 6), seed=st.integers(0, 2**31 - 1))
@settings(max_examples=20)
def test_oracle_retrieval_matches_reference_and_bootstrap_keeps_group_sizes(data, m, seed):
    from jaxfair.diagnose.decompose import stratified_counts
    from reference import oracle_retrieval_ref

    scores, labels, mask, group, prefs = data
    np.testing.assert_array_equal(oracle_retrieval_mask(labels, mask, m), oracle_retrieval_ref(labels, mask, m))
    counts = np.asarray(stratified_counts(jax.random.PRNGKey(seed), jax.numpy.asarray(group), 7))
    for g in np.unique(group):
        assert np.all(counts[:, group == g].sum(1) == np.sum(group == g))  # every resample keeps group sizes
    assert np.all(counts >= 0) and np.all(counts == np.round(counts))
