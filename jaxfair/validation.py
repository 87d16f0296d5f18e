"""Eager validation shared by the public API: every error names the argument and value.

The checks live in the engine (:mod:`jaxfair.engine.checks`, which its entry points call);
this module keeps the public names where users import them.
"""

from __future__ import annotations

# One list of names, the engine's: re-exported whole, so the façade cannot fall out of step with it.
from jaxfair.engine.checks import *  # noqa: F403
from jaxfair.engine.checks import __all__  # noqa: F401
