"""What a (method, trial) unit of a study starts from, derived from the seed alone.

The random streams (:func:`derive_seed`), the trial's initial design (:func:`initial_design`,
shared by every method of the trial) and its hypervolume reference (:func:`_trial_reference`,
fixed once the initial design is observed). The trial loop that uses them is
:mod:`jaxfair.bo.study`.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
import torch

from jaxfair.bo.evaluator import Evaluator
from jaxfair.bo.pareto import reference_point

__all__ = ["derive_seed", "initial_design"]


def derive_seed(*parts: Any) -> int:
    """A 31-bit seed from integers/strings (strings via CRC32, stable across runs)."""
    ints = [zlib.crc32(p.encode()) if isinstance(p, str) else int(p) for p in parts]
    return int(np.random.SeedSequence(ints).generate_state(1)[0] & 0x7FFFFFFF)


def initial_design(ev: Evaluator, seed: int, trial: int, n_init: int) -> torch.Tensor:
    """The trial's initial design ``[n_init, d]``: depends on (seed, trial) only."""
    g = torch.Generator().manual_seed(derive_seed(seed, trial, "init"))
    lo, hi = ev.bounds[0], ev.bounds[1]
    return lo + (hi - lo) * torch.rand(n_init, ev.dim, generator=g, dtype=torch.float64)


def _trial_reference(Y_init: torch.Tensor) -> tuple[np.ndarray, float]:
    """(hypervolume reference point [M], eic's DER threshold) from a trial's initial design.

    The reference is the initial design's nadir minus 10 % of its range (BoTorch's
    ``infer_reference_point`` heuristic), fixed for the whole trial and shared by all
    methods; γ is the median observed DER of the initial design.
    """
    y = Y_init.numpy()
    return reference_point(y, 0.1), float(np.median(y[:, 1]))
