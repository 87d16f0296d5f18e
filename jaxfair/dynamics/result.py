"""``DynamicsResult``: per-period, per-group trajectories and horizon summaries (float64, host)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from jaxfair.engine import kernels
from jaxfair.ratio import worst_best_ratio
from jaxfair.utils.alpha_names import alpha_columns

__all__ = ["DynamicsResult"]


def _der(mu: np.ndarray) -> np.ndarray:
    """DER over the last axis; NaN where a group mean is NaN (a group with no users)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return kernels.der_kernel(np.asarray(mu, np.float64), np)


@dataclasses.dataclass(frozen=True)
class DynamicsResult:
    """Trajectories of Q populations (one per fixed α or policy) over T periods and G groups.

    Attributes:
      names: ``[Q]`` population labels (``fixed:...``, ``retune``, ``retune_fair:τ``...).
      alphas: ``[T, Q, K]`` the α each population was served with in each period.
      counts: ``[T, Q, G]`` occupants of each group in each period (int).
      sums: ``[T, Q, G]`` utility summed over each group's occupants (float64).
      churn: ``[T, Q, G]`` occupants who did not return after the period (int).
      final_counts: ``[Q, G]`` the composition entering period T (after the last churn).
      n_slots: N; group_names, label_names (the names of α's components, for its ``alpha_<score>``
        columns: the scores α weights, :mod:`jaxfair.utils.alpha_names`); sessions: ``[T, Q, N]`` bank rows (or None);
      config: what was simulated (for ``summary.json``).
    """

    names: tuple[str, ...]
    alphas: np.ndarray
    counts: np.ndarray
    sums: np.ndarray
    churn: np.ndarray
    final_counts: np.ndarray
    n_slots: int
    group_names: tuple[str, ...]
    label_names: tuple[str, ...]
    sessions: np.ndarray | None = None
    config: dict = dataclasses.field(default_factory=dict)

    @property
    def periods(self) -> int:
        return int(self.counts.shape[0])

    # --- per period ------------------------------------------------------------------
    @property
    def share(self) -> np.ndarray:
        """``[T, Q, G]`` occupant share of each group in each period."""
        return self.counts / float(self.n_slots)

    @property
    def group_utility(self) -> np.ndarray:
        """``[T, Q, G]`` mean utility of each group's occupants (NaN when the group is absent)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.sums / np.maximum(self.counts, 1), np.nan)

    @property
    def utility(self) -> np.ndarray:
        """``[T, Q]`` global (population-weighted) mean utility."""
        return self.sums.sum(axis=-1) / float(self.n_slots)

    @property
    def churn_rate(self) -> np.ndarray:
        """``[T, Q, G]`` share of each group's occupants who churned after the period."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.churn / np.maximum(self.counts, 1), np.nan)

    @property
    def der(self) -> np.ndarray:
        """``[T, Q]`` DER of each period's group utilities."""
        return _der(self.group_utility)

    # --- over the horizon ------------------------------------------------------------
    @property
    def final_share(self) -> np.ndarray:
        """``[Q, G]`` share of each group entering period T (after T periods of churn)."""
        return self.final_counts / float(self.n_slots)

    @property
    def amplification(self) -> np.ndarray:
        """``[Q, G]`` share_g(T) / share_g(0) (NaN where a group starts absent)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            s0 = self.share[0]
            return np.where(s0 > 0, self.final_share / np.where(s0 > 0, s0, 1.0), np.nan)

    @property
    def horizon_utility(self) -> np.ndarray:
        """``[Q]`` mean utility over every session of the horizon."""
        return self.sums.sum(axis=(0, 2)) / float(self.n_slots * self.periods)

    @property
    def horizon_group_utility(self) -> np.ndarray:
        """``[Q, G]`` mean utility of each group over all its sessions of the horizon."""
        c = self.counts.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, self.sums.sum(axis=0) / np.maximum(c, 1), np.nan)

    @property
    def horizon_der(self) -> np.ndarray:
        """``[Q]`` DER of the groups' horizon mean utilities."""
        return _der(self.horizon_group_utility)

    @property
    def worst_best_ratio(self) -> np.ndarray:
        """``[T, Q]`` min_g μ_g / max_g μ_g of each period's group utilities (shown beside DER)."""
        return worst_best_ratio(self.group_utility)

    @property
    def horizon_worst_best_ratio(self) -> np.ndarray:
        """``[Q]`` min_g / max_g of the groups' horizon mean utilities."""
        return worst_best_ratio(self.horizon_group_utility)

    # --- tables ----------------------------------------------------------------------
    def to_frame(self) -> pd.DataFrame:
        """Tidy table, one row per (period, policy, group): share, utility, churn, der, the
        worst/best group utility ratio, global utility and the α served."""
        t, q, g = self.counts.shape
        idx = np.indices((t, q, g)).reshape(3, -1)
        cols: dict[str, Any] = {
            "period": idx[0],
            "policy": np.asarray(self.names, dtype=object)[idx[1]],
            "group": np.asarray(self.group_names, dtype=object)[idx[2]],
            "share": self.share.reshape(-1),
            "utility": self.group_utility.reshape(-1),
            "churn": self.churn_rate.reshape(-1),
            "count": self.counts.reshape(-1),
            "der": self.der[idx[0], idx[1]],
            "worst_best_ratio": self.worst_best_ratio[idx[0], idx[1]],
            "global_utility": self.utility[idx[0], idx[1]],
        }
        for k, col in enumerate(alpha_columns(self.label_names)):
            cols[col] = self.alphas[idx[0], idx[1], k]
        return pd.DataFrame(cols)

    def summary_frame(self) -> pd.DataFrame:
        """One row per policy: horizon utility, DER, worst/best group utility ratio, per-group
        utility, share(0), share(T), amplification."""
        rows = []
        for i, name in enumerate(self.names):
            r: dict[str, Any] = {
                "policy": name,
                "utility": self.horizon_utility[i],
                "der": self.horizon_der[i],
                "worst_best_ratio": self.horizon_worst_best_ratio[i],
            }
            for gi, gname in enumerate(self.group_names):
                r[f"utility_{gname}"] = self.horizon_group_utility[i, gi]
            for gi, gname in enumerate(self.group_names):
                r[f"share0_{gname}"] = self.share[0, i, gi]
                r[f"shareT_{gname}"] = self.final_share[i, gi]
                r[f"amplification_{gname}"] = self.amplification[i, gi]
            rows.append(r)
        return pd.DataFrame(rows)

    def __repr__(self) -> str:
        return (
            f"DynamicsResult(policies={list(self.names)}, periods={self.periods}, slots={self.n_slots}, "
            f"groups={list(self.group_names)})"
        )
