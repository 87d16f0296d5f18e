"""Provider (item) groups carried by every scenario (SPEC §7; docs/slates.md "Scenarios")."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest
from scenario_fixtures import write_ml100k

from jaxfair import scenarios
from jaxfair.scenarios.marketbias import model_attr_groups, read_marketbias
from jaxfair.scenarios.movielens import popularity_groups, read_ml100k
from jaxfair.scenarios.standin import generate_standin


def _exposure_share(batch, k: int = 1) -> np.ndarray:
    """Share of top-k exposure (uniform weights) of each provider group, float64 NumPy (no engine)."""
    s = np.asarray(batch.scores, np.float64).sum(-1)
    s = np.where(np.asarray(batch.mask), s, -np.inf)
    top = np.argsort(-s, axis=1, kind="stable")[:, :k]
    ig = np.take_along_axis(np.asarray(batch.item_group), top, axis=1)
    return np.bincount(ig.ravel(), minlength=2) / ig.size


def test_toy_default_is_bit_identical_and_carries_two_providers():
    key = jax.random.PRNGKey(3)
    base = scenarios.load("toy").sample(key, 1000)
    same = scenarios.load("toy", item_groups=3, provider_share=0.4).sample(key, 1000)
    for f in ("scores", "labels", "mask", "group", "features"):
        np.testing.assert_array_equal(np.asarray(getattr(base, f)), np.asarray(getattr(same, f)))
    assert base.item_group.shape == (1000, 20) and base.item_group.dtype == np.int32
    assert set(np.unique(np.asarray(base.item_group))) == {0, 1}
    assert set(np.unique(np.asarray(same.item_group))) == {0, 1, 2}
    assert scenarios.load("toy").item_group_names[-1] == "minority-provider"
    share = (np.asarray(base.item_group) == 1).mean()
    assert 0.17 < share < 0.23  # provider_share 0.2


def test_toy_provider_bias_understates_minority_scores_and_underexposes_it():
    key = jax.random.PRNGKey(0)
    fair = scenarios.load("toy").sample(key, 1000)
    biased = scenarios.load("toy", provider_bias=1.5).sample(key, 1000)
    ig = np.asarray(fair.item_group)
    np.testing.assert_array_equal(np.asarray(fair.labels), np.asarray(biased.labels))  # merit unchanged
    np.testing.assert_array_equal(np.asarray(fair.item_group), np.asarray(biased.item_group))
    np.testing.assert_array_equal(np.asarray(fair.scores)[ig == 0], np.asarray(biased.scores)[ig == 0])
    assert np.all(np.asarray(biased.scores)[ig == 1] < np.asarray(fair.scores)[ig == 1])
    e_fair, e_biased = _exposure_share(fair, 5), _exposure_share(biased, 5)
    assert e_biased[1] < 0.5 * e_fair[1]  # the minority provider loses more than half its exposure


@pytest.mark.parametrize(
    "bad",
    [
        {"item_groups": 1},
        {"item_groups": 2.5},
        {"provider_share": 0.0},
        {"provider_share": 1.0},
        {"provider_bias": -0.1},
        {"provider_bias": float("nan")},
    ],
)
def test_toy_bad_provider_options(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        scenarios.load("toy", **bad)


def test_popularity_groups_head_is_top_20_percent_with_tie_rule():
    ratings = pd.DataFrame({"item": [0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 7, 8, 9, 9]})
    # counts: 0:3, 1:2, 2:2, 3:2, 9:2, then 1 each; 10 items -> head = 2 items: 0 and 1 (ties by lower id)
    g = popularity_groups(ratings, 10)
    assert g.tolist() == [0, 0] + [1] * 8
    assert popularity_groups(ratings, 10, head_share=0.5).tolist() == [0, 0, 0, 0, 1, 1, 1, 1, 1, 0]
    for bad in (0.0, 1.0, True):
        with pytest.raises(ValueError, match="head_share"):
            popularity_groups(ratings, 10, head_share=bad)


def test_movielens_popularity_groups_on_generated_files(tmp_path):
    d = write_ml100k(tmp_path)
    sc = scenarios.load("movielens", data_dir=tmp_path, cache_dir=tmp_path / "c", n_trees=5, n_jobs=1)
    assert sc.item_group_names == ("head", "tail") and sc.n_item_groups == 2
    ratings, genres = read_ml100k(d)
    counts = np.bincount(ratings["item"], minlength=len(genres))
    n_head = int(round(0.2 * len(genres)))
    expect_head = sorted(range(len(genres)), key=lambda i: (-counts[i], i))[:n_head]
    arr = sc.arrays
    np.testing.assert_array_equal(arr["item_group"], np.where(np.isin(arr["item"], expect_head), 0, 1))
    batch = sc.sample(jax.random.PRNGKey(0), 64)
    assert batch.item_group.shape == (64, sc.n_candidates)
    # Every sampled candidate's provider group is its movie's popularity group.
    assert set(np.unique(np.asarray(batch.item_group))) <= {0, 1}
    # head_share is applied at load time: same cache entry, other groups.
    sc2 = scenarios.load("movielens", data_dir=tmp_path, cache_dir=tmp_path / "c", n_trees=5, n_jobs=1, head_share=0.5)
    assert sc2.info["cache_hit"] and (sc2.arrays["item_group"] == 0).mean() > (arr["item_group"] == 0).mean()


def test_marketbias_model_attr_groups(tmp_path):
    path = tmp_path / "df_modcloth.csv"
    generate_standin("modcloth", 400, seed=3).to_csv(path, index=False)
    df = read_marketbias(path, "modcloth")
    group, names = model_attr_groups(df)
    assert names == ("Small", "Small&Large")
    raw = pd.read_csv(path)
    first = raw.drop_duplicates("item_id")
    item_of = dict(zip(df["item"], pd.read_csv(path, dtype={"item_id": str})["item_id"], strict=True))
    attr = dict(zip(first["item_id"].astype(str), first["model_attr"], strict=True))
    for i in range(len(group)):
        assert names[group[i]] == attr[item_of[i]]


def test_standin_scenario_carries_model_attr_groups(tmp_path):
    sc = scenarios.load(
        "electronics-standin", cache_dir=tmp_path, n_rows=800, max_epochs=1, batch_size=1024, progress=False
    )
    assert sc.item_group_names == ("Female", "Female&Male", "Male")
    b = sc.sample(jax.random.PRNGKey(1), 50)
    assert b.item_group is not None and int(np.asarray(b.item_group).max()) <= 2


def test_logs_item_group_column(tmp_path):
    rng = np.random.default_rng(0)
    n_users, per = 30, 6
    df = pd.DataFrame(
        {
            "u": np.repeat(np.arange(n_users), per),
            "g": np.repeat(np.arange(n_users) % 4 == 0, per).astype(int),
            "f0": rng.random(n_users * per),
            "f1": rng.random(n_users * per),
            "y0": rng.integers(0, 2, n_users * per),
            "y1": rng.integers(0, 2, n_users * per),
            "prov": np.where(rng.random(n_users * per) < 0.3, "indie", "studio"),
        }
    )
    kw = dict(user="u", group="g", scores=["f0", "f1"], labels=["y0", "y1"], prefs=[[0.8, 0.2], [0.2, 0.8]])
    pool = scenarios.from_frame(df, item_group="prov", n_candidates=4, **kw)
    assert pool.item_group_names == ("indie", "studio")
    b = pool.sample(jax.random.PRNGKey(0), 20)
    assert b.item_group.shape == (20, 4)
    replay = scenarios.from_frame(df, item_group="prov", replay=True, **kw)
    s = replay.sessions()
    np.testing.assert_array_equal(np.asarray(s.item_group)[0], (df["prov"].iloc[:per] == "studio").astype(int))
    assert scenarios.from_frame(df, **kw).sample(jax.random.PRNGKey(0), 5).item_group is None
    with pytest.raises(ValueError, match="item_group"):
        scenarios.from_frame(df, item_group="nope", **kw)
    with pytest.raises(ValueError, match="item_group.*single"):
        scenarios.from_frame(df.assign(prov="x"), item_group="prov", **kw)
    with pytest.raises(ValueError, match="item_group.*-1"):
        scenarios.from_frame(df.assign(prov=-1), item_group="prov", **kw)


def test_cli_item_group_needs_data(capsys):
    from jaxfair.cli import main

    assert main(["surface", "--item-group", "prov", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "jaxfair: error:" in err and "--item-group" in err
