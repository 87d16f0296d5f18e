"""Logging propensities of a declared D₀ (SPEC §10): exact K = 2 and epsilon, Monte Carlo otherwise."""

from __future__ import annotations

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_offpolicy import dirichlet_k2_ref, dirichlet_k2_slate_ref, epsilon_ref
from strategies import batches

from jaxfair.engine.batch import make_batch
from jaxfair.offpolicy import ImpressionLog, LoggingPolicy, check_propensity_column, propensities
from jaxfair.offpolicy.propensity import monte_carlo


def _batch(s=600, m=6, k=2, seed=0, p_mask=0.8):
    rng = np.random.default_rng(seed)
    scores = rng.random((s, m, k)).astype(np.float32)
    mask = rng.random((s, m)) < p_mask
    mask[0] = False  # a fully masked session
    return make_batch(scores, np.zeros_like(scores), mask, rng.integers(0, 2, s))


def _rows_sum_to_one(p, mask):
    served = mask.any(axis=1)
    np.testing.assert_allclose(p.sum(axis=1)[served], 1.0, atol=1e-9)
    assert np.all(p[~served] == 0) and np.all(p[~mask] == 0)


def test_exact_k2_within_3_se_of_monte_carlo():
    b = _batch()
    pol = LoggingPolicy.parse("dirichlet:3@0.3,0.7")
    ex = propensities(b, pol)
    assert ex.method == "exact" and ex.se is None
    _rows_sum_to_one(ex.p, np.asarray(b.mask))
    mc = monte_carlo(np.asarray(b.scores), np.asarray(b.mask), pol, 4096, jax.random.PRNGKey(1), 1, None, None)
    se = np.sqrt(ex.p * (1 - ex.p) / 4096)
    z = np.abs(mc.p - ex.p)
    assert np.all(z <= 3 * se + 1e-12 + (se == 0))  # every candidate within 3 s.e.
    assert np.abs(mc.se - se).max() < 2e-3


@settings(max_examples=25, deadline=None)
@given(arrs=batches(k=2, max_users=6), conc=st.sampled_from([(0.5, 0.5), (2.0, 1.0), (20.0, 60.0)]))
def test_exact_k2_matches_reference(arrs, conc):
    scores, labels, mask, group, _ = arrs
    b = make_batch(scores, labels, mask, group)
    pol = LoggingPolicy("dirichlet", sum(conc), np.array(conc))
    p = propensities(b, pol).p
    np.testing.assert_allclose(p, dirichlet_k2_ref(scores, mask, *conc), atol=1e-9)
    _rows_sum_to_one(p, mask)


@settings(max_examples=25, deadline=None)
@given(arrs=batches(k=2, max_users=6), conc=st.sampled_from([(0.5, 0.5), (2.0, 1.0)]), k=st.sampled_from([2, 3]))
def test_exact_k2_slates_match_reference(arrs, conc, k):
    scores, labels, mask, group, _ = arrs
    k = min(k, scores.shape[1])
    b = make_batch(scores, labels, mask, group)
    pol = LoggingPolicy("dirichlet", sum(conc), np.array(conc))
    p = propensities(b, pol, slate=k)
    assert p.method == "exact"
    np.testing.assert_allclose(
        p.p.reshape(-1, scores.shape[1], k), dirichlet_k2_slate_ref(scores, mask, *conc, k), atol=1e-9
    )


def test_exact_k2_slates_within_3_se_of_monte_carlo():
    b = _batch(s=400, m=7)
    pol = LoggingPolicy.parse("dirichlet:3@0.3,0.7")
    ex = propensities(b, pol, slate=3)
    np.testing.assert_allclose(ex.p[..., 0], propensities(b, pol).p, atol=1e-12)  # position 1 is the top-1 item
    mc = monte_carlo(np.asarray(b.scores), np.asarray(b.mask), pol, 8192, jax.random.PRNGKey(2), 3, None, None)
    se = np.sqrt(ex.p * (1 - ex.p) / 8192)
    assert np.all(np.abs(mc.p - ex.p) <= 3 * se + 1e-12 + (se == 0))


@settings(max_examples=25, deadline=None)
@given(arrs=batches(max_users=6), eps=st.sampled_from([0.05, 0.5, 1.0]), k=st.sampled_from([1, 2, 3]))
def test_epsilon_matches_reference(arrs, eps, k):
    scores, labels, mask, group, _ = arrs
    k = min(k, scores.shape[1])
    b = make_batch(scores, labels, mask, group)
    center = np.ones(scores.shape[2])  # dyadic weights (sum a power of 2): exact in float32, ties stay ties
    center[-1] += 2 ** (int(np.ceil(np.log2(scores.shape[2]))) + 1) - scores.shape[2]
    pol = LoggingPolicy("epsilon", eps, center)
    p = propensities(b, pol, slate=k).p
    ref = epsilon_ref(scores, mask, pol.center, eps, k)
    np.testing.assert_allclose(p.reshape(ref.shape), ref, atol=1e-12)
    for r in range(k):
        filled = mask.sum(axis=1) > r
        np.testing.assert_allclose(p.reshape(ref.shape)[filled, :, r].sum(axis=1), 1.0, atol=1e-9)


def test_deterministic_cases_k1_and_one_positive_weight():
    b1 = _batch(k=1)
    p = propensities(b1, LoggingPolicy.parse("dirichlet:5@1")).p
    assert set(np.unique(p)) <= {0.0, 1.0}
    _rows_sum_to_one(p, np.asarray(b1.mask))
    b3 = _batch(k=3)
    p = propensities(b3, LoggingPolicy.parse("dirichlet:5@0,1,0")).p
    want = np.asarray(b3.scores)[..., 1]
    served = np.where(np.asarray(b3.mask), want, -np.inf).argmax(axis=1)
    ok = np.asarray(b3.mask).any(axis=1)
    np.testing.assert_array_equal(p[ok].argmax(axis=1), served[ok])


def test_zero_weight_component_is_exact_k2():
    b3 = _batch(k=3, s=200)
    p = propensities(b3, LoggingPolicy.parse("dirichlet:4@1,0,3"))
    assert p.method == "exact"
    ref = dirichlet_k2_ref(np.asarray(b3.scores)[..., [0, 2]], np.asarray(b3.mask), 1.0, 3.0)
    np.testing.assert_allclose(p.p, ref, atol=1e-9)


def test_monte_carlo_k3_common_random_numbers_and_slates():
    b = _batch(k=3, s=300)
    mask = np.asarray(b.mask)
    pol = LoggingPolicy.parse("dirichlet:2@1,1,1")
    p = propensities(b, pol, mc=512, key=jax.random.PRNGKey(3))
    assert p.method == "monte-carlo" and p.mc == 512 and p.se is not None
    _rows_sum_to_one(p.p, mask)
    again = propensities(b, pol, mc=512, key=jax.random.PRNGKey(3), chunk=37)  # other chunking, same draws
    np.testing.assert_array_equal(p.p, again.p)
    sl = propensities(b, pol, slate=3, mc=512, key=jax.random.PRNGKey(3))
    assert sl.p.shape == (300, 6, 3)
    np.testing.assert_allclose(sl.p[..., 0], p.p)  # position 1 of a slate is the top-1 item
    for r in range(3):
        filled = mask.sum(axis=1) > r
        np.testing.assert_allclose(sl.p[filled, :, r].sum(axis=1), 1.0, atol=1e-9)
        assert np.all(sl.p[~filled, :, r] == 0)


def _simple_log(b, shown, prop=None, logging=None):
    s, m = np.asarray(b.mask).shape
    shown = np.asarray(shown).reshape(s, -1)
    obs = np.zeros((s, m), bool)
    for n in range(s):
        obs[n, shown[n][shown[n] >= 0]] = True
    return ImpressionLog(b, shown, obs, np.arange(s), propensity=prop, logging=logging)


def test_monte_carlo_counts_the_logged_draw_for_the_shown_item():
    b = _batch(k=3, s=50)
    mask = np.asarray(b.mask)
    # show the retrieved candidate the logging serves least often: Monte Carlo may never draw it
    shown = np.where(mask.any(axis=1), np.where(mask, np.arange(6), 99).min(axis=1), -1)
    pol = LoggingPolicy.parse("dirichlet:2@1,1,1")
    p = propensities(_simple_log(b, shown, logging=pol), pol, mc=64)
    at = p.at_shown(_simple_log(b, shown).shown)[:, 0]
    assert np.all(at[shown >= 0] >= 1 / 65)
    _rows_sum_to_one(p.p, mask)


def test_check_propensity_column():
    b = _batch(s=40)
    pol = LoggingPolicy.parse("epsilon:0.3@1,2")
    p = propensities(b, pol)
    mask = np.asarray(b.mask)
    shown = np.where(mask.any(axis=1), np.argmax(mask, axis=1), -1)
    good = _simple_log(b, shown, prop=np.where(shown >= 0, p.at_shown(shown[:, None])[:, 0], np.nan), logging=pol)
    check_propensity_column(good, p)
    bad_prop = good.propensity.copy()
    bad_prop[7, 0] = min(1.0, bad_prop[7, 0] * 1.5)
    bad = _simple_log(b, shown, prop=bad_prop, logging=pol)
    with pytest.raises(ValueError, match=r"session 7 logs .* the declared D0 gives"):
        check_propensity_column(bad, p)


def test_propensities_errors():
    b = _batch()
    with pytest.raises(ValueError, match="policy: has K=3"):
        propensities(b, LoggingPolicy.parse("dirichlet:2@1,1,1"))
    with pytest.raises(ValueError, match="mc"):
        propensities(b, LoggingPolicy.parse("dirichlet:2@1,1"), mc=0)
    with pytest.raises(ValueError, match="log_or_batch"):
        propensities(np.zeros(3), LoggingPolicy.parse("dirichlet:2@1,1"))
