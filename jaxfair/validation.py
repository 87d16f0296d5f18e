"""Eager validation shared by the public API: every error names the argument and value."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxfair.engine.batch import Batch

__all__ = [
    "EmptyGroupWarning",
    "ProviderGroupWarning",
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


def check_prefs(
    prefs: Any, n_groups: int | None = None, n_labels: int | None = None, name: str = "prefs"
) -> np.ndarray:
    """Validate true preferences α* ``[G, K]``: finite, >= 0, no all-zero row, G >= 2."""
    arr = np.asarray(prefs, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected shape [G, K] (2 dims), got shape {arr.shape}")
    if arr.shape[0] < 2:
        raise ValueError(f"{name}: expected G >= 2 groups (rows), got {arr.shape[0]}")
    if n_groups is not None and arr.shape[0] != n_groups:
        raise ValueError(f"{name}: expected {n_groups} rows (one per group), got {arr.shape[0]}")
    if n_labels is not None and arr.shape[1] != n_labels:
        raise ValueError(f"{name}: expected {n_labels} columns (one per label), got {arr.shape[1]}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite values, got {arr.tolist()}")
    if np.any(arr < 0):
        raise ValueError(
            f"{name}: expected entries >= 0 (DER is defined for non-negative group utilities), got {arr.tolist()}"
        )
    return arr


def check_batch_prefs(batch: Any, prefs: Any) -> np.ndarray:
    """Check a batch and true preferences ``[G, K]`` together: K matches, group ids < G."""
    check_batch(batch)
    arr = check_prefs(prefs, n_labels=batch.n_labels)
    gmax = int(np.asarray(batch.group).max())
    if gmax >= arr.shape[0]:
        raise ValueError(f"batch.group: expected ids < G = {arr.shape[0]} (rows of prefs), got {gmax}")
    return arr


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
