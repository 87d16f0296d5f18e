"""Sessions over time: retention, churn and the feedback loop that amplifies unfairness (SPEC §8).

``simulate(scenario, alphas | policies, periods=T, slots=N)`` runs one compiled ``lax.scan``
over periods, vectorised over the fixed α, with common random numbers keyed by (seed,
period, slot, user). See ``docs/dynamics.md``.
"""
from __future__ import annotations

from jaxfair.dynamics.policies import Custom, Fixed, Policy, Retune, RetuneFair, parse_policy
from jaxfair.dynamics.population import Bank, make_bank
from jaxfair.dynamics.result import DynamicsResult
from jaxfair.dynamics.retention import Retention
from jaxfair.dynamics.serving import session_utilities
from jaxfair.dynamics.simulate import bank_for, simulate

__all__ = ["Bank", "Custom", "DynamicsResult", "Fixed", "Policy", "Retention", "Retune", "RetuneFair", "bank_for",
           "make_bank", "parse_policy", "session_utilities", "simulate"]
