"""Diagnosis: S_X weights, the gap decomposition (eqs. 4–6) and Theorem 3.1's bound."""

from __future__ import annotations

import warnings

import jax
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from reference import decomposition_ref, shared_space_h_ref, theorem31_bound_ref
from strategies import batches, lattice_alphas

from jaxfair import make_batch, scenarios
from jaxfair.diagnose import OverlapWarning, decompose, decompose_all, shared_space_weights
from jaxfair.diagnose.bound import optimal_scale
from jaxfair.diagnose.weights import weights_from_propensity


def _toy(n=4000, seed=0, **opts):
    sc = scenarios.load("toy", **opts)
    return sc, sc.sample(jax.random.PRNGKey(seed), n)


def _pair_batch(data):
    scores, labels, mask, group, prefs = data
    g1, g0 = 0, 1
    assume(np.any(group == g1) and np.any(group == g0))
    return make_batch(scores, labels, mask, group), prefs, (g1, g0)


@given(data=batches(), h_seed=st.integers(0, 2**31 - 1), st_data=st.data())
@settings(max_examples=15)
def test_decomposition_matches_float64_reference_and_telescopes(data, h_seed, st_data):
    batch, prefs, pair = _pair_batch(data)
    alphas = st_data.draw(lattice_alphas(batch.n_labels))
    h = np.random.default_rng(h_seed).uniform(0.1, 2.0, batch.n_users)
    d = decompose(alphas, batch, prefs, groups=pair, weights=h, n_boot=0)
    s, y, m, g = (np.asarray(x) for x in (batch.scores, batch.labels, batch.mask, batch.group))
    for p, a in enumerate(alphas):
        e, terms, resid, f_mean = decomposition_ref(a, s, y, m, g, prefs, *pair, h)
        np.testing.assert_allclose(d.expectations[p], e, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(d.terms[p], terms, rtol=1e-5, atol=1e-6)
        # Telescoping: the three terms add up to the raw gap to float64 rounding.
        assert abs(d.terms[p, :3].sum() - d.terms[p, 3]) <= 1e-12
        np.testing.assert_allclose(d.bound.residual[p], resid, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(d.bound.f_mean[p], f_mean, rtol=1e-5, atol=1e-6)
        ref_given = theorem31_bound_ref(1.0, a, prefs[pair[0]], prefs[pair[1]], resid, f_mean)
        np.testing.assert_allclose(d.bound.given[p], ref_given, rtol=1e-5, atol=1e-6)


@given(data=batches(lattice=False), h_seed=st.integers(0, 2**31 - 1), st_data=st.data())
@settings(max_examples=15)
def test_theorem31_bound_holds_and_scale_is_exact_minimum(data, h_seed, st_data):
    batch, prefs, pair = _pair_batch(data)
    alphas = st_data.draw(lattice_alphas(batch.n_labels))
    h = np.random.default_rng(h_seed).uniform(0.0, 2.0, batch.n_users) + 1e-3
    d = decompose(alphas, batch, prefs, groups=pair, weights=h, n_boot=0)
    b = d.bound
    a1, a0 = prefs[pair[0]], prefs[pair[1]]
    tol = 1e-5
    assert np.all(b.optimal >= np.abs(d.terms[:, 1]) - tol)
    assert np.all(b.given >= b.optimal - 1e-12)
    for p, a in enumerate(alphas):
        # The minimiser is exact: no c on a fine grid (or at a kink) does better.
        cs = np.r_[np.linspace(0.0, 4.0 * max(a1.max(), a0.max(), 1) / a[a > 0].min(), 2001), b.scale[p]]
        grid = [theorem31_bound_ref(c, a, a1, a0, b.residual[p], b.f_mean[p]) for c in cs]
        assert b.optimal[p] <= min(grid) + 1e-9
        np.testing.assert_allclose(
            b.optimal[p], theorem31_bound_ref(b.scale[p], a, a1, a0, b.residual[p], b.f_mean[p]), rtol=1e-12
        )
        np.testing.assert_allclose(b.optimal_parts[p].sum(), b.optimal[p], rtol=1e-12)


def test_optimal_scale_hand_computed():
    # One label: B(c) = R + F(|c − 0.8| + |c − 0.2|), flat on [0.2, 0.8]: lowest c = 0.2.
    c, parts = optimal_scale(np.array([[1.0]]), np.array([0.8]), np.array([0.2]), np.array([0.1]), np.array([[0.5]]))
    assert c[0] == pytest.approx(0.2) and parts.sum() == pytest.approx(0.1 + 0.5 * 0.6)


def test_identical_preferences_give_term5_exactly_zero():
    sc, batch = _toy(3000, covariate_shift=1.0, covariate_effect=0.5)
    prefs = np.array([[0.3, 0.7], [0.3, 0.7]])
    d = decompose(np.array([[1.0, 0.0], [0.5, 0.5], [0.1, 0.9]]), batch, prefs, groups=(1, 0), n_boot=20)
    assert np.all(d.terms[:, 1] == 0.0)
    assert np.all(d.boot_terms[..., 1] == 0.0)


def test_no_covariate_shift_terms_4_and_6_vanish_within_ci():
    sc, batch = _toy(20_000, covariate_shift=0.0, covariate_effect=0.5)
    d = decompose(
        np.array([[0.5, 0.5], [0.9, 0.1]]), batch, sc.prefs, groups=(1, 0), n_boot=200, key=jax.random.PRNGKey(1)
    )
    for t in (0, 2):
        lo, hi = d.ci[:, t, 0], d.ci[:, t, 1]
        assert np.all((lo <= 0) & (0 <= hi)), (t, d.ci[:, t])
    # ... while with a covariate shift and an effect of X on Y they do not.
    sc, batch = _toy(20_000, covariate_shift=1.5, covariate_effect=1.0, n_candidates=3)
    d = decompose(np.array([[0.5, 0.5]]), batch, sc.prefs, groups=(1, 0), n_boot=200)
    assert not (d.ci[0, 0, 0] <= 0 <= d.ci[0, 0, 1])


def test_estimated_weights_agree_with_exact_on_toy():
    sc, batch = _toy(20_000, covariate_shift=1.0)
    est = shared_space_weights(batch, (1, 0), seed=0)
    exact = shared_space_weights(batch, (1, 0), exact=True, scenario=sc)
    # Measured: correlation 0.998, mean |difference| 0.018 (weights have mean 1).
    assert np.corrcoef(est.weights, exact.weights)[0, 1] > 0.99
    assert np.mean(np.abs(est.weights - exact.weights)) < 0.05
    assert abs(est.overlap - exact.overlap) < 0.02
    # Exact weights match h(x) = a·b/(a+b) computed one user at a time.
    g = np.asarray(batch.group)
    p1 = np.mean(g == 1)
    np.testing.assert_allclose(
        exact.weights,
        shared_space_h_ref(exact.propensity, p1) / shared_space_h_ref(exact.propensity, p1).mean(),
        rtol=1e-10,
    )


def test_weights_normalised_and_zero_outside_pair():
    rng = np.random.default_rng(0)
    n = 300
    group = rng.integers(0, 3, n)
    s = rng.random((n, 4, 2))
    batch = make_batch(s, (rng.random((n, 4, 2)) < s).astype(float), group=group, features=rng.normal(size=(n, 3)))
    w = shared_space_weights(batch, (2, 0), n_folds=3)
    assert np.all(w.weights[group == 1] == 0)
    assert w.weights[group != 1].mean() == pytest.approx(1.0)
    assert np.all(np.isnan(w.propensity[group == 1]))


def test_decompose_all_g5_against_reference():
    rng = np.random.default_rng(1)
    n, prefs = 600, rng.random((5, 2)) + 0.1
    prefs /= prefs.sum(1, keepdims=True)  # rows sum to 1 (SPEC §9)
    s = rng.random((n, 5, 2))
    batch = make_batch(
        s, (rng.random((n, 5, 2)) < s).astype(float), group=rng.integers(0, 5, n), features=rng.normal(size=(n, 2))
    )
    out = decompose_all(np.array([[0.5, 0.5]]), batch, prefs, reference=2, n_boot=10, n_folds=3)
    assert sorted(out) == [0, 1, 3, 4]
    for g0, d in out.items():
        assert d.groups == (2, g0)
        assert abs(d.terms[0, :3].sum() - d.terms[0, 3]) < 1e-12


def test_to_frame_is_tidy():
    sc, batch = _toy(2000, covariate_shift=0.5)
    d = decompose(np.array([[0.5, 0.5], [1.0, 0.0]]), batch, sc.prefs, groups=(1, 0), n_boot=10)
    df = d.to_frame()
    assert {"alpha_0", "alpha_1", "quantity", "estimate", "ci_low", "ci_high"} <= set(df.columns)
    assert set(df["quantity"]) >= {"term4", "term5", "term6", "gap", "bound_optimal"}
    assert len(df[df.quantity == "gap"]) == 2


# --- bad inputs: a clear error naming the argument --------------------------------------


def _small(n=200, seed=0, features=True):
    rng = np.random.default_rng(seed)
    s = rng.random((n, 4, 2))
    return make_batch(
        s,
        (rng.random((n, 4, 2)) < s).astype(float),
        group=(rng.random(n) < 0.3).astype(int),
        features=rng.normal(size=(n, 2)) if features else None,
    )


def test_group_with_no_users_is_rejected():
    b = _small()
    prefs3 = np.array([[0.8, 0.2], [0.2, 0.8], [0.5, 0.5]])
    with pytest.raises(ValueError, match="groups: g0 = 2 has no users"):
        decompose(np.array([0.5, 0.5]), b, prefs3, groups=(0, 2), n_boot=0)


def test_single_group_is_rejected():
    rng = np.random.default_rng(0)
    s = rng.random((50, 3, 2))
    b = make_batch(s, s, group=np.zeros(50, int), features=rng.normal(size=(50, 2)))
    with pytest.raises(ValueError, match=r"batch.group: .*G = 1"):
        decompose(np.array([0.5, 0.5]), b, np.array([[0.8, 0.2], [0.2, 0.8]]), n_boot=0)


def test_nan_features_rejected():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(10, 2))
    x[3, 1] = np.nan
    with pytest.raises(ValueError, match="features: expected finite"):
        make_batch(rng.random((10, 2, 2)), rng.random((10, 2, 2)), group=np.arange(10) % 2, features=x)
    with pytest.raises(ValueError, match=r"features: expected shape \[10, d\]"):
        make_batch(rng.random((10, 2, 2)), rng.random((10, 2, 2)), group=np.arange(10) % 2, features=np.ones(10))


def test_no_overlap_is_an_error_and_poor_overlap_warns():
    b = _small()
    g = np.asarray(b.group)
    with pytest.raises(ValueError, match="weights: no overlap"):
        decompose(
            np.array([0.5, 0.5]),
            b,
            np.array([[0.8, 0.2], [0.2, 0.8]]),
            groups=(1, 0),
            weights=np.zeros(len(g)),
            n_boot=0,
        )
    with pytest.raises(ValueError, match="propensity: no overlap"):
        weights_from_propensity((g == 1).astype(float), g, (1, 0))
    pi = np.where(g == 1, 0.995, 0.005)
    pi[:3] = 0.5
    with warnings.catch_warnings(record=True) as rec:
        warnings.simplefilter("always")
        try:
            weights_from_propensity(pi, g, (1, 0))
        except ValueError as exc:  # so little overlap that it may count as none: also fine
            assert "no overlap" in str(exc)
        else:
            assert any(issubclass(r.category, OverlapWarning) for r in rec)


def test_missing_features_and_bad_arguments():
    b = _small(features=False)
    prefs = np.array([[0.8, 0.2], [0.2, 0.8]])
    with pytest.raises(ValueError, match="batch.features"):
        decompose(np.array([0.5, 0.5]), b, prefs, groups=(1, 0))
    b = _small()
    with pytest.raises(ValueError, match="n_boot"):
        decompose(np.array([0.5, 0.5]), b, prefs, groups=(1, 0), n_boot=-1)
    with pytest.raises(ValueError, match="alphas"):
        decompose(np.array([[0.0, 0.0]]), b, prefs, groups=(1, 0))
    with pytest.raises(ValueError, match="groups"):
        decompose(np.array([0.5, 0.5]), b, prefs, groups=(1, 1))
    with pytest.raises(ValueError, match="weights: expected shape"):
        decompose(np.array([0.5, 0.5]), b, prefs, groups=(1, 0), weights=np.ones(3))
    with pytest.raises(ValueError, match="exact: scenario"):
        shared_space_weights(b, (1, 0), exact=True, scenario=object())


def test_cluster_bootstrap_resamples_whole_clusters_within_groups():
    from jaxfair.diagnose.decompose import bootstrap_counts

    group = np.array([0, 0, 0, 1, 1, 0, 1, 0])
    clusters = np.array([5, 5, 7, 9, 9, 7, 2, 7])
    c = np.asarray(bootstrap_counts(jax.random.PRNGKey(0), group, 50, clusters))
    # Sessions of one cluster always get the same multiplicity ...
    for cl in np.unique(clusters):
        idx = np.flatnonzero(clusters == cl)
        assert np.all(c[:, idx] == c[:, idx[:1]])
    # ... and each group keeps its number of clusters: 2 clusters in group 0 (5, 7), 2 in group 1 (9, 2).
    assert np.all(c[:, [0, 2]].sum(1) == 2) and np.all(c[:, [3, 6]].sum(1) == 2)
    with pytest.raises(ValueError, match="clusters: cluster 5"):
        bootstrap_counts(jax.random.PRNGKey(0), group, 5, np.array([5, 5, 7, 5, 9, 7, 2, 7]))
    # One session per cluster = the plain stratified bootstrap.
    np.testing.assert_array_equal(
        bootstrap_counts(jax.random.PRNGKey(3), group, 20, np.arange(8)),
        bootstrap_counts(jax.random.PRNGKey(3), group, 20),
    )


def test_user_chunking_does_not_change_results():
    sc, batch = _toy(1500, covariate_shift=1.0)
    a = np.array([[0.2, 0.8], [0.5, 0.5], [0.9, 0.1]])
    full = decompose(a, batch, sc.prefs, groups=(1, 0), weights=np.ones(1500), n_boot=10)
    chunked = decompose(a, batch, sc.prefs, groups=(1, 0), weights=np.ones(1500), n_boot=10, user_chunk=400)
    np.testing.assert_allclose(chunked.terms, full.terms, atol=1e-5)
    np.testing.assert_allclose(chunked.boot_terms, full.boot_terms, atol=1e-5)
    np.testing.assert_allclose(chunked.bound.optimal, full.bound.optimal, atol=1e-5)
