"""Scenario registry: ``load(name, *, seed=0, **options)`` and ``available()``.

Every scenario yields the engine's :class:`~jaxfair.engine.batch.Batch` from
``Scenario.sample(key, n_users)``. Modules register a factory with :func:`register`
(:mod:`jaxfair.scenarios.registry`); the built-in ones are imported on the first
:func:`available`, :func:`summary` or :func:`load` (so that importing the package, e.g. for
``jaxfair --help``, does not start JAX).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from jaxfair.scenarios import registry as _registry
from jaxfair.scenarios.registry import register
from jaxfair.utils.lazy import lazy_package

if TYPE_CHECKING:  # for type checkers and the API docs; at run time see __getattr__ below
    from jaxfair.scenarios.base import Scenario
    from jaxfair.scenarios.logs import from_file, from_frame
    from jaxfair.scenarios.replay import ReplayScenario
    from jaxfair.validation import check_prefs

__all__ = [
    "ReplayScenario",
    "Scenario",
    "available",
    "check_prefs",
    "from_file",
    "from_frame",
    "load",
    "reads_data_files",
    "register",
    "summary",
]

_BUILTINS_LOADED = False


def _load_builtins() -> None:
    """Import (and so register, through :mod:`jaxfair.scenarios.registry`) the built-in scenarios, once."""
    global _BUILTINS_LOADED
    if _BUILTINS_LOADED:
        return
    _BUILTINS_LOADED = True
    import importlib
    import importlib.util

    importlib.import_module("jaxfair.scenarios.toy")
    # The paper's scenarios (issue #3) live in their own modules; imported when present.
    if importlib.util.find_spec("jaxfair.scenarios.paper") is not None:
        importlib.import_module("jaxfair.scenarios.paper")


def available() -> list[str]:
    """Names accepted by :func:`load`, in registration order."""
    _load_builtins()
    return _registry.available()


def summary() -> dict[str, str]:
    """Name → one-line description of every registered scenario."""
    _load_builtins()
    return _registry.summary()


def reads_data_files(name: str) -> bool | None:
    """Whether the registered scenario ``name`` reads raw data files (:func:`jaxfair.scenarios.registry.register`)."""
    _load_builtins()
    return _registry.reads_data_files(name)


def load(name: str, *, seed: int = 0, prefs: Any = None, **options: Any) -> Scenario:
    """Build (or load from cache) the scenario ``name`` (see :func:`jaxfair.scenarios.registry.load`)."""
    _load_builtins()
    return _registry.load(name, seed=seed, prefs=prefs, **options)


load.__doc__ = _registry.load.__doc__

__getattr__, __dir__ = lazy_package(
    __name__,
    {
        "Scenario": "jaxfair.scenarios.base:Scenario",
        "check_prefs": "jaxfair.validation:check_prefs",
        "ReplayScenario": "jaxfair.scenarios.replay:ReplayScenario",
        "from_file": "jaxfair.scenarios.logs:from_file",
        "from_frame": "jaxfair.scenarios.logs:from_frame",
    },
)
