"""The simulator's data model: one batch of user sessions held as dense arrays.

Shapes (N users, m candidates per user, K labels):

* ``scores`` float32 ``[N, m, K]`` — model predictions f[n, j, k] (any finite real).
* ``labels`` float32 ``[N, m, K]`` — observed outcomes Y[n, j, k] (0/1 or probabilities).
* ``mask``   bool    ``[N, m]``    — I[n, j]: candidate j survived retrieval.
* ``group``  int32   ``[N]``       — group id of each user (0 = majority by convention).
* ``features`` float32 ``[N, d]`` or None — optional user covariates X the platform sees
  (never the group id); used by :mod:`jaxfair.diagnose` (shared space S_X).
* ``item_group`` int32 ``[N, m]`` or None — optional provider (item) group h ∈ {0..H−1} of
  each candidate, for provider exposure fairness (SPEC §7).
"""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np
from flax import struct

__all__ = ["Batch", "check_features", "check_item_group", "make_batch"]


@struct.dataclass
class Batch:
    """A batch of N user sessions with m retrieved candidates scored on K labels.

    A registered pytree: it can be passed through ``jit``/``vmap`` unchanged. Build it with
    :func:`make_batch`, which validates every field; the constructor itself does not.
    """

    scores: jnp.ndarray  # float32 [N, m, K]
    labels: jnp.ndarray  # float32 [N, m, K]
    mask: jnp.ndarray  # bool [N, m]
    group: jnp.ndarray  # int32 [N]
    features: jnp.ndarray | None = None  # float32 [N, d] user covariates, optional
    item_group: jnp.ndarray | None = None  # int32 [N, m] provider group of each candidate, optional

    @property
    def n_item_groups(self) -> int:
        """H, one more than the largest provider group id (0 when the batch has none)."""
        return 0 if self.item_group is None else int(np.asarray(self.item_group).max()) + 1

    @property
    def n_features(self) -> int:
        """d, the number of user covariates (0 when the batch has none)."""
        return 0 if self.features is None else int(self.features.shape[1])

    @property
    def n_users(self) -> int:
        return int(self.scores.shape[0])

    @property
    def n_candidates(self) -> int:
        return int(self.scores.shape[1])

    @property
    def n_labels(self) -> int:
        return int(self.scores.shape[2])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(int(s) for s in self.scores.shape)  # type: ignore[return-value]

    def n_groups_present(self) -> int:
        return int(np.unique(np.asarray(self.group)).size)

    def __repr__(self) -> str:  # arrays are large; show the shape, not the values
        n, m, k = self.shape
        return f"Batch(N={n}, m={m}, K={k}, retrieved={float(np.asarray(self.mask).mean()):.3f})"


def _as_array(name: str, x: Any) -> np.ndarray:
    try:
        arr = np.asarray(x)
    except Exception as exc:  # noqa: BLE001 - re-raised with the argument's name
        raise ValueError(f"{name}: cannot be converted to an array ({exc})") from exc
    if arr.dtype == object:
        raise ValueError(f"{name}: expected a numeric array, got dtype=object")
    return arr


def _check_finite(name: str, arr: np.ndarray) -> None:
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name}: expected finite values, got {float(arr[tuple(bad)])} at index {tuple(int(i) for i in bad)}"
        )


def make_batch(
    scores: Any, labels: Any, mask: Any = None, group: Any = None, features: Any = None, item_group: Any = None
) -> Batch:
    """Validate arrays and assemble a :class:`Batch`.

    Args:
      scores: ``[N, m, K]`` real, finite predictions f.
      labels: ``[N, m, K]`` real, finite outcomes Y (same shape as ``scores``).
      mask: optional bool ``[N, m]`` retrieval mask I (default: every candidate retrieved).
        Integer 0/1 arrays are accepted.
      group: int ``[N]`` non-negative group ids (required).
      features: optional ``[N, d]`` (d >= 1) real, finite user covariates X (never the group
        id); stored as float32.
      item_group: optional int ``[N, m]`` provider group ids h >= 0 of each candidate
        (SPEC §7); stored as int32.

    Returns:
      A :class:`Batch` with float32 scores/labels, bool mask, int32 group and float32
      features (or None).

    Raises:
      ValueError: naming the argument, the expected and the actual value, for any bad
        shape, dtype, NaN/inf, or negative group id.
    """
    scores_np = _as_array("scores", scores)
    labels_np = _as_array("labels", labels)
    if scores_np.ndim != 3:
        raise ValueError(f"scores: expected shape [N, m, K] (3 dims), got shape {scores_np.shape}")
    n, m, k = scores_np.shape
    if n < 1 or m < 1 or k < 1:
        raise ValueError(f"scores: expected N, m, K >= 1, got shape {scores_np.shape}")
    if labels_np.shape != scores_np.shape:
        raise ValueError(f"labels: expected shape {scores_np.shape} (same as scores), got {labels_np.shape}")
    for name, arr in (("scores", scores_np), ("labels", labels_np)):
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.issubdtype(
            arr.dtype, np.complexfloating
        ):
            raise ValueError(f"{name}: expected a real numeric dtype, got {arr.dtype}")
        _check_finite(name, arr)

    if mask is None:
        mask_np = np.ones((n, m), dtype=bool)
    else:
        mask_np = _as_array("mask", mask)
        if mask_np.shape != (n, m):
            raise ValueError(f"mask: expected shape {(n, m)} ([N, m]), got {mask_np.shape}")
        if mask_np.dtype != bool:
            if not np.issubdtype(mask_np.dtype, np.number) or not np.all(np.isin(mask_np, (0, 1))):
                raise ValueError(f"mask: expected bool (or 0/1) values, got dtype {mask_np.dtype}")
            mask_np = mask_np.astype(bool)

    if group is None:
        raise ValueError("group: required, an int array of shape [N] with ids >= 0")
    group_np = _as_array("group", group)
    if group_np.shape != (n,):
        raise ValueError(f"group: expected shape {(n,)} ([N]), got {group_np.shape}")
    if group_np.dtype == bool or not np.issubdtype(group_np.dtype, np.integer):
        if (
            np.issubdtype(group_np.dtype, np.floating)
            and np.all(np.isfinite(group_np))
            and np.all(group_np == np.round(group_np))
        ):
            group_np = group_np.astype(np.int64)
        else:
            raise ValueError(f"group: expected an integer dtype, got {group_np.dtype}")
    if group_np.min() < 0:
        raise ValueError(f"group: expected ids >= 0, got {int(group_np.min())}")
    if group_np.max() > np.iinfo(np.int32).max:
        raise ValueError(f"group: ids must fit in int32, got {int(group_np.max())}")

    features_np = None if features is None else check_features(features, n)
    item_group_np = None if item_group is None else check_item_group(item_group, n, m)

    return Batch(
        scores=jnp.asarray(scores_np, dtype=jnp.float32),
        labels=jnp.asarray(labels_np, dtype=jnp.float32),
        mask=jnp.asarray(mask_np, dtype=bool),
        group=jnp.asarray(group_np, dtype=jnp.int32),
        features=None if features_np is None else jnp.asarray(features_np, dtype=jnp.float32),
        item_group=None if item_group_np is None else jnp.asarray(item_group_np, dtype=jnp.int32),
    )


def check_features(features: Any, n_users: int, name: str = "features") -> np.ndarray:
    """Validate user covariates: real, finite, shape ``[n_users, d]`` with d >= 1; float32 copy."""
    arr = _as_array(name, features)
    if arr.ndim != 2 or arr.shape[0] != n_users or arr.shape[1] < 1:
        raise ValueError(f"{name}: expected shape [{n_users}, d] ([N, d], d >= 1), got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool) or np.issubdtype(arr.dtype, np.complexfloating):
        raise ValueError(f"{name}: expected a real numeric dtype, got {arr.dtype}")
    _check_finite(name, arr)
    out = arr.astype(np.float32)
    _check_finite(name, out)  # float64 values beyond float32's range would become inf
    return out


def check_item_group(
    item_group: Any, n_users: int, n_candidates: int, n_item_groups: int | None = None, name: str = "item_group"
) -> np.ndarray:
    """Validate provider group ids: integers in [0, H) of shape ``[n_users, n_candidates]``; int32 copy.

    ``n_item_groups`` (H), when given, bounds the ids; otherwise only ``>= 0`` is checked.
    """
    arr = _as_array(name, item_group)
    if arr.shape != (n_users, n_candidates):
        raise ValueError(f"{name}: expected shape {(n_users, n_candidates)} ([N, m]), got {arr.shape}")
    if arr.dtype == bool or not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
            arr = arr.astype(np.int64)
        else:
            raise ValueError(f"{name}: expected an integer dtype, got {arr.dtype}")
    if arr.size and arr.min() < 0:
        raise ValueError(f"{name}: expected ids >= 0, got {int(arr.min())}")
    if n_item_groups is not None and arr.size and arr.max() >= n_item_groups:
        raise ValueError(f"{name}: expected ids < {n_item_groups} (H), got {int(arr.max())}")
    if arr.size and arr.max() > np.iinfo(np.int32).max:
        raise ValueError(f"{name}: ids must fit in int32, got {int(arr.max())}")
    return arr.astype(np.int32)
