"""Eager validation shared by the public API: every error names the argument and value.

The checks live in the engine (:mod:`jaxfair.engine.checks`, which its entry points call);
this module keeps the public names where users import them.
"""

from __future__ import annotations

from jaxfair.engine.checks import (
    PREFS_SUM_TOL,
    EmptyGroupWarning,
    ProviderGroupWarning,
    UnnormalisedPrefs,
    UnnormalisedPrefsWarning,
    check_alpha,
    check_alphas,
    check_batch,
    check_batch_prefs,
    check_prefs,
    warn_empty_groups,
    warn_provider_groups,
)

__all__ = [
    "EmptyGroupWarning",
    "PREFS_SUM_TOL",
    "ProviderGroupWarning",
    "UnnormalisedPrefs",
    "UnnormalisedPrefsWarning",
    "check_alpha",
    "check_alphas",
    "check_batch",
    "check_batch_prefs",
    "check_prefs",
    "warn_empty_groups",
    "warn_provider_groups",
]
