"""Counter-based random numbers keyed by (seed, period, slot, user) — never by α or policy.

Every draw of the dynamics is a pure function of integers: a 32-bit hash (the ``lowbias32``
mixer of C. Wellons, a bijection with full avalanche) chained over ``(seed, stream, period,
slot[, user])``. Populations served with different α (or policies) therefore see the same
newcomers, the same sessions and the same return draws wherever their histories agree
(common random numbers), whatever P, the chunking or the order of evaluation. The same
integer arithmetic runs in ``jax.numpy`` inside the scan and in NumPy (``xp=np``) in the
float64 reference, bit for bit.

A user is identified by its slot and its arrival period (a user never changes slot), so
``user`` below is the arrival period.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

__all__ = ["NEW_GROUP", "NEW_USER", "RETURN", "SESSION", "mix32", "slot_hash", "stream", "to_uniform", "user_hash"]

# Streams (what a draw is for): folded into the per-(period, slot) hash.
NEW_GROUP, NEW_USER, SESSION, RETURN = 0x1B873593, 0x27D4EB2F, 0x165667B1, 0x68E31DA4
_GOLDEN = 0x9E3779B9


def _u32(x, xp):
    return xp.asarray(x, dtype=xp.uint32)


def mix32(x, xp=jnp):
    """``lowbias32``: a bijective 32-bit mixer with good avalanche (uint32 in, uint32 out)."""
    if xp is np:
        with np.errstate(over="ignore"):  # uint32 arithmetic wraps, as in jax.numpy
            return _mix(np.asarray(x, np.uint32), np)
    return _mix(_u32(x, xp), xp)


def _mix(x, xp):
    x = x ^ (x >> 16)
    x = x * _u32(0x7FEB352D, xp)
    x = x ^ (x >> 15)
    x = x * _u32(0x846CA68B, xp)
    return x ^ (x >> 16)


def slot_hash(seed, period, n_slots: int, xp=jnp):
    """``uint32 [N]`` hash of (seed, period, slot) for slots ``0..N-1``."""
    with np.errstate(over="ignore"):
        h = mix32(_u32(seed, xp) ^ _u32(_GOLDEN, xp), xp)
        h = mix32(h + _u32(period, xp) * _u32(_GOLDEN, xp), xp)
        slots = xp.arange(n_slots, dtype=xp.uint32)
        return mix32(h ^ mix32(slots + _u32(0x85EBCA6B, xp), xp), xp)


def stream(base, which: int, xp=jnp):
    """The hash of one stream (:data:`NEW_GROUP`, ...) from a :func:`slot_hash`."""
    return mix32(base ^ _u32(which, xp), xp)


def user_hash(base, which: int, user, xp=jnp):
    """The hash of one stream for the user ``user`` (its arrival period) in each slot.

    ``base [N]`` from :func:`slot_hash`, ``user [..., N]`` int → ``uint32 [..., N]``.
    """
    with np.errstate(over="ignore"):
        return mix32(stream(base, which, xp) + _u32(user, xp) * _u32(_GOLDEN, xp), xp)


def to_uniform(h, xp=jnp):
    """uint32 hash → float32 uniform in [0, 1) with 24 bits (exact in float32 and float64)."""
    return (h >> 8).astype(xp.float32) * xp.float32(2.0**-24)
