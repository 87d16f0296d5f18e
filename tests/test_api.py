"""Public API: validation of every bad input, grids, reports, the toy scenario, Lemma 2.3."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest

import jaxfair as jf


def _ok():
    return dict(scores=np.zeros((3, 4, 2)), labels=np.zeros((3, 4, 2)), mask=None, group=[0, 1, 0])


@pytest.mark.parametrize(
    "field,value,match",
    [
        ("scores", np.zeros((3, 4)), r"scores: expected shape \[N, m, K\]"),
        ("scores", np.zeros((0, 4, 2)), r"scores: expected N, m, K >= 1"),
        ("labels", np.zeros((3, 4, 1)), r"labels: expected shape \(3, 4, 2\)"),
        ("scores", np.full((3, 4, 2), np.nan), r"scores: expected finite values, got nan"),
        ("labels", np.full((3, 4, 2), np.inf), r"labels: expected finite values, got inf"),
        ("scores", np.full((3, 4, 2), "a"), r"scores: expected a real numeric dtype"),
        ("mask", np.ones((3, 5), bool), r"mask: expected shape \(3, 4\)"),
        ("mask", np.full((3, 4), 2), r"mask: expected bool"),
        ("group", [0, 1], r"group: expected shape \(3,\)"),
        ("group", [0, -1, 0], r"group: expected ids >= 0, got -1"),
        ("group", [0.5, 1, 0], r"group: expected an integer dtype"),
        ("group", None, r"group: required"),
    ],
)
def test_make_batch_rejects(field, value, match):
    kw = _ok()
    kw[field] = value
    with pytest.raises(ValueError, match=match):
        jf.make_batch(kw["scores"], kw["labels"], kw["mask"], group=kw["group"])


def test_make_batch_converts_dtypes():
    b = jf.make_batch(np.zeros((2, 3, 2), np.float64), np.zeros((2, 3, 2), int), np.ones((2, 3), int), group=[0, 1])
    assert b.scores.dtype == np.float32 and b.labels.dtype == np.float32
    assert b.mask.dtype == bool and b.group.dtype == np.int32
    assert b.shape == (2, 3, 2)
    leaves = jax.tree_util.tree_leaves(b)  # a registered pytree
    assert len(leaves) == 4


@pytest.mark.parametrize(
    "alpha,match",
    [
        ([1.0, -0.1], "alpha: expected weights >= 0"),
        ([np.nan, 1.0], "alpha: expected finite"),
        ([np.inf, 1.0], "alpha: expected finite"),
        ([0.0, 0.0], "alpha: all-zero"),
        ([1e-46, 1e-46], "alpha: row 0 .* underflows to all zero in float32"),
        ([1e39, 1.0], "alpha: row 0 .* overflows in float32"),
        ([1.0, 1.0, 1.0], r"alpha: expected shape \(2,\)"),
    ],
)
def test_alpha_rejected(alpha, match):
    b = jf.make_batch(**{k: v for k, v in _ok().items()})
    with pytest.raises(ValueError, match=match):
        jf.serve(alpha, b)


def test_alphas_and_prefs_rejected():
    b = jf.make_batch(**{k: v for k, v in _ok().items()})
    prefs = np.array([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match=r"alphas: expected shape \[P, 2\]"):
        jf.evaluate(np.ones(2), b, prefs)
    with pytest.raises(ValueError, match="alphas: all-zero weight vector at row 1"):
        jf.evaluate([[1, 0], [0, 0]], b, prefs)
    with pytest.raises(ValueError, match="prefs: expected G >= 2"):
        jf.evaluate([[1, 0]], b, prefs[:1])
    with pytest.raises(ValueError, match=r"prefs: group 0 \(row 0\) has negative weights"):
        jf.evaluate([[1, 0]], b, -prefs)
    with pytest.raises(ValueError, match=r"prefs: group 1 \(row 1\) has all-zero weights"):
        jf.evaluate([[1, 0]], b, [[1.0, 0.0], [0.0, 0.0]])
    with pytest.raises(ValueError, match=r"group 1 \(row 1\) sums to 1.1.*allow_unnormalised"):
        jf.evaluate([[1, 0]], b, [[1.0, 0.0], [0.3, 0.8]])
    with pytest.raises(ValueError, match="prefs: expected 2 columns"):
        jf.evaluate([[1, 0]], b, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"batch.group: expected ids < G = 2"):
        jf.evaluate([[1, 0]], jf.make_batch(np.zeros((1, 1, 2)), np.zeros((1, 1, 2)), group=[2]), prefs)
    with pytest.raises(ValueError, match="chunk_size"):
        jf.evaluate([[1, 0]], b, prefs, chunk_size=0)
    with pytest.raises(ValueError, match="batch: expected a jaxfair.Batch"):
        jf.evaluate([[1, 0]], "nope", prefs)
    with pytest.raises(ValueError, match="mu: DER is defined for group utilities >= 0"):
        jf.der([1.0, -1.0])
    with pytest.raises(ValueError, match="mu: expected shape"):
        jf.der([1.0])
    with pytest.raises(ValueError, match="n_groups"):
        jf.retrieval_quality(b, n_groups=1)


def test_grids():
    s = jf.simplex_grid(3, 5)
    assert s.shape == (15, 3)
    np.testing.assert_allclose(s.sum(1), 1.0)
    assert np.all(s >= 0)
    np.testing.assert_allclose(jf.simplex_grid(2, 3), [[0, 1], [0.5, 0.5], [1, 0]])
    assert jf.simplex_grid(1, 4).shape == (1, 1)
    assert jf.box_grid(2, 101).shape == (101 * 101 - 1, 2)  # origin dropped
    assert jf.box_grid(2, 101, 0.0, 1.0, drop_origin=False).shape == (10201, 2)
    assert jf.box_grid(2, 101, 0.01, 1.0).shape == (10201, 2)
    assert jf.box_grid(3, 4, 0.5, 1.0).min() == 0.5
    with pytest.raises(ValueError, match="lo, hi"):
        jf.box_grid(2, 5, 1.0, 0.5)
    with pytest.raises(ValueError, match="K: expected an int >= 1"):
        jf.simplex_grid(0, 3)


def test_evaluation_frame_and_report():
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(0), 500)
    ev = jf.evaluate(jf.direction_grid(11), batch, sc.prefs, group_names=sc.group_names, label_names=sc.label_names)
    df = ev.to_frame()
    assert isinstance(df, pd.DataFrame) and len(df) == 11
    assert {"alpha_label0", "alpha_label1", "utility", "der", "utility_majority", "utility_minority"} <= set(df)
    rep = ev.report(3)
    assert rep.overall == pytest.approx(ev.utility[3])
    assert list(rep.by_group.index) == ["majority", "minority"]
    assert rep.difference() == pytest.approx(abs(ev.group_utility[3, 0] - ev.group_utility[3, 1]))
    assert rep.ratio() == pytest.approx(ev.group_utility[3].min() / ev.group_utility[3].max())
    # population-weighted: global utility is the count-weighted mean of the group means
    w = ev.group_counts / ev.group_counts.sum()
    np.testing.assert_allclose(ev.utility, ev.group_utility @ w, rtol=1e-6)


def test_toy_scenario_sample_is_valid_and_deterministic():
    sc = jf.scenarios.load("toy", n_candidates=7, retrieval_rate=0.5)
    assert "toy" in jf.scenarios.available()
    a = sc.sample(jax.random.PRNGKey(5), 300)
    b = sc.sample(jax.random.PRNGKey(5), 300)
    np.testing.assert_array_equal(np.asarray(a.scores), np.asarray(b.scores))
    jf.make_batch(a.scores, a.labels, a.mask, group=a.group)  # passes validation
    assert a.shape == (300, 7, 2)
    assert 0.1 < float(np.asarray(a.group).mean()) < 0.3
    d = sc.describe()
    assert d["name"] == "toy" and d["options"]["retrieval_rate"] == 0.5
    with pytest.raises(ValueError, match="unknown scenario"):
        jf.scenarios.load("nope")
    with pytest.raises(ValueError, match="rho"):
        jf.scenarios.load("toy", rho=1.5)


def test_lemma_2_3_shared_preferences_maximised_at_true_alpha():
    """Calibrated scores and one shared α*: utility is maximised at α ∝ α* (paper Lemma 2.3)."""
    star = np.array([0.7, 0.3])
    sc = jf.scenarios.load("toy", prefs=np.stack([star, star]))
    batch = sc.sample(jax.random.PRNGKey(0), 40_000)
    ev = jf.sweep2(batch, sc.prefs).evaluate(jf.direction_grid(201))
    w_best = ev.alphas[np.argmax(ev.utility), 0]
    assert abs(w_best - 0.7) <= 0.03
    # and the curve at α* is within noise of the maximum
    at_star = jf.sweep2(batch, sc.prefs).evaluate(star[None]).utility[0]
    assert at_star >= ev.utility.max() - 2e-3


def test_disagreeing_groups_trade_off():
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(0), 20_000)
    ev = jf.evaluate(np.array([[0.8, 0.2], [0.2, 0.8]]), batch, sc.prefs)
    assert ev.group_utility[0, 0] > ev.group_utility[1, 0]  # majority prefers its own α*
    assert ev.group_utility[1, 1] > ev.group_utility[0, 1]  # minority prefers its own
    oracle = jf.oracle_utility(batch, sc.prefs)
    assert np.all(oracle >= ev.group_utility.max(axis=0) - 1e-6)
