"""Sessions over time: retention, churn and the feedback loop that amplifies unfairness (SPEC §8).

``simulate(scenario, alphas | policies, periods=T, slots=N)`` runs one compiled ``lax.scan``
over periods, vectorised over the fixed α, with common random numbers keyed by (seed,
period, slot, user). See ``docs/dynamics.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jaxfair.utils.lazy import lazy_package

if TYPE_CHECKING:  # for type checkers and the API docs
    from jaxfair.dynamics.policies import Custom, Fixed, Policy, Retune, RetuneFair, parse_policy
    from jaxfair.dynamics.population import Bank, make_bank
    from jaxfair.dynamics.result import DynamicsResult
    from jaxfair.dynamics.retention import Retention
    from jaxfair.dynamics.serving import session_utilities
    from jaxfair.dynamics.simulate import bank_for, simulate

# Imported on first use: `jaxfair --help` registers `dynamics` without importing JAX.
__getattr__, __dir__ = lazy_package(
    __name__,
    {
        "Custom": "jaxfair.dynamics.policies:Custom",
        "Fixed": "jaxfair.dynamics.policies:Fixed",
        "Policy": "jaxfair.dynamics.policies:Policy",
        "Retune": "jaxfair.dynamics.policies:Retune",
        "RetuneFair": "jaxfair.dynamics.policies:RetuneFair",
        "parse_policy": "jaxfair.dynamics.policies:parse_policy",
        "Bank": "jaxfair.dynamics.population:Bank",
        "make_bank": "jaxfair.dynamics.population:make_bank",
        "DynamicsResult": "jaxfair.dynamics.result:DynamicsResult",
        "Retention": "jaxfair.dynamics.retention:Retention",
        "session_utilities": "jaxfair.dynamics.serving:session_utilities",
        "bank_for": "jaxfair.dynamics.simulate:bank_for",
        "simulate": "jaxfair.dynamics.simulate:simulate",
    },
)

__all__ = [
    "Bank",
    "Custom",
    "DynamicsResult",
    "Fixed",
    "Policy",
    "Retention",
    "Retune",
    "RetuneFair",
    "bank_for",
    "make_bank",
    "parse_policy",
    "session_utilities",
    "simulate",
]
