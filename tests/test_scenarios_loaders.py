"""Loaders on small generated files of each schema; negatives; labels; stand-ins; data paths; CLI."""

from __future__ import annotations

import argparse

import jax
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scenario_fixtures import write_ml100k

from jaxfair import make_batch, scenarios
from jaxfair.scenarios.datapaths import candidate_data_dirs, resolve_dataset_dir
from jaxfair.scenarios.marketbias import DATASETS, read_marketbias, sample_negatives, shifted_ratings, source_reviews
from jaxfair.scenarios.movielens import read_ml100k, user_item_features
from jaxfair.scenarios.movielens import sample_negatives as ml_negatives
from jaxfair.scenarios.standin import generate_standin


# ---------------------------------------------------------------- Wan et al. CSVs
@pytest.fixture(params=sorted(DATASETS))
def csv_file(request, tmp_path):
    ds = request.param
    path = tmp_path / DATASETS[ds][0]
    generate_standin(ds, 400, seed=3).to_csv(path, index=False)
    return ds, path


def test_read_marketbias_valid(csv_file):
    ds, path = csv_file
    df = read_marketbias(path, ds)
    assert len(df) == 400 and df["rating"].between(1, 5).all()
    assert df["user"].min() == 0 and df["item"].min() == 0
    if ds == "modcloth":
        assert set(np.unique(df["fit"].dropna())) <= {0.0, 1.0}


def test_read_marketbias_missing_column(csv_file):
    ds, path = csv_file
    pd.read_csv(path).drop(columns=["rating"]).to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"missing column.*rating") as e:
        read_marketbias(path, ds)
    assert str(path) in str(e.value)


def test_read_marketbias_empty_and_header_only(csv_file):
    ds, path = csv_file
    path.write_text("")
    with pytest.raises(ValueError, match="empty file") as e:
        read_marketbias(path, ds)
    assert str(path) in str(e.value)
    path.write_text(",".join(DATASETS[ds][1]) + "\n")
    with pytest.raises(ValueError, match="no data rows"):
        read_marketbias(path, ds)


def test_read_marketbias_malformed_rows(csv_file):
    ds, path = csv_file
    lines = path.read_text().splitlines()
    bad = lines[:5] + [lines[5] + ",1,2,3"] + lines[6:]
    path.write_text("\n".join(bad) + "\n")
    with pytest.raises(ValueError, match="malformed row") as e:
        read_marketbias(path, ds)
    assert str(path) in str(e.value)


@pytest.mark.parametrize(
    "column,value,match",
    [("rating", 7, "rating must be"), ("rating", "abc", "rating must be"), ("split", 5, "split must be")],
)
def test_read_marketbias_bad_values(tmp_path, column, value, match):
    path = tmp_path / "df_modcloth.csv"
    df = generate_standin("modcloth", 100, seed=0)
    df[column] = df[column].astype(object)
    df.loc[17, column] = value
    df.to_csv(path, index=False)
    with pytest.raises(ValueError, match=match) as e:
        read_marketbias(path, "modcloth")
    assert str(path) in str(e.value) and "row 18" in str(e.value)


@settings(max_examples=25)
@given(seed=st.integers(0, 10_000), n_users=st.integers(1, 12), n_items=st.integers(2, 15))
def test_negatives_never_hit_a_pair_rated_4_or_more(seed, n_users, n_items):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    user, item, rating = rng.integers(0, n_users, n), rng.integers(0, n_items, n), rng.integers(1, 6, n)
    nu, ni = sample_negatives(user, item, rating, n_users, n_items, 10, rng)
    pos = set(zip(user[rating >= 4].tolist(), item[rating >= 4].tolist(), strict=False))
    assert not pos & set(zip(nu.tolist(), ni.tolist(), strict=False))
    # every user with an item left to draw gets exactly 10 negatives
    full = {u for u in range(n_users) if len({i for (v, i) in pos if v == u}) == n_items}
    assert np.bincount(nu, minlength=n_users).tolist() == [0 if u in full else 10 for u in range(n_users)]


def test_shifted_ratings_are_the_distribution_shifted_down():
    obs = np.array([1] * 10 + [2] * 20 + [3] * 30 + [4] * 15 + [5] * 25)
    r = shifted_ratings(obs, 200_000, np.random.default_rng(0))
    freq = np.bincount(r, minlength=6)[1:] / len(r)
    np.testing.assert_allclose(freq, [0.30, 0.30, 0.15, 0.25, 0.0], atol=0.01)


def test_negative_ratings_come_from_the_same_item_shifted_down():
    rng = np.random.default_rng(0)
    item = np.array([0, 0, 0, 1, 1, 2])
    rating = np.array([5, 5, 1, 3, 2, 4])
    neg_item = rng.integers(0, 3, 5000)
    src = source_reviews(item, neg_item, rng)
    np.testing.assert_array_equal(item[src], neg_item)
    shifted = np.maximum(rating[src] - 1, 1)
    # item 0: P(4) = 2/3, P(1) = 1/3 (1 stays 1)
    f = np.bincount(shifted[neg_item == 0], minlength=6)[1:] / (neg_item == 0).sum()
    np.testing.assert_allclose(f, [1 / 3, 0, 0, 2 / 3, 0], atol=0.03)


def test_missing_real_file_says_where_to_get_and_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("JAXFAIR_DATA", str(tmp_path / "nothing"))
    with pytest.raises(FileNotFoundError) as e:
        scenarios.load("modcloth", data_dir=tmp_path, cache_dir=tmp_path)
    msg = str(e.value)
    assert "github.com/MengtingWan/marketBias" in msg and "df_modcloth.csv" in msg and str(tmp_path) in msg


def test_real_loader_on_a_generated_file(tmp_path):
    d = tmp_path / "data" / "marketbias"
    d.mkdir(parents=True)
    generate_standin("electronics", 3000, seed=1).to_csv(d / "df_electronics.csv", index=False)
    sc = scenarios.load(
        "electronics",
        data_dir=tmp_path / "data",
        cache_dir=tmp_path / "cache",
        max_epochs=3,
        batch_size=1024,
        progress=False,
    )
    assert sc.label_names == ("viewed", "rating_flipped") and not sc.is_standin
    labels = sc.arrays["labels"]
    # negatives (viewed = 0) are ~10 per user, observed rows 1 per user or so
    assert 0.7 < 1 - labels[:, 0].mean() < 1.0 or labels[:, 0].mean() < 0.3
    b = sc.sample(jax.random.PRNGKey(0), 32)
    make_batch(b.scores, b.labels, b.mask, b.group)


@pytest.mark.parametrize("name", ["modcloth-standin", "electronics-standin"])
def test_standin_is_labelled_and_flips_its_label(tmp_path, name):
    sc = scenarios.load(name, cache_dir=tmp_path, n_rows=2000, max_epochs=2, batch_size=1024, progress=False)
    assert sc.is_standin and "standin" in sc.name and "STAND-IN" in sc.title
    d = sc.describe()
    assert d["standin"] is True and "STAND-IN" in d["title"] and "STAND-IN" in d["description"]
    flipped = [k for k, n in enumerate(sc.label_names) if n.endswith("_flipped")]
    assert len(flipped) == 1
    if name.startswith("modcloth"):
        # viewed_flipped = 1 exactly for synthetic negatives: ~10 per user vs ~2 observed rows
        assert sc.label_names[0] == "viewed_flipped" and sc.arrays["labels"][:, 0].mean() > 0.7
    t = sc.auc_table()
    assert abs(t.loc["minority", "prevalence"] - 0.2) < 0.02
    assert t.filter(like="auc_").notna().all().all()
    b = sc.sample(jax.random.PRNGKey(1), 16)
    make_batch(b.scores, b.labels, b.mask, b.group)


# ---------------------------------------------------------------- MovieLens files
def test_ml100k_reader_and_errors(tmp_path):
    d = write_ml100k(tmp_path)
    r, genres = read_ml100k(d)
    assert r["user"].min() == 0 and genres.shape == (60, 19)
    (d / "u.data").write_text("")
    with pytest.raises(ValueError, match="empty file") as e:
        read_ml100k(d)
    assert "u.data" in str(e.value)
    (d / "u.data").write_text("1\t2\t3\n1\t2\t3\t4\n")
    with pytest.raises(ValueError, match="u.data"):
        read_ml100k(d)
    (d / "u.data").write_text("1\t2\t9\t100\n")
    with pytest.raises(ValueError, match="ratings must be in 1..5"):
        read_ml100k(d)
    write_ml100k(tmp_path)
    (d / "u.item").write_text("1|x|y\n")
    with pytest.raises(ValueError, match="u.item.*columns"):
        read_ml100k(d)


def test_ml_negatives_are_unrated_and_features_roll(tmp_path):
    r, genres = read_ml100k(write_ml100k(tmp_path))
    neg = ml_negatives(r, len(genres), 1.0, np.random.default_rng(0))
    rated = set(zip(r["user"], r["item"], strict=False))
    assert not rated & set(zip(neg["user"], neg["item"], strict=False))
    assert (neg.groupby("user").size() == r.groupby("user").size()).all()
    # rolling window by hand for one user
    u0 = r[r["user"] == 0].sort_values("ts")
    x = user_item_features(r, u0, genres, window=3)
    g = genres[u0["item"].to_numpy()]
    np.testing.assert_allclose(x[0, :19], 0.0)
    np.testing.assert_allclose(x[4, :19], g[1:4].mean(0), rtol=1e-6)
    np.testing.assert_allclose(x[:, 19:], g)
    xi = user_item_features(r, u0, genres, window=3, include_current=True)
    np.testing.assert_allclose(xi[4, :19], g[2:5].mean(0), rtol=1e-6)


def test_movielens_pipeline_on_generated_files(tmp_path):
    write_ml100k(tmp_path)
    sc = scenarios.load("movielens", data_dir=tmp_path, cache_dir=tmp_path / "c", n_trees=5, n_jobs=1)
    assert sc.label_names == ("watched", "liked") and sc.n_pool_users == 30
    assert sc.prevalence[1] == pytest.approx(0.2, abs=0.05)
    b = sc.sample(jax.random.PRNGKey(0), 50)
    make_batch(b.scores, b.labels, b.mask, b.group)
    assert sc.auc_table().shape[0] == 3


def test_data_dir_order(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    write_ml100k(a)
    write_ml100k(b)
    monkeypatch.setenv("JAXFAIR_DATA", str(b))
    assert resolve_dataset_dir("ml-100k", ["u.data"], a, source="x") == a / "ml-100k"
    assert resolve_dataset_dir("ml-100k", ["u.data"], None, source="x") == b / "ml-100k"
    dirs = candidate_data_dirs(None)
    assert dirs[0] == b and dirs[1].parts[-2:] == ("shared", "data") and dirs[2].name == "data"


# ---------------------------------------------------------------- CLI
def test_cli_lists_and_prints_auc(tmp_path, capsys):
    from jaxfair.scenarios.cli import add_subcommands

    parser = argparse.ArgumentParser()
    add_subcommands(parser.add_subparsers())
    args = parser.parse_args(["scenarios"])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    for name in ("synthetic", "movielens", "modcloth", "electronics", "modcloth-standin", "electronics-standin"):
        assert name in out
    args = parser.parse_args(
        [
            "scenarios",
            "--auc",
            "synthetic",
            "--cache-dir",
            str(tmp_path),
            "--option",
            "n_samples=1500",
            "--option",
            "n_trees=5",
            "--option",
            "n_jobs=1",
        ]
    )
    assert args.func(args) == 0
    assert "auc_y1" in capsys.readouterr().out
    args = parser.parse_args(
        ["scenarios", "--describe", "modcloth", "--data-dir", str(tmp_path), "--cache-dir", str(tmp_path)]
    )
    # A missing file propagates to jaxfair.cli.main, which prints it as one `jaxfair: error:` line.
    with pytest.raises(FileNotFoundError, match="marketBias"):
        args.func(args)
