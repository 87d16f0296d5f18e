"""The DM/DR outcome model (SPEC §10): scores when calibrated, else an isotonic calibration cross-fitted by user."""

from __future__ import annotations

import numpy as np
import pytest

from jaxfair.offpolicy import ImpressionLog, LoggingPolicy, fit_outcome_model, simulate_log
from jaxfair.offpolicy.outcome import shown_ece
from jaxfair.scenarios import load


@pytest.fixture(scope="module")
def toy_log():
    sc = load("toy", seed=0, n_candidates=8)
    log, _ = simulate_log(sc, LoggingPolicy.parse("dirichlet:5@0.5,0.5"), n_sessions=20_000, seed=0)
    return log


def _with_scores(log, scores, user=None, labels=None):
    b = log.batch.replace(scores=np.asarray(scores, np.float32))
    if labels is not None:
        b = b.replace(labels=np.asarray(labels, np.float32))
    return ImpressionLog(b, log.shown, log.observed, log.user if user is None else user, logging=log.logging,
                         group_names=log.group_names, label_names=log.label_names)  # fmt: skip


def test_calibrated_scores_are_used_as_they_are(toy_log):
    om = fit_outcome_model(toy_log)
    assert om.info["kind"] == "scores" and all(v < 0.02 for v in om.info["ece"].values())
    np.testing.assert_allclose(om.predictions, np.where(np.asarray(toy_log.batch.mask)[..., None],
                                                        np.asarray(toy_log.batch.scores), 0))  # fmt: skip


def test_miscalibrated_scores_are_calibrated_by_user_folds(toy_log):
    squashed = 0.25 + 0.5 * np.asarray(toy_log.batch.scores)
    user = (np.arange(toy_log.n_sessions) // 4) * 2 + np.asarray(toy_log.batch.group)  # several sessions per user
    log = _with_scores(toy_log, squashed, user=user)
    om = fit_outcome_model(log, folds=4)
    assert om.info["kind"] == "calibrated" and om.info["method"] == {"label0": "isotonic", "label1": "isotonic"}
    for name in log.label_names:
        assert om.info["ece"][name] > 0.05 and om.info["ece_model"][name] < 0.02
    # cross-fitting: changing the labels of one user's sessions leaves that user's predictions alone
    labels = np.asarray(log.batch.labels).copy()
    mine = log.user == log.user[0]
    assert mine.sum() >= 1
    labels[mine] = 1.0 - labels[mine]
    labels = np.where(log.observed[..., None], labels, 0.0)
    om2 = fit_outcome_model(_with_scores(log, squashed, user=log.user, labels=labels), folds=4)
    np.testing.assert_array_equal(om.predictions[mine], om2.predictions[mine])
    assert not np.array_equal(om.predictions[~mine], om2.predictions[~mine])


def test_scores_outside_unit_interval_are_not_probabilities(toy_log):
    log = _with_scores(toy_log, 3.0 * np.asarray(toy_log.batch.scores) - 1.0)
    om = fit_outcome_model(log)
    assert om.info["kind"] == "calibrated" and np.isnan(om.info["ece"]["label0"])
    assert np.all((om.predictions >= 0) & (om.predictions <= 1))


def test_shown_ece_and_errors(toy_log):
    assert shown_ece(np.array([0.1, 0.9]), np.array([0.0, 1.0])) == pytest.approx(0.1)
    assert np.isnan(shown_ece(np.array([1.5]), np.array([1.0])))
    with pytest.raises(ValueError, match="folds"):
        fit_outcome_model(toy_log, folds=1)
