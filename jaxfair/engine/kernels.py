"""Jit-compiled kernels of the simulator: pure functions of arrays, vectorised over α.

Shapes: N users, m candidates, K labels, G groups, P serving weight vectors α.
Nothing here validates (nothing can raise inside ``jit``); the public functions in
:mod:`jaxfair.engine.metrics` and :mod:`jaxfair.evaluate` validate eagerly and then call these.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from jaxfair.engine.batch import Batch

_EXACT = jax.lax.Precision.HIGHEST

# Users per float32 partial sum. Summing fixed, absolute blocks of users (each in user order)
# and accumulating blocks in float64 outside makes group sums independent of how users and α
# are chunked or batched: the same α on the same users always gives the same bits.
SUM_BLOCK = 256  # a power of two (pairwise tree below)

__all__ = [
    "SlateSpec",
    "TOP1",
    "der_kernel",
    "der_raw_kernel",
    "SUM_BLOCK",
    "BlockSums",
    "LABELS",
    "Payload",
    "group_means",
    "group_onehot",
    "group_sum_blocks",
    "merit_block_sums",
    "scalarise",
    "serve_kernel",
    "served_block_sums",
    "served_value",
    "slate_serve_kernel",
    "slate_spec",
    "slate_value",
    "true_value",
    "utility_payload",
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


class SlateSpec(NamedTuple):
    """Static description of what the serving kernel computes (hashable: a ``jit`` static arg).

    ``k``: slate size; ``weights``: position weights v_1..v_k (floats; ``(1.0,)`` = top-1);
    ``n_item_groups``: H provider groups to measure exposure of (0 = none).
    """

    k: int = 1
    weights: tuple = (1.0,)
    n_item_groups: int = 0


#: Today's top-1 model: one item, v_1 = 1, no provider exposure.
TOP1 = SlateSpec()


def slate_spec(k: int = 1, weights=None, n_item_groups: int = 0) -> SlateSpec:
    """A :class:`SlateSpec` from validated inputs (``weights`` default: all ones)."""
    w = (1.0,) * int(k) if weights is None else tuple(float(x) for x in weights)
    return SlateSpec(int(k), w, int(n_item_groups))


def _running_topk(alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray, payloads, k: int):
    """Walk the m candidates keeping, per (user, α), the k best scores so far and their payloads.

    The ranks hold candidates ordered by (score descending, index ascending) — SPEC §7. A new
    candidate j has the highest index seen so far, so it goes *after* every rank it ties:
    with ``better_r = s_j > best_r`` (strict; monotone in r because ranks are sorted) rank r
    becomes ``best_{r−1}`` if ``better_{r−1}``, else ``s_j`` if ``better_r``, else stays. This is
    a running insertion network of compare-selects: like the top-1 walk it fuses into one
    elementwise XLA loop in which each user's scores are scalars and α streams along the fast
    axis. For k = 1 it *is* the top-1 walk (same float operations, same bits).

    Masked candidates score −inf: then ``α·f`` is −inf or NaN (0·−inf), and neither compares
    greater than anything, so they never enter; empty ranks keep the initial payload.

    Args:
      alphas: ``[P, K]``; scores: ``[N, m, K]``; mask: ``[N, m]``;
      payloads: tuple of ``[N, m]`` arrays to return for the ranked candidates;
      k: ranks kept (a static int >= 1; ranks beyond m stay empty).
    Returns:
      tuple (one per payload) of lists of k ``[N, P]`` arrays, rank 1 first; empty ranks hold
      −1 (integer payloads) or 0.
    """
    p, (n, m, kk) = alphas.shape[0], scores.shape
    # Candidate-major layout, materialised (the barrier stops XLA from fusing the transpose
    # into the loop as a strided read, which defeats vectorisation).
    masked = jnp.where(mask[..., None], scores, -jnp.inf)
    cand = jax.lax.optimization_barrier(jnp.transpose(masked, (1, 2, 0)))  # [m, K, N]
    pays = [jax.lax.optimization_barrier(x.T) for x in payloads]  # [m, N] each
    ranks = min(k, m)
    best = [jnp.full((n, p), -jnp.inf, dtype=scores.dtype) for _ in range(ranks)]
    outs = [
        [jnp.full((n, p), -1 if jnp.issubdtype(x.dtype, jnp.integer) else 0, dtype=x.dtype) for _ in range(ranks)]
        for x in payloads
    ]
    for j in range(m):
        s = cand[j, 0][:, None] * alphas[None, :, 0]
        for q in range(1, kk):
            s = s + cand[j, q][:, None] * alphas[None, :, q]
        live = min(j + 1, ranks)  # candidate j can only reach ranks 0..j
        better = [s > best[r] for r in range(live)]
        new_best = [jnp.where(better[0], s, best[0])]
        for r in range(1, live):
            new_best.append(jnp.where(better[r], jnp.where(better[r - 1], best[r - 1], s), best[r]))
        for pay, out in zip(pays, outs, strict=True):
            pj = pay[j][:, None]
            new_out = [jnp.where(better[0], pj, out[0])]
            for r in range(1, live):
                new_out.append(jnp.where(better[r], jnp.where(better[r - 1], out[r - 1], pj), out[r]))
            out[:live] = new_out
        best[:live] = new_best
    return tuple(outs)


def _running_argmax(alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray, payload: jnp.ndarray):
    """Top-1 serving: the k = 1 case of :func:`_running_topk`.

    Strict ``>`` keeps the earliest maximum (lowest index wins ties). Why this shape: an
    unrolled loop of elementwise ``[N, P]`` updates fuses into one vectorised XLA loop;
    ``argmax`` over a materialised ``[P, N, m]`` tensor plus a gather is ~10× slower on CPU
    (measured in ``benchmarks/``).

    Args:
      alphas: ``[P, K]``; scores: ``[N, m, K]``; mask: ``[N, m]``;
      payload: ``[N, m]`` what to return for the winner (candidate index or utility).
    Returns:
      ``[N, P]`` payload of the served candidate (−1 or 0 if nothing was retrieved).
    """
    return _running_topk(alphas, scores, mask, (payload,), 1)[0][0]


def _weighted(vals, weights):
    """``Σ_r v_r · vals[r]`` in rank order (float32); v_1 = 1 multiplies nothing (top-1 bits)."""
    out = vals[0] if weights[0] == 1.0 else vals[0] * weights[0]
    for r in range(1, len(vals)):
        out = out + vals[r] * weights[r]
    return out


def _slate_outputs(alphas, scores, mask, values: tuple, item_group, spec: SlateSpec):
    """Per (user, α): the position-weighted slate sum of each payload in ``values`` (a tuple of
    C ``[N, P]``) and, with H provider groups, the exposure of providers 1..H−1 (a tuple of
    H − 1 ``[N, P]`` arrays; else None).

    Each provider h >= 1 rides along the slate as a 0/1 payload, so its exposure is the
    position-weighted sum of the payloads, like the values; provider 0's is the α-free total
    exposure minus the others' (:func:`_slate_total`), which saves one payload — every
    payload costs about as much as a value's (register pressure in the fused loop).
    """
    h, c = spec.n_item_groups, len(values)
    dtype = values[0].dtype
    inds = tuple((item_group == g).astype(dtype) for g in range(1, h)) if h else ()
    outs = _running_topk(alphas, scores, mask, tuple(values) + inds, spec.k)
    w = spec.weights[: len(outs[0])]
    sums = tuple(_weighted(o, w) for o in outs)
    return sums[:c], (sums[c:] if h else None)


def _slate_total(mask, spec: SlateSpec):
    """α-free total exposure of each user's slate, Σ_{r < min(k, retrieved)} v_r: ``[N]``, summed
    in rank order as :func:`_weighted` sums the payloads (same bits when one provider fills it)."""
    ranks = min(spec.k, mask.shape[1])
    n_ret = jnp.sum(mask, axis=1)
    return _weighted([(n_ret > r).astype(jnp.float32) for r in range(ranks)], spec.weights[:ranks])


def serve_kernel(alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """Served candidate per user and α: ``int32 [P, N]``, −1 where nothing was retrieved.

    Ties go to the lowest candidate index.
    """
    n, m = mask.shape
    index = jnp.broadcast_to(jnp.arange(m, dtype=jnp.int32), (n, m))
    return _running_argmax(alphas, scores, mask, index).T


def slate_serve_kernel(alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray, k: int) -> jnp.ndarray:
    """Slate per user and α: ``int32 [P, N, k]`` candidate indices by rank, −1 for empty ranks.

    Ranked by (score descending, index ascending); ``k`` static. ``k = 1`` serves as
    :func:`serve_kernel`.
    """
    n, m = mask.shape
    index = jnp.broadcast_to(jnp.arange(m, dtype=jnp.int32), (n, m))
    (ranks,) = _running_topk(alphas, scores, mask, (index,), k)
    out = jnp.stack(ranks, axis=-1)  # [N, P, min(k, m)]
    if k > m:
        out = jnp.concatenate([out, jnp.full(out.shape[:2] + (k - m,), -1, out.dtype)], axis=-1)
    return jnp.transpose(out, (1, 0, 2))


def served_value(alphas: jnp.ndarray, batch: Batch, value: jnp.ndarray) -> jnp.ndarray:
    """``value[n, ĵ_n(α)]`` for every α: ``[N, P]``; 0 for users with no retrieved candidate."""
    return _running_argmax(alphas, batch.scores, batch.mask, value)


def slate_value(
    alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray, value: jnp.ndarray, spec: SlateSpec = TOP1
) -> jnp.ndarray:
    """``Σ_r v_r · value[n, j_r(α)]``: ``[N, P]`` (0 for empty ranks); ``spec`` static.

    ``spec = TOP1`` gives :func:`served_value` bit for bit.
    """
    return _slate_outputs(alphas, scores, mask, (value,), None, spec._replace(n_item_groups=0))[0][0]


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


def _tree(x: jnp.ndarray) -> jnp.ndarray:
    """Pairwise tree of elementwise adds over the leading axis (a power of two): ``x[0]``'s shape.

    Not a matmul or a reduce: XLA chooses a GEMM's blocking and a reduce's order from the
    shapes (so a given α would get different float32 bits in batches of different P);
    elementwise adds are never reassociated. The tree is also more accurate than a running
    sum (error ~ log2(SUM_BLOCK) ulp).
    """
    while x.shape[0] > 1:
        x = x.reshape((x.shape[0] // 2, 2) + x.shape[1:])
        x = x[:, 0] + x[:, 1]
    return x[0]


def _block_tree(u: jnp.ndarray, onehot: jnp.ndarray) -> jnp.ndarray:
    """Per-group sums ``[P, G]`` of one block: ``u [B, P]`` values, ``onehot [B, G]``."""
    return _tree(u[:, :, None] * onehot[:, None, :])


def _pad_users(n: int, *arrays):
    """Pad the leading (user) axis to whole blocks: ``(n_blocks, padded arrays)``."""
    nb = -(-n // SUM_BLOCK)
    pad = nb * SUM_BLOCK - n
    if pad:  # static: zero rows add exact zeros (one-hot rows of padding are zero)
        arrays = tuple(jnp.pad(x, ((0, pad),) + ((0, 0),) * (x.ndim - 1)) for x in arrays)
    return nb, arrays


@struct.dataclass
class Payload:
    """What rides through the slate: C value channels per candidate, ``[N, m, C]`` (a pytree).

    ``channels``: ``"labels"`` (C = K: the labels Y themselves, prefs-free, SPEC §9) or
    ``"utility"`` (C = 1: the folded utility α*(g_n)·Y[n, j, :] of :func:`true_value`,
    ``prefs [G, K]`` float32). The kernel and every executor treat the channels alike; only
    :meth:`values` knows what they are. ``channels`` is static (jit specialises on it).
    """

    channels: str = struct.field(pytree_node=False, default="labels")
    prefs: jnp.ndarray | None = None

    def values(self, batch: Batch) -> jnp.ndarray:
        """``[N, m, C]`` float32 channel values of every candidate (padding users: 0)."""
        if self.channels == "labels":
            return batch.labels
        return true_value(batch, self.prefs)[..., None]

    def n_channels(self, n_labels: int) -> int:
        return n_labels if self.channels == "labels" else 1


#: The prefs-free payload: the K labels.
LABELS = Payload("labels")


def utility_payload(prefs: jnp.ndarray) -> Payload:
    """The folded-utility payload (C = 1) for preferences ``[G, K]``."""
    return Payload("utility", jnp.asarray(prefs, jnp.float32))


class BlockSums(NamedTuple):
    """Per-block float32 group sums of one kernel call (a pytree; add the blocks in float64).

    ``values``: ``[nb, P, G, C]`` position-weighted channel sums Σ_{n∈g} Σ_r v_r x[n, j_r(α), :]
    of the users of each block of :data:`SUM_BLOCK` (x: the :class:`Payload`'s values);
    ``exposure``: ``[nb, P, H]`` provider exposure (None without provider groups); ``merit``:
    ``[nb, G, H, C]`` merit channel sums Σ_{n∈g} Σ_j I[n,j] 1{item_group = h} x[n,j,:]
    (α-free; None without provider groups).
    """

    values: jnp.ndarray
    exposure: jnp.ndarray | None = None
    merit: jnp.ndarray | None = None


def served_block_sums(
    alphas: jnp.ndarray,
    scores: jnp.ndarray,
    mask: jnp.ndarray,
    values: jnp.ndarray,
    onehot: jnp.ndarray,
    spec: SlateSpec = TOP1,
    item_group: jnp.ndarray | None = None,
) -> BlockSums:
    """Serve and sum per group, fused block by block: :class:`BlockSums` without merit.

    Serving and summing one block of :data:`SUM_BLOCK` users inside one ``lax.map`` step
    keeps its ``[B, P]`` values in cache instead of writing ``[N, P]`` to memory and reading
    it back (3–4× faster on CPU, measured). Each channel is summed by its own pairwise tree
    (the trees are stacked after summing: stacking the ``[B, P]`` payloads before summing makes
    XLA emit the top-k network per stacked element, unvectorised, ~300× slower, measured).
    Every channel costs about one payload's work, so C = 1 (the folded utility) is the cheapest.

    Args:
      alphas: ``[P, K]``; scores: ``[N, W, K]``; values: ``[N, W, C]`` channel payloads;
      mask: ``[N, W]``; onehot: ``[N, G]``;
      spec: what to serve (:class:`SlateSpec`, static): slate size k, position weights, H;
      item_group: int ``[N, W]`` provider groups (needed when ``spec.n_item_groups > 0``).
    Returns:
      :class:`BlockSums` with ``values [ceil(N / SUM_BLOCK), P, G, C]`` and, with provider
      groups, ``exposure [ceil(N / SUM_BLOCK), P, H]``.
    """
    (n, w, k), n_groups = scores.shape, onehot.shape[1]
    c = values.shape[-1]
    expo = spec.n_item_groups > 0
    extra = (item_group,) if expo else ()
    nb, (scores, mask, values, onehot, *extra) = _pad_users(n, scores, mask, values, onehot, *extra)

    def one_block(args):
        s, mk, x, oh, *g = args
        xs, e = _slate_outputs(alphas, s, mk, tuple(x[..., q] for q in range(c)), g[0] if expo else None, spec)
        sums = jnp.stack([_block_tree(u, oh) for u in xs], axis=-1)  # [P, G, C]
        if not expo:
            return sums
        return sums, jnp.stack([_tree(x) for x in e], axis=-1), _tree(_slate_total(mk, spec))

    out = jax.lax.map(
        one_block,
        (
            scores.reshape(nb, SUM_BLOCK, w, k),
            mask.reshape(nb, SUM_BLOCK, w),
            values.reshape(nb, SUM_BLOCK, w, c),
            onehot.reshape(nb, SUM_BLOCK, n_groups),
            *(x.reshape(nb, SUM_BLOCK, w) for x in extra),
        ),
    )
    if not expo:
        return BlockSums(out)
    sums, others, total = out  # [nb, P, G, C], [nb, P, H − 1], [nb]
    # Provider 0 = the block's total exposure minus the others' (on the materialised block sums).
    e0 = total[:, None] - functools.reduce(jnp.add, [others[..., i] for i in range(others.shape[-1])])
    return BlockSums(sums, jnp.concatenate([e0[..., None], others], axis=-1))


def merit_block_sums(batch: Batch, values: jnp.ndarray, onehot: jnp.ndarray, n_item_groups: int) -> jnp.ndarray:
    """Merit channel sums per block of users (SPEC §7): ``Σ_{n∈g} Σ_j I[n,j] 1{item_group = h}
    values[n,j,:]`` over blocks of :data:`SUM_BLOCK` users: float32 ``[ceil(N / SUM_BLOCK), G, H, C]``
    (α-free). With the labels as channels, merit M_h for preferences α* is
    ``Σ_{g,k} α*_k(g) · sums[g, h, k]``; with the folded utility, ``Σ_g sums[g, h, 0]``."""
    n, _, c = values.shape
    g = onehot.shape[1]
    ig = batch.item_group
    per_user = jnp.stack(
        [jnp.sum(jnp.where((batch.mask & (ig == h))[..., None], values, 0.0), axis=1) for h in range(n_item_groups)],
        axis=1,
    )  # [N, H, C]
    nb, (per_user, onehot) = _pad_users(n, per_user, onehot)
    return jax.lax.map(
        lambda a: _tree(a[0][:, None] * a[1][:, :, None, None]),
        (per_user.reshape(nb, SUM_BLOCK, n_item_groups, c), onehot.reshape(nb, SUM_BLOCK, g)),
    )


def group_onehot(group: jnp.ndarray, n_groups: int, dtype=jnp.float32) -> jnp.ndarray:
    """``[N, G]`` group membership; ids >= G (padding users) give all-zero rows."""
    return jax.nn.one_hot(group, n_groups, dtype=dtype)


@functools.partial(jax.jit, static_argnames=("n_groups", "spec"))
def group_sum_blocks(
    alphas: jnp.ndarray, batch: Batch, n_groups: int, spec: SlateSpec = TOP1, payload: Payload = LABELS
) -> BlockSums:
    """One compiled evaluation of P weight vectors on one batch, as block sums of a payload.

    Args:
      alphas: float32 ``[P, K]`` (validated: ≥ 0, finite, not all zero).
      batch: N users (group ids ≥ ``n_groups`` mark padding users, which count nowhere).
      n_groups: G (static); spec: slate size, position weights and provider groups (static).
      payload: what is summed (:class:`Payload`): the K labels (default, prefs-free) or the
        folded utility (C = 1).
    Returns:
      :class:`BlockSums`: channel sums ``[nb, P, G, C]`` and, with ``spec.n_item_groups = H > 0``,
      exposure ``[nb, P, H]`` and merit channel sums ``[nb, G, H, C]`` (nb = ceil(N / SUM_BLOCK);
      add the blocks in float64 in block order).
    """
    values = payload.values(batch)  # [N, m, C]
    onehot = group_onehot(batch.group, n_groups, values.dtype)  # padding rows are zero
    out = served_block_sums(alphas, batch.scores, batch.mask, values, onehot, spec, batch.item_group)
    if spec.n_item_groups:
        return out._replace(merit=merit_block_sums(batch, values, onehot, spec.n_item_groups))
    return out
