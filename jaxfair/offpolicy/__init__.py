"""Off-policy evaluation of α on impression logs (SPEC §10): outcomes only where something was shown.

* :mod:`~jaxfair.offpolicy.policy` — :class:`LoggingPolicy`, the declared weight randomisation D₀.
* :mod:`~jaxfair.offpolicy.log` — :class:`ImpressionLog`, a validated log (one row per session).
* :mod:`~jaxfair.offpolicy.propensity` — logging propensities p₀(j | x) of a declared D₀ (exact for
  K = 2 and for epsilon logging, Monte Carlo otherwise) and the check of a logged column against them.
* :mod:`~jaxfair.offpolicy.outcome` — the outcome model Ŷ of DM/DR (the scores when calibrated, else a
  per-label isotonic calibration cross-fitted by user).
* :mod:`~jaxfair.offpolicy.envelope` — K = 2 top-1: the channel sums on each log's exact envelope walk
  (the walk of the full-information K = 2 sweep, shared with the exact propensities).
* :mod:`~jaxfair.offpolicy.channels` — slates and K ≥ 3: the jit kernel, per-session channels gathered at
  the engine's served index, summed per group and per bootstrap replicate.
* :mod:`~jaxfair.offpolicy.bootstrap` — the users' resampling counts.
* :mod:`~jaxfair.offpolicy.estimate` — :func:`estimate` (IPS, SNIPS, DM, DR over an α grid) and
  :mod:`~jaxfair.offpolicy.result` its :class:`OffPolicyEstimate` (metrics with CIs, honesty).
* :mod:`~jaxfair.offpolicy.simulate` — :func:`simulate_log`, a log drawn from a full-information batch
  with its truth (:class:`LogTruth`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jaxfair.utils.lazy import lazy_package

__all__ = [
    "ESTIMATORS",
    "ImpressionLog",
    "LogTruth",
    "LoggingPolicy",
    "OffPolicyEstimate",
    "OutcomeModel",
    "Propensities",
    "check_propensity_column",
    "estimate",
    "fit_outcome_model",
    "propensities",
    "simulate_log",
]

if TYPE_CHECKING:  # for type checkers and the API docs
    from jaxfair.offpolicy.estimate import ESTIMATORS, estimate
    from jaxfair.offpolicy.log import ImpressionLog
    from jaxfair.offpolicy.outcome import OutcomeModel, fit_outcome_model
    from jaxfair.offpolicy.policy import LoggingPolicy
    from jaxfair.offpolicy.propensity import Propensities, check_propensity_column, propensities
    from jaxfair.offpolicy.result import OffPolicyEstimate
    from jaxfair.offpolicy.simulate import LogTruth, simulate_log

# Imported on first use: the CLI registers its flags without importing JAX.
__getattr__, __dir__ = lazy_package(
    __name__,
    {
        "ESTIMATORS": "jaxfair.offpolicy.estimate:ESTIMATORS",
        "estimate": "jaxfair.offpolicy.estimate:estimate",
        "ImpressionLog": "jaxfair.offpolicy.log:ImpressionLog",
        "OutcomeModel": "jaxfair.offpolicy.outcome:OutcomeModel",
        "fit_outcome_model": "jaxfair.offpolicy.outcome:fit_outcome_model",
        "LoggingPolicy": "jaxfair.offpolicy.policy:LoggingPolicy",
        "Propensities": "jaxfair.offpolicy.propensity:Propensities",
        "check_propensity_column": "jaxfair.offpolicy.propensity:check_propensity_column",
        "propensities": "jaxfair.offpolicy.propensity:propensities",
        "OffPolicyEstimate": "jaxfair.offpolicy.result:OffPolicyEstimate",
        "LogTruth": "jaxfair.offpolicy.simulate:LogTruth",
        "simulate_log": "jaxfair.offpolicy.simulate:simulate_log",
    },
)
