"""Jit-compiled kernels of the simulator: pure functions of arrays, vectorised over α.

Shapes: N users, m candidates, K labels, G groups, P serving weight vectors α.
Nothing here validates (nothing can raise inside ``jit``); the public functions in
:mod:`jaxfair.metrics` and :mod:`jaxfair.evaluate` validate eagerly and then call these.
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxfair.batch import Batch

_EXACT = jax.lax.Precision.HIGHEST

__all__ = [
    "der_kernel",
    "der_raw_kernel",
    "evaluate_chunk",
    "group_means",
    "scalarise",
    "serve_kernel",
    "served_value",
    "true_value",
]


def scalarise(alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """Weighted sums Σ_k α_k f[n,j,k] with masked candidates at −inf.

    Args:
      alphas: ``[P, K]``; scores: ``[N, m, K]``; mask: bool ``[N, m]``.
    Returns:
      ``[P, N, m]`` float32.
    """
    # An unrolled sum over the (small) K axis fuses into one elementwise loop; a dot with a
    # contraction of size 2 would not, and would materialise [P, N, m] through a matmul.
    s = alphas[:, 0, None, None] * scores[None, :, :, 0]
    for k in range(1, scores.shape[-1]):
        s = s + alphas[:, k, None, None] * scores[None, :, :, k]
    return jnp.where(mask[None], s, -jnp.inf)


def true_value(batch: Batch, prefs: jnp.ndarray) -> jnp.ndarray:
    """Utility of each candidate to its user, Σ_k α*_k(g_n) Y[n,j,k] — independent of α.

    Args:
      batch: N users; prefs: ``[G, K]``. Group ids ≥ G (padding) get value 0.
    Returns:
      ``[N, m]`` float32.
    """
    g = prefs.shape[0]
    user_prefs = jnp.where((batch.group < g)[:, None], prefs[jnp.clip(batch.group, 0, g - 1)], 0.0)  # [N, K]
    # HIGHEST: no TF32/bf16 passes on accelerators, so CPU and GPU give the same numbers.
    return jnp.einsum("nmk,nk->nm", batch.labels, user_prefs.astype(batch.labels.dtype), precision=_EXACT)


def _running_argmax(alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray, payload: jnp.ndarray):
    """Walk the m candidates keeping, per (user, α), the best score so far and its payload.

    Strict ``>`` keeps the earliest maximum (lowest index wins ties). Masked candidates
    score −inf: then ``α·f`` is −inf or NaN (0·−inf), and neither compares greater than
    anything, so they never win and a user with nothing retrieved keeps the initial payload.

    Why this shape: an unrolled loop of elementwise ``[N, P]`` updates fuses into one
    vectorised XLA loop in which each user's 2·m scores are scalars and α streams along the
    fast axis; ``argmax`` over a materialised ``[P, N, m]`` tensor plus a gather is ~10×
    slower on CPU (measured in ``benchmarks/``).

    Args:
      alphas: ``[P, K]``; scores: ``[N, m, K]``; mask: ``[N, m]``;
      payload: ``[N, m]`` what to return for the winner (candidate index or utility).
    Returns:
      ``[N, P]`` payload of the served candidate (−1 or 0 if nothing was retrieved).
    """
    p, (n, m, k) = alphas.shape[0], scores.shape
    # Candidate-major layout, materialised (the barrier stops XLA from fusing the transpose
    # into the loop as a strided read, which defeats vectorisation).
    masked = jnp.where(mask[..., None], scores, -jnp.inf)
    cand = jax.lax.optimization_barrier(jnp.transpose(masked, (1, 2, 0)))  # [m, K, N]
    pay = jax.lax.optimization_barrier(payload.T)  # [m, N]
    best = jnp.full((n, p), -jnp.inf, dtype=scores.dtype)
    out = jnp.full((n, p), -1 if jnp.issubdtype(payload.dtype, jnp.integer) else 0, dtype=payload.dtype)
    for j in range(m):
        s = cand[j, 0][:, None] * alphas[None, :, 0]
        for kk in range(1, k):
            s = s + cand[j, kk][:, None] * alphas[None, :, kk]
        better = s > best
        best = jnp.where(better, s, best)
        out = jnp.where(better, pay[j][:, None], out)
    return out


def serve_kernel(alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """Served candidate per user and α: ``int32 [P, N]``, −1 where nothing was retrieved.

    Ties go to the lowest candidate index.
    """
    n, m = mask.shape
    index = jnp.broadcast_to(jnp.arange(m, dtype=jnp.int32), (n, m))
    return _running_argmax(alphas, scores, mask, index).T


def served_value(alphas: jnp.ndarray, batch: Batch, value: jnp.ndarray) -> jnp.ndarray:
    """``value[n, ĵ_n(α)]`` for every α: ``[N, P]``; 0 for users with no retrieved candidate."""
    return _running_argmax(alphas, batch.scores, batch.mask, value)


def group_means(sums: jnp.ndarray, counts: jnp.ndarray) -> jnp.ndarray:
    """Group means from sums ``[..., G]`` and counts ``[G]``; NaN where a group is empty."""
    return jnp.where(counts > 0, sums / jnp.maximum(counts, 1), jnp.nan)


def der_raw_kernel(mu, xp=jnp):
    """Σ_g (μ_g/Σμ − 1/G)² over the last axis (0 = equal); 0 when Σμ = 0.

    ``xp`` is ``jax.numpy`` (inside jit) or ``numpy`` (float64 post-processing): one formula.
    """
    g = mu.shape[-1]
    total = xp.sum(mu, axis=-1, keepdims=True)
    share = xp.where(total == 0, 1.0 / g, mu / xp.where(total == 0, 1.0, total))  # NaN propagates
    return xp.sum((share - 1.0 / g) ** 2, axis=-1)


def der_kernel(mu, xp=jnp):
    """DER = 1 − G/(G−1) · Σ_g (μ_g/Σμ − 1/G)² over the last axis (1 = equal; NaN propagates)."""
    g = mu.shape[-1]
    return 1.0 - g / (g - 1) * der_raw_kernel(mu, xp)


@partial(jax.jit, static_argnames=())
def evaluate_chunk(alphas: jnp.ndarray, batch: Batch, prefs: jnp.ndarray):
    """One compiled evaluation of P weight vectors on one batch.

    Args:
      alphas: float32 ``[P, K]`` (validated: ≥ 0, finite, not all zero).
      batch: N users (group ids ≥ G mark padding users, which count nowhere).
      prefs: float32 ``[G, K]`` true preferences.
    Returns:
      ``(group_sums [P, G], group_counts [G], n_unserved [])``: sums of user utility per
      group, users per group, users of groups < G with no retrieved candidate.
    """
    g = prefs.shape[0]
    value = true_value(batch, prefs)  # [N, m]
    u = served_value(alphas, batch, value)  # [N, P]
    onehot = jax.nn.one_hot(batch.group, g, dtype=u.dtype)  # [N, G]; padding rows are zero
    sums = jnp.matmul(u.T, onehot, precision=_EXACT)
    counts = jnp.sum(onehot, axis=0)
    unserved = jnp.sum(jnp.where(jnp.any(batch.mask, axis=-1), 0.0, onehot.sum(-1)))
    return sums, counts, unserved
