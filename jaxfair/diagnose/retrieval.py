"""Retrieval quality (paper Def. 3.2) on S_X and per group, and Theorem 3.3.

``Q_m(x) = max_j I[x, j] · Σ_k Y_k^j`` (0 when nothing was retrieved) is the best item the
retrieval handed to the later stages. Theorem 3.3: with calibrated scores and α = α*(g1), an
ε-gap ``ε = E_1[Q_m] − E_SX[Q_m]`` in retrieval quality shows up in term (4) as at least
``ε · min_k α*_k(g1)`` (the paper states it for the best f and α; we report term (4) at
α = α*(g1), the best α under calibration by Lemma 2.3, beside the theorem's right-hand side).

Premises (``applies``): ε > 0 — judged by its bootstrap CI (lower bound > 0) — calibrated
scores (:func:`~jaxfair.diagnose.calibration.calibration_premise`) and α*(g1) > 0 (else the
right-hand side is 0 and says nothing); α = α*(g1) holds by construction. With ε ≤ 0 the
theorem is vacuous: "does not apply", never "holds". Where it applies, ``holds`` is True when
the CI of ``term (4) − ε · min_k α*_k(g1)`` (same resamples for both) lies at or above 0, False
when it lies below 0, None when the CI straddles 0 ("inconclusive").
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.diagnose.calibration import CALIBRATION_TOLERANCE, calibration_premise
from jaxfair.diagnose.decompose import Decomposition, bootstrap_counts, decompose, default_pair, resolve_weights
from jaxfair.diagnose.weights import check_groups
from jaxfair.engine.batch import Batch
from jaxfair.validation import check_batch_prefs

__all__ = ["RetrievalDiagnosis", "retrieval_diagnosis", "retrieval_quality_per_user"]


@jax.jit
def _quality(labels, mask):
    best = jnp.max(jnp.where(mask, jnp.sum(labels, axis=-1), -jnp.inf), axis=-1)
    return jnp.where(jnp.isfinite(best), best, 0.0)


def retrieval_quality_per_user(batch: Batch) -> np.ndarray:
    """``Q_m`` per user, float64 ``[N]``: max over retrieved candidates of Σ_k Y_k (0 if none)."""
    if not isinstance(batch, Batch):
        raise ValueError(f"batch: expected a jaxfair.Batch, got {type(batch).__name__}")
    return np.asarray(_quality(batch.labels, batch.mask), np.float64)


@dataclasses.dataclass(frozen=True)
class RetrievalDiagnosis:
    """Q_m per group and on S_X, the ε-gap, and term (4) at α = α*(g1) against Theorem 3.3.

    Attributes:
      groups: ``(g1, g0)``.
      q_g1, q_sx, q_g0: E_1[Q_m], E_SX[Q_m], E_0[Q_m].
      epsilon: ``q_g1 − q_sx``.
      theorem_rhs: ``ε · min_k α*_k(g1)``.
      term4: term (4) at α = α*(g1), with its bootstrap CI ``term4_ci``.
      decomposition: the full decomposition at α = α*(g1).
      epsilon_ci: bootstrap CI of ε; margin_ci: CI of ``term4 − theorem_rhs``.
      applies: the premises are met (module docstring; None: no CI to judge ε by);
      premise: why / why not; holds: True / False / None (module docstring).
    """

    groups: tuple[int, int]
    q_g1: float
    q_sx: float
    q_g0: float
    epsilon: float
    theorem_rhs: float
    term4: float
    term4_ci: tuple[float, float]
    decomposition: Decomposition
    epsilon_ci: tuple[float, float] = (float("nan"), float("nan"))
    margin_ci: tuple[float, float] = (float("nan"), float("nan"))
    applies: bool | None = None
    premise: str = ""
    holds: bool | None = None

    @property
    def verdict(self) -> str:
        """One sentence: does not apply / holds / violated / inconclusive, with the CI behind it."""
        if self.applies is None:
            return f"not checked ({self.premise})"
        if not self.applies:
            return f"does not apply ({self.premise})"
        lo, hi = self.margin_ci
        ci = f"CI of term (4) − ε·min α*(g1): [{lo:+.4f}, {hi:+.4f}]"
        if self.holds is None:
            return f"inconclusive ({ci} contains 0)"
        return f"holds ({ci})" if self.holds else f"violated ({ci})"

    def summary(self) -> dict:
        def ci(pair):
            return [None if not np.isfinite(v) else float(v) for v in pair]

        return {
            "groups": list(self.groups),
            "Q_g1": self.q_g1,
            "Q_SX": self.q_sx,
            "Q_g0": self.q_g0,
            "epsilon": self.epsilon,
            "epsilon_ci": ci(self.epsilon_ci),
            "theorem33_rhs": self.theorem_rhs,
            "term4_at_alpha_star_g1": self.term4,
            "term4_ci": ci(self.term4_ci),
            "margin_ci": ci(self.margin_ci),
            "applies": self.applies,
            "premise": self.premise,
            "holds": self.holds,
            "verdict": self.verdict,
        }


def retrieval_diagnosis(
    batch: Batch,
    prefs: Any,
    *,
    groups: Sequence[int] | None = None,
    weights: Any = None,
    n_boot: int = 200,
    key: Any = None,
    clusters: Any = None,
    level: float = 0.95,
    ece_tol: float = CALIBRATION_TOLERANCE,
    ece_table: Any = None,
    **estimate_options,
) -> RetrievalDiagnosis:
    """Retrieval quality per group and on S_X, and Theorem 3.3 at α = α*(g1).

    Arguments as in :func:`~jaxfair.diagnose.decompose.decompose`; ``groups`` defaults to the
    better-served group at α = (1, …, 1) as g1. ``ece_tol``: the calibration premise's
    tolerance (:func:`~jaxfair.diagnose.calibration.calibration_premise`); ``ece_table`` an
    ECE table to judge it on (default: computed from the batch).
    """
    prefs_np = check_batch_prefs(batch, prefs)
    group = np.asarray(batch.group)
    if groups is None:
        groups = default_pair(batch, prefs_np, np.ones(batch.n_labels))
    pair = check_groups(group, groups, prefs_np.shape[0])
    w = resolve_weights(batch, pair, weights, **estimate_options)
    q = retrieval_quality_per_user(batch)
    g1, g0 = pair
    q_sx = float(np.sum(w.weights * q) / np.sum(w.weights))
    q1, q0 = float(q[group == g1].mean()), float(q[group == g0].mean())
    a1 = prefs_np[g1]
    if not np.any(a1 > 0):
        raise ValueError(f"prefs: α*(g1 = {g1}) is all zero; Theorem 3.3 needs α = α*(g1) to serve")
    d = decompose(
        a1[None], batch, prefs_np, groups=pair, weights=w, n_boot=n_boot, key=key, clusters=clusters, level=level
    )
    eps = q1 - q_sx
    rhs = float(eps * a1.min())
    eps_ci = margin_ci = (np.nan, np.nan)
    if n_boot:
        # The resamples decompose drew (same key, same units): ε and term (4) are paired.
        counts = np.asarray(
            bootstrap_counts(jax.random.PRNGKey(0) if key is None else key, group, int(n_boot), clusters), np.float64
        )
        in1 = (group == g1).astype(np.float64)
        boot_eps = counts @ (in1 * q) / (counts @ in1) - counts @ (w.weights * q) / (counts @ w.weights)
        qq = (1 - level) / 2
        eps_ci = tuple(float(x) for x in np.quantile(boot_eps, [qq, 1 - qq]))
        margin_ci = tuple(float(x) for x in np.quantile(d.boot_terms[:, 0, 0] - boot_eps * a1.min(), [qq, 1 - qq]))
    calibrated, why = calibration_premise(batch, ece_tol, ece_table)
    reasons = []
    if not n_boot:
        applies, reasons = None, ["no bootstrap CI for ε (n_boot = 0)"]
    else:
        if not eps_ci[0] > 0:
            reasons.append(f"ε CI [{eps_ci[0]:+.4f}, {eps_ci[1]:+.4f}] does not exclude ε <= 0")
        if not calibrated:
            reasons.append(why)
        if not a1.min() > 0:
            reasons.append("min_k α*_k(g1) = 0: the bound is 0")
        applies = not reasons
    holds = None
    if applies:
        holds = True if margin_ci[0] >= 0 else (False if margin_ci[1] < 0 else None)
        reasons = [f"ε CI [{eps_ci[0]:+.4f}, {eps_ci[1]:+.4f}] > 0", why, "α = α*(g1) by construction"]
    return RetrievalDiagnosis(
        groups=pair,
        q_g1=q1,
        q_sx=q_sx,
        q_g0=q0,
        epsilon=eps,
        theorem_rhs=rhs,
        term4=float(d.terms[0, 0]),
        term4_ci=(float(d.ci[0, 0, 0]), float(d.ci[0, 0, 1])),
        decomposition=d,
        epsilon_ci=eps_ci,
        margin_ci=margin_ci,
        applies=applies,
        premise="; ".join(reasons),
        holds=holds,
    )
