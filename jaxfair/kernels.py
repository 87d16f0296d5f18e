"""Jit-compiled kernels of the simulator: pure functions of arrays, vectorised over α.

Shapes: N users, m candidates, K labels, G groups, P serving weight vectors α.
Nothing here validates (nothing can raise inside ``jit``); the public functions in
:mod:`jaxfair.metrics` and :mod:`jaxfair.evaluate` validate eagerly and then call these.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp

from jaxfair.batch import Batch

_EXACT = jax.lax.Precision.HIGHEST

# Users per float32 partial sum. Summing fixed, absolute blocks of users (each in user order)
# and accumulating blocks in float64 outside makes group sums independent of how users and α
# are chunked or batched: the same α on the same users always gives the same bits.
SUM_BLOCK = 256  # a power of two (pairwise tree below)

__all__ = [
    "der_kernel",
    "der_raw_kernel",
    "SUM_BLOCK",
    "evaluate_chunk",
    "evaluate_chunk_blocks",
    "group_block_sums",
    "group_means",
    "scalarise",
    "serve_kernel",
    "served_block_sums",
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


def _block_tree(u: jnp.ndarray, onehot: jnp.ndarray) -> jnp.ndarray:
    """Per-group sums ``[P, G]`` of one block: ``u [B, P]`` values, ``onehot [B, G]``."""
    p, n_groups = u.shape[1], onehot.shape[1]
    x = u[:, :, None] * onehot[:, None, :]
    # An explicit pairwise tree of elementwise adds, not a matmul or a reduce: XLA chooses a
    # GEMM's blocking and a reduce's order from the shapes (so a given α would get different
    # float32 bits in batches of different P); elementwise adds are never reassociated. The
    # tree is also more accurate than a running sum (error ~ log2(SUM_BLOCK) ulp).
    while x.shape[0] > 1:
        x = x.reshape(x.shape[0] // 2, 2, p, n_groups)
        x = x[:, 0] + x[:, 1]
    return x[0]


def _pad_users(n: int, *arrays):
    """Pad the leading (user) axis to whole blocks: ``(n_blocks, padded arrays)``."""
    nb = -(-n // SUM_BLOCK)
    pad = nb * SUM_BLOCK - n
    if pad:  # static: zero rows add exact zeros (one-hot rows of padding are zero)
        arrays = tuple(jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)) for x in arrays)
    return nb, arrays


def group_block_sums(u: jnp.ndarray, onehot: jnp.ndarray) -> jnp.ndarray:
    """Per-group partial sums of ``u`` over consecutive blocks of :data:`SUM_BLOCK` users.

    Args:
      u: ``[N, P]`` per-user values; onehot: ``[N, G]`` group membership (all-zero rows
        count nowhere).
    Returns:
      float32 ``[ceil(N / SUM_BLOCK), P, G]``; block b holds users ``b·B .. (b+1)·B − 1``.
    """
    (n, p), n_groups = u.shape, onehot.shape[1]
    nb, (u, onehot) = _pad_users(n, u, onehot)
    # One block at a time (lax.map): its [B, P, G] tree stays in cache; the same tree over
    # all blocks at once streams every level through memory (~10x slower on CPU).
    return jax.lax.map(lambda a: _block_tree(*a), (u.reshape(nb, SUM_BLOCK, p), onehot.reshape(nb, SUM_BLOCK, n_groups)))


def served_block_sums(alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray, value: jnp.ndarray,
                      onehot: jnp.ndarray) -> jnp.ndarray:
    """``group_block_sums(served value, onehot)`` fused block by block.

    Serving and summing one block of :data:`SUM_BLOCK` users inside one ``lax.map`` step
    keeps its ``[B, P]`` values in cache instead of writing ``[N, P]`` to memory and reading
    it back (3–4× faster on CPU, measured); the float operations are the same, so the bits
    are those of the two-step form.

    Args:
      alphas: ``[P, K]``; scores: ``[N, W, K]``; mask, value: ``[N, W]``; onehot: ``[N, G]``.
    Returns:
      float32 ``[ceil(N / SUM_BLOCK), P, G]``.
    """
    (n, w, k), n_groups = scores.shape, onehot.shape[1]
    nb, (scores, mask, value, onehot) = _pad_users(n, scores, mask, value, onehot)

    def one_block(args):
        s, mk, v, oh = args
        return _block_tree(_running_argmax(alphas, s, mk, v), oh)

    return jax.lax.map(one_block, (scores.reshape(nb, SUM_BLOCK, w, k), mask.reshape(nb, SUM_BLOCK, w),
                                   value.reshape(nb, SUM_BLOCK, w), onehot.reshape(nb, SUM_BLOCK, n_groups)))


@jax.jit
def evaluate_chunk_blocks(alphas: jnp.ndarray, batch: Batch, prefs: jnp.ndarray):
    """One compiled evaluation of P weight vectors on one batch, as block partial sums.

    Args:
      alphas: float32 ``[P, K]`` (validated: ≥ 0, finite, not all zero).
      batch: N users (group ids ≥ G mark padding users, which count nowhere).
      prefs: float32 ``[G, K]`` true preferences.
    Returns:
      ``(block_sums [ceil(N/SUM_BLOCK), P, G], group_counts [G], n_unserved [])``: user
      utility summed per group within each block of users (see :func:`group_block_sums`;
      add the blocks in float64), users per group, users of groups < G with nothing retrieved.
    """
    g = prefs.shape[0]
    value = true_value(batch, prefs)  # [N, m]
    onehot = jax.nn.one_hot(batch.group, g, dtype=value.dtype)  # [N, G]; padding rows are zero
    counts = jnp.sum(onehot, axis=0)
    unserved = jnp.sum(jnp.where(jnp.any(batch.mask, axis=-1), 0.0, onehot.sum(-1)))
    return served_block_sums(alphas, batch.scores, batch.mask, value, onehot), counts, unserved


@jax.jit
def evaluate_chunk(alphas: jnp.ndarray, batch: Batch, prefs: jnp.ndarray):
    """:func:`evaluate_chunk_blocks` with the blocks added (float32), for use inside ``jit``.

    Returns:
      ``(group_sums [P, G], group_counts [G], n_unserved [])``.
    """
    blocks, counts, unserved = evaluate_chunk_blocks(alphas, batch, prefs)
    return jnp.sum(blocks, axis=0), counts, unserved
