"""Result types of the engine: :class:`GroupSums` (what the executors add up), :class:`Evaluation`
(metrics for P weight vectors) and :class:`GroupReport` (one α, MetricFrame style)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd

from jaxfair.ratio import worst_best_ratio
from jaxfair.utils.alpha_names import alpha_columns

__all__ = ["Evaluation", "GroupReport", "GroupSums", "group_utility_from_label_means"]


@dataclasses.dataclass(frozen=True)
class GroupSums:
    """Every group sum the serving kernel produced, added in float64 over all users.

    What the C channels hold is named by ``channels`` (the kernel's :class:`jaxfair.engine.kernels.Payload`):
    ``"labels"`` (C = K, prefs-free, SPEC §9) or ``"utility"`` (C = 1, the per-user utility
    α*(g_n)·Y folded in before the kernel, the pre-SPEC-§9 payload).

    Attributes:
      channel_sums: ``[P, G, C]`` Σ_{n∈g} Σ_r v_r x[n, j_r(α), :] (position-weighted served channels).
      channels: ``"labels"`` or ``"utility"``.
      counts: ``[G]`` users per group (float64, exact integers).
      n_unserved: users of groups < G with no retrieved candidate.
      exposure: ``[P, H]`` provider exposure Σ_n Σ_r v_r 1{item_group[j_r] = h} (payload-free);
        None without provider groups.
      merit_channel_sums: ``[G, H, C]`` Σ_{n∈g} Σ_j I[n,j] 1{item_group = h} x[n,j,:] (α-free);
        None without provider groups. Merit for preferences α* is :meth:`merit`.
    """

    channel_sums: np.ndarray
    channels: str
    counts: np.ndarray
    n_unserved: int
    exposure: np.ndarray | None = None
    merit_channel_sums: np.ndarray | None = None

    def __post_init__(self):
        if self.channels not in ("labels", "utility"):
            raise ValueError(f"channels: expected 'labels' or 'utility', got {self.channels!r}")

    @property
    def n_item_groups(self) -> int:
        return 0 if self.exposure is None else int(self.exposure.shape[1])

    def label_means(self) -> np.ndarray:
        """``[P, G, K]`` label sums / counts; NaN rows for empty groups (label channels only)."""
        if self.channels != "labels":
            raise ValueError(f"label_means: these sums hold {self.channels!r} channels, not the labels")
        c = self.counts[None, :, None]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, self.channel_sums / np.maximum(c, 1.0), np.nan)

    def utility_sums(self, prefs: np.ndarray) -> np.ndarray:
        """``[P, G]`` Σ_{n∈g} u_n(α) for preferences ``prefs [G, K]`` (the ones folded in, for
        utility channels)."""
        if self.channels == "utility":
            return self.channel_sums[..., 0]
        return np.einsum("pgk,gk->pg", self.channel_sums, np.asarray(prefs, np.float64))

    def group_utility(self, prefs: np.ndarray) -> np.ndarray:
        """``[P, G]`` mean utility per group (NaN for an empty group): utility sums / counts,
        or for label channels ``group_utility_from_label_means(label_means, prefs)``."""
        if self.channels == "labels":
            return group_utility_from_label_means(self.label_means(), prefs)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.counts > 0, self.channel_sums[..., 0] / np.maximum(self.counts, 1), np.nan)

    def merit(self, prefs: np.ndarray) -> np.ndarray | None:
        """``[H]`` provider merit M_h = Σ_{g,k} α*_k(g) · (merit label sums)[g, h, k] (SPEC §7)."""
        if self.merit_channel_sums is None:
            return None
        if self.channels == "utility":
            return self.merit_channel_sums[..., 0].sum(axis=0)
        return np.einsum("ghk,gk->h", self.merit_channel_sums, np.asarray(prefs, np.float64))


def group_utility_from_label_means(label_means: Any, prefs: Any) -> np.ndarray:
    """Apply preferences after the kernel: ``μ = L · α*`` per group.

    Args:
      label_means: ``[P, G, K]`` (:func:`jaxfair.label_means`; label sums work the same way).
      prefs: ``[G, K]`` (one preference matrix) or ``[Q, G, K]`` (Q of them).
    Returns:
      float64 ``[P, G]`` or ``[Q, P, G]`` (NaN where a group is empty).
    """
    lm = np.asarray(label_means, np.float64)
    pr = np.asarray(prefs, np.float64)
    if lm.ndim != 3:
        raise ValueError(f"label_means: expected shape [P, G, K], got shape {lm.shape}")
    if pr.ndim not in (2, 3) or pr.shape[-2:] != lm.shape[1:]:
        raise ValueError(f"prefs: expected shape [G, K] = {list(lm.shape[1:])} or [Q, G, K], got shape {pr.shape}")
    if not np.all(np.isfinite(pr)):
        raise ValueError("prefs: expected finite preferences, got NaN or inf")
    # An explicit sum over k in label order: the same bits for one matrix or Q of them
    # (np.einsum over Q is ~30x slower; a matmul's order depends on shapes). Q matrices go
    # through the compiled loop (memory-bound otherwise); one matrix stays in NumPy (no compile).
    if pr.ndim == 3:
        from jaxfair.engine.prefs_apply import apply_prefs_many

        return apply_prefs_many(np.ascontiguousarray(lm), np.ascontiguousarray(pr))
    out = lm[:, :, 0] * pr[None, :, 0]
    for k in range(1, lm.shape[2]):
        out += lm[:, :, k] * pr[None, :, k]
    return out


@dataclasses.dataclass(frozen=True)
class GroupReport:
    """Per-group report for one α, in the style of fairlearn's ``MetricFrame``.

    ``overall`` is the population-weighted global utility, ``by_group`` the group means.
    """

    alpha: np.ndarray
    overall: float
    by_group: pd.Series
    der: float

    def difference(self) -> float:
        """Largest minus smallest group utility."""
        return float(self.by_group.max() - self.by_group.min())

    def ratio(self) -> float:
        """Smallest over largest group utility (1 = equal; NaN if the largest is 0)."""
        top = float(self.by_group.max())
        return float(self.by_group.min() / top) if top > 0 else float("nan")

    def __repr__(self) -> str:
        return (
            f"GroupReport(alpha={np.round(self.alpha, 4).tolist()}, overall={self.overall:.4f}, "
            f"der={self.der:.4f}, by_group={self.by_group.round(4).to_dict()})"
        )


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Metrics for P weight vectors on one batch (numpy arrays).

    Attributes:
      alphas: ``[P, K]`` the weights evaluated.
      utility: ``[P]`` global (population-weighted) mean utility.
      der: ``[P]`` DER of the group means (NaN where a group has no users).
      group_utility: ``[P, G]`` mean utility per group.
      n_unserved: users with no retrieved candidate (utility 0, counted in their group).
      group_counts: ``[G]`` users per group.
      group_names / label_names: optional names used by ``to_frame`` and ``report``.
      slate: slate size k (1 = top-1); position_weights: ``[k]`` v_1..v_k used.
      provider_der: ``[P]`` provider DER (SPEC §7) of the exposure/merit ratios; all-NaN
        without provider groups, NaN where undefined (a group with no merit, or no exposure).
      exposure_share: ``[P, H]`` e_h, share of the position-weighted exposure per provider group.
      merit_share: ``[H]`` m_h, share of the merit (α-free).
      n_item_groups: H (0 when the batch has no ``item_group``).
      label_means: ``[P, G, K]`` L_g(α), the mean position-weighted served labels per group
        (SPEC §9: ``group_utility = label_means · prefs``); None unless requested
        (``evaluate(..., return_label_means=True)``).
      slate_spec: the :class:`jaxfair.Slate` evaluated (None where not recorded).
    """

    alphas: np.ndarray
    utility: np.ndarray
    der: np.ndarray
    group_utility: np.ndarray
    n_unserved: int
    group_counts: np.ndarray
    group_names: tuple[str, ...] | None = None
    label_names: tuple[str, ...] | None = None
    slate: int = 1
    position_weights: np.ndarray | None = None
    provider_der: np.ndarray | None = None
    exposure_share: np.ndarray | None = None
    merit_share: np.ndarray | None = None
    n_item_groups: int = 0
    label_means: np.ndarray | None = None
    slate_spec: Any = None

    def __post_init__(self):
        p = int(np.shape(self.utility)[0])
        if self.position_weights is None:
            object.__setattr__(self, "position_weights", np.ones(int(self.slate)))
        if self.provider_der is None:
            object.__setattr__(self, "provider_der", np.full(p, np.nan))
        if self.exposure_share is None:
            object.__setattr__(self, "exposure_share", np.zeros((p, int(self.n_item_groups))))
        if self.merit_share is None:
            object.__setattr__(self, "merit_share", np.zeros(int(self.n_item_groups)))

    @property
    def worst_best_ratio(self) -> np.ndarray:
        """``[P]`` min_g μ_g / max_g μ_g (1 = equal); NaN where the largest is 0 or a group is empty."""
        return worst_best_ratio(self.group_utility)

    @property
    def exposure_ratio(self) -> np.ndarray:
        """``[P, H]`` ρ_h = e_h / m_h (NaN where m_h = 0)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(
                self.merit_share > 0,
                self.exposure_share / np.where(self.merit_share > 0, self.merit_share, 1.0),
                np.nan,
            )

    def __len__(self) -> int:
        return int(self.utility.shape[0])

    def _gnames(self) -> list[str]:
        g = self.group_utility.shape[1]
        return list(self.group_names) if self.group_names is not None else [f"group{i}" for i in range(g)]

    def _lnames(self) -> list[str]:
        k = self.alphas.shape[1]
        return list(self.label_names) if self.label_names is not None else [f"label{i}" for i in range(k)]

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per α with ``alpha_<label>``, ``utility``, ``der``, ``worst_best_ratio``,
        ``utility_<group>``."""
        cols: dict[str, Any] = dict(zip(alpha_columns(self._lnames()), self.alphas.T, strict=True))
        cols["utility"] = self.utility
        cols["der"] = self.der
        if self.n_item_groups:  # provider DER stays next to DER (its established place)
            cols["provider_der"] = self.provider_der
        cols["worst_best_ratio"] = self.worst_best_ratio
        for i, n in enumerate(self._gnames()):
            cols[f"utility_{n}"] = self.group_utility[:, i]
        ratio = self.exposure_ratio
        for h in range(self.n_item_groups):
            cols[f"exposure_share_provider{h}"] = self.exposure_share[:, h]
            cols[f"exposure_ratio_provider{h}"] = ratio[:, h]
        frame = pd.DataFrame(cols)
        frame.attrs["n_unserved"] = int(self.n_unserved)
        frame.attrs["slate"] = int(self.slate)
        if self.n_item_groups:
            frame.attrs["merit_share"] = self.merit_share.tolist()
        return frame

    def report(self, i: int = 0) -> GroupReport:
        """MetricFrame-like per-group report for the ``i``-th α."""
        if not 0 <= i < len(self):
            raise ValueError(f"i: expected 0 <= i < {len(self)}, got {i}")
        return GroupReport(
            alpha=self.alphas[i],
            overall=float(self.utility[i]),
            by_group=pd.Series(self.group_utility[i], index=self._gnames(), name="utility"),
            der=float(self.der[i]),
        )

    def best(self) -> GroupReport:
        """Report for the α with the highest global utility."""
        return self.report(int(np.nanargmax(self.utility)))
