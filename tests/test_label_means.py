"""Prefs-free sums (SPEC §9): label_means, utilities applied after the kernel, the Slate value."""

from __future__ import annotations

import argparse
import warnings

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import apply_prefs_ref
from reference_slate import label_means_ref, position_weights_ref
from strategies import batches, lattice_alphas

import jaxfair as jf
from jaxfair.engine.dispatch import group_sums
from jaxfair.engine.executors import dense_sums
from jaxfair.engine.kernels import utility_payload
from jaxfair.engine.slate import Slate, add_slate_arguments, as_slate, slate_from_args
from jaxfair.ratio import worst_best_ratio
from jaxfair.validation import EmptyGroupWarning


def _item_groups(seed, n, m, h):
    return np.random.default_rng(seed).integers(0, h, size=(n, m))


@settings(max_examples=8, deadline=None)
@given(
    data=st.data(),
    arrs=batches(max_users=14),
    model=st.sampled_from(["dcg", "geometric", "uniform"]),
    provider=st.booleans(),
    prune_on=st.booleans(),
)
def test_label_means_times_prefs_is_evaluate(data, arrs, model, provider, prune_on):
    """label_means · prefs == evaluate(...).group_utility, for random prefs, slates, provider batches."""
    scores, labels, mask, group, prefs = arrs
    n, m, kl = scores.shape
    g = prefs.shape[0]
    k = data.draw(st.integers(1, m))
    alphas = data.draw(lattice_alphas(kl))
    ig = _item_groups(data.draw(st.integers(0, 99)), n, m, 3) if provider else None
    b = jf.make_batch(scores, labels, mask, group=group, item_group=ig)
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    prefs = rng.dirichlet(np.ones(kl), size=g)  # random prefs, not only the lattice
    sl = Slate(k, model, 0.7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lm = jf.label_means(alphas, b, slate=sl, n_groups=g, prune=prune_on)
        ev = jf.evaluate(alphas, b, prefs, slate=sl, prune=prune_on)
        ev_lm = jf.evaluate(alphas, b, prefs, slate=sl, prune=prune_on, return_label_means=True)
    want = label_means_ref(alphas, scores, labels, mask, group, g, k, position_weights_ref(k, model, 0.7))
    np.testing.assert_allclose(lm, want, rtol=1e-5, atol=1e-6)
    assert lm.dtype == np.float64 and lm.shape == (len(alphas), g, kl)
    # evaluate's default payload is the folded utility α*·Y (one channel): the same group
    # utilities as label_means · prefs to float32 rounding of the block sums.
    assert ev.label_means is None
    np.testing.assert_allclose(jf.group_utility_from_label_means(lm, prefs), ev.group_utility, rtol=1e-5, atol=1e-6)
    # return_label_means=True sums the labels: exactly label_means · prefs, not merely close.
    np.testing.assert_array_equal(jf.group_utility_from_label_means(lm, prefs), ev_lm.group_utility)
    np.testing.assert_array_equal(ev_lm.label_means, lm)
    np.testing.assert_allclose(ev_lm.utility, ev.utility, rtol=1e-5, atol=1e-6)
    if provider:  # exposure does not depend on the payload; merit (a linear sum) agrees to rounding
        np.testing.assert_array_equal(ev_lm.exposure_share, ev.exposure_share)
        np.testing.assert_allclose(ev_lm.merit_share, ev.merit_share, rtol=1e-5, atol=1e-6)
    # Q preference matrices at once: [Q, P, G], each slice the single-prefs result.
    q_prefs = rng.dirichlet(np.ones(kl), size=(4, g))
    many = jf.group_utility_from_label_means(lm, q_prefs)
    assert many.shape == (4, len(alphas), g)
    for q in range(4):
        np.testing.assert_array_equal(many[q], jf.group_utility_from_label_means(lm, q_prefs[q]))


def test_empty_group_gives_nan_rows_and_warns():
    rng = np.random.default_rng(0)
    n, m, k = 20, 4, 2
    b = jf.make_batch(rng.random((n, m, k)), rng.random((n, m, k)), np.ones((n, m), bool), group=np.zeros(n, int))
    with pytest.warns(EmptyGroupWarning):
        lm = jf.label_means(np.ones((2, k)), b, n_groups=3, slate=2)
    assert np.isnan(lm[:, 1:]).all() and np.isfinite(lm[:, 0]).all()
    with pytest.raises(ValueError, match="n_groups"):
        jf.label_means(np.ones((2, k)), b, n_groups=0)
    with pytest.raises(ValueError, match="prefs"):
        jf.group_utility_from_label_means(lm, np.ones((2, k)))


def test_k1_is_bit_identical_to_summing_served_labels():
    """K = 1: label sums are the utility sums (prefs 1) bit for bit; plain vs pruned executors too."""
    sc = jf.scenarios.load("toy")
    b = sc.sample(jax.random.PRNGKey(3), 700)
    b1 = jf.make_batch(np.asarray(b.scores)[..., :1], np.asarray(b.labels)[..., :1], np.asarray(b.mask), b.group)
    a = jax.numpy.ones((3, 1), jax.numpy.float32)
    plain = dense_sums(a, b1, 2, Slate(3).spec(), user_chunk=256, alpha_chunk=2)
    pruned = group_sums(a, b1, 2, Slate(3).spec(), prune=True)
    assert plain.channels == pruned.channels == "labels"
    np.testing.assert_array_equal(plain.channel_sums, pruned.channel_sums)
    ev = jf.evaluate(np.ones((3, 1)), b1, np.ones((2, 1)), slate=3)
    np.testing.assert_array_equal(ev.group_utility, plain.channel_sums[..., 0] / plain.counts)
    # The executors are payload-agnostic: the folded utility (prefs 1) gives the same bits.
    util = dense_sums(a, b1, 2, Slate(3).spec(), utility_payload(np.ones((2, 1))), user_chunk=256, alpha_chunk=2)
    assert util.channels == "utility"
    np.testing.assert_array_equal(util.channel_sums, plain.channel_sums)
    with pytest.raises(ValueError, match="label_means"):
        util.label_means()


def test_worst_best_ratio():
    mu = np.array([[1.0, 2.0], [0.0, 0.0], [np.nan, 1.0], [3.0, 3.0]])
    np.testing.assert_array_equal(worst_best_ratio(mu), [0.5, np.nan, np.nan, 1.0])
    sc = jf.scenarios.load("toy")
    b = sc.sample(jax.random.PRNGKey(0), 300)
    ev = jf.evaluate(jf.box_grid(2, 3, 0.1, 1.0), b.replace(item_group=None), sc.prefs)
    cols = list(ev.to_frame().columns)
    assert cols[cols.index("der") + 1] == "worst_best_ratio"
    np.testing.assert_allclose(ev.worst_best_ratio, [ev.report(i).ratio() for i in range(len(ev))])


def test_slate_value_resolution_and_record():
    s = Slate(3, "geometric", 0.5)
    assert as_slate(3, "geometric", 0.5) == s and as_slate(s) is s
    d = s.to_dict()
    assert d == {"k": 3, "position_weights": "geometric", "gamma": 0.5, "weights": [1.0, 0.5, 0.25]}
    assert Slate.from_dict(d) == s
    with pytest.raises(ValueError, match="position_weights"):
        as_slate(s, "uniform")
    with pytest.raises(ValueError, match="gamma"):
        as_slate(s, gamma=0.3)
    with pytest.raises(ValueError, match="slate"):
        as_slate(5, n_candidates=4)
    with pytest.raises(ValueError, match="gamma"):
        Slate(2, "geometric", 1.5)
    with pytest.raises(ValueError, match="position_weights"):
        Slate(2, (0.5, 1.0))
    p = argparse.ArgumentParser()
    add_slate_arguments(p)
    assert slate_from_args(p.parse_args(["--slate", "2", "--position-weights", "1,0.5"])) == Slate(2, (1.0, 0.5))
    # Every entry point takes the Slate: same numbers as the keywords.
    sc = jf.scenarios.load("toy")
    b = sc.sample(jax.random.PRNGKey(0), 300)
    a = jf.box_grid(2, 3, 0.1, 1.0)
    ev1 = jf.evaluate(a, b, sc.prefs, slate=s)
    ev2 = jf.evaluate(a, b, sc.prefs, slate=3, position_weights="geometric", gamma=0.5)
    np.testing.assert_array_equal(ev1.group_utility, ev2.group_utility)
    assert ev1.slate_spec == s
    np.testing.assert_array_equal(
        jf.group_utility(a[0], b, sc.prefs, slate=s),
        jf.group_utility(a[0], b, sc.prefs, slate=3, position_weights="geometric", gamma=0.5),
    )


@settings(max_examples=20, deadline=None)
@given(
    k=st.sampled_from([1, 2, 3, 8]),
    g=st.sampled_from([2, 5]),
    q=st.integers(1, 6),
    p=st.integers(1, 40),
    seed=st.integers(0, 2**31 - 1),
)
def test_q_prefs_applied_at_once_match_the_reference_bit_for_bit(k, g, q, p, seed):
    """The compiled Q-matrix product (engine.prefs_apply) vs a float64 loop in label order; NaN rows
    (empty groups) stay NaN."""
    rng = np.random.default_rng(seed)
    lm = rng.random((p, g, k))
    lm[:, rng.integers(0, g)] = np.nan  # an empty group
    prefs = rng.dirichlet(np.ones(k), size=(q, g))
    want = apply_prefs_ref(lm, prefs)
    got = jf.group_utility_from_label_means(lm, prefs)
    np.testing.assert_array_equal(got, want)  # NaN == NaN in assert_array_equal
    np.testing.assert_array_equal(got[0], jf.group_utility_from_label_means(lm, prefs[0]))
