"""Provider exposure fairness (SPEC §7) from the exposure and merit the executors summed."""

from __future__ import annotations

import numpy as np

from jaxfair.engine import kernels
from jaxfair.engine.checks import warn_provider_groups

__all__ = ["provider_metrics"]


def provider_metrics(exposure: np.ndarray, merit: np.ndarray, warn: bool = True):
    """Provider exposure fairness (SPEC §7) from exposure ``E [P, H]`` and merit ``M [H]``.

    Returns ``(exposure_share [P, H], merit_share [H], provider_der [P])``: e_h = E_h/ΣE,
    m_h = M_h/ΣM, provider DER = the DER formula on ρ_h = e_h/m_h. Undefined (NaN, with a
    :class:`ProviderGroupWarning` naming h when ``warn``) where a provider group has no merit
    (M_h = 0) or where nothing is exposed (ΣE = 0).
    """
    # Provider 0's exposure is a float32 difference (total − others): clip its rounding below 0.
    exposure = np.maximum(np.asarray(exposure, np.float64), 0.0)
    merit = np.asarray(merit, np.float64)
    tot_e = exposure.sum(axis=1, keepdims=True)
    tot_m = merit.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        e_share = np.where(tot_e > 0, exposure / np.where(tot_e > 0, tot_e, 1.0), np.nan)
        m_share = merit / tot_m if tot_m > 0 else np.full_like(merit, np.nan)
        ratio = np.where(m_share > 0, e_share / np.where(m_share > 0, m_share, 1.0), np.nan)
    no_merit = [int(h) for h in np.flatnonzero(~(merit > 0))]
    if warn:
        warn_provider_groups(no_merit, int(np.sum(tot_e[:, 0] <= 0)))
    pder = kernels.der_kernel(ratio, np) if exposure.shape[1] >= 2 else np.full(exposure.shape[0], np.nan)
    return e_share, m_share, np.asarray(pder, np.float64)
