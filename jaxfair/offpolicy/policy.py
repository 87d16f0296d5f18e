"""The declared logging policy D₀ (SPEC §10): how the platform randomised serving weights per session.

``dirichlet:C@a_1,…,a_K``: each session served with α_n ~ Dir(C·a) (a normalised to sum 1; a
component with a_k = 0 is 0 in every draw). ``epsilon:E@a_1,…,a_K``: with probability E a uniformly
drawn retrieved candidate (a uniformly ordered slate of retrieved candidates for k > 1), else the
top item(s) of the fixed weights a. This module does not import JAX at import time (the CLI parses
``--logging`` before any kernel is needed).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["KINDS", "LoggingPolicy"]

#: The kinds of declared logging :meth:`LoggingPolicy.parse` accepts.
KINDS = ("dirichlet", "epsilon")


def _fmt(x: float) -> str:
    return f"{x:.10g}"


@dataclasses.dataclass(frozen=True, eq=False)
class LoggingPolicy:
    """A declared weight randomisation D₀ (SPEC §10).

    Attributes:
      kind: ``"dirichlet"`` (α_n ~ Dir(strength · center)) or ``"epsilon"`` (uniform retrieved
        candidate with probability ``strength``, else the argmax of ``center``).
      strength: C > 0 (Dirichlet concentration) or E in (0, 1] (exploration probability).
      center: float64 ``[K]`` a_1..a_K >= 0, finite, not all 0, normalised to sum 1.
    """

    kind: str
    strength: float
    center: np.ndarray

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"kind: expected one of {', '.join(KINDS)}, got {self.kind!r}")
        if isinstance(self.strength, bool) or not isinstance(self.strength, (int, float, np.integer, np.floating)):
            raise ValueError(f"strength: expected a number, got {self.strength!r}")
        s = float(self.strength)
        if self.kind == "dirichlet" and not (math.isfinite(s) and s > 0):
            raise ValueError(f"strength: a Dirichlet concentration C must be finite and > 0, got {s!r}")
        if self.kind == "epsilon" and not (0.0 < s <= 1.0):
            raise ValueError(f"strength: epsilon E must be in (0, 1], got {s!r}")
        try:
            c = np.array(self.center, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise ValueError(f"center: expected K numbers, got {self.center!r}") from None
        if c.size < 1 or not np.all(np.isfinite(c)) or np.any(c < 0) or not np.any(c > 0):
            raise ValueError(f"center: expected K >= 1 finite weights >= 0, not all 0, got {c.tolist()}")
        c = c / c.sum()
        c.setflags(write=False)
        object.__setattr__(self, "strength", s)
        object.__setattr__(self, "center", c)

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, LoggingPolicy)
            and (self.kind, self.strength) == (other.kind, other.strength)
            and np.array_equal(self.center, other.center)
        )

    def __hash__(self) -> int:
        return hash((self.kind, self.strength, tuple(self.center.tolist())))

    @property
    def n_labels(self) -> int:
        """K, the number of weights."""
        return int(self.center.size)

    @classmethod
    def parse(cls, spec: str, n_labels: int | None = None, *, name: str = "--logging") -> LoggingPolicy:
        """Parse ``"dirichlet:C@a_1,…,a_K"`` or ``"epsilon:E@a_1,…,a_K"``.

        Args:
          spec: the declaration; n_labels: K of the scores (checked when given);
          name: what the errors call the argument (``--logging`` on the command line).
        Raises:
          ValueError: one sentence naming ``name``, the spec and what is wrong.
        """
        form = "expected dirichlet:C@a_1,...,a_K or epsilon:E@a_1,...,a_K"
        if not isinstance(spec, str):
            raise ValueError(f"{name}: {form}, got {spec!r}")
        kind, sep, rest = spec.strip().partition(":")
        kind = kind.strip().lower()
        if not sep or kind not in KINDS:
            raise ValueError(f"{name}: {form}, got {spec!r}")
        strength_txt, at, center_txt = rest.partition("@")
        if not at:
            raise ValueError(f"{name}: {form} (no '@' before the weights), got {spec!r}")
        what = "the concentration C" if kind == "dirichlet" else "epsilon E"
        try:
            strength = float(strength_txt)
        except ValueError:
            raise ValueError(f"{name}: {what} in {spec!r} is not a number: {strength_txt.strip()!r}") from None
        try:
            center = [float(x) for x in center_txt.split(",")]
        except ValueError:
            raise ValueError(f"{name}: the weights in {spec!r} are not comma-separated numbers") from None
        if kind == "dirichlet" and not (math.isfinite(strength) and strength > 0):
            raise ValueError(f"{name}: {what} must be finite and > 0 in {spec!r}, got {strength_txt.strip()}")
        if kind == "epsilon" and not (0.0 < strength <= 1.0):
            raise ValueError(f"{name}: {what} must be in (0, 1] in {spec!r}, got {strength_txt.strip()}")
        c = np.asarray(center)
        if not np.all(np.isfinite(c)) or np.any(c < 0) or not np.any(c > 0):
            raise ValueError(f"{name}: the weights in {spec!r} must be finite, >= 0 and not all 0")
        if n_labels is not None and len(center) != int(n_labels):
            raise ValueError(f"{name} has K={len(center)} weights, the scores have K={int(n_labels)} (in {spec!r})")
        return cls(kind, strength, c)

    def sample(self, key, n: int):
        """Serving weights of ``n`` sessions: float32 ``[n, K]`` (Dirichlet draws; epsilon: the center).

        A component with a_k = 0 is 0 in every draw (Dir with a zero parameter puts no mass there).
        """
        import jax.numpy as jnp

        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n: expected an int >= 0, got {n!r}")
        c = jnp.asarray(self.center, jnp.float32)
        if self.kind == "epsilon":
            return jnp.broadcast_to(c, (int(n), self.n_labels))
        return dirichlet_draws(key, self.strength * self.center, int(n))

    def describe(self) -> dict:
        """JSON-ready ``{"kind", "strength", "center", "spec"}``."""
        return {"kind": self.kind, "strength": self.strength, "center": self.center.tolist(), "spec": str(self)}

    def __str__(self) -> str:
        return f"{self.kind}:{_fmt(self.strength)}@{','.join(_fmt(float(a)) for a in self.center)}"

    def __repr__(self) -> str:
        return f"LoggingPolicy({str(self)!r})"


def dirichlet_draws(key, concentration: np.ndarray, n: int):
    """``n`` draws of Dir(concentration) as float32 ``[n, K]``; zero components stay exactly 0.

    ``jax.random.dirichlet`` (log-space Gamma draws: stable for tiny concentrations) on the positive
    components only: a Gamma(0) draw is not defined.
    """
    import jax
    import jax.numpy as jnp

    conc = np.asarray(concentration, np.float64)
    pos = np.flatnonzero(conc > 0)
    g = jax.random.dirichlet(key, jnp.asarray(conc[pos], jnp.float32), (int(n),))
    out = jnp.zeros((int(n), conc.size), jnp.float32)
    return out.at[:, jnp.asarray(pos)].set(g)
