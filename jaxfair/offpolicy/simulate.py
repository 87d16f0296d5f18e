"""Impression logs drawn from a full-information batch under a declared D₀, with their truth (SPEC §10)."""

from __future__ import annotations

from typing import Any

__all__ = ["LogTruth", "log_frame", "simulate_log"]


class LogTruth:
    """The full-information truth behind a simulated log (see :func:`simulate_log`)."""


def simulate_log(
    scenario_or_batch: Any,
    policy: Any,
    *,
    n_sessions: int | None = None,
    slate: int = 1,
    position_weights: Any = None,
    seed: int = 0,
    prefs: Any = None,
):
    """Draw an impression log under ``policy`` from a scenario or a full-information batch."""
    raise NotImplementedError


def log_frame(log: Any, propensity: Any = None):
    """The log in the CLI's long format."""
    raise NotImplementedError
