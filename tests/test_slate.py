"""Slates with position bias and provider exposure (SPEC §7): the engine against float64
references, k = 1 bit for bit against the top-1 kernel, pruning, and bad inputs."""

from __future__ import annotations

import contextlib
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import keep_ref
from reference_slate import (
    evaluate_slate_ref,
    exposure_ref,
    merit_ref,
    oracle_slate_ref,
    position_weights_ref,
    slate_ref,
    slate_utility_ref,
)
from strategies import batches, lattice_alphas

import jaxfair as jf
from jaxfair.engine import kernels, prune
from jaxfair.validation import ProviderGroupWarning


@contextlib.contextmanager
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", jf.EmptyGroupWarning)
        warnings.simplefilter("ignore", ProviderGroupWarning)
        yield


def _item_groups(seed, n, m, h):
    return np.random.default_rng(seed).integers(0, h, (n, m))


# --- position weights ---------------------------------------------------------------------


def test_position_weights_models():
    np.testing.assert_allclose(jf.position_weights(4), [1.0, 1 / np.log2(3), 0.5, 1 / np.log2(5)])
    np.testing.assert_allclose(jf.position_weights(3, "geometric", gamma=0.5), [1.0, 0.5, 0.25])
    np.testing.assert_array_equal(jf.position_weights(3, "uniform"), np.ones(3))
    np.testing.assert_array_equal(jf.position_weights(2, [2.0, 2.0]), [2.0, 2.0])
    for model in ("dcg", "geometric", "uniform"):
        assert jf.position_weights(1, model)[0] == 1.0


@pytest.mark.parametrize(
    "k,model,gamma,match",
    [
        (0, "dcg", 0.8, "slate"),
        (2.0, "dcg", 0.8, "slate"),
        (True, "dcg", 0.8, "slate"),
        ("3", "dcg", 0.8, "slate"),
        (3, "exp", 0.8, "position_weights"),
        (2, [1.0, -0.5], 0.8, "position_weights"),
        (2, [1.0, np.nan], 0.8, "position_weights"),
        (2, [0.5, 1.0], 0.8, "position_weights.*non-increasing"),
        (3, [1.0, 0.5], 0.8, "position_weights.*length"),
        (2, [0.0, 0.0], 0.8, "position_weights.*v_1"),
        (2, "geometric", 0.0, "gamma"),
        (2, "geometric", 1.5, "gamma"),
        (2, "geometric", "x", "gamma"),
    ],
)
def test_position_weights_reject_bad_input(k, model, gamma, match):
    with pytest.raises(ValueError, match=match):
        jf.position_weights(k, model, gamma)


def test_evaluate_rejects_bad_slates_and_item_groups():
    rng = np.random.default_rng(0)
    b = jf.make_batch(
        rng.random((6, 4, 2)),
        rng.integers(0, 2, (6, 4, 2)),
        group=np.arange(6) % 2,
        item_group=rng.integers(0, 3, (6, 4)),
    )
    prefs, grid = np.eye(2), jf.direction_grid(3)
    for bad in (0, 5, 2.0, -1, "2", None):
        with pytest.raises(ValueError, match="slate"):
            jf.evaluate(grid, b, prefs, slate=bad)
    with pytest.raises(ValueError, match="position_weights"):
        jf.evaluate(grid, b, prefs, slate=2, position_weights=[0.5, 1.0])
    with pytest.raises(ValueError, match="item_group"):  # ids 0..2 but H = 2
        jf.evaluate(grid, b, prefs, n_item_groups=2)
    with pytest.raises(ValueError, match="n_item_groups"):
        jf.evaluate(grid, b, prefs, n_item_groups=1)
    plain = jf.make_batch(rng.random((6, 4, 2)), rng.integers(0, 2, (6, 4, 2)), group=np.arange(6) % 2)
    with pytest.raises(ValueError, match="n_item_groups"):
        jf.evaluate(grid, plain, prefs, n_item_groups=2)
    with pytest.raises(ValueError, match="item_group"):
        jf.make_batch(
            rng.random((6, 4, 2)),
            rng.integers(0, 2, (6, 4, 2)),
            group=np.arange(6) % 2,
            item_group=np.zeros((6, 3), int),
        )
    with pytest.raises(ValueError, match="item_group"):
        jf.make_batch(
            rng.random((6, 4, 2)),
            rng.integers(0, 2, (6, 4, 2)),
            group=np.arange(6) % 2,
            item_group=-np.ones((6, 4), int),
        )
    with pytest.raises(ValueError, match="slate"):
        jf.serve([1.0, 0.0], b, slate=9)


# --- serving and utility against float64 references ---------------------------------------


@settings(max_examples=10, deadline=None)
@given(data=st.data(), arrs=batches(max_users=10))
def test_slate_serving_matches_reference(data, arrs):
    scores, _, mask, _, _ = arrs
    m = scores.shape[1]
    k = data.draw(st.integers(1, m))
    for alpha in data.draw(lattice_alphas(scores.shape[2], max_rows=3)):
        b = jf.make_batch(scores, scores, mask, group=np.zeros(len(scores), int))
        got = np.asarray(jf.serve(alpha, b, slate=k))
        np.testing.assert_array_equal(got, slate_ref(alpha, scores, mask, k))
        np.testing.assert_array_equal(got[:, 0], np.asarray(jf.serve(alpha, b)))


@settings(max_examples=5, deadline=None)
@given(
    data=st.data(),
    arrs=batches(max_users=16),
    h=st.sampled_from([2, 4]),
    model=st.sampled_from(["dcg", "geometric", "uniform"]),
    prune_on=st.booleans(),
)
def test_slate_evaluation_matches_reference(data, arrs, h, model, prune_on):
    scores, labels, mask, group, prefs = arrs
    n, m, k_labels = scores.shape
    k = data.draw(st.integers(1, m))
    ig = _item_groups(data.draw(st.integers(0, 99)), n, m, h)
    alphas = data.draw(lattice_alphas(k_labels))
    b = jf.make_batch(scores, labels, mask, group=group, item_group=ig)
    with _quiet():
        ev = jf.evaluate(alphas, b, prefs, slate=k, position_weights=model, n_item_groups=h, prune=prune_on)
        want = evaluate_slate_ref(alphas, scores, labels, mask, group, prefs, k, position_weights_ref(k, model), ig, h)
    util, der, mu, share, pder = want
    np.testing.assert_allclose(ev.group_utility, mu, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ev.utility, util, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ev.der, der, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ev.exposure_share, share, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ev.provider_der, pder, rtol=1e-4, atol=1e-5)
    assert ev.n_unserved == int((~mask.any(1)).sum())
    served = ~np.isnan(share[:, 0])
    np.testing.assert_allclose(ev.exposure_share[served].sum(1), 1.0, rtol=1e-6)  # shares sum to 1
    m_h = merit_ref(labels, mask, group, prefs, ig, h)
    if m_h.sum() > 0:
        np.testing.assert_allclose(ev.merit_share, m_h / m_h.sum(), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("k_labels,g,h,k", [(1, 2, 2, 1), (2, 5, 4, 20), (8, 2, 2, 10), (2, 2, 4, 3)])
def test_grid_with_partly_and_fully_masked_users(k_labels, g, h, k):
    rng = np.random.default_rng(k_labels * 100 + g * 10 + k)
    n, m = 300, 20
    scores = (rng.integers(0, 9, (n, m, k_labels)) / 8).astype(np.float32)  # ties
    labels = rng.integers(0, 2, (n, m, k_labels)).astype(np.float32)
    mask = rng.random((n, m)) < 0.5
    mask[:7] = False  # fully masked users
    mask[7:20, 3:] = False  # fewer than k retrieved
    group = rng.integers(0, g, n)
    ig = rng.integers(0, h, (n, m))
    prefs = rng.integers(1, 5, (g, k_labels)) / 4
    prefs /= prefs.sum(1, keepdims=True)  # rows sum to 1 (SPEC §9)
    alphas = rng.integers(0, 9, (6, k_labels)) / 8
    alphas[alphas.sum(1) == 0, 0] = 1.0
    b = jf.make_batch(scores, labels, mask, group=group, item_group=ig)
    ev = jf.evaluate(alphas, b, prefs, slate=k, n_item_groups=h)
    util, der, mu, share, pder = evaluate_slate_ref(
        alphas, scores, labels, mask, group, prefs, k, position_weights_ref(k), ig, h
    )
    np.testing.assert_allclose(ev.group_utility, mu, rtol=1e-5)
    np.testing.assert_allclose(ev.exposure_share, share, rtol=1e-5)
    np.testing.assert_allclose(ev.provider_der, pder, rtol=1e-4, atol=1e-6)
    assert ev.n_unserved == int((~mask.any(1)).sum()) >= 7
    frame = ev.to_frame()
    assert {"provider_der", "exposure_share_provider0", f"exposure_ratio_provider{h - 1}"} <= set(frame.columns)
    assert list(frame.columns).index("provider_der") == list(frame.columns).index("der") + 1


def test_user_and_group_utility_and_continuous_scores():
    rng = np.random.default_rng(5)
    n, m, k = 400, 12, 5
    scores = rng.random((n, m, 2)).astype(np.float32)
    labels = rng.random((n, m, 2)).astype(np.float32)
    mask = rng.random((n, m)) < 0.8
    group = rng.integers(0, 2, n)
    prefs = np.array([[0.8, 0.2], [0.2, 0.8]])
    b = jf.make_batch(scores, labels, mask, group=group)
    alpha = np.array([0.3, 0.7])
    v = position_weights_ref(k, "geometric", 0.7)
    want = slate_utility_ref(slate_ref(alpha, scores, mask, k), labels, group, prefs, v)
    got = np.asarray(jf.user_utility(alpha, b, prefs, slate=k, position_weights="geometric", gamma=0.7))
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    gu = jf.group_utility(alpha, b, prefs, slate=k, position_weights="geometric", gamma=0.7)
    np.testing.assert_allclose(gu, [want[group == 0].mean(), want[group == 1].mean()], rtol=1e-5)


# --- oracle slates ------------------------------------------------------------------------


@settings(max_examples=6, deadline=None)
@given(data=st.data(), arrs=batches(max_users=12))
def test_oracle_slate_matches_reference_and_dominates_every_alpha(data, arrs):
    scores, labels, mask, group, prefs = arrs
    k = data.draw(st.integers(1, scores.shape[1]))
    b = jf.make_batch(scores, labels, mask, group=group)
    v = position_weights_ref(k)
    with _quiet():
        orc = jf.oracle_utility(b, prefs, slate=k, full_information=True)
        np.testing.assert_allclose(orc, oracle_slate_ref(labels, mask, group, prefs, k, v), rtol=1e-5, atol=1e-6)
        ev = jf.evaluate(data.draw(lattice_alphas(scores.shape[2])), b, prefs, slate=k)
        own = jf.oracle_utility(b, prefs, slate=k)  # each group's own α* on the model scores
    present = ~np.isnan(orc)
    assert np.all(ev.group_utility[:, present] <= orc[present] + 1e-5)  # rearrangement inequality
    assert np.all(own[present] <= orc[present] + 1e-5)


# --- k = 1 is the top-1 model, bit for bit ---------------------------------------------------


def _legacy_top1_group_sums(alphas, batch, prefs, labels_first=False):
    """The top-1 evaluation as it was before slates (a frozen copy of the running argmax plus
    the two-step block sums, which the fused kernel reproduces bit for bit). With
    ``labels_first``: the prefs-free form (SPEC §9) — the same walk and block sums per label,
    preferences applied after in float64 — returning group utilities ``[P, G]``."""
    a32, p32 = jnp.asarray(alphas, jnp.float32), jnp.asarray(prefs, jnp.float32)
    if labels_first:
        counts = np.bincount(np.asarray(batch.group), minlength=p32.shape[0]).astype(np.float64)
        per_label = []
        for q in range(batch.labels.shape[2]):
            one = batch.replace(labels=batch.labels[..., q : q + 1])
            per_label.append(_legacy_top1_group_sums(alphas, one, np.ones((p32.shape[0], 1))))
        lm = np.stack(per_label, axis=-1) / counts[None, :, None]
        return np.einsum("pgk,gk->pg", lm, np.asarray(prefs, np.float64))
    value = kernels.true_value(batch, p32)
    scores, mask = batch.scores, batch.mask
    n, m, k = scores.shape
    masked = jnp.where(mask[..., None], scores, -jnp.inf)
    best = jnp.full((n, a32.shape[0]), -jnp.inf, jnp.float32)
    out = jnp.zeros((n, a32.shape[0]), jnp.float32)
    for j in range(m):
        s = masked[:, j, 0][:, None] * a32[None, :, 0]
        for q in range(1, k):
            s = s + masked[:, j, q][:, None] * a32[None, :, q]
        better = s > best
        best = jnp.where(better, s, best)
        out = jnp.where(better, value[:, j][:, None], out)
    onehot = jax.nn.one_hot(batch.group, p32.shape[0], dtype=jnp.float32)
    blocks = np.asarray(_frozen_group_block_sums(out, onehot), np.float64)
    sums = np.zeros(blocks.shape[1:])
    for blk in blocks:
        sums += blk
    return sums


def _frozen_group_block_sums(u, onehot):
    """Frozen copy of the old ``kernels.group_block_sums``: per-group sums ``[nb, P, G]`` of
    ``u [N, P]`` over blocks of SUM_BLOCK users, each block by a pairwise tree of adds."""
    (n, p), g, b = u.shape, onehot.shape[1], kernels.SUM_BLOCK
    nb = -(-n // b)
    u = jnp.pad(u, ((0, nb * b - n), (0, 0)))
    onehot = jnp.pad(onehot, ((0, nb * b - n), (0, 0)))

    def tree(x):
        while x.shape[0] > 1:
            x = x.reshape((x.shape[0] // 2, 2) + x.shape[1:])
            x = x[:, 0] + x[:, 1]
        return x[0]

    return jax.lax.map(
        lambda a: tree(a[0][:, :, None] * a[1][:, None, :]), (u.reshape(nb, b, p), onehot.reshape(nb, b, g))
    )


@pytest.mark.parametrize("k_labels", [2])
def test_slate_of_one_is_bit_identical_to_top1(k_labels):
    rng = np.random.default_rng(k_labels)
    n, m, g = 700, 9, 3
    scores = rng.random((n, m, k_labels)).astype(np.float32)
    scores[:300] = np.round(scores[:300] * 4) / 4  # ties
    mask = rng.random((n, m)) < 0.7
    mask[::50] = False
    group = rng.integers(0, g, n)
    prefs = rng.random((g, k_labels))
    prefs /= prefs.sum(1, keepdims=True)  # rows sum to 1 (SPEC §9)
    b = jf.make_batch(
        scores, rng.integers(0, 2, (n, m, k_labels)), mask, group=group, item_group=rng.integers(0, 2, (n, m))
    )
    alphas = rng.random((7, k_labels)) + 1e-3
    sums = _legacy_top1_group_sums(alphas, b, prefs)
    counts = np.bincount(group, minlength=g)
    want = sums / counts  # evaluate's folded-utility payload: the old bits
    # The prefs-free form (SPEC §9: the same walk and block sums per label, α* applied after in
    # float64) is the route of return_label_means=True: the same to float32 rounding of the
    # sums, and bit for bit the frozen walk in that form.
    want_lm = _legacy_top1_group_sums(alphas, b, prefs, labels_first=True)
    np.testing.assert_allclose(want_lm, want, rtol=2e-6)
    for kwargs in (
        dict(),
        dict(slate=1),
        dict(slate=1, position_weights="geometric"),
        dict(slate=1, prune=True),
        dict(slate=1, prune=False, chunk_size=3),
    ):
        ev = jf.evaluate(alphas, b, prefs, **kwargs)
        np.testing.assert_array_equal(ev.group_utility, want)
        ev_lm = jf.evaluate(alphas, b, prefs, return_label_means=True, **kwargs)
        np.testing.assert_array_equal(ev_lm.group_utility, want_lm)
    bare = jf.make_batch(np.asarray(b.scores), np.asarray(b.labels), mask, group=group)  # no provider groups
    np.testing.assert_array_equal(jf.evaluate(alphas, bare, prefs, slate=1).group_utility, want)
    np.testing.assert_array_equal(jf.group_utility(alphas[0], b, prefs), want[0])
    u = np.asarray(jf.user_utility(alphas[0], b, prefs, slate=1))
    np.testing.assert_array_equal(u, np.asarray(jf.user_utility(alphas[0], bare, prefs)))


# --- pruning for slates ---------------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(data=st.data(), arrs=batches(max_users=8), strict=st.booleans())
def test_slate_keep_mask_matches_reference_and_keeps_every_slate(data, arrs, strict):
    scores, _, mask, _, _ = arrs
    k = data.draw(st.integers(1, scores.shape[1]))
    keep = prune.keep_mask(scores, mask, strict, k=k)
    np.testing.assert_array_equal(keep, keep_ref(scores, mask, strict, k))
    for alpha in data.draw(lattice_alphas(scores.shape[2], max_rows=3)):
        if strict and not prune.alphas_allow_strict(alpha[None]):
            continue
        sl = slate_ref(alpha, scores, mask, k)
        rows, ranks = np.nonzero(sl >= 0)
        assert keep[rows, sl[rows, ranks]].all()


@settings(max_examples=3, deadline=None)
@given(data=st.data(), arrs=batches(max_users=40, lattice=False), lattice=st.booleans())
def test_pruned_slates_are_bit_identical(data, arrs, lattice):
    scores, labels, mask, group, prefs = arrs
    if lattice:
        scores = (np.round(scores * 4) / 4).astype(np.float32)
    n, m, k_labels = scores.shape
    k = data.draw(st.integers(1, m))
    b = jf.make_batch(scores, labels, mask, group=group, item_group=_item_groups(1, n, m, 2))
    alphas = data.draw(lattice_alphas(k_labels))
    with _quiet():
        a = jf.evaluate(alphas, b, prefs, slate=k, prune=False)
        p = jf.evaluate(alphas, b, prefs, slate=k, prune=True)
    for field in ("group_utility", "utility", "der", "exposure_share", "provider_der"):
        np.testing.assert_array_equal(getattr(a, field), getattr(p, field))


def test_pruned_slates_one_ulp_near_ties_and_many_tiles(monkeypatch):
    from jaxfair.engine import pruned

    monkeypatch.setattr(pruned, "PRUNE_TILE", 512)  # where the pruned executor reads them
    monkeypatch.setattr(pruned, "PRUNE_SUPER_CHUNK", 1024)
    eps = np.float32(2.0**-23)
    rng = np.random.default_rng(7)
    n, m = 1800, 10
    scores = rng.random((n, m, 2)).astype(np.float32)
    scores[:600] = np.round(scores[:600] * 4) / 4
    # one-ulp near ties: candidate 1 beats candidate 0 by one ulp on both labels
    scores[600:900, 0] = 1.0
    scores[600:900, 1] = 1.0 + eps
    scores[600:900, 2] = 1.0
    mask = rng.random((n, m)) < 0.8
    mask[::97] = False
    b = jf.make_batch(
        scores, rng.integers(0, 2, (n, m, 2)), mask, group=rng.integers(0, 2, n), item_group=rng.integers(0, 3, (n, m))
    )
    prefs = np.array([[0.8, 0.2], [0.2, 0.8]])
    alphas = np.concatenate([jf.direction_grid(9), [[1.0, 1.0], [2.0**-30, 1.0]]])
    for k in (3,):
        a = jf.evaluate(alphas, b, prefs, slate=k, prune=False)
        p = jf.evaluate(alphas, b, prefs, slate=k, prune=True)
        for field in ("group_utility", "exposure_share", "provider_der"):
            np.testing.assert_array_equal(getattr(a, field), getattr(p, field))


# --- provider exposure ------------------------------------------------------------------------


def test_provider_der_is_one_when_exposure_is_proportional_to_merit():
    # Every user: 2 candidates of provider 0 and 2 of provider 1 with equal true values;
    # uniform weights and k = m expose everything, so e_h = m_h = 1/2 for every α.
    n, m = 64, 4
    rng = np.random.default_rng(0)
    scores = rng.random((n, m, 2)).astype(np.float32)
    labels = np.ones((n, m, 2), np.float32)
    ig = np.tile([0, 1, 0, 1], (n, 1))
    b = jf.make_batch(scores, labels, group=np.arange(n) % 2, item_group=ig)
    ev = jf.evaluate(jf.direction_grid(5), b, np.array([[0.8, 0.2], [0.2, 0.8]]), slate=4, position_weights="uniform")
    np.testing.assert_allclose(ev.provider_der, 1.0)
    np.testing.assert_allclose(ev.exposure_share, 0.5)
    np.testing.assert_allclose(ev.merit_share, [0.5, 0.5])
    # Exposure all on provider 0: shares (1, 0) against merit (1/2, 1/2) -> DER of ρ = (2, 0) is 0.
    scores2 = np.where(ig[..., None] == 0, 1.0, 0.0).astype(np.float32) * np.ones((1, 1, 2), np.float32)
    b2 = jf.make_batch(scores2, labels, group=np.arange(n) % 2, item_group=ig)
    ev2 = jf.evaluate(jf.direction_grid(3), b2, np.array([[0.8, 0.2], [0.2, 0.8]]), slate=2)
    np.testing.assert_allclose(ev2.exposure_share, [[1.0, 0.0]] * 3)
    np.testing.assert_allclose(ev2.provider_der, 0.0, atol=1e-12)


def test_provider_group_without_merit_is_nan_with_a_warning_naming_it():
    rng = np.random.default_rng(1)
    n, m = 30, 5
    ig = rng.integers(0, 2, (n, m))
    b = jf.make_batch(rng.random((n, m, 2)), np.ones((n, m, 2)), group=np.arange(n) % 2, item_group=ig)
    with pytest.warns(ProviderGroupWarning, match="provider group 2"):
        ev = jf.evaluate(jf.direction_grid(3), b, np.eye(2), slate=2, n_item_groups=3)
    assert np.isnan(ev.provider_der).all() and ev.n_item_groups == 3
    assert np.isfinite(ev.exposure_share).all()
    plain = jf.make_batch(rng.random((n, m, 2)), np.ones((n, m, 2)), group=np.arange(n) % 2)
    ev = jf.evaluate(jf.direction_grid(3), plain, np.eye(2), slate=2)
    assert ev.n_item_groups == 0 and ev.provider_der.shape == (3,) and np.isnan(ev.provider_der).all()
    assert ev.exposure_share.shape == (3, 0) and "provider_der" not in ev.to_frame().columns


def test_exposure_reference_directly():
    rng = np.random.default_rng(2)
    n, m, k, h = 50, 6, 3, 4
    scores = (rng.integers(0, 5, (n, m, 2)) / 4).astype(np.float32)
    mask = rng.random((n, m)) < 0.6
    ig = rng.integers(0, h, (n, m))
    labels = rng.integers(0, 2, (n, m, 2)).astype(np.float32)
    group = rng.integers(0, 2, n)
    b = jf.make_batch(scores, labels, mask, group=group, item_group=ig)
    alpha = np.array([0.5, 0.25])
    v = position_weights_ref(k)
    e = exposure_ref(slate_ref(alpha, scores, mask, k), ig, v, h)
    with _quiet():
        ev = jf.evaluate(alpha[None], b, np.eye(2), slate=k, n_item_groups=h)
    np.testing.assert_allclose(ev.exposure_share[0], e / e.sum(), rtol=1e-6)


# --- diagnosis pass-through ---------------------------------------------------------------------


def test_decompose_accepts_slates():
    from jaxfair.diagnose import decompose

    rng = np.random.default_rng(4)
    n, m = 400, 8
    b = jf.make_batch(
        rng.random((n, m, 2)),
        rng.integers(0, 2, (n, m, 2)),
        rng.random((n, m)) < 0.8,
        group=rng.integers(0, 2, n),
        features=rng.random((n, 2)),
    )
    prefs = np.array([[0.8, 0.2], [0.2, 0.8]])
    alphas = jf.direction_grid(3)
    w = np.ones(n)
    top1 = decompose(alphas, b, prefs, groups=(0, 1), weights=w, n_boot=0)
    same = decompose(alphas, b, prefs, groups=(0, 1), weights=w, n_boot=0, slate=1)
    np.testing.assert_array_equal(top1.expectations, same.expectations)
    d = decompose(alphas, b, prefs, groups=(0, 1), weights=w, n_boot=0, slate=3, position_weights="geometric")
    ev = jf.evaluate(alphas, b, prefs, slate=3, position_weights="geometric")
    np.testing.assert_allclose(d.expectations[:, 0], ev.group_utility[:, 0], rtol=1e-5)  # E1[U1]
    np.testing.assert_allclose(d.expectations[:, 3], ev.group_utility[:, 1], rtol=1e-5)  # E0[U0]
    np.testing.assert_allclose(d.terms[:, :3].sum(1), d.terms[:, 3], rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="slate"):
        decompose(alphas, b, prefs, groups=(0, 1), weights=w, n_boot=0, slate=m + 1)


def test_attribute_accepts_slates():
    from jaxfair.diagnose.attribution import attribute

    rng = np.random.default_rng(6)
    n, m = 300, 8
    b = jf.make_batch(
        rng.random((n, m, 2)), rng.integers(0, 2, (n, m, 2)), rng.random((n, m)) < 0.7, group=rng.integers(0, 2, n)
    )
    prefs = np.array([[0.8, 0.2], [0.2, 0.8]])
    a1 = attribute([0.5, 0.5], b, prefs, groups=(0, 1), m=4)
    a2 = attribute([0.5, 0.5], b, prefs, groups=(0, 1), m=4, slate=1)
    pd_ = a1.pipelines
    np.testing.assert_array_equal(pd_["utility"].to_numpy(), a2.pipelines["utility"].to_numpy())
    a3 = attribute([0.5, 0.5], b, prefs, groups=(0, 1), m=4, slate=3)
    base = a3.pipelines.query("not retrieval and not scoring and not serving")
    want = jf.evaluate(np.array([[0.5, 0.5]]), b, prefs, slate=3).utility[0]
    np.testing.assert_allclose(float(base["utility"].iloc[0]), want, rtol=1e-5)


@settings(max_examples=6, deadline=None)
@given(data=st.data(), arrs=batches(max_users=20), h=st.sampled_from([2, 3, 4]), labels_payload=st.booleans())
def test_provider_indicators_in_the_sign_bit_give_the_same_bits(data, arrs, h, labels_payload):
    """Indicators carried in the values' sign bits (nonneg_values) vs a chain each: the same sums."""
    scores, labels, mask, group, prefs = arrs
    n, m, k_labels = scores.shape
    labels[0, 0, 0] = -0.0  # a negative zero must not read as "provider 1"
    k = data.draw(st.integers(1, m))
    ig = jnp.asarray(_item_groups(data.draw(st.integers(0, 99)), n, m, h), jnp.int32)
    b = jf.make_batch(scores, labels, mask, group=group, item_group=ig)
    alphas = jnp.asarray(data.draw(lattice_alphas(k_labels)), jnp.float32)
    payload = kernels.LABELS if labels_payload else kernels.utility_payload(prefs)
    spec = kernels.slate_spec(k, None, h)
    g = prefs.shape[0]
    chains = kernels.group_sum_blocks(alphas, b, g, spec, payload)
    signs = kernels.group_sum_blocks(alphas, b, g, spec._replace(nonneg_values=True), payload)
    np.testing.assert_array_equal(np.asarray(signs.values), np.asarray(chains.values))
    np.testing.assert_array_equal(np.asarray(signs.exposure), np.asarray(chains.exposure))


def test_sign_bit_route_is_chosen_only_for_nonnegative_values():
    from jaxfair.engine.dispatch import _sign_bit_free

    rng = np.random.default_rng(0)
    scores = rng.random((4, 3, 2)).astype(np.float32)
    spec = kernels.slate_spec(2, None, 2)
    pos = jf.make_batch(scores, np.abs(scores), group=[0, 1, 0, 1], item_group=np.zeros((4, 3), int))
    neg = jf.make_batch(scores, scores - 0.5, group=[0, 1, 0, 1], item_group=np.zeros((4, 3), int))
    assert _sign_bit_free(spec, pos, kernels.LABELS).nonneg_values
    assert not _sign_bit_free(spec, neg, kernels.LABELS).nonneg_values  # a negative label: chains
    assert not _sign_bit_free(spec._replace(n_item_groups=0), pos, kernels.LABELS).nonneg_values  # no providers
