"""BCa intervals of the preference estimate (jaxfair.preferences.intervals) against plain references."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import sparse, stats

from jaxfair.preferences import estimate, served_sessions
from jaxfair.preferences.intervals import bca_interval, logistic_user_influence, normal_interval, percentile_interval
from jaxfair.preferences.logistic import fit_logistic_many

TRUTH = np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])
LABELS = ["click", "like", "share"]
COLS = dict(user="user", group="group", labels=LABELS, satisfaction="satisfied")


def bca_reference(draws, point, influence, level):
    """Efron & Tibshirani (1993) eq. 14.10/14.15, one statistic at a time, float64."""
    b = len(draws)
    p = np.mean(draws < point) + 0.5 * np.mean(draws == point)
    z0 = stats.norm.ppf(min(max(p, 0.5 / b), 1 - 0.5 / b))
    ss = np.sum(influence**2)
    a = np.sum(influence**3) / (6 * ss**1.5) if ss > 0 else 0.0
    out = []
    for q in ((1 - level) / 2, (1 + level) / 2):
        zq = stats.norm.ppf(q)
        out.append(np.quantile(draws, stats.norm.cdf(z0 + (z0 + zq) / (1 - a * (z0 + zq)))))
    return out


def test_bca_matches_the_textbook_formula():
    rng = np.random.default_rng(0)
    draws = rng.gamma(2.0, 1.0, size=(400, 3)) * [1, 2, 0.5]
    point = np.array([1.7, 3.5, 1.1])
    infl = rng.normal(size=(50, 3)) + [0.0, 0.5, -0.3]
    lo, hi = bca_interval(draws, point, infl, 0.9)
    for j in range(3):
        np.testing.assert_allclose([lo[j], hi[j]], bca_reference(draws[:, j], point[j], infl[:, j], 0.9), rtol=1e-12)


def test_bca_without_bias_or_skew_is_the_percentile_interval():
    draws = np.linspace(-1, 1, 401)[:, None]  # symmetric around 0, one draw at 0
    lo, hi = bca_interval(draws, np.zeros(1), np.array([[1.0], [-1.0]]), 0.95)
    plo, phi = percentile_interval(draws, 0.95)
    np.testing.assert_allclose([lo[0], hi[0]], [plo[0], phi[0]], atol=1e-12)
    # every draw above the estimate: z0 stays finite (clipped share), the interval too
    lo, hi = bca_interval(np.arange(1.0, 101.0)[:, None], np.zeros(1), np.zeros((3, 1)), 0.95)
    assert np.isfinite([lo[0], hi[0]]).all()


def test_user_influence_is_the_leave_one_user_out_change():
    """The infinitesimal jackknife H⁻¹ s_i against exact refits without user i (large n: close)."""
    rng = np.random.default_rng(1)
    n_users, per = 120, 25
    users = np.repeat(np.arange(n_users), per)
    y = rng.random((n_users * per, 2))
    z = (rng.random(len(y)) < 1 / (1 + np.exp(-(-0.5 + y @ [1.5, 0.8])))).astype(float)
    x = np.column_stack([np.ones(len(y)), y])
    per_user = sparse.csr_matrix((np.ones(len(y)), (users, np.arange(len(y)))), shape=(n_users, len(y)))
    (beta,), _ = fit_logistic_many(x, z, np.ones((1, len(y))))
    infl = logistic_user_influence(x, z, per_user, beta)
    drop = np.ones((10, len(y)))
    for i in range(10):
        drop[i, users == i] = 0.0
    loo, ok = fit_logistic_many(x, z, drop, beta0=beta)
    assert ok.all()
    np.testing.assert_allclose(beta - loo, infl[:10], rtol=0.08, atol=2e-3 * np.abs(infl).max())


@pytest.fixture(scope="module")
def log():
    truth = np.array([[0.5, 0.3, 0.2], [0.2, 0.3, 0.5]])  # no weight near 0: identified under both intervals
    return served_sessions(truth, users_per_group=300, sessions_per_user=15, label_names=LABELS, seed=3)


def test_estimate_records_the_interval_and_all_three_share_the_draws(log):
    nrm = estimate(log, **COLS, n_boot=60, seed=0)
    bca = estimate(log, **COLS, n_boot=60, seed=0, interval="bca")
    pct = estimate(log, **COLS, n_boot=60, seed=0, interval="percentile")
    assert nrm.summary()["bootstrap"] == "by user within group, normal intervals"
    assert bca.summary()["bootstrap"] == "by user within group, bca intervals"
    assert pct.summary()["bootstrap"] == "by user within group, percentile intervals"
    for n, a, b in zip(nrm.fits, bca.fits, pct.fits, strict=True):
        assert n.identified and a.identified and b.identified
        np.testing.assert_array_equal(n.draws, b.draws)
        sd = n.draws.std(axis=0, ddof=1)
        c = stats.t.ppf(0.975, n.n_users - 1) * np.sqrt(n.n_users / (n.n_users - 1))  # clustered small-sample form
        np.testing.assert_allclose(n.alpha_high - n.alpha, c * sd, rtol=1e-12)
        np.testing.assert_allclose(n.alpha - n.alpha_low, c * sd, rtol=1e-12)
        np.testing.assert_array_equal(a.alpha, b.alpha)  # same point estimate and draws
        np.testing.assert_array_equal(a.draws, b.draws)
        np.testing.assert_allclose(b.alpha_low, np.quantile(b.draws, 0.025, axis=0), rtol=1e-12)
        assert not np.array_equal(a.alpha_low, b.alpha_low)  # BCa moved the limits
        assert (a.alpha_low <= a.alpha).all() and (a.alpha <= a.alpha_high).all()
    with pytest.raises(ValueError, match=r"interval: expected one of \['normal', 'percentile', 'bca'\], got 'basic'"):
        estimate(log, **COLS, interval="basic")


def test_normal_interval_without_units_is_z_and_with_units_is_t():
    draws = np.random.default_rng(0).normal(size=(500, 2))
    lo, hi = normal_interval(draws, np.zeros(2), 0.9)
    np.testing.assert_allclose(hi, stats.norm.ppf(0.95) * draws.std(0, ddof=1), rtol=1e-12)
    lo, hi = normal_interval(draws, np.zeros(2), 0.9, n_units=5)
    np.testing.assert_allclose(hi, stats.t.ppf(0.95, 4) * np.sqrt(5 / 4) * draws.std(0, ddof=1), rtol=1e-12)
    with pytest.raises(ValueError, match="n_units"):
        normal_interval(draws, np.zeros(2), 0.9, n_units=1)
