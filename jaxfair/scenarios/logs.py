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
  same candidates, in logged order, with the logged retrieval mask. Its ``evaluation_batch`` (what
  ``surface``, ``diagnose`` and a study's exact value use) is every logged session once;
  ``sample`` draws whole logged sessions with replacement (a BO study's noisy online tests).
  Without ``session`` each user's rows are ONE session: a :class:`ReplaySessionWarning` says so.

Group ids: integers ``0..G-1`` are used as they are (group 0 should be the majority, by the
package's convention); other integer codes (e.g. 1/2) are mapped to ``0..G-1`` in sorted order,
with a :class:`GroupCodesWarning` saying so; any other values are ordered by number of users,
most first. ``group_names`` fixes the order in every case (values are matched as text, so
``--group-names 2,1`` works for integer codes). Preferences bind to groups by name (a mapping
``{group: row}``) or in the ``group_names`` order; rows by position are refused for text groups
without ``group_names``, whose count order the user did not write (SPEC §9). In a pool, a group
whose rows are all logged as not retrieved has no users: it is dropped with a warning (an error if
fewer than 2 groups remain).

Data checks besides the per-column ones: numbers must fit float32 (the engine's precision; a
score of 1e39 is an error naming the column and row); a text column is an error even when its
values look like numbers, while ``decimal.Decimal`` values (Parquet decimal columns) are
converted to float64; without a ``candidate`` column, rows repeating an earlier row exactly
(same user, session, scores, labels and retrieval flag) raise a :class:`DuplicateRowsWarning`
(``allow_duplicates=True`` silences it) because each repeat becomes another candidate.

Every scenario records a content hash of the data it was built from
(``info["content_sha256"]``; :func:`from_file` adds the file's ``name``, ``bytes`` and
``sha256`` as ``info["file"]``), which a BO study uses to refuse resuming on other data.

Provider groups (SPEC §7): an optional ``item_group`` column gives each logged candidate's
provider group, carried into ``Batch.item_group``. Integer ids ``0..H-1`` are used as they are;
other integer codes (e.g. 1/2) are mapped to ``0..H-1`` in sorted order with a
:class:`GroupCodesWarning` giving the mapping (as user groups); any other values are numbered
in sorted order. At least two provider groups must occur.
"""

from __future__ import annotations

import decimal
import hashlib
import numbers
import os
import warnings
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxfair.engine.batch import Batch
from jaxfair.named_prefs import bind_prefs
from jaxfair.scenarios.base import Scenario
from jaxfair.scenarios.pool import SAMPLING_OPTIONS, PoolScenario, default_prefs, pool_arrays

__all__ = [
    "DuplicateRowsWarning",
    "GroupCodesWarning",
    "ReplayScenario",
    "ReplaySessionWarning",
    "file_fingerprint",
    "from_file",
    "from_frame",
]

#: Largest finite float32: the engine stores scores, labels and covariates as float32.
_F32_MAX = float(np.finfo(np.float32).max)


class DuplicateRowsWarning(UserWarning):
    """Rows repeat exactly without a candidate column: each repeat counts as another candidate."""


class GroupCodesWarning(UserWarning):
    """The group values were renumbered to ``0..G-1`` (or a group was dropped): the message says how."""


class ReplaySessionWarning(UserWarning):
    """A replay without a session column serves each user's rows as one session."""


def _show(value: Any) -> str:
    """``repr`` of a value as the user wrote it: ``1``, not ``np.int64(1)``."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


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


def _from_objects(series: pd.Series, col: str, arg: str) -> np.ndarray:
    """float64 of an object/text column: numbers and ``Decimal`` convert, text is an error."""
    for i, v in enumerate(series.to_numpy(dtype=object)):
        if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
            continue
        if isinstance(v, (bool, np.bool_)) or not isinstance(v, (numbers.Real, decimal.Decimal)):
            if isinstance(v, str) and not pd.isna(pd.to_numeric(pd.Series([v]), errors="coerce")[0]):
                raise ValueError(
                    f"{arg}: column {col!r} is not numeric: it holds text such as {v!r} (data row "
                    f"{i + 1}); store the column as numbers (e.g. df[{col!r}] = "
                    f"pd.to_numeric(df[{col!r}]))"
                )
            raise ValueError(f"{arg}: column {col!r} is not numeric (data row {i + 1} has {_show(v)})")
    return np.array([np.nan if pd.isna(v) else float(v) for v in series.to_numpy(dtype=object)], np.float64)


def _numeric(df: pd.DataFrame, col: str, arg: str) -> np.ndarray:
    series = df[col]
    if pd.api.types.is_complex_dtype(series):
        raise ValueError(f"{arg}: column {col!r} holds complex numbers (expected real numbers)")
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = _from_objects(series, col, arg)
    if not np.all(np.isfinite(values)):
        row = _first_bad(~np.isfinite(values))
        raise ValueError(f"{arg}: column {col!r} has {values[row - 1]} at data row {row} (expected finite numbers)")
    big = np.abs(values) > _F32_MAX
    if big.any():
        row = _first_bad(big)
        raise ValueError(
            f"{arg}: column {col!r} has {values[row - 1]:g} at data row {row}, beyond float32's range "
            f"(|x| <= {_F32_MAX:.3g}; the simulator computes in float32): rescale the column"
        )
    return values


def _no_missing(df: pd.DataFrame, col: str, arg: str) -> pd.Series:
    series = df[col]
    if series.isna().any():
        raise ValueError(f"{arg}: column {col!r} is empty at data row {_first_bad(series.isna().to_numpy())}")
    return series


def _group_key(value: Any) -> str:
    """A group value as text, integral floats as integers (``2.0`` → ``'2'``, ``np.int64(1)`` → ``'1'``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def _group_codes(
    user_group: pd.Series, group_names: Sequence | None, dropped: Sequence[str] = ()
) -> tuple[np.ndarray, list[str], str | None]:
    """Per-user group values → ids ``0..G-1``, names and a note when codes were renumbered.

    ``dropped``: groups (as :func:`_group_key` text) whose users all left the pool (no retrieved
    row), named in the errors.
    """
    keys = user_group.map(_group_key).to_numpy(dtype=object)
    why = (
        f"; group(s) {list(dropped)} have no retrieved row (every row of their users has retrieved = 0) and a "
        "pool keeps retrieved rows only (replay=True / --replay serves the logged retrieval instead)"
        if dropped
        else ""
    )
    note = None
    if group_names is not None:
        names = [_group_key(n) for n in group_names]
        if len(set(names)) != len(names):
            raise ValueError(f"group_names: expected distinct names, got {list(group_names)}")
        lookup = {v: i for i, v in enumerate(names)}
        unknown = sorted({v for v in keys if v not in lookup})
        if unknown:
            raise ValueError(f"group: value(s) {unknown[:5]} not in group_names {names}")
        codes = np.array([lookup[v] for v in keys], np.int32)
    elif pd.api.types.is_integer_dtype(user_group) or pd.api.types.is_bool_dtype(user_group):
        ints = user_group.to_numpy().astype(np.int64)
        found = np.unique(ints)
        codes = np.searchsorted(found, ints).astype(np.int32)
        names = [str(g) for g in found.tolist()]
        if not np.array_equal(found, np.arange(len(found))):
            mapping = ", ".join(f"{g} → {i}" for i, g in enumerate(found.tolist()))
            note = (
                f"group: the group codes {found.tolist()} are not 0..{len(found) - 1}; mapped them in sorted "
                f"order ({mapping}); pass group_names= (--group-names) to choose the order (group 0 first)"
            )
    else:
        counts = pd.Series(keys).value_counts()
        order = sorted(counts.index, key=lambda v: (-counts[v], v))  # majority first
        lookup = {v: i for i, v in enumerate(order)}
        codes = np.array([lookup[v] for v in keys], np.int32)
        names = list(order)
    present = np.bincount(codes, minlength=len(names))
    empty = [names[g] for g in range(len(names)) if present[g] == 0]
    if empty:
        raise ValueError(f"group: group(s) {empty} have no users (groups: {names}); every group needs users{why}")
    if len(names) < 2:
        raise ValueError(f"group: expected at least 2 groups, the data has only {names}{why}")
    return codes, [str(n) for n in names], note


def _bind_log_prefs(
    prefs: Any,
    names: list[str],
    label_cols: list[str],
    *,
    group_names: Sequence | None,
    user_group: pd.Series,
    dropped: Sequence[str],
    allow: bool,
) -> np.ndarray:
    """The ``prefs`` of :func:`from_frame` bound to the groups ``names`` by name (SPEC §9)."""
    n_groups, n_labels = len(names), len(label_cols)
    if prefs is None:
        if (n_groups, n_labels) != (2, 2):
            raise ValueError(
                f"prefs: required when the data has G={n_groups} groups and K={n_labels} labels "
                "(the default (0.8, 0.2) / (0.2, 0.8) is for G = K = 2); give a mapping "
                f"{{group: row}} for the groups {names} (or rows in the order of group_names)"
            )
        return bind_prefs(default_prefs(), names, n_labels)
    by_position = None
    text_groups = not (pd.api.types.is_integer_dtype(user_group) or pd.api.types.is_bool_dtype(user_group))
    if group_names is None and text_groups:
        by_position = (
            f"the groups {names} are text, ordered by number of users, not by you; give a mapping "
            "{group: row} (e.g. prefs={" + ", ".join(f"{n!r}: [...]" for n in names[:2]) + ", ...}; "
            "--prefs 'NAME=w,w;NAME=w,w') or state the order of the rows with group_names= (--group-names)"
        )
    no_users = {d: "every row of its users has retrieved = 0, and a pool keeps retrieved rows only" for d in dropped}
    return bind_prefs(prefs, names, n_labels, allow_unnormalised=allow, by_position=by_position, no_users=no_users)


def file_fingerprint(path: str | os.PathLike) -> dict:
    """``{"name", "bytes", "sha256"}`` of a data file (what a BO study is bound to)."""
    path = Path(path)
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 22), b""):
            h.update(chunk)
    return {"name": path.name, "bytes": path.stat().st_size, "sha256": h.hexdigest()}


def _content_hash(*arrays: np.ndarray | None) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(memoryview(a).cast("B"))  # no copy
    return h.hexdigest()


def from_frame(
    df: pd.DataFrame,
    *,
    user: str,
    group: str,
    scores: Sequence[str],
    labels: Sequence[str],
    candidate: str | None = None,
    retrieved: str | None = None,
    features: Sequence[str] | None = None,
    session: str | None = None,
    prefs: Any = None,
    group_names: Sequence | None = None,
    replay: bool = False,
    name: str = "logs",
    seed: int = 0,
    allow_duplicates: bool = False,
    item_group: str | None = None,
    allow_unnormalised: bool = False,
    **sampling: Any,
) -> Scenario:
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
      prefs: true preferences α*(g), bound to groups **by name** (SPEC §9): a mapping
        ``{group value: row of K weights}`` (every group once), or G rows in the order of
        ``group_names``. Rows by position are refused for text groups without ``group_names``
        (their order, by number of users, is not one the user wrote). Each row finite, >= 0, not
        all zero, summing to 1. Default (0.8, 0.2) / (0.2, 0.8) when G = K = 2 (group 0, the
        majority, weights label 0), required otherwise.
      group_names: order of the group values (group 0 first), matched as text; default as in the
        module docstring.
      allow_unnormalised: let preference rows that do not sum to 1 through, with a warning.
      replay: False: a :class:`PoolScenario` sampling sessions from each user's rows; True: a
        :class:`ReplayScenario` serving the logged sessions as they were.
      name: scenario name (``describe``, figure titles).
      seed: shuffles rows within a user in the pool (candidate positions carry no information).
      allow_duplicates: without ``candidate``, rows repeating an earlier row exactly (same user,
        session, scores, labels, retrieval flag) raise a :class:`DuplicateRowsWarning` (each
        repeat becomes another candidate, e.g. a file appended to itself doubles every pool);
        True says the repeats are genuine and silences it.
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
    if not isinstance(allow_duplicates, bool):
        raise ValueError(f"allow_duplicates: expected True or False, got {allow_duplicates!r}")
    score_cols = _column_list(scores, "scores", required=True)
    label_cols = _column_list(labels, "labels", required=True)
    feature_cols = _column_list(features, "features", required=False)
    if len(score_cols) != len(label_cols):
        raise ValueError(
            f"scores, labels: expected one score column per label column, got {len(score_cols)} "
            f"scores {score_cols} and {len(label_cols)} labels {label_cols}"
        )
    unknown = sorted(set(sampling) - set(SAMPLING_OPTIONS))
    if unknown:
        raise ValueError(f"options: unknown option(s) {unknown} for logs; expected some of {list(SAMPLING_OPTIONS)}")
    if replay and sampling:
        raise ValueError(
            f"options: {sorted(sampling)} only apply to sampled pools; replay=True serves the "
            "logged sessions as they were"
        )
    if not replay and session is not None:
        raise ValueError("session: only used with replay=True (a pool samples its own sessions)")
    single = {
        "user": user,
        "group": group,
        "candidate": candidate,
        "retrieved": retrieved,
        "session": session,
        "item_group": item_group,
    }
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
        raise ValueError(
            f"labels: column {label_cols[k]!r} has {y[r, k]:g} at data row {r + 1} (expected outcomes "
            "in [0, 1]: 0/1 or probabilities)"
        )
    users = _no_missing(df, user, "user")
    user_codes, user_values = pd.factorize(users, sort=True)
    groups = _no_missing(df, group, "group")
    # Group values as text (1 and 1.0 are one group), as codes into group_keys per row.
    group_inv, uniq_groups = pd.factorize(groups)
    raw_keys = [_group_key(v) for v in uniq_groups]
    group_keys = np.asarray(sorted(set(raw_keys)), dtype=object)
    key_code = np.searchsorted(group_keys, np.asarray(raw_keys, dtype=object))[group_inv]
    first_of_user = pd.Series(key_code).groupby(user_codes).transform("first").to_numpy()
    moved = key_code != first_of_user
    if moved.any():
        row = _first_bad(moved)
        u = user_codes[row - 1]
        first = _first_bad(user_codes == u)
        raise ValueError(
            f"group: user {_show(user_values[u])} appears in more than one group "
            f"({group_keys[np.unique(key_code[user_codes == u])].tolist()}): "
            f"{group_keys[first_of_user[row - 1]]!r} at data row {first}, "
            f"{group_keys[key_code[row - 1]]!r} at data row {row}"
        )
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
            raise ValueError(
                f"candidate: user {_show(user_values[user_codes[row - 1]])} has candidate "
                f"{_show(cand.iloc[row - 1])} twice{' in one session' if session else ''} (again at data "
                f"row {row}); expected one row per (user, candidate)"
            )
    if candidate is None and not allow_duplicates:
        _warn_duplicates([user_codes, sessions, *f.T, *y.T, keep_mask], session is not None, len(df))
    igroup, igroup_names = (None, None) if item_group is None else _item_group_codes(df, item_group)
    if replay and session is None:
        per_user = np.bincount(user_codes)
        if per_user.max() > 1:
            warnings.warn(
                f"session: no session column, so replay serves each user's rows as ONE session ({len(per_user)} "
                f"users, up to {int(per_user.max())} candidates in a session, median {float(np.median(per_user)):g}); "
                "if the log holds several sessions per user, name the session id column with session= (--session COL)",
                ReplaySessionWarning,
                stacklevel=2,
            )
    x = None
    if feature_cols:
        x = np.stack([_numeric(df, c, "features") for c in feature_cols], axis=1)
        spread = pd.DataFrame(x).groupby(user_codes).nunique().max(axis=1)
        if (spread > 1).any():
            u = int(spread.index[spread.to_numpy() > 1][0])
            raise ValueError(
                f"features: user {_show(user_values[u])} has different values across rows; covariates X "
                "are per user (constant over the user's rows)"
            )

    if not replay:
        if not keep_mask.any():
            raise ValueError(f"retrieved: column {retrieved!r} is 0 on every row; the pool would be empty")
        # The pool holds only what retrieval let through; users left with nothing drop out.
        kept_users = np.unique(user_codes[keep_mask])
    else:
        kept_users = np.unique(user_codes)
    first_row = pd.Series(np.arange(len(df))).groupby(user_codes).first().to_numpy()
    user_keys = group_keys[key_code[first_row]]
    dropped = sorted(set(group_keys[np.setdiff1d(key_code[first_row], key_code[first_row[kept_users]])]))
    group_codes, names, note = _group_codes(
        groups.iloc[first_row[kept_users]].reset_index(drop=True), group_names, dropped
    )
    if dropped and group_names is None:
        gone = np.isin(user_keys, dropped)
        warnings.warn(
            f"group: dropped group(s) {dropped}: every row of their {int(gone.sum())} user(s) has "
            f"retrieved = 0, and a pool keeps retrieved rows only (replay=True / --replay serves the "
            f"logged retrieval); the groups left are {names}",
            GroupCodesWarning,
            stacklevel=2,
        )
    if note is not None:
        warnings.warn(note, GroupCodesWarning, stacklevel=2)
    prefs = _bind_log_prefs(
        prefs, names, label_cols, group_names=group_names, user_group=groups, dropped=dropped, allow=allow_unnormalised
    )
    user_group = np.zeros(len(user_values), np.int32)
    user_group[kept_users] = group_codes
    user_x = None
    if x is not None:
        user_x = x[first_row]
    content = _content_hash(
        f,
        y,
        keep_mask,
        user_codes,
        sessions,
        x,
        key_code,
        group_keys.astype(str),
        *([] if igroup is None else [igroup]),
    )
    info = dict(
        rows=int(len(df)),
        users=int(len(kept_users)),
        rows_not_retrieved=int((~keep_mask).sum()),
        users_dropped=int(len(user_values) - len(kept_users)),
        groups_dropped=dropped,
        group_ids={n: i for i, n in enumerate(names)},
        content_sha256=content,
        columns=dict(
            user=user,
            group=group,
            scores=score_cols,
            labels=label_cols,
            candidate=candidate,
            retrieved=retrieved,
            features=feature_cols,
            session=session,
            **({"item_group": item_group} if item_group is not None else {}),
        ),
    )
    options = dict(source=name, replay=bool(replay))
    if replay:
        return ReplayScenario(
            name=name,
            label_names=label_cols,
            group_names=names,
            prefs=prefs,
            seed=seed,
            scores=f,
            labels=y,
            mask=keep_mask,
            user=user_codes,
            session=sessions,
            user_group=user_group,
            user_features=user_x,
            feature_names=feature_cols,
            options=options,
            info=info,
            item_group=igroup,
            item_group_names=igroup_names,
        )
    rows = np.flatnonzero(keep_mask)
    # Re-index kept users 0..U'-1 so pool_arrays sees a dense range.
    dense = np.full(len(user_values), -1, np.int64)
    dense[kept_users] = np.arange(len(kept_users))
    arrays = pool_arrays(
        f[rows],
        y[rows],
        dense[user_codes[rows]],
        user_group[kept_users],
        np.random.default_rng(seed),
        user_features=None if user_x is None else user_x[kept_users],
        item=None if igroup is None else rows,
        item_group=None if igroup is None else igroup[rows],
    )
    pool = PoolScenario(
        name=name,
        label_names=label_cols,
        group_names=names,
        arrays=arrays,
        seed=seed,
        options=options,
        sampling=sampling,
        info=info,
        prefs=prefs,
        feature_names=feature_cols or None,
        item_group_names=igroup_names,
        description=f"logged sessions ({info['rows']} rows, {info['users']} users)",
    )
    pool.user_noun = "logged users"  # titles say how many real users stand behind a sample
    return pool


def _item_group_codes(df: pd.DataFrame, col: str) -> tuple[np.ndarray, list[str]]:
    """Provider group ids ``i32[R]`` of column ``col`` and their names (module docstring).

    Integer codes other than ``0..H-1`` (e.g. 1/2) are mapped in sorted order with a
    :class:`GroupCodesWarning`: used as ids they would make provider groups without items
    (group 0 of codes 1/2), whose merit is 0 and provider DER undefined.
    """
    values = _no_missing(df, col, "item_group")
    if pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
        codes = values.to_numpy(np.int64)
        if codes.min() < 0:
            row = _first_bad(codes < 0)
            raise ValueError(
                f"item_group: column {col!r} has {codes[row - 1]} at data row {row} (expected ids >= 0 or group names)"
            )
        if codes.max() > np.iinfo(np.int32).max:
            raise ValueError(f"item_group: column {col!r} has ids beyond int32")
        found = np.unique(codes)
        names = [str(h) for h in found.tolist()]
        if not np.array_equal(found, np.arange(len(found))):
            mapping = ", ".join(f"{h} → {i}" for i, h in enumerate(found.tolist()))
            warnings.warn(
                f"item_group: the provider group codes {found.tolist()} of column {col!r} are not "
                f"0..{len(found) - 1}; mapped them in sorted order ({mapping})",
                GroupCodesWarning,
                stacklevel=3,
            )
            codes = np.searchsorted(found, codes)
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
        scenario = from_frame(df, **kwargs)
    except ValueError as exc:
        raise ValueError(f"{path.name}: {exc}") from exc
    scenario.info["file"] = file_fingerprint(path)
    return scenario


def _row_hashes(columns: Sequence[np.ndarray]) -> np.ndarray:
    """A 64-bit hash per row of the columns (equal rows, equal hashes; a filter, not a proof)."""
    h = np.full(len(columns[0]), 0xCBF29CE484222325, np.uint64)
    for c in columns:
        h ^= (np.asarray(c, np.float64) + 0.0).view(np.uint64)  # + 0.0: -0.0 hashes as 0.0
        h *= np.uint64(0x100000001B3)
        h ^= h >> np.uint64(29)
    return h


def _warn_duplicates(columns: Sequence[np.ndarray], by_session: bool, n_rows: int) -> None:
    """:class:`DuplicateRowsWarning` when a row of ``columns`` (each ``[n]``) repeats an earlier one exactly."""
    # Fast path: no repeated row hash, no repeated row; otherwise the exact (slower) check.
    if not pd.Series(_row_hashes(columns)).duplicated().any():
        return
    key = np.column_stack(columns).astype(np.float64)
    dup = pd.DataFrame(key).duplicated().to_numpy()
    if not dup.any():
        return
    row = _first_bad(dup)
    original = _first_bad((key == key[row - 1]).all(axis=1))
    warnings.warn(
        f"rows: {int(dup.sum())} of {n_rows} rows repeat an earlier row exactly (same user"
        f"{', session' if by_session else ''}, scores, labels and retrieval flag; data row {row} repeats "
        f"data row {original}); without a candidate column every repeat is another candidate, so the "
        "user's pool holds it twice (a file appended to itself doubles every pool). Remove the repeats, "
        "name the candidate id column (candidate= / --candidate), or pass allow_duplicates=True "
        "(--allow-duplicates) if they are genuine",
        DuplicateRowsWarning,
        stacklevel=3,
    )


@partial(jax.jit, static_argnames=("n_users",))
def _draw_sessions(key, scores, labels, mask, group, features, item_group, *, n_users):
    s = jax.random.randint(key, (n_users,), 0, scores.shape[0])
    return (
        scores[s],
        labels[s],
        mask[s],
        group[s],
        None if features is None else features[s],
        None if item_group is None else item_group[s],
    )


class ReplayScenario(Scenario):
    """The logged sessions, served as they were (built by :func:`from_frame` with ``replay=True``).

    Sessions are padded to m = the longest session: ``scores``/``labels f32[S, m, K]``,
    ``mask bool[S, m]`` (the logged retrieval flag; padding is never retrieved), ``group i32[S]``
    and, with covariates, ``features f32[S, d]``. Candidates keep their logged order, so serving
    ties go to the one logged first.
    """

    def __init__(
        self,
        *,
        name,
        label_names,
        group_names,
        prefs,
        seed,
        scores,
        labels,
        mask,
        user,
        session,
        user_group,
        user_features,
        feature_names,
        options,
        info,
        item_group=None,
        item_group_names=None,
    ):
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
        self.session_user = session_user  # [S] logged user of each session (for session_bank)
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
        return Batch(
            scores=d["scores"],
            labels=d["labels"],
            mask=d["mask"],
            group=d["group"],
            features=d.get("features"),
            item_group=d.get("item_group"),
        )

    fixed_sessions = True

    def evaluation_batch(self, key, n_users: int) -> Batch:
        """Every logged session once (:meth:`sessions`): replay evaluates the logged sessions, so
        ``key`` and ``n_users`` are ignored."""
        return self.sessions()

    @property
    def n_logged_users(self) -> int:
        return int(len(np.unique(self.session_user)))

    def sample_size(self, n_users: int | None = None) -> dict:
        """The logged sessions, once each (:meth:`Scenario.sample_size`; ``n_users`` is ignored)."""
        s, u = self.n_sessions, self.n_logged_users
        return {
            "sessions": s,
            "source_users": u,
            "resampled": False,
            "text": f"{s:,} logged sessions of {u:,} users, each once",
        }

    def sample(self, key, n_users: int) -> Batch:
        """``n_users`` logged sessions drawn uniformly with replacement, each exactly as logged.

        A resample of the logs (a BO study's noisy online test); the replay itself is
        :meth:`sessions` / :meth:`evaluation_batch`."""
        if not isinstance(n_users, (int, np.integer)) or isinstance(n_users, bool) or n_users < 1:
            raise ValueError(f"n_users: expected an int >= 1, got {n_users!r}")
        d = self._dev
        scores, labels, mask, group, feats, igroup = _draw_sessions(
            key,
            d["scores"],
            d["labels"],
            d["mask"],
            d["group"],
            d.get("features"),
            d.get("item_group"),
            n_users=int(n_users),
        )
        return Batch(scores=scores, labels=labels, mask=mask, group=group, features=feats, item_group=igroup)

    def session_bank(self, key, n_users: int | None = None, n_sessions: int = 64) -> tuple[Batch, np.ndarray]:
        """Logged users with ``n_sessions`` sessions each, drawn uniformly **with replacement**
        from that user's own logged sessions, each served as logged (:mod:`jaxfair.dynamics`).

        ``n_users``: None (default) takes every logged user; fewer takes a random subset.
        Returns ``(batch [U·B sessions, user-major], user_group i32[U])``.
        """
        for nm, v in (("n_users", n_users), ("n_sessions", n_sessions)):
            if v is not None and (not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1):
                raise ValueError(f"{nm}: expected an int >= 1, got {v!r}")
        k_users, k_sessions = jax.random.split(key)
        order = np.argsort(self.session_user, kind="stable")  # sessions grouped by user
        logged, first, count = np.unique(self.session_user[order], return_index=True, return_counts=True)
        pick = np.arange(len(logged))
        if n_users is not None and n_users < len(logged):
            pick = np.sort(np.asarray(jax.random.choice(k_users, len(logged), (int(n_users),), replace=False)))
        b = int(n_sessions)
        r = np.asarray(jax.random.uniform(k_sessions, (len(pick), b)), np.float64)
        within = np.minimum((r * count[pick, None]).astype(np.int64), count[pick, None] - 1)
        sessions = order[first[pick, None] + within].reshape(-1)  # [U·B]
        d = self._dev
        idx = jnp.asarray(sessions)
        batch = Batch(
            scores=d["scores"][idx],
            labels=d["labels"][idx],
            mask=d["mask"][idx],
            group=d["group"][idx],
            features=None if "features" not in d else d["features"][idx],
            item_group=None if "item_group" not in d else d["item_group"][idx],
        )
        return batch, self.arrays["group"][order[first[pick]]].astype(np.int32)

    def auc_table(self) -> pd.DataFrame:
        """AUC per label over the retrieved logged rows, for All and each group."""
        from jaxfair.auc import auc_table

        mask = self.arrays["mask"]
        rows_group = np.broadcast_to(self.arrays["group"][:, None], mask.shape)[mask]
        table = auc_table(
            self.arrays["scores"][mask], self.arrays["labels"][mask], rows_group, self.label_names, self.group_names
        )
        table["prevalence"] = [1.0] + [float(p) for p in self.prevalence]
        return table

    def describe(self) -> dict:
        out = super().describe()
        out.update(
            {
                "title": self.title,
                "sessions": self.n_sessions,
                "build": self.info,
                "label_rates": {
                    n: round(float(self.arrays["labels"][..., k][self.arrays["mask"]].mean()), 4)
                    for k, n in enumerate(self.label_names)
                },
            }
        )
        return out
