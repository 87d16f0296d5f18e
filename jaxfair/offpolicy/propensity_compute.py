"""The computation behind :func:`jaxfair.offpolicy.propensity.propensities` (see its module docstring)."""

from __future__ import annotations


def compute(log_or_batch, policy, *, slate=1, mc=4096, key=None, chunk=None):
    raise NotImplementedError
