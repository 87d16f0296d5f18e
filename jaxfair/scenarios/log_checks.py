"""Checks and conversions of a logged table, one step per function (used by :mod:`jaxfair.scenarios.logs`).

Each function validates one thing about the logged rows and returns it converted: column lists,
numeric columns (finite, within float32, text refused, ``Decimal`` converted), required columns
without gaps, user group values to ids ``0..G-1`` (:func:`group_codes`), provider group values
(:func:`item_group_codes`), and the exact-duplicate-rows warning. Errors are ``ValueError`` naming
the argument, the column and the first bad data row (1-based, header excluded).
"""

from __future__ import annotations

import decimal
import numbers
import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from jaxfair.scenarios.pool import SAMPLING_OPTIONS
from jaxfair.scenarios.replay import ReplaySessionWarning

__all__ = ["DuplicateRowsWarning", "GroupCodesWarning"]

#: Largest finite float32: the engine stores scores, labels and covariates as float32.
_F32_MAX = float(np.finfo(np.float32).max)


class DuplicateRowsWarning(UserWarning):
    """Rows repeat exactly without a candidate column: each repeat counts as another candidate."""


class GroupCodesWarning(UserWarning):
    """The group values were renumbered to ``0..G-1`` (or a group was dropped): the message says how."""


def show_value(value: Any) -> str:
    """``repr`` of a value as the user wrote it: ``1``, not ``np.int64(1)``."""
    if isinstance(value, np.generic):
        value = value.item()
    return repr(value)


def column_list(value: Any, arg: str, *, required: bool) -> list[str]:
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


def first_bad_row(mask: np.ndarray) -> int:
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
            raise ValueError(f"{arg}: column {col!r} is not numeric (data row {i + 1} has {show_value(v)})")
    return np.array([np.nan if pd.isna(v) else float(v) for v in series.to_numpy(dtype=object)], np.float64)


def numeric_column(df: pd.DataFrame, col: str, arg: str) -> np.ndarray:
    series = df[col]
    if pd.api.types.is_complex_dtype(series):
        raise ValueError(f"{arg}: column {col!r} holds complex numbers (expected real numbers)")
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    else:
        values = _from_objects(series, col, arg)
    if not np.all(np.isfinite(values)):
        row = first_bad_row(~np.isfinite(values))
        raise ValueError(f"{arg}: column {col!r} has {values[row - 1]} at data row {row} (expected finite numbers)")
    big = np.abs(values) > _F32_MAX
    if big.any():
        row = first_bad_row(big)
        raise ValueError(
            f"{arg}: column {col!r} has {values[row - 1]:g} at data row {row}, beyond float32's range "
            f"(|x| <= {_F32_MAX:.3g}; the simulator computes in float32): rescale the column"
        )
    return values


def required_column(df: pd.DataFrame, col: str, arg: str) -> pd.Series:
    series = df[col]
    if series.isna().any():
        raise ValueError(f"{arg}: column {col!r} is empty at data row {first_bad_row(series.isna().to_numpy())}")
    return series


def group_key(value: Any) -> str:
    """A group value as text, integral floats as integers (``2.0`` → ``'2'``, ``np.int64(1)`` → ``'1'``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def group_codes(
    user_group: pd.Series, group_names: Sequence | None, dropped: Sequence[str] = ()
) -> tuple[np.ndarray, list[str], str | None]:
    """Per-user group values → ids ``0..G-1``, names and a note when codes were renumbered.

    ``dropped``: groups (as :func:`group_key` text) whose users all left the pool (no retrieved
    row), named in the errors.
    """
    keys = user_group.map(group_key).to_numpy(dtype=object)
    why = (
        f"; group(s) {list(dropped)} have no retrieved row (every row of their users has retrieved = 0) and a "
        "pool keeps retrieved rows only (replay=True / --replay serves the logged retrieval instead)"
        if dropped
        else ""
    )
    note = None
    if group_names is not None:
        names = [group_key(n) for n in group_names]
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


def item_group_codes(df: pd.DataFrame, col: str) -> tuple[np.ndarray, list[str]]:
    """Provider group ids ``i32[R]`` of column ``col`` and their names (module docstring).

    Integer codes other than ``0..H-1`` (e.g. 1/2) are mapped in sorted order with a
    :class:`GroupCodesWarning`: used as ids they would make provider groups without items
    (group 0 of codes 1/2), whose merit is 0 and provider DER undefined.
    """
    values = required_column(df, col, "item_group")
    if pd.api.types.is_integer_dtype(values) and not pd.api.types.is_bool_dtype(values):
        codes = values.to_numpy(np.int64)
        if codes.min() < 0:
            row = first_bad_row(codes < 0)
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


def _row_hashes(columns: Sequence[np.ndarray]) -> np.ndarray:
    """A 64-bit hash per row of the columns (equal rows, equal hashes; a filter, not a proof)."""
    h = np.full(len(columns[0]), 0xCBF29CE484222325, np.uint64)
    for c in columns:
        h ^= (np.asarray(c, np.float64) + 0.0).view(np.uint64)  # + 0.0: -0.0 hashes as 0.0
        h *= np.uint64(0x100000001B3)
        h ^= h >> np.uint64(29)
    return h


def warn_duplicates(
    columns: Sequence[np.ndarray], by_session: bool, n_rows: int, *, replay: bool = False, user: str = "user"
) -> None:
    """:class:`DuplicateRowsWarning` when a row of ``columns`` (each ``[n]``) repeats an earlier one exactly.

    The advice depends on the mode: a pool merges each user's sessions (it takes no session
    column), so a candidate logged in two sessions is a repeat there, and naming the candidate
    column would turn the warning into an error; replay with sessions can check candidates
    within each session."""
    # Fast path: no repeated row hash, no repeated row; otherwise the exact (slower) check.
    if not pd.Series(_row_hashes(columns)).duplicated().any():
        return
    key = np.column_stack(columns).astype(np.float64)
    dup = pd.DataFrame(key).duplicated().to_numpy()
    if not dup.any():
        return
    row = first_bad_row(dup)
    original = first_bad_row((key == key[row - 1]).all(axis=1))
    if replay and by_session:
        advice = (
            "Remove the repeats, name the candidate id column (candidate= / --candidate: a candidate "
            "logged twice in one session is then an error), or pass allow_duplicates=True (--allow-duplicates) "
            "if they are genuine"
        )
    else:
        advice = _ONE_ROW_PER_CANDIDATE[replay].format(user=user, candidate="<candidate id column>")
        advice += "; or pass allow_duplicates=True (--allow-duplicates) if the "
        advice += "repeats are distinct candidates"
    warnings.warn(
        f"rows: {int(dup.sum())} of {n_rows} rows repeat an earlier row exactly (same user"
        f"{', session' if by_session else ''}, scores, labels and retrieval flag; data row {row} repeats "
        f"data row {original}); without a candidate column every repeat is another candidate, so the "
        f"user's pool holds it twice (a file appended to itself doubles every pool). {advice}",
        DuplicateRowsWarning,
        stacklevel=3,
    )


# What works when a user's rows repeat a candidate, for a pool (False) and a replay without sessions (True).
_ONE_ROW_PER_CANDIDATE = {
    False: (
        "A pool merges each user's sessions into one pool, so a candidate logged in several sessions is one "
        "candidate: keep one row per (user, candidate) (e.g. df.drop_duplicates(subset=[{user!r}, {candidate}])), or "
        "serve the logged sessions as they were with replay=True and session= (--replay --session COL)"
    ),
    True: (
        "Replay without a session column serves each user's rows as one session: name the session id column "
        "with session= (--session COL), or keep one row per (user, candidate) (e.g. "
        "df.drop_duplicates(subset=[{user!r}, {candidate}]))"
    ),
}


# --- the steps of from_frame, in the order it runs them ---------------------------------------------


def check_arguments(
    df: Any,
    *,
    scores: Any,
    labels: Any,
    features: Any,
    seed: Any,
    replay: Any,
    allow_duplicates: Any,
    session: str | None,
    sampling: dict,
) -> tuple[list[str], list[str], list[str]]:
    """The plain arguments of :func:`from_frame` checked; returns the score, label and feature column lists."""
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
    score_cols = column_list(scores, "scores", required=True)
    label_cols = column_list(labels, "labels", required=True)
    feature_cols = column_list(features, "features", required=False)
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
    return score_cols, label_cols, feature_cols


def check_columns_exist(
    df: pd.DataFrame, single: dict, score_cols: list[str], label_cols: list[str], feature_cols: list[str]
) -> None:
    """Every named column is in ``df``; the group column is not a covariate."""
    wanted = [(arg, c) for arg, c in single.items() if c is not None]
    wanted += [("scores", c) for c in score_cols] + [("labels", c) for c in label_cols]
    wanted += [("features", c) for c in feature_cols]
    for arg, col in wanted:
        if not isinstance(col, str) or col not in df.columns:
            raise ValueError(f"{arg}: column {col!r} not in the data (columns: {', '.join(map(str, df.columns))})")
    if single["group"] in feature_cols:
        raise ValueError(f"features: {single['group']!r} is the group column; covariates X must not include the group")


def scores_and_labels(df: pd.DataFrame, score_cols: list[str], label_cols: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Scores ``f64[R, K]`` and labels ``f64[R, K]`` (labels in [0, 1])."""
    f = np.stack([numeric_column(df, c, "scores") for c in score_cols], axis=1)
    y = np.stack([numeric_column(df, c, "labels") for c in label_cols], axis=1)
    outside = (y < 0) | (y > 1)
    if outside.any():
        r, k = np.argwhere(outside)[0]
        raise ValueError(
            f"labels: column {label_cols[k]!r} has {y[r, k]:g} at data row {r + 1} (expected outcomes "
            "in [0, 1]: 0/1 or probabilities)"
        )
    return f, y


class LoggedUsers(NamedTuple):
    """The user and group columns, coded (:func:`user_groups`)."""

    codes: np.ndarray  # i64[R] user index of each row, into ``values``
    values: Any  # [U] user ids, sorted
    groups: pd.Series  # [R] the group column as logged
    group_keys: np.ndarray  # object[G0] the group values as text (:func:`group_key`), sorted
    key_code: np.ndarray  # i64[R] each row's group, into ``group_keys``
    first_row: np.ndarray  # i64[U] first data row of each user


def user_groups(df: pd.DataFrame, user: str, group: str) -> LoggedUsers:
    """Users and their groups coded; a user in two groups is an error naming both rows."""
    user_codes, user_values = pd.factorize(required_column(df, user, "user"), sort=True)
    groups = required_column(df, group, "group")
    # Group values as text (1 and 1.0 are one group), as codes into group_keys per row.
    group_inv, uniq_groups = pd.factorize(groups)
    raw_keys = [group_key(v) for v in uniq_groups]
    group_keys = np.asarray(sorted(set(raw_keys)), dtype=object)
    key_code = np.searchsorted(group_keys, np.asarray(raw_keys, dtype=object))[group_inv]
    first_of_user = pd.Series(key_code).groupby(user_codes).transform("first").to_numpy()
    moved = key_code != first_of_user
    if moved.any():
        row = first_bad_row(moved)
        u = user_codes[row - 1]
        first = first_bad_row(user_codes == u)
        raise ValueError(
            f"group: user {show_value(user_values[u])} appears in more than one group "
            f"({group_keys[np.unique(key_code[user_codes == u])].tolist()}): "
            f"{group_keys[first_of_user[row - 1]]!r} at data row {first}, "
            f"{group_keys[key_code[row - 1]]!r} at data row {row}"
        )
    first_row = pd.Series(np.arange(len(df))).groupby(user_codes).first().to_numpy()
    return LoggedUsers(user_codes, user_values, groups, group_keys, key_code, first_row)


def retrieval_mask(df: pd.DataFrame, retrieved: str | None) -> np.ndarray:
    """``bool[R]``: the logged retrieval flag (every row retrieved without the column)."""
    if retrieved is None:
        return np.ones(len(df), bool)
    r = numeric_column(df, retrieved, "retrieved")
    if not np.isin(r, (0.0, 1.0)).all():
        row = first_bad_row(~np.isin(r, (0.0, 1.0)))
        raise ValueError(f"retrieved: column {retrieved!r} has {r[row - 1]:g} at data row {row} (expected 0 or 1)")
    return r.astype(bool)


def session_codes(df: pd.DataFrame, session: str | None) -> np.ndarray:
    """``i64[R]`` session index of each row (all 0 without a session column)."""
    if session is None:
        return np.zeros(len(df), np.int64)
    return pd.factorize(required_column(df, session, "session"), sort=True)[0]


def check_candidates(
    df: pd.DataFrame,
    candidate: str,
    users: LoggedUsers,
    sessions: np.ndarray,
    *,
    by_session: bool,
    replay: bool,
    user_col: str,
) -> None:
    """A (user, session, candidate) logged twice is an error naming the user, candidate and row, and
    saying what works (:func:`warn_duplicates`)."""
    cand = required_column(df, candidate, "candidate")
    dup = pd.DataFrame({"u": users.codes, "s": sessions, "c": cand}).duplicated(keep="first").to_numpy()
    if dup.any():
        row = first_bad_row(dup)
        raise ValueError(
            f"candidate: user {show_value(users.values[users.codes[row - 1]])} has candidate "
            f"{show_value(cand.iloc[row - 1])} twice{' in one session' if by_session else ''} (again at data "
            f"row {row}); expected one row per (user, candidate)"
            + (
                ""
                if by_session
                else ". " + _ONE_ROW_PER_CANDIDATE[replay].format(user=user_col, candidate=repr(candidate))
            )
        )


def warn_one_session_per_user(user_codes: np.ndarray) -> None:
    """:class:`ReplaySessionWarning` when a replay without sessions merges a user's rows into one session."""
    per_user = np.bincount(user_codes)
    if per_user.max() > 1:
        warnings.warn(
            f"session: no session column, so replay serves each user's rows as ONE session ({len(per_user)} "
            f"users, up to {int(per_user.max())} candidates in a session, median {float(np.median(per_user)):g}); "
            "if the log holds several sessions per user, name the session id column with session= (--session COL)",
            ReplaySessionWarning,
            stacklevel=3,
        )


def user_features(df: pd.DataFrame, feature_cols: list[str], users: LoggedUsers) -> np.ndarray | None:
    """Covariates ``f64[R, d]`` (None without feature columns); constant per user or an error."""
    if not feature_cols:
        return None
    x = np.stack([numeric_column(df, c, "features") for c in feature_cols], axis=1)
    spread = pd.DataFrame(x).groupby(users.codes).nunique().max(axis=1)
    if (spread > 1).any():
        u = int(spread.index[spread.to_numpy() > 1][0])
        raise ValueError(
            f"features: user {show_value(users.values[u])} has different values across rows; covariates X "
            "are per user (constant over the user's rows)"
        )
    return x


class KeptGroups(NamedTuple):
    codes: np.ndarray  # i32[U'] group id of each kept user
    names: list[str]  # [G] group names, group 0 first
    dropped: list[str]  # groups whose users all left the pool


def kept_groups(users: LoggedUsers, kept_users: np.ndarray, group_names: Sequence | None) -> KeptGroups:
    """Group ids of the kept users (:func:`group_codes`), warning about renumbered or dropped groups."""
    fr = users.first_row
    user_keys = users.group_keys[users.key_code[fr]]
    dropped = sorted(set(users.group_keys[np.setdiff1d(users.key_code[fr], users.key_code[fr[kept_users]])]))
    codes, names, note = group_codes(users.groups.iloc[fr[kept_users]].reset_index(drop=True), group_names, dropped)
    if dropped and group_names is None:
        gone = np.isin(user_keys, dropped)
        warnings.warn(
            f"group: dropped group(s) {dropped}: every row of their {int(gone.sum())} user(s) has "
            f"retrieved = 0, and a pool keeps retrieved rows only (replay=True / --replay serves the "
            f"logged retrieval); the groups left are {names}",
            GroupCodesWarning,
            stacklevel=3,
        )
    if note is not None:
        warnings.warn(note, GroupCodesWarning, stacklevel=3)
    return KeptGroups(codes, names, dropped)
