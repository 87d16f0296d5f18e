"""Eager validation shared by the public API: every error names the argument and value.

The engine's entry points check their inputs here; :mod:`jaxfair.validation` keeps the public
names (``check_prefs``, ``UnnormalisedPrefs``, the warnings) where users import them.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxfair.engine.batch import Batch

__all__ = [
    "EmptyGroupWarning",
    "PREFS_SUM_TOL",
    "ProviderGroupWarning",
    "UnnormalisedPrefs",
    "UnnormalisedPrefsWarning",
    "check_alpha",
    "check_alphas",
    "check_batch",
    "check_batch_prefs",
    "check_prefs",
    "warn_empty_groups",
    "warn_provider_groups",
]


class EmptyGroupWarning(UserWarning):
    """A group has no users in the batch: its mean utility and the DER are undefined (NaN)."""


def check_batch(batch: Any, name: str = "batch") -> Batch:
    if not isinstance(batch, Batch):
        raise ValueError(f"{name}: expected a jaxfair.Batch (build one with make_batch), got {type(batch).__name__}")
    return batch


def check_alphas(alphas: Any, n_labels: int, name: str = "alphas") -> np.ndarray:
    """α grid ``[P, K]``: finite, ≥ 0, no all-zero row (only the direction of α matters)."""
    arr = np.asarray(alphas, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != n_labels:
        raise ValueError(f"{name}: expected shape [P, {n_labels}] ([P, K]), got shape {arr.shape}")
    if arr.shape[0] < 1:
        raise ValueError(f"{name}: expected at least one row, got shape {arr.shape}")
    _check_alpha_values(arr, name)
    return arr


def check_alpha(alpha: Any, n_labels: int, name: str = "alpha") -> np.ndarray:
    """One α ``[K]``: finite, ≥ 0, not all zero."""
    arr = np.asarray(alpha, dtype=np.float64)
    if arr.shape != (n_labels,):
        raise ValueError(f"{name}: expected shape ({n_labels},) ([K]), got shape {arr.shape}")
    _check_alpha_values(arr[None], name)
    return arr


def _check_alpha_values(arr: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(arr)):
        row = int(np.argwhere(~np.isfinite(arr))[0, 0])
        raise ValueError(f"{name}: expected finite weights, got {arr[row].tolist()} (row {row})")
    if np.any(arr < 0):
        row = int(np.argwhere(arr < 0)[0, 0])
        raise ValueError(f"{name}: expected weights >= 0, got {arr[row].tolist()} (row {row})")
    zero = ~np.any(arr > 0, axis=1)
    if np.any(zero):
        row = int(np.argmax(zero))
        raise ValueError(
            f"{name}: all-zero weight vector at row {row}: only the direction of α matters, "
            "so α = 0 serves nothing meaningful"
        )
    # The kernels and the exact sweep see α in float32: a row that overflows there, or underflows to all
    # zero, would be served as garbage (inf·f, or ties everywhere), silently.
    with np.errstate(over="ignore"):
        a32 = arr.astype(np.float32)
    lost = ~np.all(np.isfinite(a32), axis=1) | ~np.any(a32 > 0, axis=1)
    if np.any(lost):
        row = int(np.argmax(lost))
        what = "overflows" if not np.all(np.isfinite(a32[row])) else "underflows to all zero"
        raise ValueError(
            f"{name}: row {row} {arr[row].tolist()} {what} in float32, which the engine computes in; only the "
            "direction of α matters, so rescale the row (e.g. divide it by its sum)"
        )


#: Tolerance of the sum-to-1 check of each preference row (SPEC §9).
PREFS_SUM_TOL = 1e-6


class UnnormalisedPrefsWarning(UserWarning):
    """Preference rows that do not sum to 1 were let through (``allow_unnormalised=True``)."""


class UnnormalisedPrefs(np.ndarray):
    """A checked ``[G, K]`` preference array whose rows need not sum to 1 (the user opted out).

    :func:`check_prefs` returns one only when ``allow_unnormalised=True`` and some row does not
    sum to 1; the mark travels with the array (``scenario.prefs``) so that the array-level entry
    points (``evaluate``, ``decompose``, …) accept it without a flag of their own (the user was
    warned when opting out). Arithmetic on it gives plain arrays: a derived array is not an opt-out.
    """

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        inputs = tuple(np.asarray(x) if isinstance(x, UnnormalisedPrefs) else x for x in inputs)
        if "out" in kwargs:
            kwargs["out"] = tuple(np.asarray(x) if isinstance(x, UnnormalisedPrefs) else x for x in kwargs["out"])
        return getattr(ufunc, method)(*inputs, **kwargs)

    def __reduce__(self):  # pickles (scenario caches) keep the mark
        return (_unnormalised, (np.asarray(self).copy(),))


def _unnormalised(arr: np.ndarray) -> UnnormalisedPrefs:
    return np.asarray(arr, dtype=np.float64).view(UnnormalisedPrefs)


def _group_label(g: int, group_names: Sequence[str] | None) -> str:
    return f"group {group_names[g]!r}" if group_names is not None else f"group {g} (row {g})"


def check_prefs(
    prefs: Any,
    n_groups: int | None = None,
    n_labels: int | None = None,
    name: str = "prefs",
    *,
    group_names: Sequence[str] | None = None,
    allow_unnormalised: bool = False,
) -> np.ndarray:
    """Validate true preferences α* ``[G, K]`` (SPEC §9), one row per group in group order.

    Each row must be finite, >= 0, not all zero and sum to 1 (|Σ − 1| <= 1e-6): a scale
    difference between rows silently changes DER. Errors name the group (by its name when
    ``group_names`` is given) and its sum.

    Args:
      prefs: ``[G, K]`` rows (bind a mapping ``{group name: row}`` with
        :func:`jaxfair.named_prefs.bind_prefs` first).
      n_groups, n_labels: expected G and K (None: not checked).
      name: the argument named in errors.
      group_names: G names, for the errors.
      allow_unnormalised: let rows that do not sum to 1 through, with an
        :class:`UnnormalisedPrefsWarning` (each time this opt-out is used); the result is then an
        :class:`UnnormalisedPrefs` array, which later checks accept without a second warning.
    Returns:
      float64 ``[G, K]`` (an :class:`UnnormalisedPrefs` when some row was let through unnormalised).
    """
    if not isinstance(allow_unnormalised, bool):
        raise ValueError(f"allow_unnormalised: expected True or False, got {allow_unnormalised!r}")
    # An array already let through unnormalised keeps its opt-out (the user was warned then).
    opted_out = isinstance(prefs, UnnormalisedPrefs)
    if isinstance(prefs, dict):
        raise ValueError(
            f"{name}: a mapping {{group name: row}} needs the group names: use "
            "jaxfair.named_prefs.bind_prefs(prefs, group_names) or a scenario's with_prefs"
        )
    try:
        arr = np.array(prefs, dtype=np.float64)
    except (ValueError, TypeError):
        raise ValueError(f"{name}: expected a [G, K] array of numbers (one row per group), got {prefs!r}") from None
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected shape [G, K] (2 dims), got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(f"{name}: expected G >= 2 groups (rows), got {arr.shape[0]}")
    if n_groups is not None and arr.shape[0] != n_groups:
        names = f" ({', '.join(map(str, group_names))})" if group_names is not None else ""
        raise ValueError(f"{name}: expected {n_groups} rows (one per group{names}), got {arr.shape[0]}")
    if n_labels is not None and arr.shape[1] != n_labels:
        raise ValueError(f"{name}: expected {n_labels} columns (one per label), got {arr.shape[1]}")
    if group_names is not None and len(group_names) != arr.shape[0]:
        raise ValueError(f"group_names: expected {arr.shape[0]} names (one per row of {name}), got {len(group_names)}")
    for g, row in enumerate(arr):
        who = _group_label(g, group_names)
        if not np.all(np.isfinite(row)):
            raise ValueError(f"{name}: {who} has non-finite weights {row.tolist()}")
        if np.any(row < 0):
            raise ValueError(
                f"{name}: {who} has negative weights {row.tolist()} (expected >= 0: DER is defined for "
                "non-negative group utilities)"
            )
        if not np.any(row > 0):
            raise ValueError(f"{name}: {who} has all-zero weights {row.tolist()} (that group values nothing)")
    sums = arr.sum(axis=1)
    off = np.flatnonzero(np.abs(sums - 1.0) > PREFS_SUM_TOL)
    if off.size == 0:
        return arr
    listed = "; ".join(f"{_group_label(int(g), group_names)} sums to {sums[g]:.6g}" for g in off)
    if opted_out:
        return _unnormalised(arr)
    if not allow_unnormalised:
        g = int(off[0])
        fix = ", ".join(f"{v:.4g}" for v in arr[g] / sums[g])
        raise ValueError(
            f"{name}: each group's row must sum to 1 (|sum - 1| <= {PREFS_SUM_TOL:g}), but {listed}: a scale "
            f"difference between rows changes DER. Normalise it (e.g. ({fix})) or opt out with "
            "allow_unnormalised=True (--allow-unnormalised-prefs)"
        )
    warnings.warn(
        f"{name}: rows that do not sum to 1 are used as given (allow_unnormalised): {listed}; a scale "
        "difference between rows changes utility and DER",
        UnnormalisedPrefsWarning,
        stacklevel=3,
    )
    return _unnormalised(arr)


def check_batch_prefs(batch: Any, prefs: Any) -> np.ndarray:
    """Check a batch and true preferences ``[G, K]`` together: K matches, group ids < G.

    Rows must sum to 1 (:func:`check_prefs`) unless ``prefs`` is an :class:`UnnormalisedPrefs`
    (the caller opted out with ``check_prefs(..., allow_unnormalised=True)``).
    """
    check_batch(batch)
    arr = check_prefs(prefs, n_labels=batch.n_labels)
    gmax = int(np.asarray(batch.group).max())
    if gmax >= arr.shape[0]:
        raise ValueError(f"batch.group: expected ids < G = {arr.shape[0]} (rows of prefs), got {gmax}")
    return np.asarray(arr)


def warn_empty_groups(counts: np.ndarray, group_names: Sequence[str] | None = None) -> list[int]:
    """Warn (naming the groups) when some group has no users; returns their ids."""
    empty = [int(g) for g in np.flatnonzero(np.asarray(counts) == 0)]
    if empty:
        names = [group_names[g] if group_names is not None else f"group {g}" for g in empty]
        warnings.warn(
            f"no users in {', '.join(names)} in this batch: its mean utility and the DER are undefined (NaN)",
            EmptyGroupWarning,
            stacklevel=3,
        )
    return empty


class ProviderGroupWarning(UserWarning):
    """A provider group has no merit (or nothing is exposed): provider DER is undefined (NaN)."""


def warn_provider_groups(no_merit: Sequence[int], n_alpha_unexposed: int = 0) -> None:
    """Warn (naming the provider groups h) when provider DER is undefined (SPEC §7)."""
    if no_merit:
        names = ", ".join(f"provider group {h}" for h in no_merit)
        warnings.warn(
            f"{names} has no merit in this batch (M_h = 0: no retrieved item of that group with "
            "positive true utility): its exposure/merit ratio and the provider DER are undefined (NaN)",
            ProviderGroupWarning,
            stacklevel=3,
        )
    if n_alpha_unexposed:
        warnings.warn(
            f"nothing is exposed for {n_alpha_unexposed} weight vector(s) (no retrieved candidate): "
            "provider DER is undefined (NaN) there",
            ProviderGroupWarning,
            stacklevel=3,
        )
