"""The worst/best group utility ratio min_g μ_g / max_g μ_g, shown beside DER (SPEC §9).

DER is quadratic in the groups' shares of utility and stays near 1 for gaps of 20–40 %
(two groups at 1.0 and 0.6 give DER ≈ 0.94): it must not be read alone. The ratio says the
gap directly: 0.6 means the worst-served group gets 60 % of the best-served group's utility.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["worst_best_ratio"]


def worst_best_ratio(group_utility: Any) -> np.ndarray | float:
    """``min_g μ_g / max_g μ_g`` over the last axis.

    Args:
      group_utility: ``[..., G]`` mean utility per group (G >= 1; non-negative in jaxfair).
    Returns:
      float64 ``[...]`` (a Python float for a single ``[G]`` vector): NaN where any group mean is
      NaN (an empty group: the gap is unknown) or where the best group's utility is 0 (nobody
      gets anything: no ratio).
    """
    mu = np.asarray(group_utility, dtype=np.float64)
    if mu.ndim < 1 or mu.shape[-1] < 1:
        raise ValueError(f"group_utility: expected shape [..., G] with G >= 1, got {mu.shape}")
    lo, hi = mu.min(axis=-1), mu.max(axis=-1)  # NaN propagates through min/max
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(hi > 0, lo / np.where(hi > 0, hi, 1.0), np.nan)
    ratio = np.where(np.isnan(lo) | np.isnan(hi), np.nan, ratio)
    return float(ratio) if ratio.ndim == 0 else ratio
