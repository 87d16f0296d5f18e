"""The one place where the dynamics serve sessions: ``session_utilities``.

Every utility the dynamics use comes from :func:`session_utilities` (the table of each α on
each bank session), served by the package's slate kernel (SPEC §7; top-1 is its k = 1 case).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair import kernels
from jaxfair.batch import Batch
from jaxfair.position import check_slate as _check_slate
from jaxfair.position import position_weights as position_weights_of

__all__ = ["check_slate", "session_utilities"]


def check_slate(slate, position_weights, n_candidates: int | None = None, gamma: float = 0.8) -> np.ndarray:
    """Validate ``slate``/``position_weights`` (SPEC §7; ``None`` = ``"dcg"``); returns v ``[k]`` float64."""
    k = _check_slate(slate, n_candidates)
    return position_weights_of(k, "dcg" if position_weights is None else position_weights, gamma)


@functools.partial(jax.jit, static_argnames=("spec",))
def _served(alphas, scores, mask, labels, group, prefs, spec):
    batch = Batch(scores=scores, labels=labels, mask=mask, group=group)
    value = kernels.true_value(batch, prefs)  # [n, m]
    # The package's one serving machinery: top-k by Σ α_k f_k, Σ_r v_r · value (k = 1: top-1 bit for bit).
    return kernels.slate_value(alphas, scores, mask, value, spec).T  # [P, n]


def session_utilities(
    alphas,
    batch: Batch,
    prefs,
    slate: int = 1,
    position_weights=None,
    *,
    gamma: float = 0.8,
    session_chunk: int = 8192,
    alpha_chunk: int = 128,
) -> jnp.ndarray:
    """Utility ``u_n(α)`` of every session n under every α: float32 ``[P, N]``.

    Slate serving (SPEC §7; ``slate=1`` is the paper's top-1, SPEC §1) with the package's
    kernel (:func:`jaxfair.kernels.slate_value`: ranks by score, lowest index on ties; 0 for
    empty ranks and where nothing was retrieved), chunked over sessions and α so memory stays
    bounded.

    Args:
      alphas: float32 ``[P, K]`` (validated by the caller); batch: N sessions;
      prefs: ``[G, K]`` true preferences; slate, position_weights, gamma: SPEC §7 — the
        utility is ``Σ_r v_r · α*(g)·Y`` of the slate (``None`` weights = ``"dcg"``).
    """
    v = check_slate(slate, position_weights, batch.n_candidates, gamma)
    spec = kernels.slate_spec(len(v), v, 0)
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
            chunk = alphas[a0 : a0 + ac]
            take = chunk.shape[0]
            if take < ac:
                chunk = jnp.concatenate([chunk, jnp.ones((ac - take, chunk.shape[1]), jnp.float32)])
            rows.append(_served(chunk, *sub, prefs, spec)[:take])
        cols.append(jnp.concatenate(rows, axis=0)[:, : min(sc, n - s0)])
    return jnp.concatenate(cols, axis=1)
