"""Scenario registry: ``load(name, *, seed=0, **options)`` and ``available()``.

Every scenario yields the engine's :class:`~jaxfair.batch.Batch` from
``Scenario.sample(key, n_users)``. Modules register a factory with :func:`register`;
importing this package imports the built-in ones.
"""
from __future__ import annotations

from jaxfair.scenarios.base import Scenario
from jaxfair.scenarios.registry import available, load, register, summary
from jaxfair.validation import check_prefs

__all__ = ["Scenario", "available", "check_prefs", "load", "register", "summary"]


import importlib.util as _ilu  # noqa: E402

# Built-in scenarios register themselves on import (through jaxfair.scenarios.registry).
from jaxfair.scenarios import toy as _toy  # noqa: E402,F401

# The paper's scenarios (issue #3) live in their own modules; imported when present.
if _ilu.find_spec("jaxfair.scenarios.paper") is not None:
    from jaxfair.scenarios import paper as _paper  # noqa: E402,F401

# Bring-your-own-logs constructors (they build on the pool scenario, imported above it).
from jaxfair.scenarios.logs import ReplayScenario, from_file, from_frame  # noqa: E402

__all__ += ["ReplayScenario", "from_file", "from_frame"]
