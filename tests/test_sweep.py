"""sweep2 (exact K = 2 curve) against the grid kernel and the float64 reference."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reference import evaluate_ref, serve_ref
from strategies import batches

import jaxfair as jf


def _dyadic_grid(n=17):
    # Multiples of 1/16: exact in float32, so grid points that hit a breakpoint hit it exactly.
    return jf.box_grid(2, n, 0.0, 1.0)


@given(arrs=batches(k=2, max_users=15))
def test_sweep_equals_evaluate_and_reference_on_lattice(arrs):
    scores, labels, mask, group, prefs = arrs
    batch = jf.make_batch(scores, labels, mask, group=group)
    grid = _dyadic_grid()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jf.EmptyGroupWarning)
        sw = jf.sweep2(batch, prefs).evaluate(grid)
        ev = jf.evaluate(grid, batch, prefs)
    util, der, mu, unserved = evaluate_ref(grid, scores, labels, mask, group, prefs)
    np.testing.assert_allclose(sw.group_utility, mu, atol=1e-6)
    np.testing.assert_allclose(sw.group_utility, ev.group_utility, atol=1e-6)
    np.testing.assert_allclose(sw.utility, util, atol=1e-6)
    np.testing.assert_allclose(sw.der, der, atol=1e-6)
    assert sw.n_unserved == unserved == ev.n_unserved


@given(arrs=batches(k=2, max_users=15), w=st.integers(0, 64))
def test_sweep_at_arbitrary_direction_is_exact(arrs, w):
    scores, labels, mask, group, prefs = arrs
    batch = jf.make_batch(scores, labels, mask, group=group)
    alpha = np.array([[w / 64, 1 - w / 64]]) if 0 < w < 64 else np.array([[1.0, 0.0]] if w == 64 else [[0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jf.EmptyGroupWarning)
        got = jf.sweep2(batch, prefs).evaluate(alpha * 3.0)  # scale does not matter
    _, _, mu, _ = evaluate_ref(alpha, scores, labels, mask, group, prefs)
    np.testing.assert_allclose(got.group_utility, mu, atol=1e-6)


def test_sweep_matches_grid_on_toy_except_float32_near_ties():
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(3), 3000)
    grid = jf.box_grid(2, 41, 0.0, 1.0)
    ev = jf.evaluate(grid, batch, sc.prefs)
    sw = jf.sweep2(batch, sc.prefs).evaluate(grid)
    # Near-ties within float32 rounding may flip a handful of users out of 3000 at a few α.
    assert np.mean(np.abs(ev.utility - sw.utility) < 1e-6) > 0.97
    np.testing.assert_allclose(ev.utility, sw.utility, atol=5 / 3000)


def test_breakpoints_and_curve():
    # one user, two candidates crossing at w = 0.5, plus a tie point at exactly 0.5
    scores = np.array([[[0.0, 1.0], [1.0, 0.0]]], np.float32)  # lines: 1 − w and w
    labels = np.array([[[1.0, 0.0], [0.0, 1.0]]], np.float32)
    batch = jf.make_batch(scores, labels, group=[0])
    prefs = np.array([[1.0, 0.0], [0.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jf.EmptyGroupWarning)
        sw = jf.sweep2(batch, prefs)
        np.testing.assert_array_equal(sw.breakpoints, [0.0, 0.5])
        # below 0.5 candidate 0 (utility 1), at 0.5 tie → index 0, above → candidate 1 (utility 0)
        ev = sw.evaluate(np.array([[0.25, 0.75], [0.5, 0.5], [0.75, 0.25]]))
        np.testing.assert_allclose(ev.group_utility[:, 0], [1.0, 1.0, 0.0])
        curve = sw.curve()
    assert list(curve["kind"]) == ["point", "interval", "point", "interval"]
    np.testing.assert_allclose(curve["utility_group0" if "utility_group0" in curve else "utility"], [1, 1, 1, 0])


def test_sweep_rejects_k_not_2():
    batch = jf.make_batch(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), group=[0, 1])
    with pytest.raises(ValueError, match="K = 2"):
        jf.sweep2(batch, np.ones((2, 3)) / 3)


@given(arrs=batches(k=2, max_users=15, lattice=False))
def test_compiled_envelope_walk_matches_brute_force_served_candidates(arrs):
    # At random directions (not breakpoints) the served candidate implied by the events
    # equals brute-force serving in float64.
    scores, labels, mask, group, prefs = arrs

    from jaxfair.engine.sweep import user_envelopes

    user, w, left, point, right = user_envelopes(scores[..., 0], scores[..., 1], mask)
    assert np.all((w >= 0) & (w <= 1))
    for wq in (0.13, 0.5, 0.871):
        want = serve_ref(np.array([wq, 1 - wq]), scores, mask)
        for u in range(len(group)):
            ev = np.flatnonzero((user == u) & (w <= wq))
            got = right[ev[np.argmax(w[ev])]] if ev.size else -1
            assert got == want[u]


def test_sweep_event_sort_handles_many_equal_positions():
    # Many users whose lines all cross at the same few positions: the bucket sort's large
    # buckets (quicksort path) and equal keys.
    rng = np.random.default_rng(0)
    n = 4000
    f0 = np.tile(np.array([0.0, 0.5, 1.0], np.float32), (n, 1))
    f1 = np.tile(np.array([1.0, 0.5, 0.0], np.float32), (n, 1))
    scores = np.stack([f0, f1], -1) * rng.integers(1, 3, (n, 1, 1)).astype(np.float32)
    labels = rng.integers(0, 2, (n, 3, 2))
    group = rng.integers(0, 2, n)
    batch = jf.make_batch(scores, labels, group=group)
    prefs = np.array([[0.8, 0.2], [0.2, 0.8]])
    grid = jf.direction_grid(33)
    sw = jf.sweep2(batch, prefs)
    assert sw.breakpoints.tolist() == [0.0, 0.5]
    np.testing.assert_allclose(
        sw.evaluate(grid).group_utility, jf.evaluate(grid, batch, prefs).group_utility, atol=1e-9
    )


def _label_means_ref(alphas, scores, labels, mask, group, n_groups):
    """Float64 reference of L [P, G, K]: the served candidate's labels, averaged per group (unserved: 0)."""
    out = np.full((len(alphas), n_groups, labels.shape[2]), np.nan)
    for p, a in enumerate(alphas):
        idx = serve_ref(a, scores, mask)
        y = np.array([labels[i, j] if j >= 0 else np.zeros(labels.shape[2]) for i, j in enumerate(idx)])
        for g in range(n_groups):
            if np.any(group == g):
                out[p, g] = y[group == g].mean(axis=0)
    return out


@given(arrs=batches(k=2, max_users=15))
def test_sweep_label_means_match_the_reference_and_give_the_sweeps_utility(arrs):
    """The sweep's prefs-free statistic (issue #28.3): L from its serving equals the float64
    reference on a dyadic grid (ties included), and α*(g)·L_g is sweep2's group utility."""
    from jaxfair.engine.sweep import sweep2_label_means

    scores, labels, mask, group, prefs = arrs
    batch = jf.make_batch(scores, labels, mask, group=group)
    grid = _dyadic_grid()
    g = prefs.shape[0]
    lm, counts = sweep2_label_means(batch, grid, g)
    np.testing.assert_array_equal(counts, np.bincount(group, minlength=g))
    np.testing.assert_allclose(lm, _label_means_ref(grid, scores, labels, mask, group, g), atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jf.EmptyGroupWarning)
        mu = jf.sweep2(batch, prefs).evaluate(grid).group_utility
    np.testing.assert_allclose(np.einsum("pgk,gk->pg", lm, prefs), mu, atol=1e-6)


def test_sweep_label_means_refuse_bad_input():
    from jaxfair.engine.sweep import sweep2_label_means

    batch = jf.make_batch(np.zeros((2, 3, 2)), np.zeros((2, 3, 2)), np.ones((2, 3), bool), group=np.array([0, 2]))
    with pytest.raises(ValueError, match="n_groups"):
        sweep2_label_means(batch, [[0.5, 0.5]], 2)
    k3 = jf.make_batch(np.zeros((2, 3, 3)), np.zeros((2, 3, 3)), np.ones((2, 3), bool), group=np.array([0, 0]))
    with pytest.raises(ValueError, match="K = 2"):
        sweep2_label_means(k3, [[0.5, 0.2, 0.3]], 1)


def test_envelope_walk_in_many_chunks_gives_the_same_events_and_sums(monkeypatch):
    """The walk runs in fixed chunks of users on threads: tiny chunks (many tasks, ten times more events
    than a chunk's first room for long envelopes) give the same events and the same sums to float64
    rounding (the w = 0 sums are added chunk by chunk)."""
    import jaxfair.engine.sweep as sweep_mod

    rng = np.random.default_rng(3)
    n, m = 300, 30
    scores = rng.random((n, m, 2)).astype(np.float32)
    scores[: n // 2, :, 1] = 1 - scores[: n // 2, :, 0] ** 2  # concave fronts: long envelopes
    labels = rng.integers(0, 2, (n, m, 2))
    mask = rng.random((n, m)) < 0.9
    batch = jf.make_batch(scores, labels, mask, rng.integers(0, 3, n))
    prefs = np.array([[0.5, 0.5], [1.0, 0.0], [0.25, 0.75]])
    one = sweep_mod.user_envelopes(scores[..., 0], scores[..., 1], mask)
    whole = sweep_mod.sweep2(batch, prefs)
    monkeypatch.setattr(sweep_mod, "WALK_CHUNK", 7)
    many = sweep_mod.user_envelopes(scores[..., 0], scores[..., 1], mask)
    for a, b in zip(one, many, strict=True):
        np.testing.assert_array_equal(a, b)
    chunked = sweep_mod.sweep2(batch, prefs)
    np.testing.assert_array_equal(whole.breakpoints, chunked.breakpoints)
    np.testing.assert_allclose(whole.interval_sums, chunked.interval_sums, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(whole.point_sums, chunked.point_sums, rtol=1e-12, atol=1e-12)
