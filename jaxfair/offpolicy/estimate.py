"""Off-policy estimates of every α of a grid from an impression log (SPEC §10)."""

from __future__ import annotations

from typing import Any

__all__ = ["ESTIMATORS", "estimate"]

#: The estimators :func:`estimate` takes.
ESTIMATORS = ("ips", "snips", "dm", "dr")


def estimate(
    alphas: Any,
    log: Any,
    *,
    estimator: str = "dr",
    clip: float | None = None,
    n_boot: int = 200,
    key: Any = None,
    level: float = 0.95,
    min_ess: float = 30.0,
    p_min: float = 1e-3,
    mc: int = 4096,
    outcome_model: Any = None,
    progress: bool = False,
):
    """IPS / SNIPS / DM / DR estimates of the per-label group means for every α (SPEC §10)."""
    raise NotImplementedError
