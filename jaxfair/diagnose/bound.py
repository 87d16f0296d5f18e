"""Theorem 3.1: an upper bound on term (5) from model residuals and preference misspecification.

At the served item ĵ(α), for every user (pointwise, from the identity in appendix B.2)

    |U_1 − U_0| = |Σ_k (α*_k(1) − α*_k(0)) Y_k|
               ≤ Σ_k |α*_k(1) − α*_k(0)|·|Y_k − f_k| + |α_k − α*_k(0)|·f_k + |α_k − α*_k(1)|·f_k

whenever f ≥ 0, so its S_X mean bounds |term (5)| for *any* scale of α — no calibration is
needed. Serving depends only on α's direction, the bound on its scale: with
``R = E_SX[Σ_k |Δα*_k||Y_k − f_k|]`` and ``F_k = E_SX[f_k]`` at the served items (fixed by the
direction), ``B(c) = R + Σ_k F_k (|c α_k − α*_k(0)| + |c α_k − α*_k(1)|)`` is convex and
piecewise linear in c, with kinks at ``c = α*_k(g)/α_k``; its minimum over c ≥ 0 is at a
kink or at c → 0, so evaluating those 2K + 1 points minimises it exactly.

The three parts (the paper's message): ``residual`` = R (model residuals amplified by the
groups' preference difference — not reducible by the modeler), ``misspec_g0`` and
``misspec_g1`` = Σ_k F_k |c α_k − α*_k(g)| (serving-weight misspecification for each group).

Where B is flat in c (slopes cancel between two kinks) every c of that interval minimises it
and the split between ``misspec_g0`` and ``misspec_g1`` is not unique (their sum is): the
result carries the parts at the smallest *and* the largest minimising scale, and each part
ranges linearly between the two (``split_unique`` says where they agree).

Premise (``applies``): scores f ≥ 0 — the pointwise inequality above needs it; calibration
is not needed. Where it applies the bound holds on every sample exactly (it is an inequality
between means of per-user quantities, not an estimate), so ``holds`` checks the arithmetic;
the bound at the scale as given (c = 1) compares α with α* on α*'s own scale, which means
something only if α was set on that scale — the bound at the best scale does not depend on it.

Vacuous: |term (5)| can never exceed the largest value |E_SX[Δα*·Y]| can take,
``term5_max = V · max(Σ_k max(Δ_k hi_k, Δ_k lo_k), −Σ_k min(Δ_k hi_k, Δ_k lo_k))`` with
Δ = α*(g1) − α*(g0), [lo_k, hi_k] the range of label k over the retrieved candidates (widened
to contain 0: an empty slate rank contributes 0) and V = Σ_r v_r the slate's total position
weight (1 for top-1). Why: per user Σ_r v_r Y[j_r] lies in V·[lo, hi] coordinate-wise (v ≥ 0),
a linear function's extremes on that box are at its corners, and a mean cannot leave the
range of what it averages. With labels in [0, 1] and rows summing to 1 this is
V·½‖α*(g1) − α*(g0)‖₁ (≤ V). A bound at or above it says nothing: the verdict is then
"vacuous", not "holds" (:func:`max_abs_term5`).
"""

from __future__ import annotations

import dataclasses
import warnings

import numpy as np

__all__ = ["Theorem31Bound", "bound_at_scale", "bound_from_sums", "label_range", "max_abs_term5", "optimal_scale"]


@dataclasses.dataclass(frozen=True)
class Theorem31Bound:
    """Theorem 3.1's bound per α (all float64 ``[P]`` unless noted).

    Attributes:
      residual, f_mean (``[P, K]``): R and F_k above.
      given: the bound at α as given (c = 1); parts ``given_parts [P, 3]``.
      scale: the smallest minimising c; ``optimal`` the bound there; ``optimal_parts [P, 3]``.
      scale_high, optimal_parts_high: the largest minimising c and the parts there (the
        same total); each part ranges between ``optimal_parts`` and ``optimal_parts_high``.
      term5: term (5) it bounds (|term5| <= optimal <= given).
      valid: False when some score is negative (the theorem needs f >= 0): bounds are NaN.
        ``applies`` is the same flag under the name the reports use.
      term5_max: the largest |term (5)| any serving could give (module docstring; inf: unknown).
    """

    residual: np.ndarray
    f_mean: np.ndarray
    given: np.ndarray
    given_parts: np.ndarray
    scale: np.ndarray
    optimal: np.ndarray
    optimal_parts: np.ndarray
    term5: np.ndarray
    valid: bool = True
    scale_high: np.ndarray | None = None
    optimal_parts_high: np.ndarray | None = None
    term5_max: float = float("inf")

    PARTS = ("residual", "misspec_g0", "misspec_g1")

    @property
    def applies(self) -> bool:
        """The premise (scores f >= 0) is met."""
        return bool(self.valid)

    @property
    def parts_range(self) -> np.ndarray:
        """``[P, 3, 2]``: each part's (low, high) over the minimising scales."""
        hi = self.optimal_parts if self.optimal_parts_high is None else self.optimal_parts_high
        return np.stack([np.minimum(self.optimal_parts, hi), np.maximum(self.optimal_parts, hi)], axis=-1)

    @property
    def split_unique(self) -> np.ndarray:
        """bool ``[P]``: one scale minimises the bound (or all minimisers give the same split)."""
        r = self.parts_range
        return np.all(np.abs(r[..., 1] - r[..., 0]) <= 1e-9 * (1 + np.abs(self.optimal[:, None])), axis=-1)

    @property
    def holds(self) -> np.ndarray:
        """bool ``[P]``: |term (5)| <= the bound at the best scale (False where it does not apply)."""
        tol = 1e-6 * (1 + np.abs(self.optimal))
        return self.applies & (np.abs(self.term5) <= self.optimal + tol)

    @property
    def vacuous(self) -> np.ndarray:
        """bool ``[P]``: the bound at the best scale is >= :attr:`term5_max` (it rules nothing out)."""
        return self.applies & (self.optimal >= self.term5_max)

    def verdict(self, p: int) -> str:
        """One sentence for row p: does not apply / vacuous / holds, with the numbers behind it."""
        if not self.applies:
            return "does not apply (some scores f < 0; the bound needs f >= 0)"
        b, t = float(self.optimal[p]), abs(float(self.term5[p]))
        if self.vacuous[p]:
            return (
                f"vacuous (bound {b:.4f} >= {self.term5_max:.4f}, the largest |term (5)| possible with these prefs, "
                f"slate weights and label range; |term (5)| = {t:.4f})"
            )
        if not self.holds[p]:  # cannot happen where it applies (an identity); say so loudly if it does
            return f"VIOLATED (|term (5)| = {t:.4f} > bound {b:.4f}: an arithmetic error)"
        return f"holds (|term (5)| = {t:.4f} <= bound {b:.4f} < {self.term5_max:.4f} possible; exact on this sample)"

    def row(self, p: int) -> dict:
        out = {
            "applies": self.applies,
            "premise": "scores f >= 0 (calibration not needed)",
            "holds": bool(self.holds[p]) if self.applies else None,
            "vacuous": bool(self.vacuous[p]) if self.applies else None,
            "verdict": self.verdict(p),
            "term5_max": float(self.term5_max),
            "bound_given": float(self.given[p]),
            "bound_optimal": float(self.optimal[p]),
            "bound_scale": float(self.scale[p]),
            "bound_scale_high": float(self.scale[p] if self.scale_high is None else self.scale_high[p]),
            "split_unique": bool(self.split_unique[p]),
        }
        rng = self.parts_range
        for i, name in enumerate(self.PARTS):
            out[f"given_{name}"] = float(self.given_parts[p, i])
            out[f"optimal_{name}"] = float(self.optimal_parts[p, i])
            out[f"optimal_{name}_low"] = float(rng[p, i, 0])
            out[f"optimal_{name}_high"] = float(rng[p, i, 1])
        return out


def bound_at_scale(
    c: np.ndarray, alphas: np.ndarray, a1: np.ndarray, a0: np.ndarray, residual: np.ndarray, f_mean: np.ndarray
) -> np.ndarray:
    """Parts ``[..., P, 3]`` (residual, misspec_g0, misspec_g1) of B(c) at scales ``c [..., P]``."""
    ca = np.asarray(c)[..., None] * alphas  # [..., P, K]
    m0 = np.sum(f_mean * np.abs(ca - a0), axis=-1)
    m1 = np.sum(f_mean * np.abs(ca - a1), axis=-1)
    return np.stack([np.broadcast_to(residual, m0.shape), m0, m1], axis=-1)


def optimal_scale(
    alphas: np.ndarray, a1: np.ndarray, a0: np.ndarray, residual: np.ndarray, f_mean: np.ndarray, largest: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Exact ``argmin_{c >= 0} B(c)`` per α: ``(scale [P], parts [P, 3])`` (smallest c among ties;
    ``largest=True``: the largest)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        kinks = np.concatenate([a0[None] / alphas, a1[None] / alphas], axis=1)  # [P, 2K]
    kinks = np.where(np.isfinite(kinks) & (kinks > 0), kinks, 0.0)
    cand = np.concatenate([np.zeros((len(alphas), 1)), kinks], axis=1).T  # [2K+1, P]
    parts = bound_at_scale(cand, alphas, a1, a0, residual, f_mean)  # [2K+1, P, 3]
    total = parts.sum(-1)
    # B is flat between kinks when slopes cancel: among minima equal up to rounding take the
    # smallest c, so the reported scale (and the split into parts) is stable along α.
    tied = total <= total.min(axis=0, keepdims=True) * (1 + 1e-9) + 1e-15
    if largest:
        best = np.argmax(np.where(tied, cand, -np.inf), axis=0)
    else:
        best = np.argmin(np.where(tied, cand, np.inf), axis=0)
    ar = np.arange(len(alphas))
    return cand[best, ar], parts[best, ar]


def max_abs_term5(a1, a0, label_low, label_high, total_position_weight: float = 1.0) -> float:
    """The largest |term (5)| = |E_SX[(α*(g1) − α*(g0))·Y_slate]| possible (module docstring).

    Args:
      a1, a0: ``[K]`` preferences of g1 and g0.
      label_low, label_high: ``[K]`` range of each label over the retrieved candidates (0 is
        added to it: an empty rank contributes 0).
      total_position_weight: V = Σ_r v_r (1 for top-1).
    """
    d = np.asarray(a1, np.float64) - np.asarray(a0, np.float64)
    lo = np.minimum(np.asarray(label_low, np.float64), 0.0)
    hi = np.maximum(np.asarray(label_high, np.float64), 0.0)
    top = np.sum(np.maximum(d * hi, d * lo))
    bottom = np.sum(np.minimum(d * hi, d * lo))
    return float(total_position_weight) * float(max(top, -bottom))


def label_range(labels, mask) -> tuple[np.ndarray, np.ndarray]:
    """``([K], [K])`` min and max of each label over the retrieved candidates (0, 0 if none)."""
    lab = np.asarray(labels)
    m = np.asarray(mask, bool)
    if not m.any():
        return np.zeros(lab.shape[-1]), np.zeros(lab.shape[-1])
    sel = lab[m]  # [retrieved, K]
    return sel.min(0).astype(np.float64), sel.max(0).astype(np.float64)


def bound_from_sums(
    alphas: np.ndarray,
    a1: np.ndarray,
    a0: np.ndarray,
    residual: np.ndarray,
    f_mean: np.ndarray,
    term5: np.ndarray,
    scores: np.ndarray | None = None,
    term5_max: float = float("inf"),
) -> Theorem31Bound:
    """Assemble :class:`Theorem31Bound` from the S_X means the decomposition kernel returns.

    ``term5_max``: :func:`max_abs_term5` for this pair (the bound is "vacuous" at or above it).
    """
    alphas, a1, a0 = (np.asarray(x, np.float64) for x in (alphas, a1, a0))
    residual, f_mean = np.asarray(residual, np.float64), np.asarray(f_mean, np.float64)
    valid = scores is None or bool(np.all(np.asarray(scores) >= 0))
    given_parts = bound_at_scale(np.ones(len(alphas)), alphas, a1, a0, residual, f_mean)
    scale, opt_parts = optimal_scale(alphas, a1, a0, residual, f_mean)
    scale_hi, opt_hi = optimal_scale(alphas, a1, a0, residual, f_mean, largest=True)
    if not valid:
        warnings.warn(
            "batch.scores: some scores are negative; Theorem 3.1's bound needs f >= 0 and is reported as NaN",
            UserWarning,
            stacklevel=3,
        )
        given_parts = np.full_like(given_parts, np.nan)
        opt_parts = np.full_like(opt_parts, np.nan)
        opt_hi = np.full_like(opt_hi, np.nan)
    return Theorem31Bound(
        residual=residual,
        f_mean=f_mean,
        given=given_parts.sum(-1),
        given_parts=given_parts,
        scale=scale,
        optimal=opt_parts.sum(-1),
        optimal_parts=opt_parts,
        term5=np.asarray(term5, np.float64),
        valid=valid,
        scale_high=scale_hi,
        optimal_parts_high=opt_hi,
        term5_max=float(term5_max),
    )
