"""Preferences bound to groups by name, and the record of which row went to which group (SPEC §9).

A preference row α*(g) means nothing without the group it belongs to: binding rows by position
to groups that were ordered by some rule the user did not see (e.g. text groups by number of
users) silently swaps preferences between groups and inverts every conclusion. So:

* :func:`bind_prefs` takes either a mapping ``{group name: row}`` (every group exactly once;
  a name that is not a group is an error listing the valid names) or rows in the order of the
  given ``group_names`` — and can refuse rows by position where that order was not stated;
* :func:`prefs_record`, :func:`prefs_lines` and :func:`prefs_title` say which row went to
  which group, for ``summary.json``, the command line's echo and figure titles.

Rows are checked by :func:`jaxfair.validation.check_prefs` (finite, >= 0, not all zero, sum to 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from jaxfair.validation import UnnormalisedPrefs, check_prefs

__all__ = ["bind_prefs", "group_key", "prefs_lines", "prefs_record", "prefs_title"]


def group_key(value: Any) -> str:
    """A group name as text, integral numbers as integers (``2.0`` → ``'2'``, ``np.int64(1)`` → ``'1'``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def bind_prefs(
    prefs: Any,
    group_names: Sequence[Any],
    n_labels: int | None = None,
    *,
    name: str = "prefs",
    allow_unnormalised: bool = False,
    by_position: str | None = None,
    no_users: Mapping[str, str] | None = None,
) -> np.ndarray:
    """True preferences ``[G, K]`` in the order of ``group_names``, checked.

    Args:
      prefs: a mapping ``{group name: row of K weights}`` (names matched as text, so ``{1: ...}``
        names group ``'1'``), or G rows in the order of ``group_names``.
      group_names: the G groups, in group-id order.
      n_labels: expected K (None: not checked).
      name: the argument named in errors.
      allow_unnormalised: see :func:`jaxfair.validation.check_prefs`.
      by_position: None accepts rows by position; otherwise rows are refused with this text
        saying why their order is ambiguous (a mapping is still accepted).
      no_users: names that are not groups because they have no users, → why (named in the error
        instead of "not a group").
    Returns:
      float64 ``[G, K]``, row g for ``group_names[g]``.
    Raises:
      ValueError: a name that is not a group (the valid names listed), a group without a row,
        a row for a group without users, rows by position where refused, or a bad row.
    """
    names = [group_key(n) for n in group_names]
    if isinstance(prefs, Mapping):
        given = {}
        for key, row in prefs.items():
            k = group_key(key)
            if k in given:
                raise ValueError(f"{name}: group {k!r} is given twice")
            given[k] = row
        for k in given:
            if k in names:
                continue
            if no_users and k in no_users:
                raise ValueError(f"{name}: group {k!r} has no users ({no_users[k]}); nothing to apply preferences to")
            raise ValueError(
                f"{name}: {k!r} is not a group here (no user belongs to it: a typo?); the groups are "
                f"{', '.join(map(repr, names))}"
            )
        missing = [k for k in names if k not in given]
        if missing:
            raise ValueError(
                f"{name}: no row for group(s) {', '.join(map(repr, missing))}; give one row per group "
                f"({', '.join(map(repr, names))})"
            )
        rows = [given[k] for k in names]
        if any(isinstance(given[k], UnnormalisedPrefs) for k in names):
            allow_unnormalised = True
    else:
        if by_position is not None and not isinstance(prefs, UnnormalisedPrefs):
            raise ValueError(f"{name}: rows by position are ambiguous here ({by_position})")
        rows = prefs
    try:
        arr = np.array(rows, dtype=np.float64)
    except (ValueError, TypeError):
        raise ValueError(f"{name}: expected one row of K numbers per group, got {prefs!r}") from None
    if arr.ndim == 2 and arr.shape[0] != len(names):
        extra = "" if arr.shape[0] < len(names) else "; an extra row never becomes a group of its own"
        raise ValueError(
            f"{name}: expected {len(names)} rows, one per group ({', '.join(map(repr, names))}), got "
            f"{arr.shape[0]}{extra}"
        )
    return check_prefs(
        prefs if isinstance(prefs, UnnormalisedPrefs) else arr,
        len(names),
        n_labels,
        name,
        group_names=names,
        allow_unnormalised=allow_unnormalised,
    )


def prefs_record(group_names: Sequence[Any], label_names: Sequence[str], prefs: Any) -> dict:
    """``{group: {label: weight}}`` — which row went to which group, for ``summary.json``."""
    arr = np.asarray(prefs, dtype=np.float64)
    return {
        group_key(g): {str(lab): round(float(w), 6) for lab, w in zip(label_names, arr[i], strict=True)}
        for i, g in enumerate(group_names)
    }


def _weights(row: np.ndarray, digits: int) -> str:
    return "(" + ", ".join(f"{float(w):.{digits}g}" for w in row) + ")"


def prefs_lines(group_names: Sequence[Any], prefs: Any) -> list[str]:
    """One line per group, ``prefs: student = (0.7, 0.3)`` (the command line's echo)."""
    arr = np.asarray(prefs, dtype=np.float64)
    return [f"prefs: {group_key(g)} = {_weights(arr[i], 4)}" for i, g in enumerate(group_names)]


def prefs_title(group_names: Sequence[Any], prefs: Any) -> str:
    """Compact one-liner for figure titles: ``prefs: student=(0.7,0.3) tech=(0.2,0.8)``."""
    arr = np.asarray(prefs, dtype=np.float64)
    parts = [f"{group_key(g)}=(" + ",".join(f"{float(w):.2g}" for w in arr[i]) + ")" for i, g in enumerate(group_names)]
    return "prefs: " + " ".join(parts)
