"""Scenario registry: ``load(name, *, seed=0, **options)`` and ``available()``.

Every scenario yields the engine's :class:`~jaxfair.batch.Batch` from
``Scenario.sample(key, n_users)``. Modules register a factory with :func:`register`;
importing this package imports the built-in ones.
"""
from __future__ import annotations

from typing import Any, Callable

from jaxfair.scenarios.base import Scenario, check_prefs

__all__ = ["Scenario", "available", "check_prefs", "load", "register", "summary"]

_REGISTRY: dict[str, tuple[Callable[..., Scenario], str]] = {}


def register(name: str, factory: Callable[..., Scenario], description: str) -> None:
    """Register ``factory(seed=..., **options) -> Scenario`` under ``name``."""
    if name in _REGISTRY:
        raise ValueError(f"name: scenario {name!r} is already registered")
    _REGISTRY[name] = (factory, description)


def available() -> list[str]:
    """Names accepted by :func:`load`, in registration order."""
    return list(_REGISTRY)


def summary() -> dict[str, str]:
    """Name → one-line description of every registered scenario."""
    return {name: desc for name, (_, desc) in _REGISTRY.items()}


def load(name: str, *, seed: int = 0, prefs: Any = None, **options: Any) -> Scenario:
    """Build (or load from cache) the scenario ``name``.

    Args:
      name: one of :func:`available`.
      seed: seed for everything random in building the scenario.
      prefs: optional true preferences ``[G, K]`` replacing the scenario's default.
      **options: scenario-specific options (e.g. ``data_dir``, ``cache_dir``, ``n_candidates``).
    """
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"name: unknown scenario {name!r}; available: {', '.join(available())}")
    if not isinstance(seed, (int,)) or isinstance(seed, bool) or seed < 0:
        raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
    factory, _ = _REGISTRY[name]
    try:
        scenario = factory(seed=seed, **options)
    except TypeError as exc:
        # A misspelt option reaches a factory's signature as an unexpected keyword; say which
        # option it was instead of a TypeError from deep inside.
        if "unexpected keyword argument" not in str(exc):
            raise
        bad = str(exc).rsplit("argument", 1)[-1].strip()
        raise ValueError(f"options: unknown option {bad} for scenario {name!r}") from exc
    if prefs is not None:
        scenario = scenario.with_prefs(prefs)
    return scenario


# Built-in scenarios register themselves on import.
from jaxfair.scenarios import toy as _toy  # noqa: E402,F401

import importlib.util as _ilu  # noqa: E402

# The paper's scenarios (issue #3) live in their own modules; imported when present.
if _ilu.find_spec("jaxfair.scenarios.paper") is not None:
    from jaxfair.scenarios import paper as _paper  # noqa: E402,F401

# Bring-your-own-logs constructors (they build on the pool scenario, imported above it).
from jaxfair.scenarios.logs import ReplayScenario, from_file, from_frame  # noqa: E402

__all__ += ["ReplayScenario", "from_file", "from_frame"]
