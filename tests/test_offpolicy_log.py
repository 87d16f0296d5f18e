"""LoggingPolicy.parse and ImpressionLog validation (SPEC §10)."""

from __future__ import annotations

import numpy as np
import pytest

from jaxfair.engine.batch import make_batch
from jaxfair.offpolicy import ImpressionLog, LoggingPolicy


def test_parse_dirichlet_and_epsilon():
    p = LoggingPolicy.parse("dirichlet:20@1,3")
    assert p.kind == "dirichlet" and p.strength == 20.0
    np.testing.assert_allclose(p.center, [0.25, 0.75])
    assert str(p) == "dirichlet:20@0.25,0.75"
    assert LoggingPolicy.parse(str(p)) == p
    e = LoggingPolicy.parse(" epsilon:0.1@0.5,0.5,0 ", n_labels=3)
    assert e.kind == "epsilon" and e.strength == 0.1 and e.n_labels == 3
    assert e.describe() == {"kind": "epsilon", "strength": 0.1, "center": [0.5, 0.5, 0.0], "spec": str(e)}
    assert hash(e) == hash(LoggingPolicy.parse(str(e)))


@pytest.mark.parametrize(
    "spec, words",
    [
        ("dirichlet:20", "no '@'"),
        ("gauss:1@1,2", "expected dirichlet"),
        ("dirichlet:x@1,2", "not a number"),
        ("dirichlet:0@1,2", "> 0"),
        ("dirichlet:inf@1,2", "> 0"),
        ("epsilon:0@1,2", "(0, 1]"),
        ("epsilon:1.5@1,2", "(0, 1]"),
        ("dirichlet:2@1,a", "comma-separated"),
        ("dirichlet:2@0,0", "not all 0"),
        ("dirichlet:2@-1,2", ">= 0"),
        ("dirichlet:2@nan,2", "finite"),
    ],
)
def test_parse_errors_name_the_flag_and_spec(spec, words):
    with pytest.raises(ValueError, match="^--logging") as exc:
        LoggingPolicy.parse(spec)
    assert words in str(exc.value)


def test_parse_k_mismatch():
    with pytest.raises(ValueError, match=r"--logging has K=3 weights, the scores have K=2"):
        LoggingPolicy.parse("dirichlet:5@1,1,1", n_labels=2)
    with pytest.raises(ValueError, match=r"^logging_spec"):
        LoggingPolicy.parse(3, name="logging_spec")


def test_sample_shapes_and_zero_components():
    import jax

    p = LoggingPolicy.parse("dirichlet:5@0,1,1")
    a = np.asarray(p.sample(jax.random.PRNGKey(0), 1000))
    assert a.shape == (1000, 3) and np.all(a[:, 0] == 0) and np.allclose(a.sum(axis=1), 1, atol=1e-5)
    assert abs(a[:, 1].mean() - 0.5) < 0.03
    e = np.asarray(LoggingPolicy.parse("epsilon:0.2@1,3").sample(jax.random.PRNGKey(0), 4))
    np.testing.assert_allclose(e, [[0.25, 0.75]] * 4)


def _log(**over):
    scores = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2) / 24
    mask = np.array([[1, 1, 1], [1, 0, 1], [0, 0, 0], [1, 1, 0]], bool)
    shown = np.array([[2], [0], [-1], [1]])
    observed = np.zeros((4, 3), bool)
    observed[[0, 1, 3], [2, 0, 1]] = True
    labels = np.where(observed[..., None], 1.0, 0.0) * np.ones((4, 3, 2))
    kw = dict(
        batch=make_batch(scores, labels, mask, np.array([0, 1, 1, 0])),
        shown=shown,
        observed=observed,
        user=np.array([10, 11, 12, 10]),
        propensity=np.array([0.5, 0.2, np.nan, 1.0]),
        group_names=("a", "b"),
        label_names=("click", "like"),
    )
    kw.update(over)
    return ImpressionLog(**kw)


def test_valid_log():
    log = _log()
    assert (log.n_sessions, log.n_users, log.slate_k, log.n_groups) == (4, 3, 1, 2)
    assert log.shown.dtype == np.int32 and log.propensity.shape == (4, 1)
    np.testing.assert_array_equal(log.shown_labels()[:, 0, 0], [1, 1, 0, 1])
    assert "S=4" in repr(log)


@pytest.mark.parametrize(
    "over, words",
    [
        (dict(shown=np.array([[2], [1], [-1], [1]])), "not retrieved"),
        (dict(shown=np.array([[2], [-1], [-1], [1]])), "shows 0 item"),
        (dict(shown=np.array([[2], [0], [0], [1]])), "shows 1 item"),
        (dict(shown=np.array([[3], [0], [-1], [1]])), "outside -1..2"),
        (dict(user=np.array([10, 11, 12, 11])), "more than one group"),
        (dict(propensity=np.array([0.5, 0.0, np.nan, 1.0])), "propensity 0.0"),
        (dict(propensity=np.array([0.5, 1.2, np.nan, 1.0])), "0 < p <= 1"),
        (dict(propensity=np.array([np.nan, 0.2, np.nan, 1.0])), "session 0"),
        (dict(observed=np.ones((4, 3), bool)), "the shown rows are"),
        (dict(logging=LoggingPolicy.parse("dirichlet:2@1,1,1")), "K=3 weights, the scores have K=2"),
        (dict(label_names=("x",)), "label_names"),
    ],
)
def test_invalid_logs(over, words):
    with pytest.raises(ValueError) as exc:
        _log(**over)
    assert words in str(exc.value)


def test_slate_log_validation():
    scores = np.random.default_rng(0).random((2, 4, 2)).astype(np.float32)
    mask = np.array([[1, 1, 1, 1], [1, 1, 0, 0]], bool)
    batch = make_batch(scores, np.zeros_like(scores), mask, np.array([0, 1]))

    def obs(shown):
        o = np.zeros((2, 4), bool)
        for n, row in enumerate(shown):
            o[n, [j for j in row if j >= 0]] = True
        return o

    ok = np.array([[3, 0, 1], [1, 0, -1]])
    log = ImpressionLog(batch, ok, obs(ok), np.array([0, 1]), position_weights=[1.0, 0.6, 0.5])
    assert log.slate_k == 3
    dup = np.array([[3, 3, 1], [1, 0, -1]])
    with pytest.raises(ValueError, match="twice"):
        ImpressionLog(batch, dup, obs(dup), np.array([0, 1]), position_weights=[1.0, 0.6, 0.5])
    gap = np.array([[3, -1, 1], [1, 0, -1]])
    with pytest.raises(ValueError, match="positions 1..3"):
        ImpressionLog(batch, gap, obs(gap), np.array([0, 1]), position_weights=[1.0, 0.6, 0.5])
    with pytest.raises(ValueError, match="position_weights"):
        ImpressionLog(batch, ok, obs(ok), np.array([0, 1]), position_weights=[1.0, 2.0, 0.5])
