"""Evaluation over a preference set (SPEC §9 "Preference sets"): utility, DER and the worst/best
group ratio per α for every member of a :class:`~jaxfair.preferences.PrefSet`.

Group utility is linear in the preferences, μ_g(α) = α*(g) · L_g(α), so one prefs-free kernel
pass gives the label means ``L [P, G, K]`` (what :func:`jaxfair.label_means` returns) and the Q
members are applied afterwards — the products of :func:`jaxfair.group_utility_from_label_means`,
bit for bit, cost O(Q·P·G·K) — so the set is nearly free. Summaries over the set are min /
median / max per α — a spread over assumed preferences, never a confidence interval.
**Robust DER** is the minimum over the set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from jaxfair.engine.api import run_group_sums
from jaxfair.engine.batch import Batch
from jaxfair.engine.planning import DEFAULT_MEMORY_BUDGET
from jaxfair.engine.slate import as_slate
from jaxfair.engine.sweep import sweep2_label_means
from jaxfair.preferences.prefset import PrefSet
from jaxfair.utils.alpha_names import alpha_columns, alpha_names_for
from jaxfair.validation import check_batch, warn_empty_groups

__all__ = ["SetEvaluation", "evaluate_set", "set_evaluation_from_label_means"]

_STATS = ("min", "median", "max")


def _summary(x: np.ndarray) -> dict[str, np.ndarray]:
    """``{"min", "median", "max"}`` over axis 0 of ``x [Q, P]``; NaN propagates (np.sort puts it last)."""
    srt = np.sort(x, axis=0)
    q = x.shape[0]
    med = srt[q // 2] if q % 2 else 0.5 * (srt[q // 2 - 1] + srt[q // 2])
    nan = np.isnan(x).any(axis=0)
    return {s: np.where(nan, np.nan, v) for s, v in zip(_STATS, (srt[0], med, srt[-1]), strict=True)}


def _stat(metric: str, stat: str) -> property:
    def get(self: SetEvaluation) -> np.ndarray:
        return self.summary(metric)[stat]

    get.__doc__ = f"``[P]`` the {stat} of ``{metric}`` over the set."
    return property(get)


@dataclasses.dataclass(frozen=True)
class SetEvaluation:
    """Metrics for P weight vectors under each of Q preference matrices (float64 NumPy).

    Attributes:
      alphas: ``[P, K]`` the weights evaluated.
      prefset: the :class:`PrefSet` (``values [Q, G, K]``; its names label the tables).
      utility: ``[Q, P]`` global (population-weighted) mean utility under member q.
      der: ``[Q, P]`` DER of the group means under member q (NaN where a group has no users).
      worst_best_ratio: ``[Q, P]`` min_g μ_g / max_g μ_g under member q.
      group_utility: ``[Q, P, G]`` mean utility per group.
      label_means: ``[P, G, K]`` the prefs-free statistic all of the above come from.
      group_counts: ``[G]`` users per group.

    Summaries over the set, ``[P]`` each, computed on first use (a sort over Q): ``utility_min``,
    ``utility_median``, ``utility_max``, ``der_min`` (= :attr:`robust_der`), ``der_median``,
    ``der_max``, ``worst_best_ratio_min``, ``worst_best_ratio_median``, ``worst_best_ratio_max``.
    NaN propagates: an α with a NaN under any member (an empty group) has NaN summaries.
    """

    alphas: np.ndarray
    prefset: PrefSet
    utility: np.ndarray
    der: np.ndarray
    worst_best_ratio: np.ndarray
    group_utility: np.ndarray
    label_means: np.ndarray
    group_counts: np.ndarray
    _cache: dict = dataclasses.field(default_factory=dict, repr=False, compare=False)
    #: the names of the scores α weights (:mod:`jaxfair.utils.alpha_names`); empty: the set's label names
    score_names: tuple[str, ...] = ()

    @property
    def alpha_names(self) -> tuple[str, ...]:
        """What α's columns and records are named by: the score names, else the label names."""
        return alpha_names_for(self.score_names, self.prefset.label_names)

    utility_min = _stat("utility", "min")
    utility_median = _stat("utility", "median")
    utility_max = _stat("utility", "max")
    der_min = _stat("der", "min")
    der_median = _stat("der", "median")
    der_max = _stat("der", "max")
    worst_best_ratio_min = _stat("worst_best_ratio", "min")
    worst_best_ratio_median = _stat("worst_best_ratio", "median")
    worst_best_ratio_max = _stat("worst_best_ratio", "max")

    def summary(self, metric: str) -> dict[str, np.ndarray]:
        """``{"min", "median", "max"}`` ``[P]`` arrays of ``metric`` (utility, der, worst_best_ratio)."""
        if metric not in ("utility", "der", "worst_best_ratio"):
            raise ValueError(f"metric: expected 'utility', 'der' or 'worst_best_ratio', got {metric!r}")
        if metric not in self._cache:
            self._cache[metric] = _summary(getattr(self, metric))
        return self._cache[metric]

    @property
    def n_members(self) -> int:
        """Q, the members of the set."""
        return int(self.utility.shape[0])

    @property
    def robust_der(self) -> np.ndarray:
        """``[P]`` robust DER: the smallest DER over the set (SPEC §9)."""
        return self.der_min

    def utility_quantile(self, q: float) -> np.ndarray:
        """``[P]`` the q-quantile of utility over the set (NumPy's default linear interpolation)."""
        q = float(q)
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"q: expected a quantile in [0, 1], got {q!r}")
        return np.quantile(self.utility, q, axis=0)

    def best_utility_index(self) -> np.ndarray:
        """``[Q]`` per member, the index of the α with the highest utility (first on ties)."""
        return _argmax_rows(self.utility, "utility")

    def best_der_index(self) -> np.ndarray:
        """``[Q]`` per member, the index of the α with the highest DER (first on ties)."""
        return _argmax_rows(self.der, "der")

    def to_frame(self) -> pd.DataFrame:
        """One row per α: ``alpha_<score>``, ``utility_{min,median,max}``, ``der_{min,median,max}``,
        ``robust_der`` (= ``der_min``), ``worst_best_ratio_{min,median,max}``."""
        cols: dict[str, Any] = dict(zip(alpha_columns(self.alpha_names), self.alphas.T, strict=True))
        for metric in ("utility", "der", "worst_best_ratio"):
            for s, v in self.summary(metric).items():
                cols[f"{metric}_{s}"] = v
            if metric == "der":
                cols["robust_der"] = self.der_min
        frame = pd.DataFrame(cols)
        frame.attrs["n_members"] = self.n_members
        return frame


def _argmax_rows(x: np.ndarray, what: str) -> np.ndarray:
    bad = np.isnan(x).all(axis=1)
    if bad.any():
        raise ValueError(f"{what}: all NaN for set member {int(np.argmax(bad))} (a group has no users)")
    return np.nanargmax(x, axis=1)


# Members per block: [block, P] intermediates stay in cache (a whole-set temporary of 256 × 10,201
# float64 is 21 MB per pass, and the passes, not the arithmetic, were the set's cost).
_BLOCK = 8


def _apply_set(lm: np.ndarray, values: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, ...]:
    """Group utility ``[G, Q, P]`` and global utility, DER, worst/best ratio ``[Q, P]`` for Q members.

    Group utility is μ_g = Σ_k L[:, g, k] · α*_q(g, k) summed in label order: the same float64
    products and additions as :func:`jaxfair.group_utility_from_label_means` (bit-identical,
    tested), written per group plane and per block of members with in-place NumPy operations.
    DER and the ratio are :func:`jaxfair.engine.kernels.der_kernel` and :func:`jaxfair.ratio.worst_best_ratio`
    over those planes (same formulas; NaN propagates from an empty group).
    """
    p, g, k = lm.shape
    q = values.shape[0]
    planes_all = np.empty((g, q, p))
    utility, der, ratio = np.empty((q, p)), np.empty((q, p)), np.empty((q, p))
    lm_t = np.ascontiguousarray(np.moveaxis(lm, 0, -1))  # [G, K, P]: each (g, k) row contiguous
    weights = counts / counts.sum()
    for s in range(0, q, _BLOCK):
        e = min(q, s + _BLOCK)
        member = values[s:e]  # [b, G, K]
        planes = planes_all[:, s:e]  # [G, b, P] views into the result
        tmp, total = np.empty((e - s, p)), np.empty((e - s, p))
        for gi in range(g):
            np.multiply(lm_t[gi, 0][None, :], member[:, gi, 0][:, None], out=planes[gi])
            for ki in range(1, k):
                np.multiply(lm_t[gi, ki][None, :], member[:, gi, ki][:, None], out=tmp)
                planes[gi] += tmp
        u = utility[s:e]
        u.fill(0.0)
        for gi in range(g):
            if counts[gi] > 0:  # an empty group (NaN means, no users) adds nothing to the global mean
                np.multiply(planes[gi], weights[gi], out=tmp)
                u += tmp
        np.copyto(total, planes[0])
        for gi in range(1, g):
            total += planes[gi]
        d = der[s:e]
        if g < 2:
            d.fill(np.nan)  # DER compares groups: undefined for one
        else:
            d.fill(0.0)
            zero = total == 0
            np.copyto(total, 1.0, where=zero)
            for gi in range(g):
                np.divide(planes[gi], total, out=tmp)
                tmp -= 1.0 / g
                np.multiply(tmp, tmp, out=tmp)
                d += tmp
            d *= -g / (g - 1)
            d += 1.0
            if zero.any():  # nobody gets anything: every share is 1/G, DER 1 (as der_kernel)
                d[zero & ~np.isnan(d)] = 1.0
        lo, hi = ratio[s:e], total  # total is free again: it becomes the best group's utility
        if g == 1:
            np.copyto(lo, planes[0])
            np.copyto(hi, planes[0])
        else:  # np.minimum / np.maximum propagate NaN
            np.minimum(planes[0], planes[1], out=lo)
            np.maximum(planes[0], planes[1], out=hi)
        for gi in range(2, g):
            np.minimum(lo, planes[gi], out=lo)
            np.maximum(hi, planes[gi], out=hi)
        pos = hi > 0
        np.divide(lo, hi, out=lo, where=pos)
        lo[~pos] = np.nan  # the best group gets 0 (or NaN): no ratio
    return planes_all, utility, der, ratio


def set_evaluation_from_label_means(
    alphas: Any, label_means: Any, group_counts: Any, prefset: PrefSet
) -> SetEvaluation:
    """A :class:`SetEvaluation` from label means ``[P, G, K]`` and users per group ``[G]``.

    Global utility is the population-weighted mean Σ_g n_g μ_g / N (an empty group adds 0, as in
    :func:`jaxfair.evaluate`); DER and the worst/best ratio are NaN when a group is empty.
    """
    if not isinstance(prefset, PrefSet):
        raise ValueError(f"prefset: expected a jaxfair.preferences.PrefSet, got {type(prefset).__name__}")
    lm = np.asarray(label_means, np.float64)
    counts = np.asarray(group_counts, np.float64)
    a = np.asarray(alphas, np.float64)
    if lm.ndim != 3:
        raise ValueError(f"label_means: expected shape [P, G, K], got shape {lm.shape}")
    if a.shape != (lm.shape[0], lm.shape[2]):
        raise ValueError(f"alphas: expected shape [P, K] = {[lm.shape[0], lm.shape[2]]}, got shape {a.shape}")
    if counts.shape != (lm.shape[1],) or (counts < 0).any() or counts.sum() <= 0:
        raise ValueError(f"group_counts: expected [G] = [{lm.shape[1]}] non-negative counts, not all 0, got {counts}")
    if prefset.values.shape[1:] != lm.shape[1:]:
        raise ValueError(
            f"prefset: expected [Q, G, K] members with [G, K] = {list(lm.shape[1:])}, got {prefset.values.shape}"
        )
    planes, utility, der, ratio = _apply_set(lm, prefset.values, counts)
    return SetEvaluation(
        alphas=a,
        prefset=prefset,
        utility=utility,
        der=der,
        worst_best_ratio=ratio,
        group_utility=np.moveaxis(planes, 0, -1),  # [Q, P, G] view of the [G, Q, P] planes
        label_means=lm,
        group_counts=counts.astype(np.int64),
    )


def _bound_set(prefset: Any, group_names: Sequence[str] | None, label_names: Sequence[str] | None) -> PrefSet:
    """``prefset`` as a PrefSet whose groups/labels are in the order of the given names (by name)."""
    if not isinstance(prefset, PrefSet):
        return PrefSet(np.asarray(prefset, np.float64), tuple(group_names or ()), tuple(label_names or ()))
    v, groups, labels = prefset.values, list(prefset.group_names), list(prefset.label_names)
    for names, have, axis, what in ((group_names, groups, 1, "group"), (label_names, labels, 2, "label")):
        if names is None:
            continue
        names = [str(x) for x in names]
        if sorted(names) != sorted(have):
            raise ValueError(f"prefset: its {what}s {have} do not match the batch's {what}_names {names}")
        v = np.take(v, [have.index(n) for n in names], axis=axis)
        if axis == 1:
            groups = names
        else:
            labels = names
    if groups == list(prefset.group_names) and labels == list(prefset.label_names):
        return prefset
    return PrefSet(v, tuple(groups), tuple(labels), prefset.kind, prefset.params)


def evaluate_set(
    alphas: Any,
    batch: Batch,
    prefset: Any,
    *,
    slate: Any = 1,
    position_weights: Any = "dcg",
    gamma: float = 0.8,
    prune: bool | None = None,
    mesh: Any = None,
    chunk_size: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool = False,
    group_names: Sequence[str] | None = None,
    label_names: Sequence[str] | None = None,
    method: str = "grid",
    score_names: Sequence[str] | None = None,
) -> SetEvaluation:
    """Evaluate P weight vectors under every member of a preference set with one kernel pass.

    Args:
      alphas: ``[P, K]``; batch: N users × m candidates × K labels.
      prefset: a :class:`PrefSet` ``[Q, G, K]`` (or such an array); every group id in ``batch``
        must be < G.
      slate, position_weights, gamma, prune, mesh, chunk_size, memory_budget, progress: as in
        :func:`jaxfair.evaluate` (they change speed, never bits).
      group_names, label_names: the batch's group / label order. A :class:`PrefSet` with names
        is bound **by name** to them (reordered when its order differs; refused when the names
        differ); an array is taken in this order.
      method: the serving the label means come from, the same as the point evaluation's so the
        two agree (a member equal to the prefs reproduces the point's numbers): ``"grid"`` (the
        compiled kernel, :func:`jaxfair.label_means`) or ``"sweep"`` (K = 2, top-1: the exact
        sweep's serving, :func:`jaxfair.engine.sweep.sweep2_label_means`; the two differ only where
        two scores are within float32 rounding).
      score_names: the names of the scores α weights, for its columns (default: the label names).
    Returns:
      :class:`SetEvaluation`. Each member's numbers equal ``jaxfair.evaluate`` with that member's
      preferences up to float64 rounding (the global mean is summed in another order).
    """
    check_batch(batch)
    ps = _bound_set(prefset, group_names, label_names)
    if ps.n_labels != batch.n_labels:
        raise ValueError(f"prefset: expected K = {batch.n_labels} labels per row (the batch's), got K = {ps.n_labels}")
    gmax = int(np.asarray(batch.group).max()) if batch.n_users else -1
    if ps.n_groups <= gmax:
        raise ValueError(f"prefset: the batch has group id {gmax}, the set only G = {ps.n_groups} groups")
    if method not in ("grid", "sweep"):
        raise ValueError(f"method: expected 'grid' or 'sweep', got {method!r}")
    if method == "sweep":
        if as_slate(slate, position_weights, gamma, batch.n_candidates).k != 1:
            raise ValueError("method: the exact sweep serves top-1 only; a slate's set uses method='grid'")
        lm, counts = sweep2_label_means(batch, alphas, ps.n_groups)
        warn_empty_groups(counts, ps.group_names)
        return _named(set_evaluation_from_label_means(np.asarray(alphas, np.float64), lm, counts, ps), score_names)
    # One prefs-free pass (what jaxfair.label_means runs); counts come with it for the global mean.
    a_arr, _, _, sums = run_group_sums(
        alphas,
        batch.replace(item_group=None),
        ps.n_groups,
        slate=slate,
        position_weights=position_weights,
        gamma=gamma,
        chunk_size=chunk_size,
        memory_budget=memory_budget,
        progress=progress,
        prune=prune,
        mesh=mesh,
    )
    warn_empty_groups(sums.counts, ps.group_names)
    return _named(set_evaluation_from_label_means(a_arr, sums.label_means(), sums.counts, ps), score_names)


def _named(res: SetEvaluation, score_names: Sequence[str] | None) -> SetEvaluation:
    """``res`` with α's columns named by ``score_names`` (unchanged when None)."""
    return res if score_names is None else dataclasses.replace(res, score_names=tuple(str(n) for n in score_names))
