"""Robust choice and robust statements over a preference set (SPEC §9 "Robust choice").

* :func:`robust_alpha` — on a grid of α, the α maximising the q-quantile of utility over the
  set subject to robust DER (the minimum over the set) ≥ τ.
* :func:`share_near` / :func:`holds_text` — how a statement is labelled: **robust** only when it
  holds for every member of the set, otherwise "holds for X % of the set".
"""

from __future__ import annotations

import dataclasses

import numpy as np

from jaxfair.preferences.over_set import SetEvaluation
from jaxfair.utils.percent import percent

__all__ = ["RobustChoice", "holds_text", "robust_alpha", "share_near"]


@dataclasses.dataclass(frozen=True)
class RobustChoice:
    """The α chosen by :func:`robust_alpha`.

    Attributes:
      index: its row in the evaluated grid; alpha: ``[K]`` the α.
      feasible: True when some α has robust DER ≥ τ; False means none does, and ``index`` is
        the α with the **highest robust DER** instead (see ``message``).
      q, tau: the criterion; n_feasible: how many grid α have robust DER ≥ τ.
      utility_q: the q-quantile of utility over the set at the chosen α.
      robust_der: the robust DER (minimum over the set) at the chosen α.
      message: one line saying what was chosen and why.
    """

    index: int
    alpha: np.ndarray
    feasible: bool
    q: float
    tau: float
    n_feasible: int
    utility_q: float
    robust_der: float
    message: str

    def to_dict(self) -> dict:
        """JSON-ready record (``summary.json``)."""
        return {
            "alpha": [float(x) for x in self.alpha],
            "index": int(self.index),
            "feasible": bool(self.feasible),
            "q": self.q,
            "tau": self.tau,
            "n_feasible": int(self.n_feasible),
            "utility_q": self.utility_q,
            "robust_der": self.robust_der,
            "message": self.message,
        }


def _alpha_text(alpha: np.ndarray, score_names) -> str:
    return "(" + ", ".join(f"{n}={a:.3f}" for n, a in zip(score_names, alpha, strict=True)) + ")"


def robust_alpha(result: SetEvaluation, q: float = 0.1, tau: float = 0.9) -> RobustChoice:
    """The α of ``result``'s grid maximising the q-quantile of utility over the set, subject to
    robust DER (min over the set) ≥ ``tau``.

    When no α meets the constraint, the result says so (``feasible=False`` and a message) and
    returns the α with the highest robust DER — the fairest α for every member of the set —
    rather than relaxing τ silently. Ties go to the first α of the grid.

    Args:
      result: :func:`jaxfair.preferences.evaluate_set` over a grid of α.
      q: the utility quantile over the set, in [0, 1] (0 = the worst member, 0.5 = the median).
      tau: the robust-DER floor, in [0, 1].
    Raises:
      ValueError: q or tau out of range, or robust DER undefined (NaN) at every α (a group
        without users).
    """
    q, tau = float(q), float(tau)
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q: expected a quantile in [0, 1], got {q!r}")
    if not 0.0 <= tau <= 1.0:
        raise ValueError(f"tau: expected a DER floor in [0, 1], got {tau!r}")
    rder = result.robust_der
    if np.isnan(rder).all():
        raise ValueError("result: robust DER is undefined (NaN) at every α (a group has no users)")
    uq = result.utility_quantile(q)
    ok = np.nan_to_num(rder, nan=-np.inf) >= tau
    labels = result.alpha_names  # α weights the scores: its components carry their names
    pct = f"{100 * q:g} %"
    if ok.any():
        i = int(np.nanargmax(np.where(ok, uq, -np.inf)))
        msg = (
            f"robust choice α = {_alpha_text(result.alphas[i], labels)}: the highest {pct} quantile of utility "
            f"over the set ({uq[i]:.4f}) among the {int(ok.sum())} α whose DER is ≥ {tau:g} for every member "
            f"(robust DER {rder[i]:.4f})"
        )
    else:
        i = int(np.nanargmax(rder))
        msg = (
            f"no α has DER ≥ {tau:g} for every member of the set; the highest robust DER is {rder[i]:.4f}, at "
            f"α = {_alpha_text(result.alphas[i], labels)} ({pct} quantile of utility {uq[i]:.4f}): lower τ or "
            "narrow the set"
        )
    return RobustChoice(
        index=i,
        alpha=result.alphas[i].copy(),
        feasible=bool(ok.any()),
        q=q,
        tau=tau,
        n_feasible=int(ok.sum()),
        utility_q=float(uq[i]),
        robust_der=float(rder[i]),
        message=msg,
    )


def share_near(alphas: np.ndarray, member_index: np.ndarray, target: int, step: float) -> float:
    """The share of members whose chosen α (``alphas[member_index[q]]``) lies within ``step``
    of ``alphas[target]`` in every coordinate (one grid step: the neighbours on the lattice).

    Args:
      alphas: ``[P, K]`` the grid; member_index: ``[Q]`` each member's chosen row (e.g. its
        best-utility α); target: the row the statement names; step: the grid spacing.
    """
    a = np.asarray(alphas, np.float64)
    idx = np.asarray(member_index)
    dist = np.abs(a[idx] - a[int(target)][None, :]).max(axis=1)
    return float(np.mean(dist <= step * (1 + 1e-9)))


def holds_text(share: float) -> str:
    """``"robust (holds for every member of the set)"`` when ``share == 1``, else
    ``"holds for X % of the set"`` (:func:`~jaxfair.utils.percent.percent`: never 100 % unless exact)."""
    if share >= 1.0:
        return "robust (holds for every member of the set)"
    return f"holds for {percent(share)} of the set"
