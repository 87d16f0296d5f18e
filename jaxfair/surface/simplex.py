"""Tables of a K ≥ 3 surface over a simplex grid: the best-utility α per DER level (levels
chosen from the grid's own DER range) and the per-label marginal curves (the largest utility
over the grid as a function of one α_k).

Top-1 and slate serving depend on α only through its direction, so the simplex Σα = 1 holds
every distinct policy; a grid on it with ``n`` points per edge has spacing ``1/(n − 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from jaxfair.utils.alpha_names import alpha_columns

__all__ = ["N_DER_LEVELS", "best_per_der_level", "der_levels", "marginal_curves"]

#: DER floors between the best-utility α's DER and the grid's largest DER.
N_DER_LEVELS = 9


def der_levels(der: np.ndarray, best_utility_der: float, n: int = N_DER_LEVELS) -> np.ndarray:
    """DER floors chosen from the grid's own DER range: ``n`` levels evenly spaced strictly
    between the best-utility α's DER and the largest DER on the grid.

    Fixed levels (0.5 … 0.999) say nothing where every α has DER > 0.99 (real logs: all of
    them chose the same α). Floors at or below the best-utility α's DER do not bind (they
    choose that α: the ``"none"`` row), so the levels start above it. Each level is rounded to
    the fewest decimals (at least 3) that keep the spacing, so the level written in the table is
    the exact floor applied.

    Args:
      der: ``[A]`` DER of every grid α (NaN: undefined, never feasible).
      best_utility_der: DER of the best-utility α.
      n: number of levels (>= 1).
    Returns:
      float64 ``[L]`` increasing levels, ``L <= n`` (empty when the best-utility α has the
      largest DER: no floor binds).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n: expected an int >= 1, got {n!r}")
    hi = float(np.nanmax(der))
    lo = float(best_utility_der)
    if not np.isfinite(lo) or hi <= lo:
        return np.zeros(0)
    step = (hi - lo) / (n + 1)
    decimals = max(3, int(np.ceil(-np.log10(step))) + 1)
    levels = np.unique(np.round(lo + step * np.arange(1, n + 1), decimals))
    return levels[(levels > lo) & (levels < hi)]


def best_per_der_level(table: pd.DataFrame, score_names: Sequence[str], levels: Sequence[float] | None = None):
    """For each DER level, the grid α with the highest utility among those with DER ≥ level.

    Args:
      table: one row per α with ``alpha_<score>``, ``utility``, ``der``, ``worst_best_ratio``.
      levels: DER floors (default :func:`der_levels`: from the grid's own DER range); levels
        above the grid's largest DER are left out. The first row (``"none"``) is the
        unconstrained best-utility α, the last (``"max"``) the DER-best α itself.
    Returns:
      ``(frontier, record)``. frontier: ``der_level`` (``"none"``, the floor as text, or
      ``"max"``), ``level_rule`` (how the row's floor was chosen, in words), ``n_feasible``, the α
      columns, ``utility``, ``der``, ``worst_best_ratio``, ``utility_lost`` (vs the
      unconstrained best). record: the rule, the grid's DER range and the levels (for
      ``summary.json`` and the figure).
    """
    u = table["utility"].to_numpy()
    der = table["der"].to_numpy()
    cols = alpha_columns(score_names) + ["utility", "der", "worst_best_ratio"]
    top = float(np.nanmax(der))
    best_u = float(np.nanmax(u))
    d0 = float(der[int(np.nanargmax(u))])
    auto = levels is None
    levels = der_levels(der, d0) if auto else np.asarray([lv for lv in levels if lv <= top], np.float64)
    if auto:
        rule = (
            f"{len(levels)} DER levels evenly spaced between the best-utility α's DER {d0:.6g} and the grid's "
            f"largest DER {top:.6g} (the grid's DER range is {float(np.nanmin(der)):.6g} to {top:.6g}; "
            "floors at or below the best-utility α's DER choose it)"
        )
        rules = [
            f"level {i} of {len(levels)} between the best-utility α's DER and the largest DER"
            for i in range(1, len(levels) + 1)
        ]
    else:
        rule = "DER levels given by the caller"
        rules = ["a given level"] * len(levels)
    decimals = _decimals(levels)
    rows = []
    floors = [("none", -np.inf, "no DER floor: the best-utility α")]
    floors += [(f"{lv:.{decimals}f}", lv, r) for lv, r in zip(levels, rules, strict=True)]
    floors += [("max", top, "the grid's largest DER: the DER-best α")]
    for name, floor, why in floors:
        ok = np.nan_to_num(der, nan=-np.inf) >= floor
        i = int(np.nanargmax(np.where(ok, u, -np.inf)))
        row = {"der_level": name, "level_rule": why, "n_feasible": int(ok.sum())}
        row |= {c: float(table[c].iloc[i]) for c in cols}
        row["utility_lost"] = best_u - row["utility"]
        rows.append(row)
    record = {
        "kind": "grid range" if auto else "given",
        "rule": rule,
        "der_min": float(np.nanmin(der)),
        "der_max": top,
        "der_at_best_utility": d0,
        "levels": [float(v) for v in levels],
    }
    return pd.DataFrame(rows), record


def _decimals(levels: np.ndarray) -> int:
    """Fewest decimals (at least 3, at most 12) that print every level exactly as it is."""
    for d in range(3, 13):
        if np.all(np.round(levels, d) == levels):
            return d
    return 12


def marginal_curves(table: pd.DataFrame, score_names: Sequence[str], value_column: str = "utility") -> pd.DataFrame:
    """Per label k and grid value v of α_k: the largest ``value_column`` over the grid α with α_k = v.

    Returns a long table ``score`` (the α component), ``alpha`` (v), ``max_<value_column>``, ``der`` and
    ``worst_best_ratio`` at that maximiser, and the maximiser's α columns.
    """
    acols = alpha_columns(score_names)
    vals = table[value_column].to_numpy()
    out = []
    for n, c in zip(score_names, acols, strict=True):
        a = table[c].to_numpy().round(12)  # lattice values: exact up to the division's rounding
        for v in np.unique(a):
            rows = np.flatnonzero(a == v)
            i = rows[int(np.nanargmax(vals[rows]))]
            rec = {"score": n, "alpha": float(v), f"max_{value_column}": float(vals[i])}
            rec |= {k: float(table[k].iloc[i]) for k in ("der", "worst_best_ratio")}
            rec |= {f"at_{k}": float(table[k].iloc[i]) for k in acols}
            out.append(rec)
    return pd.DataFrame(out)
