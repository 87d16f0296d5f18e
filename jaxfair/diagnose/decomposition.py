"""The result of :func:`~jaxfair.diagnose.decompose.decompose`: :class:`Decomposition`, the
gap's terms (4)–(6) per α with their bootstrap CIs and Theorem 3.1's bound, and its tables.

The computation (kernel, bootstrap, chunking) is in :mod:`jaxfair.diagnose.decompose`; this module
holds only what a result is and how it becomes a table or a JSON-able summary.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from jaxfair.diagnose.bound import Theorem31Bound
from jaxfair.diagnose.weights import SharedSpaceWeights
from jaxfair.utils.alpha_names import alpha_columns

__all__ = ["EXPECTATIONS", "TERMS", "Decomposition"]

EXPECTATIONS = ("E1[U1]", "ESX[U1]", "ESX[U0]", "E0[U0]")
TERMS = ("term4", "term5", "term6", "gap")
#: Theorem 3.1's per-α flags and sentence: columns of :meth:`Decomposition.to_frame`, not quantities.
_BOUND_FLAGS = ("applies", "holds", "vacuous", "split_unique", "verdict")


@dataclasses.dataclass(frozen=True)
class Decomposition:
    """Decomposition of the utility gap between ``groups = (g1, g0)`` for P weight vectors α.

    Attributes:
      alphas: float64 ``[P, K]``.
      groups, group_names: the pair (g1 = reference) and names of all groups.
      expectations: float64 ``[P, 4]`` (:data:`EXPECTATIONS`).
      terms: float64 ``[P, 4]``: term (4), term (5), term (6) and the gap (:data:`TERMS`);
        the first three add up to the fourth.
      ci: float64 ``[P, 4, 2]`` percentile bootstrap CIs of ``terms`` (NaN if n_boot = 0).
      boot_terms: float64 ``[B, P, 4]`` bootstrap replicates of ``terms``.
      level: CI level; n_boot: B.
      bound: Theorem 3.1's bound on term (5) (:class:`~jaxfair.diagnose.bound.Theorem31Bound`).
      weights: the S_X weights used.
      n_users: batch rows (sessions) of g1 and of g0.
      label_names: names of α's K components for the table's α columns — the scores α weights
        (:mod:`jaxfair.utils.alpha_names`; None: ``alpha_0`` ...).
    """

    alphas: np.ndarray
    groups: tuple[int, int]
    group_names: tuple[str, ...]
    expectations: np.ndarray
    terms: np.ndarray
    ci: np.ndarray
    boot_terms: np.ndarray
    level: float
    n_boot: int
    bound: Theorem31Bound
    weights: SharedSpaceWeights
    n_users: tuple[int, int]
    label_names: tuple[str, ...] | None = None

    @property
    def gap(self) -> np.ndarray:
        return self.terms[:, 3]

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per (α, quantity) with a float ``estimate`` and its CI; α columns
        ``alpha_<score>`` (``alpha_<k>`` without :attr:`label_names`).

        ``estimate`` is always numeric (float64), so ``pivot_table(values="estimate")`` works.
        Theorem 3.1's flags are per α, not quantities: they sit in their own columns on every
        row of that α — ``theorem31_applies``, ``theorem31_holds``, ``theorem31_vacuous``,
        ``theorem31_split_unique`` (bool or None) and ``theorem31_verdict`` (a sentence).
        """
        rows = []
        g1, g0 = (self.group_names[g] for g in self.groups)
        for p, a in enumerate(self.alphas):
            base = alpha_columns(self.label_names or [str(k) for k in range(len(a))], a)
            base.update(alpha_index=p, g1=g1, g0=g0)
            brow = self.bound.row(p)
            base.update({f"theorem31_{k}": brow[k] for k in _BOUND_FLAGS})
            for i, name in enumerate(EXPECTATIONS):
                rows.append(dict(base, quantity=name, estimate=self.expectations[p, i], ci_low=np.nan, ci_high=np.nan))
            for i, name in enumerate(TERMS):
                rows.append(
                    dict(
                        base,
                        quantity=name,
                        estimate=self.terms[p, i],
                        ci_low=self.ci[p, i, 0],
                        ci_high=self.ci[p, i, 1],
                    )
                )
            for name, v in brow.items():
                if name not in _BOUND_FLAGS and name != "premise":
                    rows.append(dict(base, quantity=name, estimate=float(v), ci_low=np.nan, ci_high=np.nan))
        df = pd.DataFrame(rows)
        return df.astype({"estimate": np.float64, "ci_low": np.float64, "ci_high": np.float64})

    def summary(self, p: int = 0) -> dict:
        """JSON-able summary of row p."""
        out = {
            "alpha": self.alphas[p].tolist(),
            "groups": [self.group_names[g] for g in self.groups],
            "n_users": list(self.n_users),
        }
        for i, name in enumerate(EXPECTATIONS):
            out[name] = float(self.expectations[p, i])
        for i, name in enumerate(TERMS):
            out[name] = {
                "estimate": float(self.terms[p, i]),
                "ci": [None if np.isnan(c) else float(c) for c in self.ci[p, i]],
            }
        out["theorem31"] = self.bound.row(p)
        return out
