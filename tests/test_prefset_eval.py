"""Evaluation over a preference set and the robust choice (SPEC §9, issue #20 items 2 and 4)."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import apply_prefs_ref, evaluate_ref
from strategies import batches, lattice_alphas

import jaxfair as jf
from jaxfair.preferences import PrefSet, evaluate_set, robust_alpha
from jaxfair.preferences.over_set import set_evaluation_from_label_means
from jaxfair.preferences.robust import holds_text, share_near
from jaxfair.ratio import worst_best_ratio

# Tolerance: each member's numbers are the same float64 products as `evaluate`'s; only the
# global mean is summed in another order (Σ_g n_g μ_g / N vs Σ_g Σ_n u_n / N): ~1e-15 relative.
RTOL, ATOL = 1e-12, 1e-12


@settings(max_examples=6, deadline=None)
@given(data=st.data(), arrs=batches(max_users=14), q=st.integers(1, 3))
def test_evaluate_set_is_each_member_evaluated(data, arrs, q):
    """evaluate_set == evaluate per member (and == the brute-force float64 reference), incl. empty
    groups, K = 1 / 8 and G = 2 / 5 from the strategy."""
    scores, labels, mask, group, _ = arrs
    n, m, k = scores.shape
    g = int(data.draw(st.sampled_from([2, 5])))
    group = group % g
    alphas = data.draw(lattice_alphas(k))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**31 - 1)))
    members = rng.dirichlet(np.ones(k), size=(q, g)) if k > 1 else np.ones((q, g, 1))
    members /= members.sum(axis=2, keepdims=True)
    ps = PrefSet.explicit(list(members))
    b = jf.make_batch(scores, labels, mask, group=group)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty groups warn
        res = evaluate_set(alphas, b, ps, prune=data.draw(st.booleans()))
        for i in range(q):
            # the label-sum route of evaluate (its default folds prefs into the kernel: equal to float32
            # rounding of the block sums, tested in test_label_means)
            ev = jf.evaluate(alphas, b, members[i], return_label_means=True)
            np.testing.assert_array_equal(res.group_utility[i], ev.group_utility)  # bit-identical
            np.testing.assert_array_equal(
                res.group_utility[i], jf.group_utility_from_label_means(res.label_means, members[i])
            )
            np.testing.assert_allclose(res.utility[i], ev.utility, rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(res.der[i], ev.der, rtol=RTOL, atol=ATOL)
            np.testing.assert_allclose(res.worst_best_ratio[i], ev.worst_best_ratio, rtol=RTOL, atol=ATOL)
            util, der, mu, _ = evaluate_ref(alphas, scores, labels, mask, group, members[i])
            np.testing.assert_allclose(res.utility[i], util, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(res.der[i], der, rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(res.group_utility[i], mu, rtol=1e-9, atol=1e-12)
    assert res.utility.shape == res.der.shape == (q, len(alphas))
    # Summaries over the set are plain min / median / max over axis 0, NaN propagating.
    for metric in ("utility", "der", "worst_best_ratio"):
        x = getattr(res, metric)
        np.testing.assert_array_equal(getattr(res, f"{metric}_min"), np.min(x, axis=0))
        np.testing.assert_allclose(getattr(res, f"{metric}_median"), np.median(x, axis=0), rtol=1e-15)
        np.testing.assert_array_equal(getattr(res, f"{metric}_max"), np.max(x, axis=0))
    np.testing.assert_array_equal(res.robust_der, np.min(res.der, axis=0))
    frame = res.to_frame()
    assert list(frame.columns[:k]) == [f"alpha_label{i}" for i in range(k)]
    assert {"utility_median", "robust_der", "worst_best_ratio_max"} <= set(frame.columns)


def test_evaluate_set_binds_a_named_set_by_name():
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(0), 200)
    grid = jf.direction_grid(9)
    ps = PrefSet.dirichlet(sc.prefs, 50.0, q=5, group_names=sc.group_names, label_names=sc.label_names)
    flipped = PrefSet(ps.values[:, ::-1], ps.group_names[::-1], ps.label_names, "explicit")
    a = evaluate_set(grid, batch, ps, group_names=sc.group_names)
    b = evaluate_set(grid, batch, flipped, group_names=sc.group_names)
    np.testing.assert_array_equal(a.utility, b.utility)
    np.testing.assert_array_equal(a.der, b.der)
    with pytest.raises(ValueError, match="group_names"):
        evaluate_set(grid, batch, ps, group_names=["x", "y"])
    with pytest.raises(ValueError, match="K = 3"):
        evaluate_set(grid, batch, PrefSet(np.full((2, 2, 3), 1 / 3)))


def _hand_made():
    """Three α, two equal-sized groups, two labels; label means chosen by hand.

    α0 serves label a to both groups, α2 label b to both, α1 a mix. Members: (a-lovers vs
    b-lovers) at three strengths.
    """
    alphas = np.array([[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]])
    lm = np.array(
        [
            [[1.0, 0.0], [1.0, 0.0]],  # α0: both groups get label a
            [[0.6, 0.6], [0.6, 0.6]],  # α1: a bit of both
            [[0.0, 1.0], [0.0, 1.0]],  # α2: label b
        ]
    )
    members = [[[0.8, 0.2], [0.2, 0.8]], [[0.9, 0.1], [0.4, 0.6]], [[0.6, 0.4], [0.1, 0.9]]]
    return alphas, lm, np.array([50, 50]), PrefSet.explicit(members, group_names=["x", "y"], label_names=["a", "b"])


def test_set_evaluation_from_hand_made_label_means():
    alphas, lm, counts, ps = _hand_made()
    res = set_evaluation_from_label_means(alphas, lm, counts, ps)
    # member 0 at α0: μ = (0.8, 0.2); at α1: μ = (0.6, 0.6); at α2: (0.2, 0.8)
    np.testing.assert_allclose(res.group_utility[0], [[0.8, 0.2], [0.6, 0.6], [0.2, 0.8]])
    np.testing.assert_allclose(res.utility[0], [0.5, 0.6, 0.5])
    np.testing.assert_allclose(res.der[:, 1], [1.0, 1.0, 1.0])  # α1 serves both groups 0.6
    np.testing.assert_allclose(res.worst_best_ratio[1], worst_best_ratio(res.group_utility[1]))
    np.testing.assert_allclose(res.der[0, 0], 1 - 2 * ((0.8 - 0.5) ** 2 + (0.2 - 0.5) ** 2))


def test_robust_alpha_feasible_and_quantile():
    alphas, lm, counts, ps = _hand_made()
    res = set_evaluation_from_label_means(alphas, lm, counts, ps)
    choice = robust_alpha(res, q=0.0, tau=0.9)
    # Only α1 has DER ≥ 0.9 under every member (DER 1 everywhere): it is chosen.
    assert choice.feasible and choice.index == 1 and choice.n_feasible == 1
    assert choice.utility_q == pytest.approx(0.6)
    assert "robust choice" in choice.message
    # With no fairness floor, the highest worst-member utility wins: α0 (0.5, 0.65, 0.35 → min 0.35)
    # vs α1 (0.6 for all) vs α2: α1 still; q = 1 (best member): α0 under member 1 gives 0.65.
    assert robust_alpha(res, q=1.0, tau=0.0).index == 0
    assert robust_alpha(res, q=0.0, tau=0.0).index == 1


def test_robust_alpha_infeasible_says_so_and_returns_highest_robust_der():
    alphas, lm, counts, ps = _hand_made()
    lm = lm.copy()
    lm[1] = [[0.9, 0.1], [0.1, 0.9]]  # α1 now serves x label a and y label b: unequal under member 0
    res = set_evaluation_from_label_means(alphas, lm, counts, ps)
    choice = robust_alpha(res, q=0.1, tau=0.999)
    assert not choice.feasible and choice.n_feasible == 0
    assert choice.index == int(np.argmax(res.robust_der))
    assert choice.robust_der == pytest.approx(res.robust_der.max())
    assert "no α has DER ≥ 0.999" in choice.message and "highest robust DER" in choice.message
    assert choice.to_dict()["feasible"] is False
    with pytest.raises(ValueError, match="tau"):
        robust_alpha(res, tau=1.5)
    with pytest.raises(ValueError, match="q"):
        robust_alpha(res, q=-0.1)


def test_share_near_and_holds_text():
    grid = jf.direction_grid(11)  # step 0.1
    assert share_near(grid, np.array([5, 5, 6, 4]), 5, 0.1) == 1.0
    assert share_near(grid, np.array([5, 7, 6, 4]), 5, 0.1) == 0.75
    assert holds_text(1.0).startswith("robust")
    assert holds_text(0.75) == "holds for 75.0 % of the set"
    assert holds_text(0.9999) == "holds for >99.9 % of the set"  # never rounded up to 100 %


def set_metrics_ref(lm, values, counts):
    """Plain float64 loops: μ per member, α and group; the global mean, DER and the ratio from them."""
    from jaxfair.engine.kernels import der_kernel

    p, g, _ = lm.shape
    q = values.shape[0]
    mu = apply_prefs_ref(lm, values)
    w = counts / counts.sum()
    util = np.zeros((q, p))
    for c in range(g):
        if counts[c] > 0:
            util = util + mu[..., c] * w[c]
    der = der_kernel(mu, xp=np) if g > 1 else np.full((q, p), np.nan)
    return mu, util, der, worst_best_ratio(mu)


@settings(max_examples=20, deadline=None)
@given(
    g=st.sampled_from([1, 2, 5]),
    k=st.sampled_from([1, 2, 8]),
    p=st.integers(1, 30),
    q=st.integers(1, 9),
    seed=st.integers(0, 2**31 - 1),
    empty=st.booleans(),
    zero_row=st.booleans(),
)
def test_compiled_set_metrics_match_the_float64_reference(g, k, p, q, seed, empty, zero_row):
    """engine-free part of evaluate_set: group utility and global mean exactly, DER and ratio to rounding,
    with an empty group (NaN means, no users) and an α where nobody gets anything."""
    from jaxfair.preferences.over_set import _apply_set

    rng = np.random.default_rng(seed)
    lm = rng.random((p, g, k))
    counts = rng.integers(1, 9, g).astype(float)
    if empty and g > 1:
        lm[:, g - 1] = np.nan
        counts[g - 1] = 0
    if zero_row:
        lm[0] = np.where(np.isnan(lm[0]), np.nan, 0.0)
    values = rng.dirichlet(np.ones(k), size=(q, g))
    planes, util, der, ratio = _apply_set(lm, values, counts)
    mu, util_ref, der_ref, ratio_ref = set_metrics_ref(lm, values, counts)
    np.testing.assert_array_equal(np.moveaxis(planes, 0, -1), mu)
    np.testing.assert_array_equal(util, util_ref)
    np.testing.assert_allclose(der, der_ref, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(ratio, ratio_ref, rtol=1e-12)
    np.testing.assert_array_equal(np.moveaxis(planes, 0, -1), jf.group_utility_from_label_means(lm, values))
