"""simulate_log, LogTruth and ImpressionLog.to_frame (SPEC §10): a round trip, and estimates near the truth."""

from __future__ import annotations

import numpy as np
import pytest

import jaxfair as jf
from jaxfair.offpolicy import ImpressionLog, LoggingPolicy, estimate, propensities, simulate_log
from jaxfair.scenarios import load


@pytest.fixture(scope="module")
def toy():
    return load("toy", seed=0, n_candidates=8)


def test_round_trip_top1(toy):
    pol = LoggingPolicy.parse("dirichlet:4@0.5,0.5")
    log, truth = simulate_log(toy, pol, n_sessions=500, seed=3)
    assert isinstance(log, ImpressionLog) and log.logging == pol and log.propensity is None
    assert log.group_names == toy.group_names and log.label_names == toy.label_names
    full = np.asarray(truth.batch.labels)
    # labels kept exactly on the shown rows, nothing elsewhere
    np.testing.assert_array_equal(np.asarray(log.batch.labels)[log.observed], full[log.observed])
    assert np.all(np.asarray(log.batch.labels)[~log.observed] == 0)
    np.testing.assert_array_equal(np.asarray(log.batch.scores), np.asarray(truth.batch.scores))
    df = log.to_frame()
    cols = ["session", "user", "group", "candidate", "retrieved", "score_label0", "score_label1"]
    assert list(df.columns) == cols + ["label_label0", "label_label1", "shown", "propensity"]
    assert len(df) == 500 * 8 and (df.groupby("session")["shown"].sum() == 1).all()
    shown_rows = df[df["shown"] == 1]
    assert shown_rows["label_label0"].notna().all() and df.loc[df["shown"] == 0, "label_label1"].isna().all()
    p = propensities(log, pol).at_shown(log.shown)[:, 0]
    np.testing.assert_allclose(shown_rows.sort_values("session")["propensity"].to_numpy(), p)
    assert df.loc[df["shown"] == 0, "propensity"].isna().all()
    # the truth is the full-information evaluation of the same sessions
    alphas = np.array([[0.5, 0.5], [0.9, 0.1]])
    ev = jf.evaluate(alphas, truth.batch, toy.prefs)
    np.testing.assert_allclose(truth.truth(alphas), ev.group_utility, rtol=1e-5)
    assert truth.label_means(alphas).shape == (2, 2, 2)


def test_round_trip_slate_and_epsilon(toy):
    pol = LoggingPolicy.parse("epsilon:0.5@0.7,0.3")
    log, truth = simulate_log(toy, pol, n_sessions=300, slate=3, seed=1)
    assert log.slate_k == 3 and log.position_weights.tolist() == pytest.approx([1, 1 / np.log2(3), 0.5])
    df = log.to_frame()
    assert "position" in df.columns and "shown" not in df.columns
    per = df[df["position"] > 0].groupby("session")["position"].apply(sorted)
    assert all(v == [1, 2, 3] for v in per)
    # positions match the exploitation slate or a uniform order; the non-explored ones are the centre's top 3
    top = np.asarray(jf.engine.kernels.slate_serve_kernel(np.array([[0.7, 0.3]], np.float32), log.batch.scores,
                                                          log.batch.mask, 3))[0]  # fmt: skip
    share_top = np.mean((log.shown == top).all(axis=1))
    assert 0.45 < share_top < 0.75  # 1 − E plus the explored sessions that happen to draw the top slate
    lv = truth.logging_value()
    assert lv.shape == (2,) and np.all(np.isfinite(lv))


def test_logging_value_is_what_the_logging_served(toy):
    pol = LoggingPolicy.parse("dirichlet:3@0.5,0.5")
    log, truth = simulate_log(toy, pol, n_sessions=20_000, seed=2)
    realised = np.einsum("nk,nk->n", log.shown_labels()[:, 0], toy.prefs[np.asarray(log.batch.group)])
    group = np.asarray(log.batch.group)
    for g in range(2):
        sel = group == g
        se = realised[sel].std() / np.sqrt(sel.sum())
        assert abs(realised[sel].mean() - truth.logging_value()[g]) < 4 * se


def test_ips_on_a_big_simulated_log_is_close_to_the_truth(toy):
    pol = LoggingPolicy.parse("dirichlet:5@0.5,0.5")
    log, truth = simulate_log(toy, pol, n_sessions=40_000, seed=4)
    alphas = np.array([[0.5, 0.5], [0.7, 0.3], [0.3, 0.7]])
    mu = truth.truth(alphas)
    for estimator in ("ips", "snips", "dr"):
        est = estimate(alphas, log, estimator=estimator, n_boot=100)
        assert est.identified.all()
        t = est.metrics(toy.prefs)
        for g, name in enumerate(toy.group_names):
            lo, hi = t[f"utility_{name}_ci_low"].to_numpy(), t[f"utility_{name}_ci_high"].to_numpy()
            width = hi - lo
            assert np.all(np.abs(t[f"utility_{name}"].to_numpy() - mu[:, g]) < width), (estimator, name)
            assert np.all(width < 0.1)


def test_simulate_log_errors(toy):
    with pytest.raises(ValueError, match="policy: has K=3"):
        simulate_log(toy, LoggingPolicy.parse("dirichlet:2@1,1,1"), n_sessions=10)
    with pytest.raises(ValueError, match="n_sessions"):
        simulate_log(toy, LoggingPolicy.parse("dirichlet:2@1,1"), n_sessions=0)
    with pytest.raises(ValueError, match="scenario_or_batch"):
        simulate_log("toy", LoggingPolicy.parse("dirichlet:2@1,1"))
    b = toy.sample(jf_key(), 50)
    log, truth = simulate_log(b, LoggingPolicy.parse("dirichlet:2@1,1"))
    assert log.n_sessions == 50
    with pytest.raises(ValueError, match="prefs: required"):
        truth.truth(np.array([[1.0, 1.0]]))
    assert truth.truth(np.array([[1.0, 1.0]]), toy.prefs).shape == (1, 2)


def jf_key():
    import jax

    return jax.random.PRNGKey(0)


def test_slate_estimates_on_a_simulated_log_are_close_to_the_truth(toy):
    """Independent-position IPS / SNIPS / DR on a slate log (k = 3, exact epsilon propensities)."""
    pol = LoggingPolicy.parse("epsilon:0.5@0.5,0.5")
    log, truth = simulate_log(toy, pol, n_sessions=20_000, slate=3, seed=5)
    alphas = np.array([[0.5, 0.5], [0.7, 0.3]])
    mu = truth.truth(alphas)
    for estimator in ("ips", "snips", "dr"):
        est = estimate(alphas, log, estimator=estimator, n_boot=100)
        assert est.identified.all() and est.slate_k == 3
        t = est.metrics(toy.prefs)
        for g, name in enumerate(toy.group_names):
            width = (t[f"utility_{name}_ci_high"] - t[f"utility_{name}_ci_low"]).to_numpy()
            assert np.all(np.abs(t[f"utility_{name}"].to_numpy() - mu[:, g]) < width), (estimator, name)
