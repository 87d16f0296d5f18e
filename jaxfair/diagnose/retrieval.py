"""Retrieval quality (paper Def. 3.2) on S_X and per group, and Theorem 3.3.

``Q_m(x) = max_j I[x, j] · Σ_k Y_k^j`` (0 when nothing was retrieved) is the best item the
retrieval handed to the later stages. Theorem 3.3: with calibrated scores and α = α*(g1), an
ε-gap ``ε = E_1[Q_m] − E_SX[Q_m]`` in retrieval quality shows up in term (4) as at least
``ε · min_k α*_k(g1)`` (the paper states it for the best f and α; we report term (4) at
α = α*(g1), the best α under calibration by Lemma 2.3, beside the theorem's right-hand side).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.batch import Batch
from jaxfair.diagnose.decompose import Decomposition, decompose, default_pair, resolve_weights
from jaxfair.diagnose.weights import check_groups
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

    @property
    def holds(self) -> bool:
        """term (4) >= ε · min_k α*_k(g1) at the point estimate."""
        return bool(self.term4 >= self.theorem_rhs)

    def summary(self) -> dict:
        return {"groups": list(self.groups), "Q_g1": self.q_g1, "Q_SX": self.q_sx, "Q_g0": self.q_g0,
                "epsilon": self.epsilon, "theorem33_rhs": self.theorem_rhs, "term4_at_alpha_star_g1": self.term4,
                "term4_ci": list(self.term4_ci), "holds": self.holds}


def retrieval_diagnosis(batch: Batch, prefs: Any, *, groups: Sequence[int] | None = None, weights: Any = None,
                        n_boot: int = 200, key: Any = None, clusters: Any = None,
                        **estimate_options) -> RetrievalDiagnosis:
    """Retrieval quality per group and on S_X, and Theorem 3.3 at α = α*(g1).

    Arguments as in :func:`~jaxfair.diagnose.decompose.decompose`; ``groups`` defaults to the
    better-served group at α = (1, …, 1) as g1.
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
    d = decompose(a1[None], batch, prefs_np, groups=pair, weights=w, n_boot=n_boot, key=key, clusters=clusters)
    eps = q1 - q_sx
    return RetrievalDiagnosis(groups=pair, q_g1=q1, q_sx=q_sx, q_g0=q0, epsilon=eps,
                              theorem_rhs=float(eps * a1.min()), term4=float(d.terms[0, 0]),
                              term4_ci=(float(d.ci[0, 0, 0]), float(d.ci[0, 0, 1])), decomposition=d)
