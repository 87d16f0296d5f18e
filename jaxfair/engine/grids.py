"""Grids of serving weights α."""

from __future__ import annotations

import itertools

import numpy as np

__all__ = ["box_grid", "direction_grid", "simplex_grid"]


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value!r}")
    return int(value)


def simplex_grid(K: int, n: int) -> np.ndarray:
    """All α ≥ 0 with Σα = 1 whose entries are multiples of 1/(n−1): ``[C(n+K−2, K−1), K]``.

    ``n`` is the number of points along each edge (``simplex_grid(2, 101)`` = 101 points
    from (0, 1) to (1, 0), first coordinate increasing). K = 1 gives ``[[1.0]]``.
    """
    K = _check_int("K", K, 1)
    n = _check_int("n", n, 2)
    if K == 1:
        return np.ones((1, 1))
    steps = n - 1
    rows = [c + (steps - sum(c),) for c in itertools.product(range(n), repeat=K - 1) if sum(c) <= steps]
    return np.asarray(rows, dtype=np.float64) / steps


def box_grid(K: int, n: int, lo: float = 0.0, hi: float = 1.0, *, drop_origin: bool = True) -> np.ndarray:
    """Cartesian grid of ``n`` points per axis over ``[lo, hi]^K``: ``[n^K, K]`` (last axis fastest).

    The all-zero α serves nothing meaningful and is rejected by the metrics, so when
    ``lo == 0`` the origin is dropped (``n^K − 1`` rows) unless ``drop_origin=False``.
    """
    K = _check_int("K", K, 1)
    n = _check_int("n", n, 1)
    lo, hi = float(lo), float(hi)
    if not (np.isfinite(lo) and np.isfinite(hi)) or lo < 0 or hi < lo or (n > 1 and hi == lo):
        raise ValueError(f"lo, hi: expected 0 <= lo < hi finite, got lo={lo!r}, hi={hi!r}")
    axis = np.linspace(lo, hi, n)
    grid = np.stack(np.meshgrid(*([axis] * K), indexing="ij"), axis=-1).reshape(-1, K)
    if drop_origin:
        grid = grid[np.any(grid > 0, axis=1)]
    return grid


def direction_grid(n: int) -> np.ndarray:
    """K = 2 directions α = (w, 1 − w) for ``n`` equally spaced w in [0, 1]: ``[n, 2]``."""
    n = _check_int("n", n, 2)
    w = np.linspace(0.0, 1.0, n)
    return np.stack([w, 1.0 - w], axis=1)
