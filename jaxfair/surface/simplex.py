"""Tables of a K ≥ 3 surface over a simplex grid: the best-utility α per DER level and the
per-label marginal curves (the largest utility over the grid as a function of one α_k).

Top-1 and slate serving depend on α only through its direction, so the simplex Σα = 1 holds
every distinct policy; a grid on it with ``n`` points per edge has spacing ``1/(n − 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["DER_LEVELS", "best_per_der_level", "marginal_curves"]

# DER stays near 1 for large gaps (SPEC §9), so the levels crowd towards 1.
DER_LEVELS = (0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


def best_per_der_level(
    table: pd.DataFrame, label_names: Sequence[str], levels: Sequence[float] = DER_LEVELS
) -> pd.DataFrame:
    """For each DER level, the grid α with the highest utility among those with DER ≥ level.

    Args:
      table: one row per α with ``alpha_<label>``, ``utility``, ``der``, ``worst_best_ratio``.
      levels: DER floors; levels above the grid's largest DER are left out, and a last row
        ``"max"`` gives the DER-best α itself. The first row (``"none"``) is the unconstrained
        best-utility α.
    Returns:
      ``der_level`` (``"none"``, a number as text, or ``"max"``), ``n_feasible``, the α columns,
      ``utility``, ``der``, ``worst_best_ratio``, ``utility_lost`` (vs the unconstrained best).
    """
    u = table["utility"].to_numpy()
    der = table["der"].to_numpy()
    cols = [f"alpha_{n}" for n in label_names] + ["utility", "der", "worst_best_ratio"]
    top = float(np.nanmax(der))
    best_u = float(np.nanmax(u))
    rows = []
    floors = [("none", -np.inf)] + [(f"{lv:g}", lv) for lv in levels if lv <= top] + [("max", top)]
    for name, floor in floors:
        ok = np.nan_to_num(der, nan=-np.inf) >= floor
        i = int(np.nanargmax(np.where(ok, u, -np.inf)))
        row = {"der_level": name, "n_feasible": int(ok.sum())}
        row |= {c: float(table[c].iloc[i]) for c in cols}
        row["utility_lost"] = best_u - row["utility"]
        rows.append(row)
    return pd.DataFrame(rows)


def marginal_curves(table: pd.DataFrame, label_names: Sequence[str], value_column: str = "utility") -> pd.DataFrame:
    """Per label k and grid value v of α_k: the largest ``value_column`` over the grid α with α_k = v.

    Returns a long table ``label``, ``alpha`` (v), ``max_<value_column>``, ``der`` and
    ``worst_best_ratio`` at that maximiser, and the maximiser's α columns.
    """
    acols = [f"alpha_{n}" for n in label_names]
    vals = table[value_column].to_numpy()
    out = []
    for n, c in zip(label_names, acols, strict=True):
        a = table[c].to_numpy().round(12)  # lattice values: exact up to the division's rounding
        for v in np.unique(a):
            rows = np.flatnonzero(a == v)
            i = rows[int(np.nanargmax(vals[rows]))]
            rec = {"label": n, "alpha": float(v), f"max_{value_column}": float(vals[i])}
            rec |= {k: float(table[k].iloc[i]) for k in ("der", "worst_best_ratio")}
            rec |= {f"at_{k}": float(table[k].iloc[i]) for k in acols}
            out.append(rec)
    return pd.DataFrame(out)
