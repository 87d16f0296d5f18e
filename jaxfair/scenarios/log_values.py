"""Checks and conversions of logged values (used by :mod:`~jaxfair.scenarios.log_checks` and ``logs``).

Column lists, numeric columns (finite, within float32, text refused, ``Decimal`` converted),
required columns without gaps, user group values to ids ``0..G-1`` (:func:`group_codes`), provider
group values (:func:`item_group_codes`), and the exact-duplicate-rows warning. Errors are
``ValueError`` naming the argument, the column and the first bad data row (1-based, header excluded).
"""

from __future__ import annotations

import decimal
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from jaxfair.named_prefs import group_key  # one definition: prefs bind to these names

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
    # What a repeat does depends on what is served: a pool draws sessions from the user's pool
    # of rows, a replay serves each logged session as it is (no pool).
    if replay:
        effect = (
            "a repeated row becomes a second candidate in the same session, so the replayed session offers "
            "it twice (a file appended to itself doubles every session)"
        )
    else:
        effect = "the user's pool holds it twice (a file appended to itself doubles every pool)"
    warnings.warn(
        f"rows: {int(dup.sum())} of {n_rows} rows repeat an earlier row exactly (same user"
        f"{', session' if by_session else ''}, scores, labels and retrieval flag; data row {row} repeats "
        f"data row {original}); without a candidate column every repeat is another candidate: {effect}. {advice}",
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
