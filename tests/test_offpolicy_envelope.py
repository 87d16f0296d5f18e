"""The K = 2 top-1 off-policy sums on the exact envelope walk (jaxfair.offpolicy.envelope) and the
bootstrap's resampling counts (jaxfair.offpolicy.bootstrap): every channel's group sums and bootstrap
replicates against a NumPy float64 reference that serves each α on its own (ties exact on the 1/8
lattice), against the grid kernel's path where no near-ties exist, and the counts' invariants."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import serve_ref
from strategies import batches, lattice_alphas

from jaxfair.engine.batch import make_batch
from jaxfair.offpolicy import ImpressionLog, LoggingPolicy, OutcomeModel, estimate, propensities, simulate_log
from jaxfair.offpolicy import bootstrap as bootstrap_mod
from jaxfair.offpolicy.bootstrap import user_multiplicities
from jaxfair.offpolicy.channels import grid_sums
from jaxfair.offpolicy.envelope import envelope_sums, log_envelopes
from jaxfair.offpolicy.propensity import dirichlet_k2


def _channels_ref(alpha, scores, mask, shown, rho, y_shown, yhat, support, v0):
    """Per session float64 channel values at ``alpha`` (SPEC §10, top-1), served by the reference."""
    served = serve_ref(np.asarray(alpha, np.float64), scores, mask)
    n = len(served)
    out = {name: np.zeros((n,) + shape) for name, shape in _SHAPES.items()}
    for i, j in enumerate(served):
        if j < 0:
            continue
        hit = shown[i] == j
        r = rho[i] if hit else 0.0
        out["ips"][i] = v0 * r * y_shown[i]
        out["num"][i, 0] = r * y_shown[i]
        out["w"][i], out["w2"][i], out["match"][i] = r, r * r, float(hit)
        out["dm"][i] = v0 * yhat[i, j]
        out["dr"][i] = v0 * (yhat[i, j] + r * (y_shown[i] - yhat[i, shown[i]]))
        out["deficient"][i] = float(support[i, j])
    return out


_SHAPES = {
    "ips": (2,),
    "num": (1, 2),
    "w": (1,),
    "w2": (1,),
    "match": (1,),
    "dm": (2,),
    "dr": (2,),
    "deficient": (1,),
}


@st.composite
def k2_logs(draw):
    """A K = 2 top-1 log on the lattice (frequent exact ties), some users with several sessions."""
    scores, labels, mask, group, _ = draw(batches(k=2, g=draw(st.sampled_from([2, 5])), max_users=12))
    n, m, _ = scores.shape
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    shown = np.array([rng.choice(np.flatnonzero(mask[i])) if mask[i].any() else -1 for i in range(n)])
    # Users own sessions of one group: a user code per (group, small id).
    user = group * 100 + rng.integers(0, 3, n)
    obs = np.zeros((n, m), bool)
    obs[np.arange(n)[shown >= 0], shown[shown >= 0]] = True
    prop = np.where(shown >= 0, rng.integers(1, 9, n) / 8.0, np.nan)[:, None]
    names = tuple(f"g{i}" for i in range(max(int(group.max()) + 1, 2)))
    log = ImpressionLog(
        make_batch(scores, np.where(obs[..., None], labels, 0.0), mask, group),
        shown[:, None],
        obs,
        user,
        propensity=prop,
        group_names=names,
        position_weights=np.array([draw(st.sampled_from([1.0, 0.5]))]),
    )
    yhat = (rng.integers(0, 9, (n, m, 2)) / 8.0).astype(np.float32)
    support = rng.random((n, m)) < 0.3
    return log, yhat, support


@settings(max_examples=40, deadline=None)
@given(data=st.data(), estimator=st.sampled_from(["ips", "snips", "dm", "dr"]), n_boot=st.sampled_from([0, 3]))
def test_envelope_sums_match_reference(data, estimator, n_boot):
    log, yhat, support = data.draw(k2_logs())
    alphas = data.draw(lattice_alphas(2))
    s, m, _ = log.batch.shape
    scores, mask = np.asarray(log.batch.scores), np.asarray(log.batch.mask)
    rho = np.where(log.shown >= 0, 1.0 / np.nan_to_num(log.propensity, nan=1.0), 0.0)
    y_shown = log.shown_labels()[:, 0, :]
    yhat_shown = np.where((log.shown >= 0)[..., None], yhat[np.arange(s), np.maximum(log.shown[:, 0], 0)][:, None], 0)
    boot = user_multiplicities(jax.random.PRNGKey(3), log, n_boot)
    with_outcome = estimator in ("dm", "dr")
    total = envelope_sums(
        alphas, log, rho, yhat if with_outcome else None, yhat_shown, support, boot, n_boot, estimator
    )
    row, counts = boot
    group = np.asarray(log.batch.group)
    onehot = np.eye(log.n_groups)[group]
    v0 = float(log.position_weights[0])
    for p, a in enumerate(alphas):
        ref = _channels_ref(a, scores, mask, log.shown[:, 0], rho[:, 0], y_shown, yhat, support, v0)
        for name, got in total.items():
            if name.startswith("boot_"):
                x = ref[name[5:]].reshape(s, -1)
                want = np.einsum("nb,ng,nc->bgc", counts[row], onehot, x).reshape(got[:, p].shape)
                np.testing.assert_allclose(got[:, p], want, rtol=1e-9, atol=1e-9, err_msg=name)
            else:
                want = np.einsum("ng,nc->gc", onehot, ref[name].reshape(s, -1)).reshape(got[p].shape)
                np.testing.assert_allclose(got[p], want, rtol=1e-9, atol=1e-9, err_msg=name)
    assert ("boot_" + {"snips": "num"}.get(estimator, estimator) in total) == (n_boot > 0)


def test_envelope_path_equals_the_grid_kernel_path():
    """Continuous scores (no near-ties): the envelope walk and the grid kernel (the path slates and K >= 3 take)
    give the same sums and bootstrap replicates, to float32 rounding."""
    from jaxfair.scenarios import load

    sc = load("toy", seed=0, n_candidates=8)
    log, _ = simulate_log(sc, LoggingPolicy.parse("dirichlet:5@0.5,0.5"), n_sessions=3000, seed=2)
    alphas = np.stack([np.linspace(0, 1, 21), 1 - np.linspace(0, 1, 21)], 1)
    s, m, _ = log.batch.shape
    prop = propensities(log, log.logging)
    rho = 1.0 / prop.at_shown(log.shown)
    om = OutcomeModel(np.asarray(log.batch.scores, np.float32), {"kind": "given"})
    yhat_shown = np.take_along_axis(om.predictions, log.shown[..., None], 1)
    boot = user_multiplicities(jax.random.PRNGKey(1), log, 20)
    for estimator in ("snips", "dr"):
        env = envelope_sums(alphas, log, rho, om.predictions, yhat_shown, prop.p < 1e-3, boot, 20, estimator)
        low_p = (prop.p < 1e-3)[..., None]
        grid = grid_sums(alphas, log, rho, om.predictions, yhat_shown, low_p, boot, 20, estimator, True, True, False)
        assert set(env) == set(grid)
        for name in env:
            scale = max(1.0, float(np.abs(grid[name]).max()))
            np.testing.assert_allclose(env[name], grid[name], rtol=0, atol=1e-6 * scale, err_msg=name)


def test_log_propensities_share_the_envelope_walk():
    """A log's exact K = 2 propensities are computed from its kept envelopes: the same bits as the walk on
    bare arrays, and the walk is done once per log."""
    from jaxfair.scenarios import load

    sc = load("toy", seed=0, n_candidates=6)
    log, _ = simulate_log(sc, LoggingPolicy.parse("dirichlet:3@0.3,0.7"), n_sessions=500, seed=0)
    fresh = dataclasses.replace(log)
    prop = propensities(fresh, fresh.logging)
    scores, mask = np.asarray(log.batch.scores), np.asarray(log.batch.mask)
    conc = fresh.logging.strength * fresh.logging.center
    np.testing.assert_array_equal(prop.p, dirichlet_k2(scores[..., 0], scores[..., 1], mask, *conc))
    assert log_envelopes(fresh) is log_envelopes(fresh)
    est = estimate(np.array([[0.5, 0.5]]), fresh, estimator="ips", n_boot=0)
    assert est.identified.shape == (1, log.n_groups)


def test_user_multiplicities_invariants(monkeypatch):
    s = 400
    group = np.arange(s) % 3
    user = group * 1000 + (np.arange(s) // 3) % 50  # 50 users per group, several sessions each
    log = ImpressionLog(
        make_batch(np.zeros((s, 2, 2), np.float32), np.zeros((s, 2, 2)), None, group),
        np.zeros((s, 1), int),
        np.eye(2, dtype=bool)[np.zeros(s, int)],
        user,
        propensity=np.ones((s, 1)),
        group_names=("a", "b", "c"),
    )
    row, counts = user_multiplicities(jax.random.PRNGKey(7), log, 70)
    assert counts.shape == (150, 70) and counts.dtype == np.float32
    # A user's sessions share a row; a group's users are consecutive rows; U_g draws per group and replicate.
    for u in np.unique(user):
        assert len(set(row[user == u].tolist())) == 1
    for gid in range(3):
        rows = np.unique(row[group == gid])
        np.testing.assert_array_equal(rows, np.arange(50 * gid, 50 * gid + 50))
        np.testing.assert_array_equal(counts[rows].sum(0), 50)
    assert abs(counts.mean() - 1.0) < 1e-6 and 0.9 < counts.var() < 1.1
    # The same bits on one thread; another key gives other counts.
    monkeypatch.setattr(bootstrap_mod.os, "cpu_count", lambda: 1)
    np.testing.assert_array_equal(user_multiplicities(jax.random.PRNGKey(7), log, 70)[1], counts)
    assert not np.array_equal(user_multiplicities(jax.random.PRNGKey(8), log, 70)[1], counts)
    assert user_multiplicities(jax.random.PRNGKey(7), log, 0)[1].shape == (150, 0)


@pytest.mark.parametrize("n_users", [1, 2, 3, 1000])
def test_user_multiplicities_are_uniform(n_users):
    """Each user is drawn with probability 1/U_g (Lemire's rejection keeps it exact): counts average 1."""
    s = n_users
    log = ImpressionLog(
        make_batch(np.zeros((s, 1, 2), np.float32), np.zeros((s, 1, 2)), None, np.zeros(s, int)),
        np.zeros((s, 1), int),
        np.ones((s, 1), bool),
        np.arange(s),
        propensity=np.ones((s, 1)),
        group_names=("a", "b"),
    )
    _, counts = user_multiplicities(jax.random.PRNGKey(0), log, 4000)
    np.testing.assert_array_equal(counts.sum(0), n_users)
    se = np.sqrt((1 - 1 / n_users) / 4000) if n_users > 1 else 0.0
    assert np.all(np.abs(counts.mean(1) - 1.0) <= 5 * se + 1e-12)
