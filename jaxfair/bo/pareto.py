"""Pareto and hypervolume helpers for two or three maximised objectives (utility, DER[, provider DER]).

NumPy versions serve the report; :func:`hypervolume_2d_batched` and
:func:`hypervolume_3d_batched` (torch) serve the greedy q-EHVI engine, which needs the
hypervolume of many small point sets at once.
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = [
    "pareto_mask",
    "pareto_front",
    "hypervolume",
    "hypervolume_2d",
    "hypervolume_2d_batched",
    "hypervolume_3d_batched",
    "reference_point",
    "best_under_constraint",
]


def _check_points(Y, name: str = "Y", dims=(2,)) -> np.ndarray:
    arr = np.asarray(Y, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] not in dims:
        raise ValueError(f"{name}: expected shape [n, {' or '.join(map(str, dims))}], got {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: expected finite values (NaN/inf found)")
    return arr


def pareto_mask(Y) -> np.ndarray:
    """``bool [n]``: True where row i of ``Y [n, M]`` (M = 2 or 3) is not dominated (maximisation).

    A point is dominated if another is ≥ in every objective and > in one. Duplicated
    non-dominated points are all kept.
    """
    y = _check_points(Y, dims=(2, 3))
    ge = np.all(y[None, :, :] >= y[:, None, :], axis=-1)
    gt = np.any(y[None, :, :] > y[:, None, :], axis=-1)
    return ~np.any(ge & gt, axis=1)


def pareto_front(Y) -> np.ndarray:
    """Non-dominated rows of ``Y [n, M]``, sorted by the first objective ascending: ``[p, M]``."""
    y = _check_points(Y, dims=(2, 3))
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


def hypervolume_3d_batched(Y: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """Hypervolume of every point set in ``Y [..., n, 3]`` w.r.t. ``ref [3]``: ``[...]``, exact.

    Slicing along the third objective: with the points sorted by z3 descending, the volume is
    Σ_i (z3_(i) − z3_(i+1)) · A_i, where A_i is the 2-D area (first two objectives) of the i
    points with the largest z3. Every A_i comes from one ``[..., n, n]`` pass of the 2-D
    formula of :func:`hypervolume_2d_batched` (points outside the slice get height 0), so the
    cost is O(n²) per set — cheap for the ≤ ~40 points of a BO front, and fully batched.
    """
    z = (Y - ref).clamp_min(0.0)
    z3, o3 = torch.sort(z[..., 2], dim=-1, descending=True)
    # Rank of each point in the z3 order: member j of slice i iff rank_j <= i.
    rank = torch.empty_like(o3)
    rank.scatter_(-1, o3, torch.arange(o3.shape[-1], device=o3.device).expand_as(o3))
    z1, o1 = torch.sort(z[..., 0], dim=-1, descending=True)
    z2 = torch.gather(z[..., 1], -1, o1)
    r1 = torch.gather(rank, -1, o1)  # [..., n] z3-rank of the points in z1 order
    n = z.shape[-2]
    member = r1.unsqueeze(-2) <= torch.arange(n, device=z.device).reshape(n, 1)  # [..., i, j]
    height = torch.cummax(z2.unsqueeze(-2) * member, dim=-1).values
    nxt = torch.cat([z1[..., 1:], torch.zeros_like(z1[..., :1])], dim=-1)
    area = (height * (z1 - nxt).unsqueeze(-2)).sum(-1)  # [..., n] area of slice i
    z3n = torch.cat([z3[..., 1:], torch.zeros_like(z3[..., :1])], dim=-1)
    return ((z3 - z3n) * area).sum(-1)


def hypervolume(Y, ref) -> float:
    """Hypervolume dominated by ``Y [n, M]`` (M = 2 or 3) above ``ref [M]`` (points below ref add 0)."""
    y = _check_points(Y, dims=(2, 3))
    r = np.asarray(ref, dtype=np.float64).reshape(-1)
    if r.shape != (y.shape[1],):
        raise ValueError(f"ref: expected {y.shape[1]} values (one per objective), got {r.shape}")
    if y.shape[0] == 0:
        return 0.0
    fn = hypervolume_2d_batched if y.shape[1] == 2 else hypervolume_3d_batched
    return float(fn(torch.from_numpy(y), torch.from_numpy(r)))


def reference_point(Y, scale: float = 0.1) -> np.ndarray:
    """Nadir of ``Y [n, M]`` minus ``scale`` × its range per objective (BoTorch's
    ``infer_reference_point`` heuristic; a zero range uses ``scale`` × (1 + |nadir|)).
    """
    y = _check_points(Y, dims=(2, 3))
    lo, hi = y.min(axis=0), y.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0 + np.abs(lo))
    return lo - scale * span


def best_under_constraint(values, feasible) -> float:
    """Max of ``values`` where ``feasible``; NaN if nothing is feasible."""
    v = np.asarray(values, dtype=np.float64)[np.asarray(feasible, dtype=bool)]
    return float(v.max()) if v.size else float("nan")
