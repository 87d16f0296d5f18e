"""The steps of :func:`~jaxfair.scenarios.logs.from_frame`, one per function, in the order it runs them.

Each step validates one thing about the logged rows and returns it converted: the plain
arguments, the named columns, scores and labels, users and their groups, the retrieval flag,
sessions, candidates and covariates, and the kept users' group ids. The per-value checks and
code mappings they use are in :mod:`jaxfair.scenarios.log_values`. Errors are ``ValueError``
naming the argument, the column and the first bad data row (1-based, header excluded).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from jaxfair.scenarios.log_values import (
    _ONE_ROW_PER_CANDIDATE,
    GroupCodesWarning,
    column_list,
    first_bad_row,
    group_codes,
    group_key,
    numeric_column,
    required_column,
    show_value,
)
from jaxfair.scenarios.pool import SAMPLING_OPTIONS
from jaxfair.scenarios.replay import ReplaySessionWarning

# Internal to from_frame (its public warnings are in log_values, re-exported by logs).
__all__: list[str] = []

#: Where the docs say what an impression log is (named by the checks that point a user there).
IMPRESSIONS_DOCS = "docs/impressions.md"


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
    saying what works (:func:`~jaxfair.scenarios.log_values.warn_duplicates`)."""
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


# ---- a full-information log (no shown/position): what would make it an impression log in disguise ----


def check_no_gaps(df: pd.DataFrame, label_cols: list[str], *, propensity: Any, logging: Any) -> None:
    """A log without ``shown``/``position``: its labels must cover every row, and the logging
    policy means nothing (the full-information path)."""
    for arg, value in (("propensity", propensity), ("logging", logging)):
        if value is not None:
            raise ValueError(
                f"{arg}: only meaningful on an impression log; name the shown item with shown= (--shown COL) "
                f"or position= (--position COL); see {IMPRESSIONS_DOCS}"
            )
    for col in label_cols:
        empty = df[col].isna().to_numpy()
        if empty.any():
            raise ValueError(
                f"labels: column {col!r} is empty at data row {first_bad_row(empty)} ({int(empty.sum())} of "
                f"{len(df)} rows) and no shown= (--shown COL, top-1) or position= (--position COL, slates) says "
                "which rows were shown; an impression log holds outcomes only for shown items (never fill them "
                f"with 0: every number would lean toward the logging policy); see {IMPRESSIONS_DOCS}"
            )


class ZeroFilledLabelsWarning(UserWarning):
    """A full-information log whose labels look like an impression log's filled with 0 (:func:`warn_zero_filled`)."""


# Fewer sessions than this with two or more candidates: too few to call the pattern a signature.
ZERO_FILLED_MIN_SESSIONS = 20


def warn_zero_filled(labels: np.ndarray, session: np.ndarray, retrieved: np.ndarray) -> None:
    """:class:`ZeroFilledLabelsWarning` when a log without ``shown``/``position`` has non-zero labels on
    at most one row of **every** session (of >= 2 retrieved candidates; at least
    ``ZERO_FILLED_MIN_SESSIONS`` of them) — the signature of an impression log whose unshown outcomes
    were filled with 0, which replayed would lean every number toward the logging policy. A warning,
    not a refusal: a full-information log whose labels are truly that sparse (one purchase among the
    candidates) is legitimate. ``labels f64[R, K]``, ``session i64[R]`` (the session key of each row),
    ``retrieved bool[R]``."""
    sid = session[retrieved]
    n_sessions = int(sid.max()) + 1 if sid.size else 0
    rows = np.bincount(sid, minlength=n_sessions)
    hot = np.bincount(sid, weights=(labels[retrieved] != 0).any(axis=1), minlength=n_sessions)
    multi = rows >= 2
    if multi.sum() < ZERO_FILLED_MIN_SESSIONS or hot.sum() == 0 or (hot[multi] > 1).any():
        return
    warnings.warn(
        f"labels: in every one of the {int(multi.sum()):,} sessions with 2 or more candidates at most one row has "
        "a non-zero label: this looks like an impression log whose unshown outcomes were filled with 0, and "
        "replaying it leans every number toward the logging policy; name the shown rows with shown= (--shown COL) "
        f"and leave the other rows' labels empty (see {IMPRESSIONS_DOCS}); ignore this if the zeros are real outcomes",
        ZeroFilledLabelsWarning,
        stacklevel=3,
    )
