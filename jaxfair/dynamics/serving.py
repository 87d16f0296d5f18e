"""The one place where the dynamics serve sessions: ``session_utilities``.

Every utility the dynamics use comes from :func:`session_utilities` (the table of each α on
each bank session), so switching to slates (SPEC §7) is a change to this function only.
"""
from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair import kernels
from jaxfair.batch import Batch

__all__ = ["check_slate", "session_utilities"]

_NAMED_WEIGHTS = ("dcg", "geometric", "uniform")


def check_slate(slate, position_weights) -> float:
    """Validate ``slate``/``position_weights``; returns v_1 (the rank-1 weight)."""
    if isinstance(slate, bool) or not isinstance(slate, (int, np.integer)) or slate < 1:
        raise ValueError(f"slate: expected an int >= 1, got {slate!r}")
    if slate != 1:
        raise ValueError(f"slate: only slate=1 until the slate kernel (SPEC §7) is merged, got slate={slate}")
    if position_weights is None or (isinstance(position_weights, str) and position_weights in _NAMED_WEIGHTS):
        return 1.0  # v_1 = 1 for every named model
    if isinstance(position_weights, str):
        raise ValueError(f"position_weights: expected one of {list(_NAMED_WEIGHTS)} or a vector, "
                         f"got {position_weights!r}")
    v = np.asarray(position_weights, dtype=np.float64).reshape(-1)
    if v.size < 1 or not np.all(np.isfinite(v)) or np.any(v < 0) or v[0] <= 0 or np.any(np.diff(v) > 0):
        raise ValueError(f"position_weights: expected finite, >= 0, non-increasing weights with v_1 > 0, "
                         f"got {v.tolist()}")
    return float(v[0])


@functools.partial(jax.jit, static_argnames=())
def _served(alphas, scores, mask, labels, group, prefs, v1):
    batch = Batch(scores=scores, labels=labels, mask=mask, group=group)
    value = kernels.true_value(batch, prefs)  # [n, m]
    return (kernels.served_value(alphas, batch, value) * v1).T  # [P, n]


def session_utilities(alphas, batch: Batch, prefs, slate: int = 1, position_weights=None, *,
                      session_chunk: int = 8192, alpha_chunk: int = 128) -> jnp.ndarray:
    """Utility ``u_n(α)`` of every session n under every α: float32 ``[P, N]``.

    Top-1 serving (SPEC §1) with the package's kernels (:func:`jaxfair.kernels.served_value`,
    lowest index on ties; 0 where nothing was retrieved), chunked over sessions and α so
    memory stays bounded.

    Args:
      alphas: float32 ``[P, K]`` (validated by the caller); batch: N sessions;
      prefs: ``[G, K]`` true preferences; slate, position_weights: SPEC §7 (only
        ``slate=1`` for now: then the utility is ``v_1 · α*(g)·Y`` of the served item).
    """
    v1 = check_slate(slate, position_weights)
    alphas = jnp.asarray(alphas, jnp.float32)
    prefs = jnp.asarray(prefs, jnp.float32)
    p, n = int(alphas.shape[0]), batch.n_users
    ac = min(alpha_chunk, p)
    sc = min(session_chunk, n)
    cols = []
    for s0 in range(0, n, sc):
        sl = slice(s0, s0 + sc)
        sub = (batch.scores[sl], batch.mask[sl], batch.labels[sl], batch.group[sl])
        if sub[0].shape[0] < sc:  # fixed shapes: one compile
            pad = sc - sub[0].shape[0]
            sub = tuple(jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)) for x in sub)
        rows = []
        for a0 in range(0, p, ac):
            chunk = alphas[a0:a0 + ac]
            take = chunk.shape[0]
            if take < ac:
                chunk = jnp.concatenate([chunk, jnp.ones((ac - take, chunk.shape[1]), jnp.float32)])
            rows.append(_served(chunk, *sub, prefs, jnp.float32(v1))[:take])
        cols.append(jnp.concatenate(rows, axis=0)[:, : min(sc, n - s0)])
    return jnp.concatenate(cols, axis=1)
