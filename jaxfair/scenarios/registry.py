"""The scenario registry: :func:`register` a factory under a name, :func:`load` it by name.

Scenario modules import :func:`register` from here (not from the package ``__init__``, which
imports them: that would be an import circle); users call ``jaxfair.scenarios.load``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for annotations: importing base would start JAX (see jaxfair --help)
    from jaxfair.scenarios.base import Scenario

__all__ = ["available", "load", "reads_data_files", "register", "summary"]

_REGISTRY: dict[str, tuple[Callable[..., Scenario], str]] = {}
# name → whether the scenario reads raw data files (its ``data_dir`` option means something);
# None: not declared, the factory's signature decides.
_READS_FILES: dict[str, bool | None] = {}


def register(name: str, factory: Callable[..., Scenario], description: str, *, reads_files: bool | None = None) -> None:
    """Register ``factory(seed=..., **options) -> Scenario`` under ``name``.

    ``reads_files``: True when the scenario reads raw data files (``data_dir=`` points to them),
    False when it reads none (the command line then refuses ``--data-dir`` for it, whatever
    options the factory swallows); None leaves it to the factory (an unknown ``data_dir``
    option is refused by :func:`load`).
    """
    if name in _REGISTRY:
        raise ValueError(f"name: scenario {name!r} is already registered")
    if reads_files is not None and not isinstance(reads_files, bool):
        raise ValueError(f"reads_files: expected True, False or None, got {reads_files!r}")
    _REGISTRY[name] = (factory, description)
    _READS_FILES[name] = reads_files


def reads_data_files(name: str) -> bool | None:
    """Whether the registered scenario ``name`` reads raw data files (None: not declared)."""
    if name not in _REGISTRY:
        raise ValueError(f"name: unknown scenario {name!r}; available: {', '.join(available())}")
    return _READS_FILES[name]


def available() -> list[str]:
    """Names accepted by :func:`load`, in registration order."""
    return list(_REGISTRY)


def summary() -> dict[str, str]:
    """Name → one-line description of every registered scenario."""
    return {name: desc for name, (_, desc) in _REGISTRY.items()}


def load(name: str, *, seed: int = 0, prefs: Any = None, allow_unnormalised: bool = False, **options: Any) -> Scenario:
    """Build (or load from cache) the scenario ``name``.

    Args:
      name: one of :func:`available`.
      seed: seed for everything random in building the scenario.
      prefs: optional true preferences replacing the scenario's default: a mapping
        ``{group name: row}`` or G rows in the scenario's ``group_names`` order (each row sums to 1).
      allow_unnormalised: let preference rows that do not sum to 1 through, with a warning.
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
        scenario = scenario.with_prefs(prefs, allow_unnormalised=allow_unnormalised)
    return scenario
