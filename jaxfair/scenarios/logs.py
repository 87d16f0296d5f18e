"""Bring your own logs: a scenario from a table of logged (user, candidate) rows.

One row per (user, candidate) a recommender logged: the K model scores, the K observed
outcomes, the user's id and group, and optionally whether the candidate survived retrieval,
a candidate id, a session id and user covariates. :func:`from_frame` (a pandas DataFrame) and
:func:`from_file` (CSV or Parquet) validate everything first — a bad table raises one
``ValueError`` naming the argument, the column and the problem, and nothing is built — then
return either

* a :class:`~jaxfair.scenarios.pool.PoolScenario` (default): each user's retrieved rows form
  that user's pool and sessions are sampled from it exactly as for the paper's datasets
  (m = ``n_candidates`` distinct rows per session; rows logged as not retrieved are left out
  of the pool, because the simulator draws its own retrieval), or
* a :class:`ReplayScenario` (``replay=True``): the logged sessions served as they were — the
  same candidates, in logged order, with the logged retrieval mask — and ``sample`` draws
  whole logged sessions with replacement.

Group ids: integers ``0..G-1`` are used as they are (group 0 should be the majority, by the
package's convention); any other values are ordered by number of users, most first, unless
``group_names`` gives the order.

Provider groups (SPEC §7): an optional ``item_group`` column gives each logged candidate's
provider group, carried into ``Batch.item_group``. Non-negative integers are used as they
are (ids ``0..H-1``); any other values are numbered in sorted order. At least two provider
groups must occur.
"""
from __future__ import annotations

import os
from functools import partial
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxfair.batch import Batch
from jaxfair.scenarios.base import Scenario, check_prefs
from jaxfair.scenarios.pool import SAMPLING_OPTIONS, PoolScenario, default_prefs, pool_arrays

__all__ = ["ReplayScenario", "from_file", "from_frame"]


def _column_list(value: Any, arg: str, *, required: bool) -> list[str]:
    if value is None:
        if required:
            raise ValueError(f"{arg}: required (a list of column names)")
        return []
    if isinstance(value, str):
        value = [value]
    cols = list(value)
    if (required and not cols) or not all(isinstance(c, str) and c for c in cols):
        raise ValueError(f"{arg}: expected a non-empty list of column names, got {value!r}")
    return cols


def _first_bad(mask: np.ndarray) -> int:
    """1-based data row (header excluded) of the first True in ``mask``."""
    return int(np.flatnonzero(mask)[0]) + 1


def _numeric(df: pd.DataFrame, col: str, arg: str) -> np.ndarray:
    series = df[col]
    if not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series)):
        coerced = pd.to_numeric(series, errors="coerce")
        bad = coerced.isna() & series.notna()
        row = _first_bad(bad.to_numpy())
        raise ValueError(f"{arg}: column {col!r} is not numeric (data row {row} has {series.iloc[row - 1]!r})")
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.all(np.isfinite(values)):
        row = _first_bad(~np.isfinite(values))
        raise ValueError(f"{arg}: column {col!r} has {values[row - 1]} at data row {row} (expected finite numbers)")
    return values


def _no_missing(df: pd.DataFrame, col: str, arg: str) -> pd.Series:
    series = df[col]
    if series.isna().any():
        raise ValueError(f"{arg}: column {col!r} is empty at data row {_first_bad(series.isna().to_numpy())}")
    return series


def _group_codes(user_group: pd.Series, group_names: Sequence | None) -> tuple[np.ndarray, list[str]]:
    """Per-user group values → ids ``0..G-1`` and names; every group must have users."""
    values = user_group.to_numpy()
    if group_names is not None:
        names = list(group_names)
        lookup = {v: i for i, v in enumerate(names)}
        unknown = sorted({str(v) for v in values if v not in lookup})
        if unknown:
            raise ValueError(f"group: value(s) {unknown[:5]} not in group_names {names}")
        codes = np.array([lookup[v] for v in values], np.int32)
    elif pd.api.types.is_integer_dtype(user_group) or pd.api.types.is_bool_dtype(user_group):
        ints = values.astype(np.int64)
        if ints.min() < 0:
            raise ValueError(f"group: integer group ids must be 0..G-1, got {int(ints.min())}")
        codes = ints.astype(np.int32)
        names = [str(g) for g in range(int(ints.max()) + 1)]
    else:
        counts = user_group.astype(str).value_counts()
        order = sorted(counts.index, key=lambda v: (-counts[v], v))  # majority first
        lookup = {v: i for i, v in enumerate(order)}
        codes = np.array([lookup[str(v)] for v in values], np.int32)
        names = list(order)
    present = np.bincount(codes, minlength=len(names))
    empty = [names[g] for g in range(len(names)) if present[g] == 0]
    if empty:
        raise ValueError(f"group: group(s) {empty} have no users (groups: {names}); every group needs users")
    if len(names) < 2:
        raise ValueError(f"group: expected at least 2 groups, the data has only {names}")
    return codes, [str(n) for n in names]


def from_frame(df: pd.DataFrame, *, user: str, group: str, scores: Sequence[str], labels: Sequence[str],
               candidate: str | None = None, retrieved: str | None = None, features: Sequence[str] | None = None,
               session: str | None = None, prefs: Any = None, group_names: Sequence | None = None,
               replay: bool = False, name: str = "logs", seed: int = 0, item_group: str | None = None,
               **sampling: Any) -> Scenario:
    """A scenario from logged (user, candidate) rows (see the module docstring).

    Args:
      df: one row per logged (user, candidate).
      user: column of user ids (any hashable values).
      group: column of the user's group (constant per user).
      scores: the K model-score columns f (finite reals), in label order.
      labels: the K outcome columns Y (0/1 or probabilities in [0, 1]), same order as ``scores``.
      candidate: optional candidate (item) id column; a (user, session, candidate) logged twice
        is an error.
      retrieved: optional 0/1 column, the retrieval mask I (default: every row retrieved).
      features: optional user covariate columns X (finite, constant per user; never the group),
        carried into ``Batch.features [N, d]``.
      session: optional session id column for ``replay`` (default: one session per user).
      item_group: optional column of each candidate's provider group (module docstring),
        carried into ``Batch.item_group [N, m]``.
      prefs: true preferences α* ``[G, K]``; default (0.8, 0.2) / (0.2, 0.8) when G = K = 2,
        required otherwise.
      group_names: order of the group values (group 0 first); default as in the module docstring.
      replay: False: a :class:`PoolScenario` sampling sessions from each user's rows; True: a
        :class:`ReplayScenario` serving the logged sessions as they were.
      name: scenario name (``describe``, figure titles).
      seed: shuffles rows within a user in the pool (candidate positions carry no information).
      **sampling: pool sampling options ``n_candidates``, ``retrieval``, ``retrieval_label``,
        ``retrieval_pool`` (not with ``replay``).
    Returns:
      the scenario; ``scenario.describe()["build"]`` says how many rows, users and sessions it kept.
    Raises:
      ValueError: naming the argument, column and first bad data row (1-based, header excluded).
    """
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"df: expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise ValueError("df: the table has no rows")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    if not isinstance(replay, bool):
        raise ValueError(f"replay: expected True or False, got {replay!r}")
    score_cols = _column_list(scores, "scores", required=True)
    label_cols = _column_list(labels, "labels", required=True)
    feature_cols = _column_list(features, "features", required=False)
    if len(score_cols) != len(label_cols):
        raise ValueError(f"scores, labels: expected one score column per label column, got {len(score_cols)} "
                         f"scores {score_cols} and {len(label_cols)} labels {label_cols}")
    unknown = sorted(set(sampling) - set(SAMPLING_OPTIONS))
    if unknown:
        raise ValueError(f"options: unknown option(s) {unknown} for logs; expected some of {list(SAMPLING_OPTIONS)}")
    if replay and sampling:
        raise ValueError(f"options: {sorted(sampling)} only apply to sampled pools; replay=True serves the "
                         "logged sessions as they were")
    if not replay and session is not None:
        raise ValueError("session: only used with replay=True (a pool samples its own sessions)")
    single = {"user": user, "group": group, "candidate": candidate, "retrieved": retrieved, "session": session,
              "item_group": item_group}
    wanted = [(arg, c) for arg, c in single.items() if c is not None]
    wanted += [("scores", c) for c in score_cols] + [("labels", c) for c in label_cols]
    wanted += [("features", c) for c in feature_cols]
    for arg, col in wanted:
        if not isinstance(col, str) or col not in df.columns:
            raise ValueError(f"{arg}: column {col!r} not in the data (columns: {', '.join(map(str, df.columns))})")
    if group in feature_cols:
        raise ValueError(f"features: {group!r} is the group column; covariates X must not include the group")

    df = df.reset_index(drop=True)
    f = np.stack([_numeric(df, c, "scores") for c in score_cols], axis=1)
    y = np.stack([_numeric(df, c, "labels") for c in label_cols], axis=1)
    outside = (y < 0) | (y > 1)
    if outside.any():
        r, k = np.argwhere(outside)[0]
        raise ValueError(f"labels: column {label_cols[k]!r} has {y[r, k]:g} at data row {r + 1} (expected outcomes "
                         "in [0, 1]: 0/1 or probabilities)")
    users = _no_missing(df, user, "user")
    user_codes, user_values = pd.factorize(users, sort=True)
    groups = _no_missing(df, group, "group")
    per_user = pd.DataFrame({"u": user_codes, "g": groups})
    n_groups_per_user = per_user.groupby("u")["g"].nunique()
    if (n_groups_per_user > 1).any():
        u = int(n_groups_per_user.index[n_groups_per_user.to_numpy() > 1][0])
        raise ValueError(f"group: user {user_values[u]!r} appears in more than one group "
                         f"({sorted(map(str, per_user.loc[per_user['u'] == u, 'g'].unique()))})")
    if retrieved is not None:
        r = _numeric(df, retrieved, "retrieved")
        if not np.isin(r, (0.0, 1.0)).all():
            row = _first_bad(~np.isin(r, (0.0, 1.0)))
            raise ValueError(f"retrieved: column {retrieved!r} has {r[row - 1]:g} at data row {row} (expected 0 or 1)")
        keep_mask = r.astype(bool)
    else:
        keep_mask = np.ones(len(df), bool)
    sessions = np.zeros(len(df), np.int64)
    if session is not None:
        sessions = pd.factorize(_no_missing(df, session, "session"), sort=True)[0]
    if candidate is not None:
        cand = _no_missing(df, candidate, "candidate")
        dup = pd.DataFrame({"u": user_codes, "s": sessions, "c": cand}).duplicated(keep="first").to_numpy()
        if dup.any():
            row = _first_bad(dup)
            raise ValueError(f"candidate: user {user_values[user_codes[row - 1]]!r} has candidate "
                             f"{cand.iloc[row - 1]!r} twice{' in one session' if session else ''} (again at data "
                             f"row {row}); expected one row per (user, candidate)")
    igroup, igroup_names = (None, None) if item_group is None else _item_group_codes(df, item_group)
    x = None
    if feature_cols:
        x = np.stack([_numeric(df, c, "features") for c in feature_cols], axis=1)
        spread = pd.DataFrame(x).groupby(user_codes).nunique().max(axis=1)
        if (spread > 1).any():
            u = int(spread.index[spread.to_numpy() > 1][0])
            raise ValueError(f"features: user {user_values[u]!r} has different values across rows; covariates X "
                             "are per user (constant over the user's rows)")

    if not replay:
        if not keep_mask.any():
            raise ValueError(f"retrieved: column {retrieved!r} is 0 on every row; the pool would be empty")
        # The pool holds only what retrieval let through; users left with nothing drop out.
        kept_users = np.unique(user_codes[keep_mask])
    else:
        kept_users = np.unique(user_codes)
    first_row = pd.Series(np.arange(len(df))).groupby(user_codes).first().to_numpy()
    group_codes, names = _group_codes(groups.iloc[first_row[kept_users]].reset_index(drop=True), group_names)
    n_groups, n_labels = len(names), len(label_cols)
    if prefs is None:
        if (n_groups, n_labels) != (2, 2):
            raise ValueError(f"prefs: required when the data has G={n_groups} groups and K={n_labels} labels "
                             "(the default (0.8, 0.2) / (0.2, 0.8) is for G = K = 2)")
        prefs = default_prefs()
    prefs = check_prefs(prefs, n_groups, n_labels)
    user_group = np.zeros(len(user_values), np.int32)
    user_group[kept_users] = group_codes
    user_x = None
    if x is not None:
        user_x = x[first_row]
    info = dict(rows=int(len(df)), users=int(len(kept_users)), rows_not_retrieved=int((~keep_mask).sum()),
                users_dropped=int(len(user_values) - len(kept_users)),
                columns=dict(user=user, group=group, scores=score_cols, labels=label_cols, candidate=candidate,
                             retrieved=retrieved, features=feature_cols, session=session,
                             **({"item_group": item_group} if item_group is not None else {})))
    options = dict(source=name, replay=bool(replay))
    if replay:
        return ReplayScenario(name=name, label_names=label_cols, group_names=names, prefs=prefs, seed=seed,
                              scores=f, labels=y, mask=keep_mask, user=user_codes, session=sessions,
                              user_group=user_group, user_features=user_x, feature_names=feature_cols,
                              options=options, info=info, item_group=igroup, item_group_names=igroup_names)
    rows = np.flatnonzero(keep_mask)
    # Re-index kept users 0..U'-1 so pool_arrays sees a dense range.
    dense = np.full(len(user_values), -1, np.int64)
    dense[kept_users] = np.arange(len(kept_users))
    arrays = pool_arrays(f[rows], y[rows], dense[user_codes[rows]], user_group[kept_users],
                         np.random.default_rng(seed),
                         user_features=None if user_x is None else user_x[kept_users],
                         item=None if igroup is None else rows, item_group=None if igroup is None else igroup[rows])
    return PoolScenario(name=name, label_names=label_cols, group_names=names, arrays=arrays, seed=seed,
                        options=options, sampling=sampling, info=info, prefs=prefs,
                        feature_names=feature_cols or None, item_group_names=igroup_names,
                        description=f"logged sessions ({info['rows']} rows, {info['users']} users)")


def _item_group_codes(df: pd.DataFrame, col: str) -> tuple[np.ndarray, list[str]]:
    """Provider group ids ``i32[R]`` of column ``col`` and their names (module docstring)."""
    values = _no_missing(df, col, "item_group")
    if pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
        codes = values.to_numpy(np.int64)
        if codes.min() < 0:
            row = _first_bad(codes < 0)
            raise ValueError(f"item_group: column {col!r} has {codes[row - 1]} at data row {row} (expected ids >= 0 "
                             "or group names)")
        if codes.max() > np.iinfo(np.int32).max:
            raise ValueError(f"item_group: column {col!r} has ids beyond int32")
        names = [str(h) for h in range(int(codes.max()) + 1)]
    else:
        codes, uniq = pd.factorize(values.astype(str), sort=True)
        names = [str(v) for v in uniq]
    if len(np.unique(codes)) < 2:
        raise ValueError(f"item_group: column {col!r} has a single provider group {names}; expected at least 2")
    return codes.astype(np.int32), names


def from_file(path: str | os.PathLike, **kwargs: Any) -> Scenario:
    """:func:`from_frame` on a ``.csv`` or ``.parquet`` file (name defaults to ``logs-<file stem>``).

    Raises:
      FileNotFoundError: the file does not exist.
      ValueError: the file cannot be read, or :func:`from_frame` rejects its contents.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"data: {path} not found (expected a .csv or .parquet file of logged rows)")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise ValueError(f"data: expected a .csv or .parquet file, got {path.name!r}")
    kind = "CSV" if suffix == ".csv" else "Parquet"
    try:
        df = pd.read_csv(path) if suffix == ".csv" else pd.read_parquet(path)
    except FileNotFoundError:
        raise
    # pandas' parser errors and pyarrow's ArrowInvalid are ValueErrors; I/O problems OSErrors.
    except (ValueError, OSError) as exc:
        raise ValueError(f"data: {path} cannot be read as {kind} ({' '.join(str(exc).split())})") from exc
    kwargs.setdefault("name", f"logs-{path.stem}")
    try:
        return from_frame(df, **kwargs)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from exc


@partial(jax.jit, static_argnames=("n_users",))
def _draw_sessions(key, scores, labels, mask, group, features, item_group, *, n_users):
    s = jax.random.randint(key, (n_users,), 0, scores.shape[0])
    return (scores[s], labels[s], mask[s], group[s], None if features is None else features[s],
            None if item_group is None else item_group[s])


class ReplayScenario(Scenario):
    """The logged sessions, served as they were (built by :func:`from_frame` with ``replay=True``).

    Sessions are padded to m = the longest session: ``scores``/``labels f32[S, m, K]``,
    ``mask bool[S, m]`` (the logged retrieval flag; padding is never retrieved), ``group i32[S]``
    and, with covariates, ``features f32[S, d]``. Candidates keep their logged order, so serving
    ties go to the one logged first.
    """

    def __init__(self, *, name, label_names, group_names, prefs, seed, scores, labels, mask, user, session,
                 user_group, user_features, feature_names, options, info, item_group=None, item_group_names=None):
        self.name = name
        self.label_names = tuple(label_names)
        self.group_names = tuple(group_names)
        self.feature_names = tuple(feature_names)
        self.seed = seed
        self.prefs = prefs
        keys = pd.DataFrame({"u": user, "s": session})
        sid = keys.groupby(["u", "s"], sort=True).ngroup().to_numpy()
        n_sessions = int(sid.max()) + 1
        pos = pd.Series(np.arange(len(sid))).groupby(sid).cumcount().to_numpy()
        m = int(pos.max()) + 1
        k = scores.shape[1]
        sc = np.zeros((n_sessions, m, k), np.float32)
        lb = np.zeros((n_sessions, m, k), np.float32)
        mk = np.zeros((n_sessions, m), bool)
        sc[sid, pos], lb[sid, pos], mk[sid, pos] = scores, labels, mask
        session_user = np.zeros(n_sessions, np.int64)
        session_user[sid] = user
        self.arrays = {"scores": sc, "labels": lb, "mask": mk, "group": user_group[session_user].astype(np.int32)}
        if user_features is not None:
            self.arrays["features"] = np.asarray(user_features, np.float32)[session_user]
        if item_group is not None:  # padding gets provider 0; it is never retrieved
            ig = np.zeros((n_sessions, m), np.int32)
            ig[sid, pos] = item_group
            self.arrays["item_group"] = ig
            self.item_group_names = tuple(item_group_names)
        self._dev = {n: jnp.asarray(a) for n, a in self.arrays.items()}
        self.n_candidates = m
        self.options = dict(options)
        self.info = dict(info, sessions=n_sessions, max_candidates=m)
        self.prevalence = np.bincount(self.arrays["group"], minlength=len(self.group_names)) / n_sessions

    @property
    def n_sessions(self) -> int:
        return int(self.arrays["mask"].shape[0])

    def sessions(self) -> Batch:
        """Every logged session once, in (user, session) order: the exact replay."""
        d = self._dev
        return Batch(scores=d["scores"], labels=d["labels"], mask=d["mask"], group=d["group"],
                     features=d.get("features"), item_group=d.get("item_group"))

    def sample(self, key, n_users: int) -> Batch:
        """``n_users`` logged sessions drawn uniformly with replacement, each exactly as logged."""
        if not isinstance(n_users, (int, np.integer)) or isinstance(n_users, bool) or n_users < 1:
            raise ValueError(f"n_users: expected an int >= 1, got {n_users!r}")
        d = self._dev
        scores, labels, mask, group, feats, igroup = _draw_sessions(
            key, d["scores"], d["labels"], d["mask"], d["group"], d.get("features"), d.get("item_group"),
            n_users=int(n_users))
        return Batch(scores=scores, labels=labels, mask=mask, group=group, features=feats, item_group=igroup)

    def auc_table(self) -> pd.DataFrame:
        """AUC per label over the retrieved logged rows, for All and each group."""
        from jaxfair.auc import auc_table

        mask = self.arrays["mask"]
        rows_group = np.broadcast_to(self.arrays["group"][:, None], mask.shape)[mask]
        table = auc_table(self.arrays["scores"][mask], self.arrays["labels"][mask], rows_group,
                          self.label_names, self.group_names)
        table["prevalence"] = [1.0] + [float(p) for p in self.prevalence]
        return table

    def describe(self) -> dict:
        out = super().describe()
        out.update({"title": self.title, "sessions": self.n_sessions, "build": self.info,
                    "label_rates": {n: round(float(self.arrays["labels"][..., k][self.arrays["mask"]].mean()), 4)
                                    for k, n in enumerate(self.label_names)}})
        return out
