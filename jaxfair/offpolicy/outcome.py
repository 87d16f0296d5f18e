"""The outcome model Ŷ of DM and DR (SPEC §10).

The scores themselves when they are calibrated probabilities of the labels (every score in [0, 1] and
the ECE on shown rows <= ``ece_max``, 10 equal bins as :mod:`jaxfair.diagnose.calibration`); otherwise,
per label, an isotonic regression of the shown rows' label on their score (monotone in the score,
which is what a calibration of a ranking score can assume), cross-fitted by user: the sessions of one
fold of logged users are predicted by the fit on the other folds' shown rows, so no session's own
outcome enters its prediction.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["OutcomeModel", "fit_outcome_model", "shown_ece"]


@dataclasses.dataclass(frozen=True, eq=False)
class OutcomeModel:
    """Predicted outcomes Ŷ of every candidate.

    Attributes:
      predictions: float32 ``[S, m, K]``.
      info: ``{"kind": "scores" | "calibrated" | "given", "method", "ece": {label: ECE of the scores on
        shown rows}, "ece_model": {label: out-of-fold ECE of Ŷ}, "folds": n}``.
    """

    predictions: np.ndarray
    info: dict


def shown_ece(values: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> float:
    """ECE of ``values [R]`` against ``labels [R]`` (10 equal-width bins over [0, 1]); NaN when a value
    is outside [0, 1] (not a probability)."""
    raise NotImplementedError


def fit_outcome_model(log: Any, *, folds: int = 5, ece_max: float = 0.02, key: Any = None) -> OutcomeModel:
    """Fit Ŷ on the shown rows of ``log`` (see the module docstring)."""
    raise NotImplementedError
