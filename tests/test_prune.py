"""Exact candidate pruning (jaxfair.engine.prune) and the bucketed evaluation on pruned candidates."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import keep_ref, serve_ref
from strategies import batches, lattice_alphas

import jaxfair as jf
from jaxfair.engine import planning, prune, pruned


def _evaluate_both(alphas, batch, prefs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jf.EmptyGroupWarning)
        return (jf.evaluate(alphas, batch, prefs, prune=False), jf.evaluate(alphas, batch, prefs, prune=True))


def _assert_identical(a, b):
    np.testing.assert_array_equal(a.group_utility, b.group_utility)
    np.testing.assert_array_equal(a.utility, b.utility)
    np.testing.assert_array_equal(a.der, b.der)
    assert a.n_unserved == b.n_unserved
    np.testing.assert_array_equal(a.group_counts, b.group_counts)


@given(arrs=batches(max_users=8), lattice=st.booleans(), strict=st.booleans())
def test_keep_mask_matches_reference(arrs, lattice, strict):
    scores, _, mask, _, _ = arrs
    if not lattice:
        scores = (scores + np.random.default_rng(0).random(scores.shape) * 1e-3).astype(np.float32)
    got = prune.keep_mask(scores, mask, strict)
    np.testing.assert_array_equal(got, keep_ref(scores, mask, strict))


@given(data=st.data(), arrs=batches())
def test_served_candidate_is_never_pruned(data, arrs):
    scores, _, mask, _, _ = arrs
    for alpha in data.draw(lattice_alphas(scores.shape[2])):
        keep = prune.keep_mask(scores, mask, prune.alphas_allow_strict(alpha[None]))
        served = serve_ref(alpha, scores, mask)
        rows = np.flatnonzero(served >= 0)
        assert keep[rows, served[rows]].all()
        # users with something retrieved keep at least one candidate
        assert np.array_equal(keep.any(1), mask.any(1))


@settings(max_examples=12)
@given(data=st.data(), arrs=batches(max_users=40))
def test_pruned_evaluation_is_bit_identical_on_lattice_ties(data, arrs):
    scores, labels, mask, group, prefs = arrs
    batch = jf.make_batch(scores, labels, mask, group=group)
    alphas = data.draw(lattice_alphas(scores.shape[2]))
    _assert_identical(*_evaluate_both(alphas, batch, prefs))


@settings(max_examples=12)
@given(arrs=batches(lattice=False, max_users=40), seed=st.integers(0, 2**31 - 1))
def test_pruned_evaluation_is_bit_identical_on_continuous_scores(arrs, seed):
    scores, labels, mask, group, prefs = arrs
    batch = jf.make_batch(scores, labels, mask, group=group)
    rng = np.random.default_rng(seed)
    alphas = rng.random((5, scores.shape[2])) + 1e-3
    _assert_identical(*_evaluate_both(alphas, batch, prefs))


def test_near_float32_ties_keep_index_order():
    # Candidate 1 beats candidate 0 on both labels by one float32 ulp: α = (1, 1) makes the
    # float32 scores tie (1 + 2^-23 + 1 rounds to 2 + 0), and candidate 0 wins by index. Rule 2
    # must therefore not prune candidate 0 (the margin is far above one ulp).
    eps = np.float32(2.0**-23)
    scores = np.array([[[1.0, 1.0], [1.0 + eps, 1.0 + eps], [0.0, 0.0]]], np.float32)
    labels = np.array([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]], np.float32)
    batch = jf.make_batch(scores, labels, group=[0])
    keep = prune.keep_mask(scores, np.ones((1, 3), bool), True)
    np.testing.assert_array_equal(keep, [[True, True, False]])
    prefs = np.array([[1.0, 0.0], [0.0, 1.0]])
    alphas = np.array([[1.0, 1.0], [1.0, 0.0], [2.0**-30, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jf.EmptyGroupWarning)
        a, b = _evaluate_both(alphas, batch, prefs)
    _assert_identical(a, b)


def test_tiny_alpha_entries_disable_the_margin_rule():
    assert prune.alphas_allow_strict(np.array([[0.5, 0.5], [1.0, 0.0]]))
    assert not prune.alphas_allow_strict(np.array([[1.0, 1e-30]]))
    assert not prune.alphas_allow_strict(np.array([[1e30, 1.0]]))
    rng = np.random.default_rng(3)
    scores = rng.random((300, 6, 2)).astype(np.float32)
    batch = jf.make_batch(scores, rng.integers(0, 2, (300, 6, 2)), group=rng.integers(0, 2, 300))
    prefs = np.array([[0.8, 0.2], [0.2, 0.8]])
    alphas = np.array([[1.0, 1e-30], [1e-30, 1.0], [0.5, 0.5]])
    _assert_identical(*_evaluate_both(alphas, batch, prefs))


@pytest.mark.parametrize("k,g", [(1, 2), (2, 5), (8, 2)])
def test_many_blocks_tiles_and_super_chunks(monkeypatch, k, g):
    # Small tiles and super-chunks so that one batch spans several of each, with blocks of
    # different widths sorted out of order, a ragged last block and unserved users.
    monkeypatch.setattr(pruned, "PRUNE_TILE", 512)  # where the pruned executor reads them
    monkeypatch.setattr(pruned, "PRUNE_SUPER_CHUNK", 1024)
    rng = np.random.default_rng(k * 7 + g)
    n, m = 2900, 12
    scores = rng.random((n, m, k)).astype(np.float32)
    scores[:800] = np.round(scores[:800] * 4) / 4  # lattice ties in the first blocks
    scores[1500:1800, :, 0] = np.linspace(0, 1, m)  # a block range where nothing is dominated
    if k > 1:
        scores[1500:1800, :, 1] = np.linspace(1, 0, m)
    mask = rng.random((n, m)) < 0.8
    mask[::97] = False
    labels = rng.integers(0, 2, (n, m, k))
    group = rng.integers(0, g, n)
    prefs = rng.integers(1, 5, (g, k)) / 4
    prefs /= prefs.sum(1, keepdims=True)  # rows sum to 1 (SPEC §9)
    batch = jf.make_batch(scores, labels, mask, group=group)
    alphas = jf.simplex_grid(k, 9) if k > 1 else np.array([[1.0], [3.0]])
    _assert_identical(*_evaluate_both(alphas, batch, prefs))


def test_scenario_batch_identical_and_auto_mode():
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(5), 3000)
    grid = jf.direction_grid(257)
    a, b = _evaluate_both(grid, batch, sc.prefs)
    _assert_identical(a, b)
    _assert_identical(a, jf.evaluate(grid, batch, sc.prefs))  # auto
    assert planning.use_pruning(None, 10_201, 20) and not planning.use_pruning(None, 257, 20)
    assert not planning.use_pruning(None, 10_201, 2)
    assert planning.pruning_pays(batch)  # toy: blocks shrink to about half of m
    with pytest.raises(ValueError, match="prune"):
        jf.evaluate(grid, batch, sc.prefs, prune="yes")


def test_batch_with_features_is_accepted():
    rng = np.random.default_rng(0)
    scores = rng.random((40, 5, 2)).astype(np.float32)
    labels = rng.integers(0, 2, (40, 5, 2))
    group = np.arange(40) % 2
    try:
        batch = jf.make_batch(scores, labels, group=group, features=rng.random((40, 3)))
    except TypeError:  # a Batch without the optional features field
        pytest.skip("Batch has no features field in this tree")
    plain = jf.make_batch(scores, labels, group=group)
    prefs = np.array([[0.8, 0.2], [0.2, 0.8]])
    grid = jf.direction_grid(65)
    _assert_identical(jf.evaluate(grid, batch, prefs, prune=True), jf.evaluate(grid, plain, prefs, prune=False))
