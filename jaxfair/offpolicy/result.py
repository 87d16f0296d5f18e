"""The result of :func:`jaxfair.offpolicy.estimate`: per-label group means over an α grid, their
bootstrap replicates and the honesty metrics of SPEC §10, and the per-α metrics table.

Every estimate is a per-label mean ``[P, G, K]`` (linear in α*(g), SPEC §9), so any preferences or
preference set are applied afterwards. A cell (α, group) that is not identified has no number: the
metrics table holds NaN there, never an estimate.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxfair.engine.kernels import der_kernel
from jaxfair.ratio import worst_best_ratio
from jaxfair.utils.alpha_names import alpha_columns

__all__ = ["OffPolicyEstimate", "interval"]


def interval(draws: np.ndarray, point: np.ndarray, level: float, n_units: int) -> tuple[np.ndarray, np.ndarray]:
    """Normal bootstrap interval ``point ± t·SD(draws)`` over axis 0 (see
    :func:`jaxfair.preferences.intervals.normal_interval`: a bootstrap SD is stable from B = 200,
    a 2.5 % quantile of 200 draws is not). NaN where the point is NaN."""
    from jaxfair.preferences.intervals import normal_interval

    shape = point.shape
    if draws.shape[0] < 2 or n_units < 2:
        nan = np.full(shape, np.nan)
        return nan, nan.copy()
    lo, hi = normal_interval(draws.reshape(draws.shape[0], -1), point.reshape(-1), level, n_units)
    return lo.reshape(shape), hi.reshape(shape)


@dataclasses.dataclass(eq=False)
class OffPolicyEstimate:
    """Off-policy estimates of the per-label group means for every α (all float64 numpy).

    Attributes:
      alphas: ``[P, K]``; estimator: ``"ips" | "snips" | "dm" | "dr"``; clip: λ or None;
      level: CI level; n_boot: B.
      label_means: ``[P, G, K]`` point estimates of L_g(α) (SPEC §9); finite everywhere (0 where a
        group has no sessions or no match) — ``identified`` says which cells carry information.
      label_means_boot: ``[B, P, G, K]`` bootstrap replicates (users resampled within groups).
      group_sessions: ``[G]`` N_g; group_users: ``[G]`` logged users per group (the resampled units).
      ess: ``[P, G]`` (Σρ)²/Σρ² (slates: the smallest over positions).
      matched: ``[P, G]`` sessions with served == shown (slates: Σ_r of position matches / k).
      mean_weight: ``[P, G]`` Σρ / (sessions with something shown) — ≈ 1 where the target is supported
        (equals Σρ / N_g when every session has a retrieved candidate).
      deficient_share: ``[P, G]`` share of sessions whose target item has p₀ < p_min (declared D₀), or None.
      identified: ``[P, G]`` bool: ESS >= min_ess, deficient share <= 1 % (when known), N_g > 0.
      reasons: per α, ``""`` or why some group is not identified.
      propensity_info: ``{"source": "column" | "declared", "method", "mc", "max_se", ...}``.
      outcome_info: DM/DR: ``{"kind": "scores" | "calibrated", "ece": {label: value}, "folds": n}``; else None.
      group_names, label_names; slate_k, position_weights ``[k]``; min_ess, p_min: the thresholds used.
    """

    alphas: np.ndarray
    estimator: str
    clip: float | None
    level: float
    n_boot: int
    label_means: np.ndarray
    label_means_boot: np.ndarray
    group_sessions: np.ndarray
    group_users: np.ndarray
    ess: np.ndarray
    matched: np.ndarray
    mean_weight: np.ndarray
    deficient_share: np.ndarray | None
    identified: np.ndarray
    reasons: list
    propensity_info: dict
    outcome_info: dict | None
    group_names: tuple[str, ...]
    label_names: tuple[str, ...]
    slate_k: int = 1
    position_weights: np.ndarray = dataclasses.field(default_factory=lambda: np.ones(1))
    min_ess: float = 30.0
    p_min: float = 1e-3

    @property
    def identified_share(self) -> float:
        """Share of α at which every group is identified."""
        return float(np.mean(self.identified.all(axis=1))) if self.identified.size else 0.0

    def _prefs(self, prefs: Any) -> np.ndarray:
        from jaxfair.named_prefs import bind_prefs
        from jaxfair.validation import check_prefs

        g, k = len(self.group_names), len(self.label_names)
        if isinstance(prefs, dict):
            prefs = bind_prefs(prefs, self.group_names)
        return check_prefs(prefs, g, k, group_names=self.group_names)

    def group_utility(self, prefs: Any) -> tuple[np.ndarray, np.ndarray]:
        """``(μ [P, G], μ_boot [B, P, G])`` for preferences ``[G, K]`` (all cells, identified or not)."""
        p = self._prefs(prefs)
        mu = np.einsum("pgk,gk->pg", self.label_means, p)
        boot = np.einsum("bpgk,gk->bpg", np.asarray(self.label_means_boot, np.float64), p)
        return mu, boot

    def label_means_for(self, prefs_set_values: Any) -> np.ndarray:
        """Group utilities ``[Q, P, G]`` for every member of a preference set ``[Q, G, K]`` (one einsum).
        Not-identified cells are NaN."""
        v = np.asarray(prefs_set_values, np.float64)
        g, k = len(self.group_names), len(self.label_names)
        if v.ndim != 3 or v.shape[1:] != (g, k):
            raise ValueError(f"prefs_set_values: expected shape [Q, {g}, {k}] ([Q, G, K]), got {v.shape}")
        out = np.einsum("pgk,qgk->qpg", self.label_means, v)
        return np.where(self.identified[None], out, np.nan)

    def metrics(self, prefs: Any, score_names: Any = None):
        """One row per α (pandas DataFrame): ``alpha_<score>`` (α is named by the scores it weights,
        :mod:`jaxfair.utils.alpha_names`; ``score_names`` default to the label names), ``utility_<g>``
        with ``_ci_low`` / ``_ci_high``, ``global_utility``, ``der``, ``ratio`` (each with CI), ``ess_<g>``,
        ``matched_<g>``, ``mean_weight_<g>``, ``deficient_share_<g>`` (declared D₀ only), ``identified_<g>``,
        ``identified``.

        Point estimates and CIs are NaN where the cell is not identified (a group's utility) or where
        any group is not identified (global utility, DER, ratio): never a number for such a cell.
        """
        import pandas as pd

        mu, boot = self.group_utility(prefs)
        n_users = int(np.sum(self.group_users))
        lo, hi = interval(boot, mu, self.level, n_users)
        counts = self.group_sessions.astype(np.float64)
        w = counts / counts.sum() if counts.sum() > 0 else counts
        glob, glob_b = mu @ w, boot @ w
        der, der_b = der_kernel(mu, np), der_kernel(boot, np)
        ratio, ratio_b = worst_best_ratio(mu), worst_best_ratio(boot)
        all_ok = self.identified.all(axis=1)
        cols: dict[str, Any] = {}
        names = self.label_names if score_names is None else tuple(score_names)
        if len(names) != self.alphas.shape[1]:
            raise ValueError(f"score_names: expected {self.alphas.shape[1]} names (one per score), got {list(names)}")
        cols |= dict(zip(alpha_columns(names), self.alphas.T, strict=True))
        for g, gname in enumerate(self.group_names):
            ok = self.identified[:, g]
            cols[f"utility_{gname}"] = np.where(ok, mu[:, g], np.nan)
            cols[f"utility_{gname}_ci_low"] = np.where(ok, lo[:, g], np.nan)
            cols[f"utility_{gname}_ci_high"] = np.where(ok, hi[:, g], np.nan)
        for name, point, draws, clip01 in (
            ("global_utility", glob, glob_b, False),
            ("der", der, der_b, True),
            ("ratio", ratio, ratio_b, True),
        ):
            c_lo, c_hi = interval(draws, point, self.level, n_users)
            if clip01:  # both live in [0, 1]: a normal interval must not leave it
                c_lo, c_hi = np.clip(c_lo, 0.0, 1.0), np.clip(c_hi, 0.0, 1.0)
            cols[name] = np.where(all_ok, point, np.nan)
            cols[f"{name}_ci_low"] = np.where(all_ok, c_lo, np.nan)
            cols[f"{name}_ci_high"] = np.where(all_ok, c_hi, np.nan)
        for g, gname in enumerate(self.group_names):
            cols[f"ess_{gname}"] = self.ess[:, g]
            cols[f"matched_{gname}"] = self.matched[:, g]
            cols[f"mean_weight_{gname}"] = self.mean_weight[:, g]
            if self.deficient_share is not None:
                cols[f"deficient_share_{gname}"] = self.deficient_share[:, g]
            cols[f"identified_{gname}"] = self.identified[:, g]
        cols["identified"] = all_ok
        return pd.DataFrame(cols)

    def describe(self) -> dict:
        """JSON-ready summary: estimator, clip, level, B, thresholds, identified share, propensity and outcome info."""
        return {
            "estimator": self.estimator,
            "clip": self.clip,
            "level": self.level,
            "n_boot": self.n_boot,
            "min_ess": self.min_ess,
            "p_min": self.p_min,
            "n_sessions": int(np.sum(self.group_sessions)),
            "n_users": int(np.sum(self.group_users)),
            "identified_share": self.identified_share,
            "propensity": dict(self.propensity_info),
            "outcome_model": None if self.outcome_info is None else dict(self.outcome_info),
            "slate": self.slate_k,
        }
