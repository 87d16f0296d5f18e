"""Logging propensities p₀(j | x_n) of a declared D₀ (SPEC §10), and the check of a logged column.

* **Exact, K = 2 Dirichlet.** Only the direction of α matters: w = α₀/(α₀+α₁) ~ Beta(C·a₀, C·a₁)
  under Dir(C·a). Each session's served candidate is piecewise constant in w along its upper
  envelope (:func:`jaxfair.engine.sweep.user_envelopes`, ties as SPEC §2), so p₀(j) is the Beta
  probability of the w-intervals on which j is served (SciPy's regularised incomplete beta, float64).
  A centre with one zero weight is the degenerate case (w ≡ 0 or 1), and K = 1 is deterministic.
* **Exact, epsilon.** p₀(j) = E/|R_n| + (1 − E)·1[j = ĵ_n(a)] over the retrieved set R_n (the argmax
  from the engine's serving kernel, lowest index on ties); for slates P(j at r) = E/|R_n| for
  r < min(k, |R_n|) + (1 − E)·1[j = j_r(a)].
* **Monte Carlo** (Dirichlet K >= 3, and Dirichlet slates): ONE set of M draws α ~ D₀ for all sessions
  (common random numbers), each served with the engine's kernel; p̂ = count / M with standard error
  √(p̂(1 − p̂)/M). Given a log, its logged draw is counted as draw M + 1 for the shown item(s):
  p̂ = (count + 1[j = a_n]) / (M + 1) (rows still sum to 1), so a shown item never gets p̂ = 0, and IPS
  with it is unbiased to within (1 − p)^(M+1).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from jaxfair.offpolicy.policy import LoggingPolicy

__all__ = ["Propensities", "check_propensity_column", "propensities"]


@dataclasses.dataclass(frozen=True, eq=False)
class Propensities:
    """Every candidate's logging propensity.

    Attributes:
      p: float64 ``[S, m]`` (top-1) or ``[S, m, k]`` (slates: P(candidate j at position r));
        0 on candidates not retrieved; a session with nothing retrieved is all 0.
      se: Monte Carlo standard errors, same shape, or None (exact).
      method: ``"exact"`` or ``"monte-carlo"``; mc: M draws (None when exact).
    """

    p: np.ndarray
    se: np.ndarray | None
    method: str
    mc: int | None = None

    @property
    def max_se(self) -> float:
        """Largest standard error (0 when exact)."""
        return 0.0 if self.se is None else float(np.max(self.se, initial=0.0))

    def at_shown(self, shown: np.ndarray) -> np.ndarray:
        """float64 ``[S, k]``: the propensity of the item shown at each position (NaN where none)."""
        shown = np.asarray(shown)
        p = self.p if self.p.ndim == 3 else self.p[:, :, None]
        safe = np.maximum(shown, 0)
        out = np.stack(
            [np.take_along_axis(p[:, :, r], safe[:, r : r + 1], axis=1)[:, 0] for r in range(shown.shape[1])], axis=1
        )
        return np.where(shown >= 0, out, np.nan)

    def se_at_shown(self, shown: np.ndarray) -> np.ndarray | None:
        """Standard errors at the shown items ``[S, k]`` (None when exact)."""
        if self.se is None:
            return None
        return Propensities(self.se, None, self.method, self.mc).at_shown(shown)

    def info(self) -> dict:
        """``{"method", "mc", "max_se"}`` (JSON-ready)."""
        return {"method": self.method, "mc": self.mc, "max_se": self.max_se}


def propensities(
    log_or_batch: Any,
    policy: LoggingPolicy,
    *,
    slate: int = 1,
    mc: int = 4096,
    key: Any = None,
    chunk: int | None = None,
) -> Propensities:
    """Every candidate's propensity under the declared D₀ ``policy``.

    Args:
      log_or_batch: an :class:`~jaxfair.offpolicy.log.ImpressionLog` (its slate size is used, and
        with Monte Carlo its logged draw counts for the shown items) or a
        :class:`~jaxfair.engine.batch.Batch` (``slate`` gives k).
      policy: the declared :class:`LoggingPolicy` (K must match the scores).
      slate: k for a batch (a log's own k wins; ValueError when they differ).
      mc: M Monte Carlo draws (where exact is not available); key: PRNG key of the draws
        (default ``PRNGKey(0)``); chunk: sessions per kernel call (default: from a memory budget).
    Returns:
      :class:`Propensities` (``p`` float64 ``[S, m]``, slates ``[S, m, k]``).
    """
    from jaxfair.offpolicy.propensity_compute import compute

    return compute(log_or_batch, policy, slate=slate, mc=mc, key=key, chunk=chunk)


def check_propensity_column(log: Any, computed: Propensities, *, atol: float | None = None) -> None:
    """Check the logged propensity column against the declared D₀'s propensities.

    Tolerance per shown item: ``atol`` when given; exact: 1e-4 + 1e-4·p; Monte Carlo: 4 s.e. + 1e-3.
    Raises:
      ValueError: naming the worst session (largest excess over its tolerance) and both values.
    """
    if log.propensity is None:
        raise ValueError("log: has no propensity column to check")
    logged = log.propensity
    want = computed.at_shown(log.shown)
    filled = log.shown >= 0
    if atol is not None:
        tol = np.full(want.shape, float(atol))
    elif computed.se is None:
        tol = 1e-4 + 1e-4 * np.abs(want)
    else:
        tol = 4.0 * computed.se_at_shown(log.shown) + 1e-3
    excess = np.where(filled, np.abs(logged - want) - tol, -np.inf)
    if not np.any(excess > 0):
        return
    n, r = (int(i) for i in np.unravel_index(np.argmax(excess), excess.shape))
    ids = log.info.get("session_ids")
    who = f"session {ids[n]!r}" if ids is not None else f"session {n}"
    where = "" if log.slate_k == 1 else f" at position {r + 1}"
    how = (
        "exact"
        if computed.se is None
        else f"Monte Carlo, M = {computed.mc}, s.e. {computed.se_at_shown(log.shown)[n, r]:.2g}"
    )
    raise ValueError(
        f"propensity: the column disagrees with the declared logging {log.logging}: {who}{where} logs "
        f"{logged[n, r]:.6g}, the declared D0 gives {want[n, r]:.6g} ({how}); "
        f"{int(np.sum(excess > 0))} shown item(s) disagree"
    )
