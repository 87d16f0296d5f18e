"""Kernels vs the float64 NumPy reference (tests/reference.py), property-based."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import (
    der_ref,
    evaluate_ref,
    group_means_ref,
    near_tie,
    oracle_ref,
    retrieval_quality_ref,
    serve_ref,
    user_utility_ref,
)
from strategies import batches, lattice_alphas

import jaxfair as jf


def _batch(arrs):
    scores, labels, mask, group, _ = arrs
    return jf.make_batch(scores, labels, mask, group=group)


@given(data=st.data(), arrs=batches())
def test_serve_matches_reference_exactly_on_lattice(data, arrs):
    scores, labels, mask, group, prefs = arrs
    batch = _batch(arrs)
    for alpha in data.draw(lattice_alphas(scores.shape[2])):
        np.testing.assert_array_equal(np.asarray(jf.serve(alpha, batch)), serve_ref(alpha, scores, mask))


@given(data=st.data(), arrs=batches())
def test_user_and_group_utility_match_reference(data, arrs):
    scores, labels, mask, group, prefs = arrs
    batch = _batch(arrs)
    g = prefs.shape[0]
    for alpha in data.draw(lattice_alphas(scores.shape[2], max_rows=3)):
        u_ref = user_utility_ref(alpha, scores, labels, mask, group, prefs)
        np.testing.assert_allclose(np.asarray(jf.user_utility(alpha, batch, prefs)), u_ref, atol=1e-6)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jf.EmptyGroupWarning)
            np.testing.assert_allclose(
                jf.group_utility(alpha, batch, prefs), group_means_ref(u_ref, group, g), atol=1e-6
            )


@given(data=st.data(), arrs=batches())
def test_evaluate_matches_reference(data, arrs):
    scores, labels, mask, group, prefs = arrs
    batch = _batch(arrs)
    alphas = data.draw(lattice_alphas(scores.shape[2]))
    chunk = data.draw(st.sampled_from([None, 1, 2]))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jf.EmptyGroupWarning)
        ev = jf.evaluate(alphas, batch, prefs, chunk_size=chunk)
    util, der, mu, unserved = evaluate_ref(alphas, scores, labels, mask, group, prefs)
    np.testing.assert_allclose(ev.utility, util, atol=1e-6)
    np.testing.assert_allclose(ev.group_utility, mu, atol=1e-6)  # NaN where a group is empty
    np.testing.assert_allclose(ev.der, der, atol=1e-6)
    assert ev.n_unserved == unserved
    assert ev.utility.shape == (len(alphas),) and ev.group_utility.shape == (len(alphas), prefs.shape[0])


@given(arrs=batches(lattice=False, allow_unserved=False, max_users=30), seed=st.integers(0, 1000))
def test_continuous_scores_agree_except_at_float32_near_ties(arrs, seed):
    scores, labels, mask, group, prefs = arrs
    batch = _batch(arrs)
    alpha = np.random.default_rng(seed).random(scores.shape[2]) + 1e-3
    got = np.asarray(jf.serve(alpha, batch))
    want = serve_ref(alpha, scores, mask)
    differ = got != want
    assert not np.any(differ & ~near_tie(alpha, scores, mask))


@given(arrs=batches())
def test_retrieval_quality_and_oracle(arrs):
    scores, labels, mask, group, prefs = arrs
    batch = _batch(arrs)
    g = prefs.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jf.EmptyGroupWarning)
        np.testing.assert_allclose(
            jf.retrieval_quality(batch, g), retrieval_quality_ref(labels, mask, group, g), atol=1e-6
        )
        if np.all(prefs.sum(1) > 0):
            np.testing.assert_allclose(
                jf.oracle_utility(batch, prefs), oracle_ref(scores, labels, mask, group, prefs), atol=1e-6
            )


@given(mu=st.lists(st.floats(0, 10, allow_nan=False), min_size=2, max_size=6))
def test_der_matches_reference_and_bounds(mu):
    d = float(jf.der(mu))
    assert d == pytest.approx(der_ref(mu), abs=1e-9)
    assert -1e-12 <= d <= 1 + 1e-12
    g = len(mu)
    assert float(jf.der_raw(mu)) == pytest.approx((1 - d) * (g - 1) / g, abs=1e-9)


def test_der_special_values():
    assert float(jf.der([1.0, 1.0, 1.0])) == 1.0
    assert float(jf.der([2.0, 0.0])) == 0.0
    assert float(jf.der([0.0, 0.0])) == 1.0  # SPEC §2: Σμ = 0 gives 1
    assert float(jf.der_raw([0.0, 0.0])) == 0.0
    assert float(jf.der_raw([1.0, 0.0, 0.0])) == pytest.approx(2 / 3)
    assert np.isnan(jf.der([1.0, np.nan]))
    np.testing.assert_allclose(jf.der([[1.0, 1.0], [1.0, 0.0]]), [1.0, 0.0])


def test_fully_masked_users_get_zero_and_are_counted():
    scores = np.ones((3, 2, 2), np.float32)
    labels = np.ones((3, 2, 2), np.float32)
    mask = np.array([[True, True], [False, False], [False, True]])
    batch = jf.make_batch(scores, labels, mask, group=[0, 1, 1])
    prefs = np.array([[1.0, 0.0], [0.0, 1.0]])
    np.testing.assert_array_equal(np.asarray(jf.serve([1, 1], batch)), [0, -1, 1])
    ev = jf.evaluate([[1.0, 1.0]], batch, prefs)
    assert ev.n_unserved == 1
    np.testing.assert_allclose(ev.group_utility[0], [1.0, 0.5])  # the unserved user counts as 0


def test_ties_go_to_lowest_index():
    scores = np.array([[[0.5, 0.5], [0.5, 0.5], [0.9, 0.1]]], np.float32)
    labels = np.array([[[1, 0], [0, 1], [0, 0]]], np.float32)
    batch = jf.make_batch(scores, labels, group=[0])
    assert int(jf.serve([1.0, 1.0], batch)[0]) == 0  # 1.0 ties 1.0 ties 1.0: index 0
    assert int(jf.serve([1.0, 0.0], batch)[0]) == 2


def test_masked_candidate_is_never_served_even_with_best_score():
    scores = np.array([[[10.0, 10.0], [-5.0, -5.0]]], np.float32)
    batch = jf.make_batch(scores, np.zeros_like(scores), [[False, True]], group=[0])
    for a in ([1, 0], [0, 1], [1, 1]):  # includes α with a zero entry (0·−inf must not serve)
        assert int(jf.serve(a, batch)[0]) == 1


def test_empty_group_gives_nan_der_and_names_the_group():
    batch = jf.make_batch(np.ones((2, 2, 2)), np.ones((2, 2, 2)), group=[0, 0])
    prefs = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    with pytest.warns(jf.EmptyGroupWarning, match="group 1, group 2"):
        ev = jf.evaluate([[1.0, 1.0]], batch, prefs)
    assert np.isnan(ev.der[0]) and np.isnan(ev.group_utility[0, 1])
    assert ev.utility[0] == pytest.approx(1.0)


@pytest.mark.parametrize("k,g", [(1, 2), (8, 5), (2, 5), (8, 2)])
def test_extreme_sizes(k, g):
    rng = np.random.default_rng(k * 10 + g)
    n, m = 50, 1 if k == 1 else 4
    scores = rng.integers(0, 9, (n, m, k)) / 8
    labels = rng.integers(0, 2, (n, m, k)).astype(float)
    group = np.arange(n) % g
    prefs = rng.integers(1, 5, (g, k)) / 4
    prefs /= prefs.sum(1, keepdims=True)  # rows sum to 1 (SPEC §9)
    batch = jf.make_batch(scores, labels, group=group)
    alphas = jf.simplex_grid(k, 3) if k > 1 else np.array([[1.0], [2.0]])
    ev = jf.evaluate(alphas, batch, prefs)
    util, der, mu, _ = evaluate_ref(alphas, scores, labels, np.ones((n, m), bool), group, prefs)
    np.testing.assert_allclose(ev.utility, util, atol=1e-6)
    np.testing.assert_allclose(ev.der, der, atol=1e-6)


@given(arrs=batches(), scale=st.sampled_from([0.25, 2.0, 8.0]))
def test_scale_invariance(arrs, scale):
    scores, labels, mask, group, prefs = arrs
    batch = _batch(arrs)
    alphas = np.full((1, scores.shape[2]), 0.125)
    alphas[0, 0] = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jf.EmptyGroupWarning)
        a = jf.evaluate(alphas, batch, prefs)
        b = jf.evaluate(alphas * scale, batch, prefs)
    np.testing.assert_array_equal(a.utility, b.utility)
    np.testing.assert_array_equal(a.group_utility, b.group_utility)


def test_chunking_and_alpha_batching_do_not_change_results():
    import jax

    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(1), 3000)
    grid = jf.box_grid(2, 9)
    full = jf.evaluate(grid, batch, sc.prefs)
    tiny = jf.evaluate(grid, batch, sc.prefs, memory_budget=4 * 4 * 20 * 7)  # forces user and α chunks
    # Fixed blocks of kernels.SUM_BLOCK users, summed by a fixed tree: bit-identical, whatever
    # the chunking and whichever other α share the call.
    np.testing.assert_array_equal(full.group_utility, tiny.group_utility)
    np.testing.assert_array_equal(full.der, tiny.der)
    np.testing.assert_array_equal(full.n_unserved, tiny.n_unserved)
    for i in (0, 7, 60):
        one = jf.evaluate(grid[i : i + 1], batch, sc.prefs)
        np.testing.assert_array_equal(full.group_utility[i], one.group_utility[0])
