"""The long-run black box for BO: (utility, DER) of one α over a horizon of T periods.

:class:`jaxfair.bo.evaluator.Evaluator` with ``horizon=T`` delegates here: each call runs
:func:`jaxfair.dynamics.simulate` for the b α of the call on ``users`` slots over T periods
and returns the horizon summaries — the mean utility of every session over the horizon and
the DER of the groups' horizon mean utilities — so BO looks for α that are fair *over time*,
after retention has reshaped the population. The bank of users is drawn once per evaluator
(from its seed); each call's dynamics draws come from the call's key, so every α evaluated
with the same key (a study's paired methods) sees the same newcomers, sessions and return
draws (common random numbers).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.dynamics.retention import Retention
from jaxfair.dynamics.simulate import bank_for, simulate
from jaxfair.engine.slate import as_slate

__all__ = ["HorizonBlackBox"]


class HorizonBlackBox:
    """``evaluate(alphas [b, K], key) -> (utility [b], der [b], group_utility [b, G], counts [G])``.

    Args:
      scenario: a scenario with ``session_bank``; horizon: T >= 1 periods; slots: N users;
      seed: draws the bank; retention: default the scenario's; acquisition: default its prevalence;
      slate, position_weights, gamma: SPEC §7 slate serving in every period (a
        :class:`jaxfair.Slate` or k + weights; default top-1).
    """

    def __init__(
        self,
        scenario,
        horizon: int,
        *,
        slots: int,
        seed: int = 0,
        retention: Retention | None = None,
        acquisition=None,
        slate=1,
        position_weights=None,
        gamma: float | None = None,
    ):
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ValueError(f"horizon: expected an int >= 1 (periods), got {horizon!r}")
        self.scenario = scenario
        self.horizon = int(horizon)
        self.slots = int(slots)
        self.retention = Retention.for_scenario(scenario) if retention is None else retention
        self.acquisition = acquisition
        self.slate = as_slate(slate, position_weights, gamma, scenario.n_candidates)
        self.bank = bank_for(scenario, seed)

    def evaluate(self, alphas: np.ndarray, key) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        seed = int(jax.random.bits(key, (), jnp.uint32))
        res = simulate(
            self.scenario,
            np.asarray(alphas, np.float64),
            periods=self.horizon,
            slots=self.slots,
            retention=self.retention,
            acquisition=self.acquisition,
            seed=seed,
            bank=self.bank,
            slate=self.slate,
        )
        counts = res.counts.sum(axis=0).min(axis=0).astype(np.float64)  # [G]: a group absent under some α → 0
        return res.horizon_utility, res.horizon_der, res.horizon_group_utility, counts
