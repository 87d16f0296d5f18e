"""Scenario registry: ``load(name, *, seed=0, **options)`` and ``available()``.

Every scenario yields the engine's :class:`~jaxfair.batch.Batch` from
``Scenario.sample(key, n_users)``. Modules register a factory with :func:`register`; the
built-in ones are imported on the first :func:`available`, :func:`summary` or :func:`load`
(so that importing the package, e.g. for ``jaxfair --help``, does not start JAX).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from jaxfair._lazy import lazy_package

if TYPE_CHECKING:  # for type checkers and the API docs; at run time see __getattr__ below
    from jaxfair.scenarios.base import Scenario, check_prefs
    from jaxfair.scenarios.logs import ReplayScenario, from_file, from_frame

__all__ = ["Scenario", "available", "check_prefs", "load", "register", "summary"]

_REGISTRY: dict[str, tuple[Callable[..., Scenario], str]] = {}


def register(name: str, factory: Callable[..., Scenario], description: str) -> None:
    """Register ``factory(seed=..., **options) -> Scenario`` under ``name``."""
    if name in _REGISTRY:
        raise ValueError(f"name: scenario {name!r} is already registered")
    _REGISTRY[name] = (factory, description)


_BUILTINS_LOADED = False


def _load_builtins() -> None:
    """Import (and so register) the built-in scenarios, once."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    import importlib
    import importlib.util

    importlib.import_module("jaxfair.scenarios.toy")
    if importlib.util.find_spec("jaxfair.scenarios.paper") is not None:
        importlib.import_module("jaxfair.scenarios.paper")


def available() -> list[str]:
    """Names accepted by :func:`load`, in registration order."""
    _load_builtins()
    return list(_REGISTRY)


def summary() -> dict[str, str]:
    """Name → one-line description of every registered scenario."""
    _load_builtins()
    return {name: desc for name, (_, desc) in _REGISTRY.items()}


def load(name: str, *, seed: int = 0, prefs: Any = None, **options: Any) -> Scenario:
    """Build (or load from cache) the scenario ``name``.

    Args:
      name: one of :func:`available`.
      seed: seed for everything random in building the scenario.
      prefs: optional true preferences ``[G, K]`` replacing the scenario's default.
      **options: scenario-specific options (e.g. ``data_dir``, ``cache_dir``, ``n_candidates``).
    """
    _load_builtins()
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
__getattr__, __dir__ = lazy_package(__name__, {
    "Scenario": "jaxfair.scenarios.base:Scenario", "check_prefs": "jaxfair.scenarios.base:check_prefs",
    "ReplayScenario": "jaxfair.scenarios.logs:ReplayScenario", "from_file": "jaxfair.scenarios.logs:from_file",
    "from_frame": "jaxfair.scenarios.logs:from_frame",
})

__all__ += ["ReplayScenario", "from_file", "from_frame"]
