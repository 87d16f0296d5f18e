"""The pruned-tiles executor: serve from exactly pruned candidates, bucketed by surviving-set size.

Per super-chunk of :data:`~jaxfair.engine.planning.PRUNE_SUPER_CHUNK` users: prune
(:func:`jaxfair.engine.prune.keep_mask`), give each fixed block of ``SUM_BLOCK`` users the bucket
width W of its largest surviving set, sort the *blocks* (never the users inside them) by W,
and serve tiles of :data:`~jaxfair.engine.planning.PRUNE_TILE` users (whole blocks of one W)
on their first W compacted candidates with the same fused kernel and the same pairwise block
tree as the unpruned path. Served values are identical (pruning is exact and keeps candidate
order) and every user stays in its block at its place, so the block sums are bit-identical;
they are added in float64 in block order (:class:`~jaxfair.engine.executors.BlockAccumulator`).
(Sorting users rather than blocks would pad less but reorder the block sums' operands;
putting values back in order costs more than it saves on CPU — measured.)

Slates (``spec.k = k``): a candidate dominated by ≥ k others can never enter a slate
(:mod:`jaxfair.engine.prune`), and serving the survivors in their original order ranks the
slate's candidates exactly as serving all of them does.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.engine import kernels
from jaxfair.engine import prune as _prune
from jaxfair.engine.batch import Batch
from jaxfair.engine.executors import BlockAccumulator, _progress, batch_fill, host_counts, kernel_batch, pad_rows
from jaxfair.engine.kernels import LABELS, TOP1, Payload, SlateSpec
from jaxfair.engine.planning import (
    DEFAULT_MEMORY_BUDGET,
    PRUNE_SUPER_CHUNK,
    PRUNE_TILE,
    balanced,
    bucket_width,
    temporaries,
)

__all__ = ["pruned_sums"]


@functools.partial(jax.jit, static_argnames=("n_groups", "spec"))
def _tile_block_sums(alphas, scores, mask, values, group, item_group, n_groups, spec=TOP1):
    """:class:`jaxfair.engine.kernels.BlockSums` (no merit) of a tile of whole user blocks served on
    their first W compacted candidates: ``scores [T, W, K]``, ``values [T, W, C]`` (the
    payload's channels), ``mask``/``item_group [T, W]``, ``group [T]``."""
    onehot = kernels.group_onehot(group, n_groups, values.dtype)
    return kernels.served_block_sums(alphas, scores, mask, values, onehot, spec, item_group)


@functools.partial(jax.jit, static_argnames=("strict", "k"))
def _compact(scores, mask, values, item_group, strict, k=1):
    """Prune (for slates of ``k``) and compact on the device: survivors first, in their
    original order.

    Returns ``(scores [S, m, K], keep [S, m], values [S, m, C], item_group [S, m], survivors [S])``
    reordered per user (only gathers: the values are bit for bit the inputs').
    """
    keep = _prune.keep_mask_kernel(scores, mask, strict, k)
    # Stable partition by ranks (a sort is ~3x slower on CPU): survivor j goes to slot
    # (survivors before j), the others after all survivors, each group in index order.
    kept = keep.astype(jnp.int32)
    count = kept.sum(axis=1, keepdims=True)
    slot = jnp.where(keep, jnp.cumsum(kept, axis=1) - 1, count + jnp.cumsum(1 - kept, axis=1) - 1)  # [S, m]
    m = keep.shape[1]
    order = jnp.argmax(slot[:, :, None] == jnp.arange(m)[None, None, :], axis=1)  # [S, m]: slot -> candidate
    return (
        jnp.take_along_axis(scores, order[..., None], axis=1),
        jnp.take_along_axis(keep, order, axis=1),
        jnp.take_along_axis(values, order[..., None], axis=1),
        jnp.take_along_axis(item_group, order, axis=1),
        keep.sum(axis=1),
    )


@functools.partial(jax.jit, static_argnames=("w", "n_groups"))
def _gather_tile(scores_c, keep_c, values_c, ig_c, group, rows, w, n_groups):
    """One tile: users ``rows [T]`` (−1 = padding, group G) on their first ``w`` compacted
    candidates."""
    valid = rows >= 0
    r = jnp.maximum(rows, 0)
    return (
        scores_c[r, :w],
        keep_c[r, :w] & valid[:, None],
        values_c[r, :w],
        jnp.where(valid, group[r], n_groups).astype(jnp.int32),
        ig_c[r, :w],
    )


@jax.jit
def _payload_values(payload, batch):
    return payload.values(batch)


@functools.partial(jax.jit, static_argnames=("n_groups", "n_item_groups"))
def _merit_blocks(batch, values, n_groups, n_item_groups):
    return kernels.merit_block_sums(batch, values, kernels.group_onehot(batch.group, n_groups), n_item_groups)


def pruned_sums(
    alphas32: jnp.ndarray,
    batch: Batch,
    n_groups: int,
    spec: SlateSpec = TOP1,
    payload: Payload = LABELS,
    *,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool = False,
    devices=None,
):
    """The pruned executor (see the module docstring): a :class:`GroupSums`.

    ``devices``: place tile i on ``devices[i % D]`` (one process, several devices); every
    tile runs the same program wherever it runs, so the bits do not change.
    """
    batch = kernel_batch(batch, spec)
    p, (n, m, kl), g = int(alphas32.shape[0]), batch.shape, n_groups
    c = payload.n_channels(kl)
    devices = list(devices) if devices else [None]
    bsz = kernels.SUM_BLOCK
    tile = min(PRUNE_TILE, -(-n // bsz) * bsz)
    per_tile = tile // bsz
    s_chunk = min(PRUNE_SUPER_CHUNK, -(-n // tile) * tile)
    # The kernel's [T, Pc] temporaries, as in the unpruned path.
    alpha_chunk = balanced(p, max(1, memory_budget // (4 * temporaries(spec, c)) // tile))
    h = spec.n_item_groups
    strict = _prune.alphas_allow_strict(np.asarray(alphas32))
    acc = BlockAccumulator(p, g, payload, c, h)
    widths = np.array([bucket_width(w, m) for w in range(m + 1)])
    starts = list(range(0, n, s_chunk))
    bar = _progress(progress, len(starts) * -(-p // alpha_chunk), "evaluate (pruned)")
    fill = batch_fill(batch, g)
    for u0 in starts:
        sub = jax.tree_util.tree_map(lambda x, u0=u0: x[u0 : u0 + s_chunk], batch)
        ns = sub.n_users
        if ns < s_chunk:  # padding users: nothing retrieved, group G (count nowhere)
            sub = jax.tree_util.tree_map(lambda x, f: pad_rows(x, s_chunk, f), sub, fill)
        n_live = -(-ns // bsz)  # blocks holding real users
        values = _payload_values(payload, sub)  # [S, m, C], exactly as the unpruned kernel computes them
        if h:  # merit is α-free and uses every retrieved candidate (pruned or not)
            acc.add(kernels.BlockSums(None, None, _merit_blocks(sub, values, g, h)), 0, 0, n_live, merit=True)
        ig = sub.item_group if h else jnp.zeros(sub.mask.shape, jnp.int32)
        scores_c, keep_c, values_c, ig_c, survivors = _compact(sub.scores, sub.mask, values, ig, strict, spec.k)
        nb = s_chunk // bsz
        block_w = widths[np.asarray(survivors).reshape(nb, bsz).max(axis=1)]  # [nb]
        order = np.argsort(block_w[:n_live], kind="stable")  # blocks, narrowest first
        tiles = []  # (block ids, device, device arrays)
        for t0 in range(0, n_live, per_tile):
            ids = order[t0 : t0 + per_tile]
            w = int(block_w[ids].max())
            if w == 0:  # nobody served in these blocks: their sums are exact zeros
                continue
            rows = (ids[:, None] * bsz + np.arange(bsz)).reshape(-1)
            if ids.size < per_tile:  # pad with users of the (empty) padding group G
                rows = np.concatenate([rows, np.full((per_tile - ids.size) * bsz, -1)])
            arrs = _gather_tile(
                scores_c, keep_c, values_c, ig_c, sub.group, jnp.asarray(rows, jnp.int32), w=w, n_groups=g
            )
            dev = devices[len(tiles) % len(devices)]
            tiles.append((ids, dev, arrs if dev is None else jax.device_put(arrs, dev)))
        for a0 in range(0, p, alpha_chunk):
            chunk = pad_rows(alphas32[a0 : a0 + alpha_chunk], alpha_chunk, 1.0)
            take = min(alpha_chunk, p - a0)
            on_device = {id(d): jax.device_put(chunk, d) for d in devices}
            outs = [
                (ids, _tile_block_sums(on_device[id(d)], *arrs, n_groups=g, spec=spec)) for ids, d, arrs in tiles
            ]  # async
            # Put the tiles' blocks back in block order (never-served blocks stay exact zeros).
            blocks = np.zeros((n_live, take, g, c), np.float64)
            eblocks = np.zeros((n_live, take, h), np.float64) if h else None
            for ids, out in outs:
                blocks[ids] = np.asarray(out.values, dtype=np.float64)[: ids.size, :take]
                if h:
                    eblocks[ids] = np.asarray(out.exposure, dtype=np.float64)[: ids.size, :take]
            acc.add(kernels.BlockSums(blocks, eblocks), a0, take)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return acc.result(*host_counts(batch, g))
