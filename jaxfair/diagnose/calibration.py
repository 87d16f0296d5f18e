"""Calibration per group (the premise of the paper's Lemma 2.3) and a user-facing Lemma 2.3 check.

* :func:`reliability_table` — for each label k and group: the retrieved candidates binned by
  f_k in ``n_bins`` equal-width bins of [0, 1], mean score vs observed rate, and the expected
  calibration error ``ECE = Σ_b (n_b / n) |mean Y − mean f|``.
* :func:`lemma23_check` — is α ∝ α*(g) the utility maximiser on this batch? For each group's
  α*(g), every user of the batch is valued with α*(g) (Y | X does not depend on the group, so
  the whole batch estimates that population's utility) and α*(g) is compared with the best α
  on a grid of directions.
"""
from __future__ import annotations

from typing import Any, Sequence

import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxfair.batch import Batch
from jaxfair.kernels import served_value
from jaxfair.validation import check_batch_prefs

__all__ = ["expected_calibration_error", "lemma23_check", "reliability_table"]


def reliability_table(batch: Batch, label_names: Sequence[str] | None = None,
                      group_names: Sequence[str] | None = None, n_bins: int = 10) -> pd.DataFrame:
    """Reliability table over retrieved candidates, one row per (label, group, bin).

    Columns: ``label, group, bin, lo, hi, n, mean_score, mean_label``. Scores outside [0, 1]
    fall in the first / last bin. Groups include ``"all"``.
    """
    if not isinstance(batch, Batch):
        raise ValueError(f"batch: expected a jaxfair.Batch, got {type(batch).__name__}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins: expected an int >= 1, got {n_bins!r}")
    k = batch.n_labels
    label_names = list(label_names) if label_names is not None else [f"label{i}" for i in range(k)]
    if len(label_names) != k:
        raise ValueError(f"label_names: expected {k} names, got {len(label_names)}")
    mask = np.asarray(batch.mask)
    f = np.asarray(batch.scores, np.float64)[mask]  # [R, K]
    y = np.asarray(batch.labels, np.float64)[mask]
    g = np.broadcast_to(np.asarray(batch.group)[:, None], mask.shape)[mask]
    n_groups = int(g.max()) + 1 if len(g) else 0
    group_names = list(group_names) if group_names is not None else [f"group {i}" for i in range(n_groups)]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    rows = []
    for kk, lname in enumerate(label_names):
        b = np.clip(np.searchsorted(edges, f[:, kk], side="right") - 1, 0, n_bins - 1)
        for gid, gname in [(None, "all")] + [(i, group_names[i]) for i in range(min(n_groups, len(group_names)))]:
            sel = np.ones(len(g), bool) if gid is None else g == gid
            cnt = np.bincount(b[sel], minlength=n_bins)
            sf = np.bincount(b[sel], weights=f[sel, kk], minlength=n_bins)
            sy = np.bincount(b[sel], weights=y[sel, kk], minlength=n_bins)
            with np.errstate(invalid="ignore", divide="ignore"):
                for i in range(n_bins):
                    rows.append({"label": lname, "group": gname, "bin": i, "lo": edges[i], "hi": edges[i + 1],
                                 "n": int(cnt[i]), "mean_score": sf[i] / cnt[i] if cnt[i] else np.nan,
                                 "mean_label": sy[i] / cnt[i] if cnt[i] else np.nan})
    return pd.DataFrame(rows)


def expected_calibration_error(table: pd.DataFrame) -> pd.DataFrame:
    """ECE per (label, group) from :func:`reliability_table`: ``label, group, n, ece``."""
    t = table[table["n"] > 0]
    out = []
    for (lab, grp), sub in t.groupby(["label", "group"], sort=False):
        n = sub["n"].sum()
        out.append({"label": lab, "group": grp, "n": int(n),
                    "ece": float(np.sum(sub["n"] / n * np.abs(sub["mean_label"] - sub["mean_score"])))})
    return pd.DataFrame(out)


def _direction_grid(k: int, n_grid: int, rng: np.random.Generator, extra: np.ndarray) -> np.ndarray:
    if k == 1:
        grid = np.ones((1, 1))
    elif k == 2:
        w = np.linspace(0.0, 1.0, n_grid)
        grid = np.stack([w, 1.0 - w], axis=1)
    else:
        grid = np.vstack([np.eye(k), rng.dirichlet(np.ones(k), size=n_grid)])
    return np.vstack([extra, grid])


def lemma23_check(batch: Batch, prefs: Any, *, group_names: Sequence[str] | None = None, n_grid: int = 101,
                  seed: int = 0) -> pd.DataFrame:
    """Lemma 2.3 on a batch: utility at α = α*(g) vs the best α on a grid, per group's α*(g).

    The grid: ``n_grid`` points (w, 1 − w) for K = 2; the K unit vectors plus ``n_grid``
    Dirichlet(1) directions for K > 2 (seeded). Returns one row per group: ``utility_at_alpha_star``,
    ``best_utility``, ``best_alpha`` (normalised to sum 1), ``shortfall`` (best − at α*, >= 0 up to
    the grid), ``relative_shortfall`` and ``direction_l1`` (L1 distance between the best α and
    α*(g), both normalised to sum 1).
    """
    prefs_np = check_batch_prefs(batch, prefs)
    if isinstance(n_grid, bool) or not isinstance(n_grid, (int, np.integer)) or n_grid < 2:
        raise ValueError(f"n_grid: expected an int >= 2, got {n_grid!r}")
    n_groups, k = prefs_np.shape
    names = list(group_names) if group_names is not None else [f"group {g}" for g in range(n_groups)]
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        star = prefs_np[g]
        if not np.any(star > 0):
            raise ValueError(f"prefs: row {g} is all zero; α ∝ α*(g) would serve nothing")
        grid = _direction_grid(k, int(n_grid), rng, (star / star.sum())[None])
        value = jnp.einsum("nmk,k->nm", batch.labels, jnp.asarray(star, jnp.float32))
        u = np.asarray(served_value(jnp.asarray(grid, jnp.float32), batch, value), np.float64).mean(0)  # [P]
        best = int(np.argmax(u))
        b = grid[best] / grid[best].sum()
        rows.append({"group": names[g], "alpha_star": (star / star.sum()).round(6).tolist(),
                     "utility_at_alpha_star": float(u[0]), "best_utility": float(u[best]),
                     "best_alpha": b.round(6).tolist(), "shortfall": float(u[best] - u[0]),
                     "relative_shortfall": float((u[best] - u[0]) / u[best]) if u[best] > 0 else 0.0,
                     "direction_l1": float(np.abs(b - star / star.sum()).sum())})
    return pd.DataFrame(rows)
