"""Pool sampling (Floyd draws, masks, single-label retrieval), groups, AUC, cache, synthetic."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import roc_auc_score

from jaxfair import make_batch, scenarios
from jaxfair.auc import auc_table
from jaxfair.scenarios.cache import load_or_build
from jaxfair.scenarios.groups import random_groups
from jaxfair.scenarios.marketbias import flip_label
from jaxfair.scenarios.pool import PoolScenario, _floyd, pool_arrays


def _pool(counts, k=2, seed=0, **sampling):
    rng = np.random.default_rng(seed)
    user = np.repeat(np.arange(len(counts)), counts)
    r = len(user)
    arrays = pool_arrays(
        rng.random((r, k)), (rng.random((r, k)) < 0.5), user, random_groups(len(counts), 0.2, rng), rng
    )
    return PoolScenario(
        name="test-pool",
        label_names=[f"l{i}" for i in range(k)],
        group_names=["a", "b"],
        arrays=arrays,
        seed=seed,
        options={},
        sampling=sampling,
    )


@given(
    counts=st.lists(st.integers(1, 60), min_size=1, max_size=8), size=st.integers(1, 25), seed=st.integers(0, 2**31 - 1)
)
def test_floyd_draws_distinct_rows_within_range(counts, size, seed):
    idx, valid = _floyd(jax.random.PRNGKey(seed), jax.numpy.asarray(counts), size)
    idx, valid = np.asarray(idx), np.asarray(valid)
    for c, row, ok in zip(counts, idx, valid, strict=False):
        assert ok.sum() == min(c, size)
        assert len(set(row[ok].tolist())) == ok.sum()  # distinct
        assert (row[ok] >= 0).all() and (row[ok] < c).all()


def test_floyd_is_uniform():
    # 3 of 5: each index is chosen with probability 3/5.
    idx, _ = _floyd(jax.random.PRNGKey(1), jax.numpy.full(20000, 5), 3)
    freq = np.bincount(np.asarray(idx).ravel(), minlength=5) / 20000
    np.testing.assert_allclose(freq, 0.6, atol=0.02)


def test_sample_shapes_determinism_and_validation():
    sc = _pool([30, 5, 50, 21, 8], n_candidates=20)
    b1 = sc.sample(jax.random.PRNGKey(3), 257)
    b2 = sc.sample(jax.random.PRNGKey(3), 257)
    b3 = sc.sample(jax.random.PRNGKey(4), 257)
    assert b1.scores.shape == (257, 20, 2) and b1.labels.shape == (257, 20, 2)
    assert b1.mask.shape == (257, 20) and b1.group.shape == (257,)
    for a, b in zip((b1.scores, b1.mask, b1.group), (b2.scores, b2.mask, b2.group), strict=False):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(b1.scores), np.asarray(b3.scores))
    make_batch(b1.scores, b1.labels, b1.mask, b1.group)  # passes the engine's validation
    # users with 5 or 8 rows have exactly that many retrieved candidates
    assert set(np.asarray(b1.mask).sum(1).tolist()) <= {5, 8, 20}


def test_sample_rows_belong_to_the_user():
    # Each user's rows carry the user's id as score: a session never mixes users.
    counts = [25, 40, 3]
    user = np.repeat(np.arange(3), counts)
    rng = np.random.default_rng(0)
    arrays = pool_arrays(np.c_[user, user].astype(float), np.zeros((len(user), 2)), user, np.array([0, 0, 1]), rng)
    sc = PoolScenario(
        name="t", label_names=["a", "b"], group_names=["g0", "g1"], arrays=arrays, seed=0, options={}, sampling={}
    )
    b = sc.sample(jax.random.PRNGKey(0), 100)
    s, m, g = np.asarray(b.scores[..., 0]), np.asarray(b.mask), np.asarray(b.group)
    for n in range(100):
        assert len(set(s[n][m[n]].tolist())) == 1
        assert g[n] == (1 if s[n][m[n]][0] == 2 else 0)


def test_single_label_retrieval_keeps_top_m_by_one_label():
    counts = [12, 12, 12]  # = retrieval_pool: every row is drawn, so top-m is deterministic
    sc = _pool(counts, n_candidates=4, retrieval="single-label", retrieval_label="l1", retrieval_pool=12)
    b = sc.sample(jax.random.PRNGKey(0), 50)
    a = sc.arrays
    for n in range(50):
        got = np.sort(np.asarray(b.scores[n, :, 1]))
        # find the user by its score set
        for u in range(3):
            rows = a["scores"][a["offsets"][u] : a["offsets"][u] + a["counts"][u], 1]
            if np.isin(got, rows).all():
                np.testing.assert_allclose(got, np.sort(rows)[-4:])
                break
        else:
            pytest.fail("sampled scores do not come from one user")
    with pytest.raises(ValueError, match="retrieval_pool"):
        _pool(counts, n_candidates=4, retrieval="single-label", retrieval_pool=3)
    with pytest.raises(ValueError, match="retrieval_label"):
        _pool(counts, retrieval="single-label", retrieval_label="nope")
    with pytest.raises(ValueError, match="retrieval"):
        _pool(counts, retrieval="magic")


def test_sample_rejects_bad_n_users():
    sc = _pool([5, 5])
    with pytest.raises(ValueError, match="n_users"):
        sc.sample(jax.random.PRNGKey(0), 0)


@given(n=st.integers(10, 5000), seed=st.integers(0, 1000))
def test_random_groups_exact_80_20(n, seed):
    g = random_groups(n, 0.2, np.random.default_rng(seed))
    assert g.sum() == round(0.2 * n)


def test_auc_table_matches_sklearn_on_a_fixed_example():
    y = np.array([[1, 0], [0, 1], [1, 1], [0, 0], [1, 0], [0, 1], [1, 1], [0, 0]], float)
    s = np.array([[0.9, 0.2], [0.3, 0.8], [0.6, 0.7], [0.4, 0.1], [0.35, 0.5], [0.2, 0.6], [0.8, 0.3], [0.5, 0.4]])
    g = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    t = auc_table(s, y, g, ["a", "b"], ["g0", "g1"])
    assert t.loc["All", "auc_a"] == pytest.approx(roc_auc_score(y[:, 0], s[:, 0]))
    assert t.loc["g1", "auc_b"] == pytest.approx(roc_auc_score(y[g == 1, 1], s[g == 1, 1]))
    assert t.loc["All", "auc_a"] == pytest.approx(0.875)  # by hand: 14 of 16 pairs ordered
    # the flip reverses label and score: AUC unchanged, labels complemented
    fs, fy = flip_label(s, y, 0)
    np.testing.assert_array_equal(fy[:, 0], 1 - y[:, 0])
    np.testing.assert_array_equal(fy[:, 1], y[:, 1])
    assert roc_auc_score(fy[:, 0], fs[:, 0]) == pytest.approx(roc_auc_score(y[:, 0], s[:, 0]))


def test_cache_hit_miss_and_invalidation(tmp_path):
    calls = []

    def build():
        calls.append(1)
        return {"x": np.arange(3.0)}, {"n": len(calls)}

    meta = {"scenario": "t", "seed": 0, "options": {"a": 1}, "data": "abc"}
    a, info, hit = load_or_build(meta, build, tmp_path)
    assert not hit and len(calls) == 1
    a, info, hit = load_or_build(meta, build, tmp_path)
    assert hit and len(calls) == 1 and info == {"n": 1}
    np.testing.assert_array_equal(a["x"], np.arange(3.0))
    for change in ({"options": {"a": 2}}, {"seed": 1}, {"data": "abd"}):
        _, _, hit = load_or_build(dict(meta, **change), build, tmp_path)
        assert not hit
    assert len(calls) == 4
    files = list((tmp_path / "pools").iterdir())
    assert not [f for f in files if f.suffix == ".tmp"]  # atomic writes leave no temporaries
    stored = json.loads(next(f for f in files if f.suffix == ".json").read_text())
    assert {"meta", "info"} <= set(stored) and "numpy" in stored["meta"]["versions"]
    # a metadata file that disagrees with its key is not trusted
    from jaxfair.scenarios.cache import FORMAT_VERSION, cache_key, library_versions

    js = tmp_path / "pools" / f"{cache_key(dict(meta, versions=library_versions(), format=FORMAT_VERSION))}.json"
    assert js.is_file()
    js.write_text(json.dumps({"meta": {"bogus": 1}, "info": {}}))
    _, _, hit = load_or_build(json.loads(json.dumps(meta)), build, tmp_path)
    assert not hit and len(calls) == 5


def test_synthetic_small(tmp_path):
    sc = scenarios.load("synthetic", seed=1, cache_dir=tmp_path, n_samples=3000, n_trees=10, n_jobs=1)
    assert sc.label_names == ("y1", "y2") and sc.prefs.shape == (2, 2)
    assert abs(sc.prevalence[1] - 0.2) < 0.05
    t = sc.auc_table()
    assert list(t.index) == ["All", "majority", "minority"]
    assert (t[["auc_y1", "auc_y2"]] > 0.9).all().all()
    b = sc.sample(jax.random.PRNGKey(0), 64)
    make_batch(b.scores, b.labels, b.mask, b.group)
    assert np.asarray(b.mask).all()
    again = scenarios.load("synthetic", seed=1, cache_dir=tmp_path, n_samples=3000, n_trees=10, n_jobs=1)
    assert again.info["cache_hit"] and not sc.info["cache_hit"]
    np.testing.assert_array_equal(again.arrays["scores"], sc.arrays["scores"])
    with pytest.raises(ValueError, match="n_trees"):
        scenarios.load("synthetic", cache_dir=tmp_path, n_trees=0)
    with pytest.raises(ValueError, match="unknown option"):
        scenarios.load("synthetic", cache_dir=tmp_path, bogus=1)
