"""Off-policy estimators (SPEC §10): hand-computed cases, the textbook IPW/SNIPW, identification, and
property tests against the NumPy float64 reference (tests/reference_offpolicy.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference_offpolicy import ess_ref, estimate_ref
from strategies import batches, lattice_alphas

from jaxfair.engine.batch import make_batch
from jaxfair.offpolicy import ImpressionLog, LoggingPolicy, OutcomeModel, estimate, propensities


def _log(
    scores, labels_at_shown, shown, group, prop=None, logging=None, user=None, v=None, names=("a", "b"), mask=None
):
    """A log from arrays: labels only on the shown rows."""
    scores = np.asarray(scores, np.float32)
    s, m, k_lab = scores.shape
    shown = np.asarray(shown).reshape(s, -1)
    labels = np.zeros((s, m, k_lab))
    obs = np.zeros((s, m), bool)
    for n in range(s):
        for r, j in enumerate(shown[n]):
            if j >= 0:
                labels[n, j] = labels_at_shown[n][r]
                obs[n, j] = True
    return ImpressionLog(
        make_batch(scores, labels, mask, np.asarray(group)),
        shown,
        obs,
        np.arange(s) if user is None else np.asarray(user),
        propensity=prop,
        logging=logging,
        group_names=names,
        position_weights=np.ones(shown.shape[1]) if v is None else v,
    )


# Four sessions, three candidates scored on K = 2 labels: c0 = (1, 0), c1 = (0, 1), c2 = (.5, .5).
# α = (1, 0) serves c0, α = (0, 1) serves c1, α = (1, 1) ties all three: c0 (lowest index).
HAND = dict(
    scores=np.tile([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]], (4, 1, 1)),
    labels_at_shown=[[[1, 0]], [[0, 1]], [[1, 1]], [[0, 1]]],
    shown=[0, 1, 0, 2],
    group=[0, 0, 1, 1],
    prop=[0.5, 0.25, 0.8, 0.1],
)
ALPHAS = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
HALF = OutcomeModel(np.full((4, 3, 2), 0.5, np.float32), {"kind": "given"})


@pytest.mark.parametrize(
    "estimator, want",
    [
        # group a: session 0 (ρ = 2, Y = (1, 0)) matches at α1, α3; session 1 (ρ = 4, Y = (0, 1)) at α2.
        # group b: session 2 (ρ = 1.25, Y = (1, 1)) matches at α1, α3; session 3 never.
        ("ips", [[[1, 0], [0.625, 0.625]], [[0, 2], [0, 0]], [[1, 0], [0.625, 0.625]]]),
        ("snips", [[[1, 0], [1, 1]], [[0, 1], [0, 0]], [[1, 0], [1, 1]]]),
        ("dm", [[[0.5, 0.5], [0.5, 0.5]]] * 3),
        # DR = 0.5 + Σ ρ (Y − 0.5) / N_g: a at α1: 0.5 + 2·(0.5, −0.5)/2; b at α1: 0.5 + 1.25·0.5/2.
        ("dr", [[[1, 0], [0.8125, 0.8125]], [[-0.5, 1.5], [0.5, 0.5]], [[1, 0], [0.8125, 0.8125]]]),
    ],
)
def test_hand_computed_four_sessions(estimator, want):
    log = _log(**HAND)
    est = estimate(ALPHAS, log, estimator=estimator, n_boot=0, min_ess=0, outcome_model=HALF)
    np.testing.assert_allclose(est.label_means, want, atol=1e-6)
    np.testing.assert_allclose(est.ess, [[1, 1], [1, 0], [1, 1]])
    np.testing.assert_allclose(est.matched, [[1, 1], [1, 0], [1, 1]])
    np.testing.assert_allclose(est.mean_weight, [[1, 0.625], [2, 0], [1, 0.625]])
    assert est.deficient_share is None and est.propensity_info["source"] == "column"


def test_clipping_and_not_identified_cells_are_nan():
    log = _log(**HAND)
    est = estimate(ALPHAS, log, estimator="ips", clip=1.5, n_boot=50, min_ess=0.5)
    # ρ = min(1/p, 1.5): session 0 → 1.5, session 1 → 1.5, session 2 → 1.25.
    np.testing.assert_allclose(est.label_means[0], [[0.75, 0], [0.625, 0.625]], atol=1e-6)
    np.testing.assert_allclose(est.label_means[1, 0], [0, 0.75], atol=1e-6)
    assert est.clip == 1.5
    assert est.identified.tolist() == [[True, True], [True, False], [True, True]]
    assert "group 'b': ESS 0 < 0.5" in est.reasons[1] and est.reasons[0] == ""
    t = est.metrics({"a": [0.5, 0.5], "b": [0.2, 0.8]})
    assert np.isnan(t.loc[1, "utility_b"]) and np.isnan(t.loc[1, "utility_b_ci_low"])
    assert np.isnan(t.loc[1, "der"]) and np.isnan(t.loc[1, "global_utility_ci_high"])
    assert np.isfinite(t.loc[1, "utility_a"]) and t.loc[1, "identified"] == False  # noqa: E712
    assert t.loc[0, "utility_b"] == pytest.approx(0.2 * 0.625 + 0.8 * 0.625)
    assert t.loc[0, "utility_b_ci_low"] <= t.loc[0, "utility_b"] <= t.loc[0, "utility_b_ci_high"]
    q = est.label_means_for(np.array([[[0.5, 0.5], [0.2, 0.8]], [[1, 0], [0, 1]]]))
    assert q.shape == (2, 3, 2) and np.isnan(q[:, 1, 1]).all()
    np.testing.assert_allclose(q[1, 0], [0.75, 0.625])


def test_slate_hand_built():
    """Independent-position IPS on a hand-built slate log (k = 2, v = (1, 0.5), K = 1)."""
    log = _log(
        scores=np.array([[3, 2, 1], [1, 2, 3], [1, 1, 1]], np.float32)[..., None],
        labels_at_shown=[[[1], [1]], [[0], [1]], [[1], [1]]],
        shown=[[0, 2], [2, 1], [1, 0]],
        group=[0, 0, 1],
        prop=[[0.5, 0.25], [0.8, 0.5], [0.5, 0.5]],
        v=[1.0, 0.5],
    )
    a = np.array([[1.0]])  # target slates: (0, 1), (2, 1), (0, 1)
    half = OutcomeModel(np.full((3, 3, 1), 0.5, np.float32), {"kind": "given"})
    got = {e: estimate(a, log, estimator=e, n_boot=0, min_ess=0, outcome_model=half) for e in ("ips", "snips", "dr")}
    # a: session 0 matches position 1 (ρ 2, Y 1): 2; session 1 matches both (ρ 1.25, Y 0; ρ 2, Y 1): 0.5·2 = 1.
    np.testing.assert_allclose(got["ips"].label_means[0, :, 0], [1.5, 0.0], atol=1e-6)
    # SNIPS a: position 1: 2 / 3.25; position 2: 2 / 2; weighted by v.
    np.testing.assert_allclose(got["snips"].label_means[0, 0, 0], 2 / 3.25 + 0.5, atol=1e-6)
    # DR a: DM 0.75 + (2·0.5 + 1.25·(−0.5) + 0.5·2·0.5) / 2.
    np.testing.assert_allclose(got["dr"].label_means[0, 0, 0], 0.75 + 0.875 / 2, atol=1e-6)
    np.testing.assert_allclose(got["ips"].ess[0, 0], 1.0)  # the weaker position: one match
    np.testing.assert_allclose(got["ips"].matched[0], [1.5, 0.0])


def test_ips_snips_are_the_textbook_ipw_snipw():
    """With a propensity column: IPW = mean(r·w), SNIPW = Σ r·w / Σ w, w = π_e(a|x)/π_b(a|x) with π_e
    deterministic (as Open Bandit Pipeline computes them), per group."""
    rng = np.random.default_rng(5)
    s, m = 400, 5
    scores = rng.random((s, m, 2)).astype(np.float32)
    shown = rng.integers(0, m, s)
    r = rng.integers(0, 2, s).astype(float)
    pb = rng.uniform(0.05, 1.0, s)
    group = rng.integers(0, 2, s)
    log = _log(scores, [[[ri, 0.0]] for ri in r], shown, group, prop=pb)
    alphas = np.array([[0.3, 0.7], [1.0, 0.2]])
    ips = estimate(alphas, log, estimator="ips", n_boot=0, min_ess=0)
    snips = estimate(alphas, log, estimator="snips", n_boot=0, min_ess=0)
    for i, a in enumerate(alphas):
        action = np.argmax(scores @ a.astype(np.float32), axis=1)
        w = (action == shown) / pb  # π_e(a_n | x_n) = 1[ĵ_n(α) = a_n]
        for g in range(2):
            sel = group == g
            np.testing.assert_allclose(ips.label_means[i, g, 0], np.mean(r[sel] * w[sel]), rtol=1e-6)
            np.testing.assert_allclose(snips.label_means[i, g, 0], np.sum(r[sel] * w[sel]) / np.sum(w[sel]), rtol=1e-6)


def _served_log(policy, s=3000, m=6, seed=0, column=False):
    """A log served under ``policy`` (epsilon logging drawn by hand), labels Bernoulli(score)."""
    rng = np.random.default_rng(seed)
    scores = rng.random((s, m, 2)).astype(np.float32)
    b = make_batch(scores, np.zeros_like(scores), None, (np.arange(s) // 3) % 2)
    p = propensities(b, policy).p
    shown = np.array([rng.choice(m, p=row) for row in p])
    y = (rng.random((s, 2)) < scores[np.arange(s), shown]).astype(float)
    prop = p[np.arange(s), shown] if column else None
    return _log(scores, y[:, None, :], shown, b.group, prop=prop, logging=policy, user=np.arange(s) // 3)


def test_declared_and_column_propensities_give_the_same_ips():
    pol = LoggingPolicy.parse("epsilon:0.4@0.5,0.5")
    alphas = np.array([[0.5, 0.5], [0.9, 0.1], [0.1, 0.9]])
    declared = estimate(alphas, _served_log(pol), estimator="ips", n_boot=20)
    column = estimate(alphas, _served_log(pol, column=True), estimator="ips", n_boot=20)
    np.testing.assert_allclose(declared.label_means, column.label_means, rtol=1e-6)
    np.testing.assert_allclose(declared.label_means_boot, column.label_means_boot, rtol=1e-5)
    assert declared.propensity_info["source"] == "declared" and column.propensity_info["source"] == "column"
    pol_k2 = LoggingPolicy.parse("dirichlet:4@1,1")
    d = estimate(alphas, _served_log(pol_k2, s=1000), estimator="ips", n_boot=0)
    c = estimate(alphas, _served_log(pol_k2, s=1000, column=True), estimator="ips", n_boot=0)
    np.testing.assert_allclose(d.label_means, c.label_means, rtol=1e-6)


def test_column_disagreeing_with_declared_logging_is_refused():
    log = _served_log(LoggingPolicy.parse("epsilon:0.4@0.5,0.5"), s=200, column=True)
    wrong = ImpressionLog(
        log.batch, log.shown, log.observed, log.user, propensity=log.propensity,
        logging=LoggingPolicy.parse("epsilon:0.2@0.5,0.5"), group_names=log.group_names,
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"propensity: the column disagrees with the declared logging epsilon:0.2"):
        estimate(np.array([[1.0, 1.0]]), wrong, estimator="ips", n_boot=0)


def test_shown_item_the_declared_logging_never_serves_is_refused():
    # K = 2 Dirichlet with one zero weight: α ∝ (1, 0) in every draw, so only the argmax of label 0 is served.
    log = _log(**HAND)
    declared = ImpressionLog(
        log.batch, log.shown, log.observed, log.user, logging=LoggingPolicy.parse("dirichlet:3@1,0"),
        group_names=log.group_names,
    )  # fmt: skip
    with pytest.raises(ValueError, match=r"^logging: 2 of 4 sessions show an item that the declared dirichlet:3@1,0 "):
        estimate(ALPHAS, declared, estimator="ips")


def test_unexplored_alpha_is_not_identified():
    # Epsilon logging with tiny E around (1, 0): α = (0, 1) serves items the logging almost never shows.
    log = _served_log(LoggingPolicy.parse("epsilon:0.001@1,0"), s=3000)
    est = estimate(np.array([[1.0, 0.0], [0.0, 1.0]]), log, estimator="dr", n_boot=20)
    assert est.identified[0].all() and not est.identified[1].any()
    assert (est.deficient_share[1] > 0.5).all() and "p0 < 0.001" in est.reasons[1]
    t = est.metrics(np.array([[0.5, 0.5], [0.5, 0.5]]))
    assert np.isnan(t.loc[1, ["utility_a", "utility_b", "der", "ratio", "global_utility"]].astype(float)).all()
    # Dirichlet concentrated at one corner: the far corner is served too rarely (ESS and support).
    log = _served_log(LoggingPolicy.parse("dirichlet:200@0.99,0.01"), s=3000, seed=1)
    est = estimate(np.array([[0.99, 0.01], [0.0, 1.0]]), log, estimator="ips", n_boot=0)
    assert est.identified[0].all() and not est.identified[1].any()
    assert est.identified_share == 0.5


def test_argument_errors():
    log = _log(**HAND)
    with pytest.raises(ValueError, match="estimator: expected one of ips, snips, dm, dr"):
        estimate(ALPHAS, log, estimator="ipw")
    with pytest.raises(ValueError, match="clip"):
        estimate(ALPHAS, log, clip=0)
    with pytest.raises(ValueError, match="alphas"):
        estimate(np.array([[-1.0, 1.0]]), log, estimator="ips")
    bare = ImpressionLog(log.batch, log.shown, log.observed, log.user)
    with pytest.raises(ValueError, match="neither a propensity column nor a declared logging"):
        estimate(ALPHAS, bare, estimator="ips")


@st.composite
def logs(draw, k_slate=1):
    scores, labels, mask, group, _ = draw(batches(g=draw(st.sampled_from([2, 5])), max_users=10))
    n, m, k_lab = scores.shape
    k = min(k_slate, m)
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    shown = np.full((n, k), -1)
    for i in range(n):
        ret = np.flatnonzero(mask[i])
        pick = rng.permutation(ret)[: min(k, len(ret))]
        shown[i, : len(pick)] = pick
    prop = np.where(shown >= 0, rng.integers(1, 9, (n, k)) / 8.0, np.nan)
    y_shown = np.where((shown >= 0)[..., None], labels[np.arange(n)[:, None], np.maximum(shown, 0)], 0.0)
    yhat = rng.integers(0, 9, (n, m, k_lab)) / 8.0
    v = np.array([1.0, 0.5, 0.25][:k])
    g = int(group.max()) + 1
    names = tuple(f"g{i}" for i in range(max(g, 2)))
    log = _log(scores, y_shown, shown, group, prop=prop, v=v, names=names, mask=mask)
    return log, (scores, mask, group, len(names), shown, prop, y_shown, v, yhat)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), k_slate=st.sampled_from([1, 1, 2, 3]), estimator=st.sampled_from(["ips", "snips", "dm", "dr"]))
def test_estimators_match_reference(data, k_slate, estimator):
    log, (scores, mask, group, g, shown, prop, y_shown, v, yhat) = data.draw(logs(k_slate=k_slate))
    alphas = data.draw(lattice_alphas(scores.shape[2]))
    clip = data.draw(st.sampled_from([None, 2.0]))
    om = OutcomeModel(yhat.astype(np.float32), {"kind": "given"})
    est = estimate(alphas, log, estimator=estimator, clip=clip, n_boot=3, min_ess=0, outcome_model=om)
    for i, a in enumerate(alphas):
        want = estimate_ref(a, scores, mask, group, g, shown, prop, y_shown, v, estimator, yhat, clip)
        np.testing.assert_allclose(est.label_means[i], want, rtol=1e-5, atol=1e-5)
        if shown.shape[1] == 1:
            np.testing.assert_allclose(est.ess[i], ess_ref(a, scores, mask, group, g, shown, prop, clip), rtol=1e-5)
    assert est.label_means_boot.shape == (3,) + est.label_means.shape
    assert np.isfinite(est.label_means).all()
    empty = np.bincount(group, minlength=g) == 0
    assert not est.identified[:, empty].any()
