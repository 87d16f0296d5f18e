"""The retention model (SPEC §8): satisfaction smoothing and the return probability ρ(s).

``s ← (1 − λ)·s + λ·u_t`` (``s = u_0`` at a user's first session); the user returns next
period with probability ``ρ(s) = ρ_min + (ρ_max − ρ_min)·σ(κ·(s − s_mid))``.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["Retention", "return_probability", "satisfaction"]


def _real(name: str, value) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float, np.integer, np.floating))
        or not math.isfinite(float(value))
    ):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


@dataclasses.dataclass(frozen=True)
class Retention:
    """Retention parameters; validated on construction (``ValueError`` naming the argument).

    Attributes:
      rho_min, rho_max: return probability of a user with very low / very high satisfaction,
        ``0 <= rho_min <= rho_max <= 1`` (SPEC defaults 0.5, 0.98).
      kappa: steepness κ >= 0 of the logistic in s (default 10).
      s_mid: satisfaction at the logistic's midpoint (default 0.5).
      smoothing: λ ∈ (0, 1], weight of the latest session's utility (default 0.5).
    """

    rho_min: float = 0.5
    rho_max: float = 0.98
    kappa: float = 10.0
    s_mid: float = 0.5
    smoothing: float = 0.5

    def __post_init__(self):
        for name in ("rho_min", "rho_max", "kappa", "s_mid", "smoothing"):
            object.__setattr__(self, name, _real(name, getattr(self, name)))
        for name in ("rho_min", "rho_max"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name}: expected a probability in [0, 1], got {v!r}")
        if self.rho_min > self.rho_max:
            raise ValueError(
                f"rho_min: expected rho_min <= rho_max, got rho_min={self.rho_min!r} > rho_max={self.rho_max!r}"
            )
        if self.kappa < 0:
            raise ValueError(f"kappa: expected kappa >= 0, got {self.kappa!r}")
        if not 0.0 < self.smoothing <= 1.0:
            raise ValueError(f"smoothing: expected lambda in (0, 1], got {self.smoothing!r}")

    @classmethod
    def for_scenario(cls, scenario, **overrides) -> Retention:
        """The scenario's documented defaults (``scenario.retention_defaults``), with overrides."""
        base = dict(getattr(scenario, "retention_defaults", {}) or {})
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)

    def params(self) -> jnp.ndarray:
        """float32 ``[5]`` (rho_min, rho_max, kappa, s_mid, smoothing) for the compiled scan."""
        return jnp.asarray([self.rho_min, self.rho_max, self.kappa, self.s_mid, self.smoothing], jnp.float32)

    def rho(self, s, xp=np):
        """ρ(s) (float64 with ``xp=np``)."""
        return return_probability(s, (self.rho_min, self.rho_max, self.kappa, self.s_mid), xp)


def return_probability(s, params, xp=jnp):
    """``ρ(s)`` for ``params = (rho_min, rho_max, kappa, s_mid[, ...])``."""
    lo, hi, kappa, mid = params[0], params[1], params[2], params[3]
    z = kappa * (s - mid)
    sig = jax.nn.sigmoid(z) if xp is jnp else 1.0 / (1.0 + np.exp(-z))
    return lo + (hi - lo) * sig


def satisfaction(s, u, first, smoothing, xp=jnp):
    """Updated satisfaction: ``u`` at a first session, else ``(1 − λ)·s + λ·u``."""
    return xp.where(first, u, (1.0 - smoothing) * s + smoothing * u)
