"""Position weights v_r of a slate (SPEC §7): the chance that rank r is examined.

A position-based model: a slate of k items shows the item at rank r (1-based) to the user
with weight ``v_r``; slate utility is ``Σ_r v_r · α*(g)·Y[j_r]`` and provider exposure
``Σ_r v_r · 1{item_group[j_r] = h}``. Named models have ``v_1 = 1`` (not normalised), so a
slate of one item is the top-1 model.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["POSITION_MODELS", "check_slate", "position_weights"]

#: Named position-weight models.
POSITION_MODELS = ("dcg", "geometric", "uniform")


def check_slate(slate: Any, n_candidates: int | None = None, name: str = "slate") -> int:
    """Validate a slate size: an int ``1 <= k <= m`` (``m = n_candidates`` when given)."""
    if isinstance(slate, (bool, np.bool_)) or not isinstance(slate, (int, np.integer)):
        if isinstance(slate, (float, np.floating)) and float(slate).is_integer() and slate >= 1:
            raise ValueError(f"{name}: expected an int >= 1 (slate size k), got the float {slate!r}")
        raise ValueError(f"{name}: expected an int >= 1 (slate size k), got {slate!r}")
    k = int(slate)
    if k < 1:
        raise ValueError(f"{name}: expected an int >= 1 (slate size k), got {k}")
    if n_candidates is not None and k > n_candidates:
        raise ValueError(f"{name}: expected k <= m = {n_candidates} candidates per user, got {k}")
    return k


def position_weights(k: int, model: Any = "dcg", gamma: float = 0.8) -> np.ndarray:
    """Position weights ``v [k]`` (float64) of a slate of ``k`` ranks.

    Args:
      k: slate size (int >= 1).
      model: ``"dcg"`` (``v_r = 1/log2(1 + r)``, Singh & Joachims 2018; default),
        ``"geometric"`` (``v_r = gamma^(r−1)``, expected exposure, Diaz et al. 2020),
        ``"uniform"`` (``v_r = 1``), or an explicit vector of length ``k``: finite, >= 0,
        non-increasing, ``v_1 > 0``.
      gamma: decay of ``"geometric"``, in (0, 1] (ignored otherwise).
    Returns:
      float64 ``[k]``; ``v_1 = 1`` for the named models.
    Raises:
      ValueError naming ``slate``, ``position_weights`` or ``gamma``.
    """
    k = check_slate(k)
    r = np.arange(1, k + 1, dtype=np.float64)
    if isinstance(model, str):
        if model == "dcg":
            return 1.0 / np.log2(1.0 + r)
        if model == "geometric":
            g = _check_gamma(gamma)
            return g ** (r - 1.0)
        if model == "uniform":
            return np.ones(k)
        raise ValueError(
            f"position_weights: expected one of {POSITION_MODELS} or a vector of {k} weights, got {model!r}"
        )
    try:
        v = np.asarray(model, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"position_weights: expected a name {POSITION_MODELS} or a numeric vector, got {model!r}"
        ) from exc
    if v.ndim != 1 or v.shape[0] != k:
        raise ValueError(f"position_weights: expected a vector of length k = {k} (the slate size), got shape {v.shape}")
    if not np.all(np.isfinite(v)):
        raise ValueError(f"position_weights: expected finite weights, got {v.tolist()}")
    if np.any(v < 0):
        raise ValueError(f"position_weights: expected weights >= 0, got {v.tolist()}")
    if not v[0] > 0:
        raise ValueError(f"position_weights: expected v_1 > 0 (the top rank is examined), got {v.tolist()}")
    if np.any(np.diff(v) > 0):
        r_bad = int(np.argmax(np.diff(v) > 0)) + 2
        raise ValueError(
            f"position_weights: expected non-increasing weights (a lower rank is examined no more "
            f"often), got v_{r_bad} > v_{r_bad - 1} in {v.tolist()}"
        )
    if np.any(v.astype(np.float32) > np.finfo(np.float32).max):
        raise ValueError(f"position_weights: expected weights within float32 range, got {v.tolist()}")
    return v


def _check_gamma(gamma: Any) -> float:
    try:
        g = float(gamma)
    except (TypeError, ValueError):
        raise ValueError(f"gamma: expected a number in (0, 1], got {gamma!r}") from None
    if not (0.0 < g <= 1.0):
        raise ValueError(f"gamma: expected a number in (0, 1] (geometric position decay), got {gamma!r}")
    return g
