"""Pareto and hypervolume helpers for two maximised objectives (utility, DER).

NumPy versions serve the report; :func:`hypervolume_2d_batched` (torch) serves the greedy
q-EHVI engine, which needs the hypervolume of many small point sets at once.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["pareto_mask", "pareto_front", "hypervolume_2d", "hypervolume_2d_batched", "reference_point",
           "best_under_constraint"]


def _check_points(Y, name: str = "Y") -> np.ndarray:
    arr = np.asarray(Y, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"{name}: expected shape [n, 2], got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite values (NaN/inf found)")
    return arr


def pareto_mask(Y) -> np.ndarray:
    """``bool [n]``: True where row i of ``Y [n, 2]`` is not dominated (maximisation).

    A point is dominated if another is ≥ in both objectives and > in one. Duplicated
    non-dominated points are all kept.
    """
    y = _check_points(Y)
    ge = (y[None, :, 0] >= y[:, None, 0]) & (y[None, :, 1] >= y[:, None, 1])
    gt = (y[None, :, 0] > y[:, None, 0]) | (y[None, :, 1] > y[:, None, 1])
    return ~np.any(ge & gt, axis=1)


def pareto_front(Y) -> np.ndarray:
    """Non-dominated rows of ``Y [n, 2]``, sorted by the first objective ascending: ``[p, 2]``."""
    y = _check_points(Y)
    front = np.unique(y[pareto_mask(y)], axis=0)
    return front[np.argsort(front[:, 0], kind="stable")]


def hypervolume_2d(Y, ref) -> float:
    """Area dominated by ``Y [n, 2]`` and bounded below by ``ref [2]`` (points below ref add 0)."""
    y = _check_points(Y)
    r = np.asarray(ref, dtype=np.float64).reshape(2)
    if y.shape[0] == 0:
        return 0.0
    return float(hypervolume_2d_batched(torch.from_numpy(y), torch.from_numpy(r)))


def hypervolume_2d_batched(Y: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Hypervolume of every point set in ``Y [..., n, 2]`` w.r.t. ``ref [2]``: ``[...]``.

    Shift to the reference and clip at 0 (a point below ref dominates nothing), sort by the
    first objective descending; the area is Σ_i (z1_(i) − z1_(i+1)) · max_{j≤i} z2_(j).
    """
    z = (Y - ref).clamp_min(0.0)
    z1, order = torch.sort(z[..., 0], dim=-1, descending=True)
    z2 = torch.gather(z[..., 1], -1, order)
    height = torch.cummax(z2, dim=-1).values
    nxt = torch.cat([z1[..., 1:], torch.zeros_like(z1[..., :1])], dim=-1)
    return ((z1 - nxt) * height).sum(dim=-1)


def reference_point(Y, scale: float = 0.1) -> np.ndarray:
    """Nadir of ``Y [n, 2]`` minus ``scale`` × its range per objective (BoTorch's
    ``infer_reference_point`` heuristic; a zero range uses ``scale`` × (1 + |nadir|)).
    """
    y = _check_points(Y)
    lo, hi = y.min(axis=0), y.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0 + np.abs(lo))
    return lo - scale * span


def best_under_constraint(values, feasible) -> float:
    """Max of ``values`` where ``feasible``; NaN if nothing is feasible."""
    v = np.asarray(values, dtype=np.float64)[np.asarray(feasible, dtype=bool)]
    return float(v.max()) if v.size else float("nan")
