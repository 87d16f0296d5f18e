"""Serving policies over time (SPEC §8): ``Fixed``, ``Retune``, ``RetuneFair`` and your own.

A policy that re-tunes is a grid of α and a **choice function**, a pure, jit-traceable
function of the period's group utilities over the grid::

    choose(group_utility [A, G], group_counts [G]) -> int32 index into the grid

``group_utility[a, g]`` is the mean utility group g's current occupants get this period
when every one of them is served with grid α ``a`` (NaN where the population has no user
of group g); ``group_counts[g]`` is how many occupants are in group g. Every ``every``
periods (t = 0, R, 2R, ...) the policy serves the chosen α from that period on. Write your
own with :class:`Custom`; ties should go to the first index (what ``jnp.argmax`` does).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxfair.engine import kernels
from jaxfair.validation import check_alphas

__all__ = [
    "Custom",
    "Fixed",
    "Policy",
    "Retune",
    "RetuneFair",
    "choose_fair",
    "choose_utility",
    "default_policies",
    "parse_policy",
]


def _check_every(every) -> int:
    if isinstance(every, bool) or not isinstance(every, (int, np.integer)) or every < 1:
        raise ValueError(f"every: expected an int >= 1 (periods between re-tunings), got {every!r}")
    return int(every)


def _check_grid(grid) -> np.ndarray:
    arr = np.asarray(grid, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise ValueError(f"grid: expected a non-empty [A, K] array of α, got shape {arr.shape}")
    return check_alphas(arr, arr.shape[1], name="grid")


def _utility(mu, counts):
    """Population-weighted global utility ``[A]`` from group means ``[A, G]`` (empty groups add 0)."""
    return jnp.sum(jnp.where(counts > 0, mu, 0.0) * counts, axis=-1) / jnp.maximum(jnp.sum(counts), 1)


def choose_utility(mu, counts):
    """``retune``: the grid α with the highest global utility (first in grid order on ties)."""
    return jnp.argmax(_utility(mu, counts)).astype(jnp.int32)


def choose_fair(mu, counts, tau):
    """``retune_fair``: the highest global utility among α with DER ≥ τ; none feasible → the
    highest DER; DER undefined (a group has no occupant) → the highest utility."""
    util = _utility(mu, counts)
    der = kernels.der_kernel(mu)
    defined = jnp.all(jnp.isfinite(der))
    feasible = der >= tau
    best_feasible = jnp.argmax(jnp.where(feasible, util, -jnp.inf))
    fallback = jnp.argmax(jnp.where(jnp.isfinite(der), der, -jnp.inf))
    pick = jnp.where(jnp.any(feasible), best_feasible, fallback)
    return jnp.where(defined, pick, jnp.argmax(util)).astype(jnp.int32)


class Policy:
    """Base class: ``name`` (label in tables), ``grid [A, K]`` and ``every`` (R)."""

    name: str
    grid: np.ndarray
    every: int

    def chooser(self) -> Callable[[Any, Any], Any]:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, eq=False)
class Fixed(Policy):
    """Serve one α for the whole horizon (``simulate`` runs many ``Fixed`` at once)."""

    alpha: Any
    name: str | None = None

    def __post_init__(self):
        a = np.asarray(self.alpha, dtype=np.float64)
        if a.ndim != 1:
            raise ValueError(f"alpha: expected shape [K], got shape {a.shape}")
        a = check_alphas(a[None], a.shape[0], name="alpha")[0]
        object.__setattr__(self, "alpha", a)
        if self.name is None:
            object.__setattr__(self, "name", "fixed:" + ",".join(f"{v:.4g}" for v in a))

    @property
    def grid(self) -> np.ndarray:
        return self.alpha[None]

    @property
    def every(self) -> int:
        return 1


@dataclasses.dataclass(frozen=True, eq=False)
class Custom(Policy):
    """A user policy: ``choose(group_utility [A, G], group_counts [G]) -> index`` (module docstring)."""

    grid: Any
    choose: Callable[[Any, Any], Any]
    every: int = 10
    name: str = "custom"

    def __post_init__(self):
        object.__setattr__(self, "grid", _check_grid(self.grid))
        object.__setattr__(self, "every", _check_every(self.every))
        if not callable(self.choose):
            raise ValueError(f"choose: expected a function (group_utility, group_counts) -> index, got {self.choose!r}")

    def chooser(self):
        return self.choose


@dataclasses.dataclass(frozen=True, eq=False)
class Retune(Policy):
    """Every R periods, the grid α maximising the current population's global utility on that
    period's sessions (an engagement-maximising platform)."""

    grid: Any
    every: int = 10
    name: str = "retune"

    def __post_init__(self):
        object.__setattr__(self, "grid", _check_grid(self.grid))
        object.__setattr__(self, "every", _check_every(self.every))

    def chooser(self):
        return choose_utility


@dataclasses.dataclass(frozen=True, eq=False)
class RetuneFair(Policy):
    """:class:`Retune` subject to DER ≥ τ (no feasible α: the highest DER)."""

    grid: Any
    every: int = 10
    tau: float = 0.9
    name: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "grid", _check_grid(self.grid))
        object.__setattr__(self, "every", _check_every(self.every))
        t = self.tau
        real = isinstance(t, (int, float, np.integer, np.floating)) and not isinstance(t, bool)
        if not real or not 0.0 <= float(t) <= 1.0:
            raise ValueError(f"tau: expected a DER threshold in [0, 1], got {t!r}")
        object.__setattr__(self, "tau", float(t))
        if self.name is None:
            object.__setattr__(self, "name", f"retune_fair:{self.tau:g}")

    def chooser(self):
        return _fair_chooser(self.tau)


@functools.cache
def _fair_chooser(tau: float):
    """One function object per τ, so the compiled scan is reused across calls."""
    return functools.partial(choose_fair, tau=tau)


def default_policies(n_labels: int) -> str:
    """The command line's ``--policies`` when none is given: equal weights, ``retune`` and
    ``retune_fair:0.9``. Equal weights are ``fixed:0.5`` for K = 2 and ``fixed:1/1/…/1`` (α = 1/K
    each: serving depends on α's direction only) for K ≥ 3, so the default fits every K."""
    if isinstance(n_labels, bool) or not isinstance(n_labels, (int, np.integer)) or n_labels < 2:
        raise ValueError(f"n_labels: expected an int >= 2, got {n_labels!r}")
    equal = "fixed:0.5" if n_labels == 2 else "fixed:" + "/".join(["1"] * int(n_labels))
    return f"{equal},retune,retune_fair:0.9"


def parse_policy(text: str, n_labels: int, grid: np.ndarray, every: int) -> Policy:
    """``fixed:W`` (K = 2: α = (W, 1 − W)) or ``fixed:a/b/c`` (any K), ``retune``, ``retune_fair:TAU``."""
    kind, _, arg = text.strip().partition(":")
    if kind == "fixed":
        try:
            vals = [float(v) for v in arg.split("/")]
        except ValueError:
            raise ValueError(f"policies: expected fixed:W or fixed:a/b/..., got {text!r}") from None
        if len(vals) == 1 and n_labels == 2:
            if not 0.0 <= vals[0] <= 1.0:
                raise ValueError(f"policies: fixed:W needs 0 <= W <= 1, got {text!r}")
            vals = [vals[0], 1.0 - vals[0]]
        if len(vals) != n_labels:
            form = "fixed:" + "/".join("abcdefghij"[k] if k < 10 else f"w{k}" for k in range(n_labels))
            raise ValueError(
                f"policies: {text!r} gives {len(vals)} weight{'s' if len(vals) != 1 else ''}, the scenario has "
                f"K={n_labels} labels: give one weight per label, {form} (e.g. fixed:{'/'.join(['1'] * n_labels)})"
                + (", or fixed:W for K = 2" if n_labels == 2 else "")
            )
        return Fixed(np.asarray(vals), name=text.strip())
    if kind == "retune" and not arg:
        return Retune(grid, every=every)
    if kind == "retune_fair":
        try:
            tau = float(arg) if arg else 0.9
        except ValueError:
            raise ValueError(f"policies: expected retune_fair:TAU, got {text!r}") from None
        return RetuneFair(grid, every=every, tau=tau)
    raise ValueError(f"policies: unknown policy {text!r}; expected fixed:W, retune or retune_fair:TAU")
