"""Preferences as an assumption (SPEC §9): preference sets, and estimating α*(g) from a satisfaction signal.

``PrefSet`` holds Q plausible preference matrices ``[Q, G, K]``; ``evaluate_set`` evaluates α
under all of them from one kernel pass and ``robust_alpha`` chooses α robustly; ``estimate`` recovers α*(g)
per group from logged served sessions with bootstrap-by-user CIs, or says why it cannot;
``served_sessions`` generates logs whose answer is known. See ``docs/preferences-estimation.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jaxfair.utils.lazy import lazy_package

__all__ = [
    "GroupFit",
    "PrefEstimate",
    "PrefSet",
    "RobustChoice",
    "SetEvaluation",
    "estimate",
    "evaluate_set",
    "robust_alpha",
    "served_sessions",
]

if TYPE_CHECKING:  # for type checkers and the API docs
    from jaxfair.preferences.estimate import GroupFit, PrefEstimate, estimate
    from jaxfair.preferences.over_set import SetEvaluation, evaluate_set
    from jaxfair.preferences.prefset import PrefSet
    from jaxfair.preferences.robust import RobustChoice, robust_alpha
    from jaxfair.preferences.synthetic import served_sessions

# Imported on first use: `jaxfair --help` registers `prefs` without importing pandas or SciPy.
__getattr__, __dir__ = lazy_package(
    __name__,
    {
        "GroupFit": "jaxfair.preferences.estimate:GroupFit",
        "PrefEstimate": "jaxfair.preferences.estimate:PrefEstimate",
        "estimate": "jaxfair.preferences.estimate:estimate",
        "PrefSet": "jaxfair.preferences.prefset:PrefSet",
        "served_sessions": "jaxfair.preferences.synthetic:served_sessions",
        "SetEvaluation": "jaxfair.preferences.over_set:SetEvaluation",
        "evaluate_set": "jaxfair.preferences.over_set:evaluate_set",
        "RobustChoice": "jaxfair.preferences.robust:RobustChoice",
        "robust_alpha": "jaxfair.preferences.robust:robust_alpha",
    },
)
