"""Bring your own logs: ``scenarios.from_frame`` / ``from_file`` round trips and every bad-table error."""

from __future__ import annotations

from pathlib import Path

import jax
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from reference import evaluate_ref

from jaxfair import evaluate, scenarios
from jaxfair.scenarios import ReplayScenario
from jaxfair.scenarios.pool import PoolScenario

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
COLS = dict(user="user_id", group="group", scores=["f_click", "f_like"], labels=["click", "like"])
EX_PREFS = {"majority": [0.8, 0.2], "minority": [0.2, 0.8]}  # the example logs' groups (logs carry no prefs)
AB_PREFS = {"a": [0.8, 0.2], "b": [0.2, 0.8]}  # _frame()'s groups


def _frame() -> pd.DataFrame:
    """4 users (u0-u2 in 'a', u3 in 'b'), rows in a deliberately unsorted order."""
    return pd.DataFrame(
        {
            "user_id": ["u1", "u0", "u1", "u3", "u0", "u2", "u3", "u0"],
            "item": [1, 1, 2, 1, 2, 1, 2, 3],
            "group": ["a", "a", "a", "b", "a", "a", "b", "a"],
            "f_click": [0.9, 0.1, 0.3, 0.5, 0.7, 0.2, 0.6, 0.4],
            "f_like": [0.2, 0.8, 0.6, 0.1, 0.3, 0.9, 0.4, 0.5],
            "click": [1, 0, 0, 1, 1, 0, 1, 0],
            "like": [0.0, 1.0, 0.5, 0.0, 0.0, 1.0, 0.25, 1.0],
            "retrieved": [1, 1, 0, 1, 1, 1, 1, 1],
            "x": [2.0, 1.0, 2.0, 4.0, 1.0, 3.0, 4.0, 1.0],
        }
    )


def _user_rows(sc: PoolScenario, u: int) -> set:
    a = sc.arrays
    sl = slice(a["offsets"][u], a["offsets"][u] + a["counts"][u])
    return {tuple(r) for r in np.concatenate([a["scores"][sl], a["labels"][sl]], axis=1).tolist()}


def test_pool_keeps_each_users_retrieved_rows():
    df = _frame()
    sc = scenarios.from_frame(df, **COLS, retrieved="retrieved", features=["x"], candidate="item", prefs=AB_PREFS)
    assert isinstance(sc, PoolScenario) and sc.group_names == ("a", "b")
    assert sc.n_pool_users == 4 and sc.n_pool_rows == 7  # u1's second row was not retrieved
    users = sorted(df["user_id"].unique())
    for u, name in enumerate(users):
        rows = df[(df["user_id"] == name) & (df["retrieved"] == 1)]
        expect = {tuple(np.float32(v) for v in r) for r in rows[["f_click", "f_like", "click", "like"]].to_numpy()}
        assert _user_rows(sc, u) == expect
        assert sc.arrays["user_group"][u] == (1 if name == "u3" else 0)
        assert sc.arrays["user_features"][u, 0] == rows["x"].iloc[0]
    np.testing.assert_allclose(sc.prevalence, [0.75, 0.25])
    batch = sc.sample(jax.random.key(0), 64)
    assert batch.features.shape == (64, 1)
    # Every sampled user carries its own group and covariates.
    np.testing.assert_array_equal(np.asarray(batch.features[:, 0]) == 4.0, np.asarray(batch.group) == 1)


def test_example_csv_and_parquet_give_the_same_scenario():
    kw = dict(COLS, candidate="item_id", retrieved="retrieved", features=["activity", "tenure"], prefs=EX_PREFS)
    a = scenarios.from_file(EXAMPLES / "logs.csv", **kw)
    b = scenarios.from_file(EXAMPLES / "logs.parquet", **kw)
    assert a.name == "logs-logs" and a.group_names == ("majority", "minority")
    for k in a.arrays:
        np.testing.assert_array_equal(a.arrays[k], b.arrays[k])
    assert a.describe()["build"]["users"] == 240


def test_replay_serves_the_logged_sessions_as_they_were():
    df = _frame()
    sc = scenarios.from_frame(df, **COLS, retrieved="retrieved", features=["x"], replay=True, prefs=AB_PREFS)
    assert isinstance(sc, ReplayScenario) and sc.n_sessions == 4 and sc.n_candidates == 3
    batch = sc.sessions()
    # Sessions in user order; candidates in logged order; padding and not-retrieved rows masked.
    u0 = df[df["user_id"] == "u0"]
    np.testing.assert_allclose(np.asarray(batch.scores[0]), u0[["f_click", "f_like"]].to_numpy(), rtol=1e-6)
    np.testing.assert_array_equal(np.asarray(batch.mask), [[1, 1, 1], [1, 0, 0], [1, 0, 0], [1, 1, 0]])
    np.testing.assert_array_equal(np.asarray(batch.group), [0, 0, 0, 1])
    np.testing.assert_array_equal(np.asarray(batch.features[:, 0]), [1.0, 2.0, 3.0, 4.0])  # each user's covariate
    alphas = np.array([[1.0, 0.0], [0.3, 0.7], [0.0, 1.0]])
    ev = evaluate(alphas, batch, sc.prefs)
    ref = evaluate_ref(
        alphas,
        *(np.asarray(x, np.float64) for x in (batch.scores, batch.labels)),
        np.asarray(batch.mask),
        np.asarray(batch.group),
        sc.prefs,
    )
    np.testing.assert_allclose(np.asarray(ev.utility), ref[0], rtol=1e-5)
    drawn = sc.sample(jax.random.key(3), 50)
    assert drawn.shape == (50, 3, 2)
    # Every drawn session is one of the logged ones, whole.
    logged = {tuple(np.asarray(batch.scores[s]).ravel()) for s in range(4)}
    assert {tuple(np.asarray(drawn.scores[n]).ravel()) for n in range(50)} <= logged


def test_replay_sessions_column_splits_users():
    sc = scenarios.from_file(EXAMPLES / "logs.csv", **COLS, session="session", replay=True, prefs=EX_PREFS)
    assert sc.n_sessions == 480 and sc.n_candidates == 8
    assert bool(np.asarray(sc.sessions().mask).all())  # no --retrieved: every logged row retrieved


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_pool_rows_are_a_permutation_of_the_input_property(data):
    n = data.draw(st.integers(2, 30))
    users = data.draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    users[0], users[1] = 0, 1  # both groups present
    vals = data.draw(st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=4 * n, max_size=4 * n))
    v = np.array(vals).reshape(n, 4)
    df = pd.DataFrame(
        {"u": users, "g": [u % 2 for u in users], "s0": v[:, 0], "s1": v[:, 1], "y0": v[:, 2], "y1": v[:, 3]}
    )
    sc = scenarios.from_frame(
        df,
        user="u",
        group="g",
        scores=["s0", "s1"],
        labels=["y0", "y1"],
        seed=data.draw(st.integers(0, 3)),
        allow_duplicates=True,
        prefs=[[0.8, 0.2], [0.2, 0.8]],
    )
    got = sorted(map(tuple, np.concatenate([sc.arrays["scores"], sc.arrays["labels"]], 1).tolist()))
    assert got == sorted(map(tuple, v.astype(np.float32).tolist()))
    np.testing.assert_array_equal(sc.arrays["counts"], np.bincount(users)[np.unique(users)])


def _bad(change):
    df = _frame()
    change(df)
    return df


BAD = [
    ("missing column", lambda df: df.pop("f_like"), {}, ["scores", "'f_like'", "not in the data"]),
    (
        "NaN score",
        lambda df: df.__setitem__("f_click", df["f_click"].where(df.index != 2)),
        {},
        ["scores", "'f_click'", "nan", "data row 3"],
    ),
    (
        "label outside [0,1]",
        lambda df: df.__setitem__("click", df["click"].replace(1, 2)),
        {},
        ["labels", "'click'", "[0, 1]", "data row 1"],
    ),
    (
        "group with no users",
        lambda df: None,
        {"group_names": ["a", "b", "c"], "prefs": [[1, 0], [0, 1], [1, 1]]},
        ["group", "'c'", "no users"],
    ),
    ("group value not in group_names", lambda df: None, {"group_names": ["a"]}, ["group", "['b']", "group_names"]),
    (
        "duplicate (user, candidate)",
        lambda df: df.__setitem__("item", 1),
        {"candidate": "item"},
        ["candidate", "'u1'", "twice"],
    ),
    (
        "user in two groups",
        lambda df: df.__setitem__("group", ["a", "a", "b", "b", "a", "a", "b", "a"]),
        {},
        ["group", "'u1'", "more than one group"],
    ),
    (
        "non-numeric score",
        lambda df: df.__setitem__("f_like", ["x"] + [0.5] * 7),
        {},
        ["scores", "'f_like'", "not numeric", "data row 1"],
    ),
    (
        "retrieved not 0/1",
        lambda df: df.__setitem__("retrieved", [2] + [1] * 7),
        {"retrieved": "retrieved"},
        ["retrieved", "0 or 1"],
    ),
    (
        "features vary within a user",
        lambda df: df.__setitem__("x", np.arange(8.0)),
        {"features": ["x"]},
        ["features", "per user"],
    ),
    ("one group only", lambda df: df.__setitem__("group", "a"), {}, ["group", "at least 2"]),
    ("prefs wrong shape", lambda df: None, {"prefs": {"a": [1, 0, 0], "b": [0, 1, 0]}}, ["prefs", "columns"]),
    ("unknown option", lambda df: None, {"n_candidate": 5}, ["options", "n_candidate"]),
    (
        "empty user id",
        lambda df: df.__setitem__("user_id", [None] + list(df["user_id"][1:])),
        {},
        ["user", "empty", "data row 1"],
    ),
]


@pytest.mark.parametrize("change,extra,words", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_frames_raise_one_clear_error(change, extra, words):
    with pytest.raises(ValueError) as info:
        scenarios.from_frame(_bad(change), **COLS, **extra)
    msg = str(info.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, (w, msg)


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="data: .*missing.csv not found"):
        scenarios.from_file(tmp_path / "missing.csv", **COLS)
    (tmp_path / "logs.xlsx").write_text("x")
    with pytest.raises(ValueError, match="expected a .csv or .parquet"):
        scenarios.from_file(tmp_path / "logs.xlsx", **COLS)
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(ValueError, match="broken.parquet cannot be read"):
        scenarios.from_file(tmp_path / "broken.parquet", **COLS)
    _frame().drop(columns="click").to_csv(tmp_path / "nolabel.csv", index=False)
    with pytest.raises(ValueError, match=r"^nolabel.csv: labels: column 'click' not in the data"):
        scenarios.from_file(tmp_path / "nolabel.csv", **COLS)


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_replay_reproduces_every_logged_row_property(data):
    n = data.draw(st.integers(2, 25))
    users = data.draw(st.lists(st.integers(0, 4), min_size=n, max_size=n))
    users[0], users[1] = 0, 1
    sessions = data.draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    retrieved = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    v = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.5, 1.0]), min_size=4 * n, max_size=4 * n))).reshape(n, 4)
    df = pd.DataFrame(
        {
            "u": users,
            "g": [u % 2 for u in users],
            "s": sessions,
            "r": np.array(retrieved, int),
            "s0": v[:, 0],
            "s1": v[:, 1],
            "y0": v[:, 2],
            "y1": v[:, 3],
        }
    )
    sc = scenarios.from_frame(
        df,
        user="u",
        group="g",
        scores=["s0", "s1"],
        labels=["y0", "y1"],
        retrieved="r",
        session="s",
        replay=True,
        allow_duplicates=True,
        prefs=[[0.8, 0.2], [0.2, 0.8]],
    )
    batch = sc.sessions()
    keys = sorted(set(zip(users, sessions, strict=False)))
    assert sc.n_sessions == len(keys)
    for i, (u, s) in enumerate(keys):
        rows = df[(df["u"] == u) & (df["s"] == s)]
        k = len(rows)
        np.testing.assert_array_equal(np.asarray(batch.scores[i, :k]), rows[["s0", "s1"]].to_numpy(np.float32))
        np.testing.assert_array_equal(np.asarray(batch.labels[i, :k]), rows[["y0", "y1"]].to_numpy(np.float32))
        np.testing.assert_array_equal(
            np.asarray(batch.mask[i]), np.r_[rows["r"].to_numpy(bool), np.zeros(sc.n_candidates - k, bool)]
        )
        assert int(batch.group[i]) == u % 2
