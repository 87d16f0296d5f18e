"""AUC per label, overall and per group: the paper's appendix tables 1–4."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from jaxfair.engine.batch import Batch

__all__ = ["auc_table", "auc_table_from_batch"]


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    y = np.asarray(y) > 0.5
    if y.all() or (~y).all():
        return float("nan")  # AUC undefined with one class
    return float(roc_auc_score(y, s))


def auc_table(
    scores: np.ndarray, labels: np.ndarray, group: np.ndarray, label_names: Sequence[str], group_names: Sequence[str]
) -> pd.DataFrame:
    """AUC table from flat rows.

    Args:
      scores, labels: ``[R, K]`` scores and binary labels per (user, item) row.
      group: ``[R]`` group id of each row.
    Returns:
      DataFrame indexed by ``All`` and each group name; columns: ``prevalence`` (share of
      rows), ``n_rows``, then one ``auc_<label>`` column per label.
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.float64)
    group = np.asarray(group)
    rows = []
    sel_all = np.ones(len(group), dtype=bool)
    for gname, sel in [("All", sel_all)] + [(gn, group == g) for g, gn in enumerate(group_names)]:
        row = {"group": gname, "prevalence": float(sel.mean()), "n_rows": int(sel.sum())}
        for k, lname in enumerate(label_names):
            row[f"auc_{lname}"] = _auc(labels[sel, k], scores[sel, k]) if sel.any() else float("nan")
        rows.append(row)
    return pd.DataFrame(rows).set_index("group")


def auc_table_from_batch(batch: Batch, label_names: Sequence[str], group_names: Sequence[str]) -> pd.DataFrame:
    """AUC table over the retrieved candidates of a batch (prevalence = share of users)."""
    mask = np.asarray(batch.mask)
    n, m, k = batch.shape
    grp = np.broadcast_to(np.asarray(batch.group)[:, None], (n, m))[mask]
    table = auc_table(np.asarray(batch.scores)[mask], np.asarray(batch.labels)[mask], grp, label_names, group_names)
    gu = np.asarray(batch.group)
    table["prevalence"] = [1.0] + [float((gu == g).mean()) for g in range(len(group_names))]
    return table
