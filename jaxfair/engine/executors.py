"""Executors: one signature, one result type, one accumulator, one place that chooses.

An executor maps the block kernel (:func:`jaxfair.engine.kernels.group_sum_blocks`) over the users
for one :class:`jaxfair.engine.kernels.Payload` (the C value channels that ride through the slate:
the K labels, or the folded utility) and returns a :class:`jaxfair.engine.results.GroupSums`
of ``[P, G, C]`` channel sums. Three exist, each with the signature
``(alphas32, batch, n_groups, spec, payload, ...) -> GroupSums``:

* :func:`dense_sums` — plain chunks of α and of users (:func:`map_user_chunks`);
* :func:`jaxfair.engine.pruned.pruned_sums` — exactly pruned candidates in tiles bucketed by
  surviving-set size (optionally round-robin over one process's devices);
* :func:`jaxfair.engine.sharding.mesh_sums` — users sharded over a device mesh with ``shard_map``
  (also across processes).

Each produces float32 sums over fixed blocks of :data:`jaxfair.engine.kernels.SUM_BLOCK` users and
hands them to one :class:`BlockAccumulator`, which adds the blocks in float64 in user order —
so all three give the same bits. :func:`jaxfair.engine.dispatch.group_sums` is the one place
that picks the executor.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Iterator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.engine import kernels
from jaxfair.engine.batch import Batch
from jaxfair.engine.kernels import LABELS, TOP1, Payload, SlateSpec
from jaxfair.engine.planning import plan_chunks
from jaxfair.engine.results import GroupSums

__all__ = [
    "BlockAccumulator",
    "batch_fill",
    "dense_sums",
    "host_counts",
    "kernel_batch",
    "map_user_chunks",
    "pad_rows",
]


class BlockAccumulator:
    """float64 sums of :class:`jaxfair.engine.kernels.BlockSums`, block after block in user order.

    The only place where block sums are added: every executor calls :meth:`add` with the blocks
    of consecutive users (in user order) for the α rows ``a0 .. a0 + take``; merit (α-free) is
    added once per user block (``merit=True`` on one α chunk only). Payload-agnostic: the C
    channels are whatever the :class:`jaxfair.engine.kernels.Payload` put through the slate.
    """

    def __init__(self, n_alphas: int, n_groups: int, payload: Payload, n_channels: int, n_item_groups: int = 0):
        self.channels = payload.channels
        self.values = np.zeros((n_alphas, n_groups, n_channels), np.float64)
        h = n_item_groups
        self.exposure = np.zeros((n_alphas, h), np.float64) if h else None
        self.merit = np.zeros((n_groups, h, n_channels), np.float64) if h else None

    def add(self, blocks: kernels.BlockSums, a0: int, take: int, n_blocks: int | None = None, merit: bool = False):
        """Add ``blocks`` (leading axis: blocks in user order; α axis >= ``take``; only the
        first ``n_blocks`` blocks when given; None fields are skipped)."""
        if blocks.values is not None:
            _add(self.values[a0 : a0 + take], blocks.values, take, n_blocks)
        if self.exposure is not None:
            if blocks.exposure is not None:
                _add(self.exposure[a0 : a0 + take], blocks.exposure, take, n_blocks)
            if merit:
                for block in np.asarray(blocks.merit, np.float64)[:n_blocks]:
                    self.merit += block

    def result(self, counts: np.ndarray, n_unserved: int) -> GroupSums:
        return GroupSums(
            channel_sums=self.values,
            channels=self.channels,
            counts=np.asarray(counts, np.float64),
            n_unserved=int(n_unserved),
            exposure=self.exposure,
            merit_channel_sums=self.merit,
        )


def _add(acc: np.ndarray, blocks, take: int, n_blocks: int | None) -> None:
    """``acc [take, ...] += blocks [nb, >= take, ...]`` one block at a time, in user order, so
    the float64 sums do not depend on the chunking (``acc`` is a view into the result)."""
    for block in np.asarray(blocks, dtype=np.float64)[:n_blocks, :take]:
        acc += block


def pad_rows(x: jnp.ndarray, n: int, fill) -> jnp.ndarray:
    """Pad the leading axis of ``x`` to ``n`` rows of ``fill``."""
    if x.shape[0] == n:
        return x
    pad = jnp.full((n - x.shape[0],) + x.shape[1:], fill, dtype=x.dtype)
    return jnp.concatenate([x, pad])


def batch_fill(batch: Batch, n_groups: int) -> Batch:
    """Fill values of padding users (a Batch of scalars): nothing retrieved, group G (counts nowhere)."""
    return Batch(
        scores=0.0,
        labels=0.0,
        mask=False,
        group=n_groups,
        item_group=None if batch.item_group is None else 0,
        features=None if batch.features is None else 0.0,
    )


def map_user_chunks(fn: Callable, tree: Any, chunk: int, fill: Any, *, devices=None) -> Iterator[tuple[int, int, Any]]:
    """Map ``fn`` over consecutive chunks of ``chunk`` users: yields ``(start, n_real, fn(sub))``
    in user order.

    ``tree``: a pytree (e.g. a :class:`Batch`) whose leaves have the user axis first; the last
    chunk is padded to ``chunk`` rows with ``fill`` (a pytree of scalars of the same structure)
    so every call has one shape (one compile). With ``devices`` (D of them), chunk i runs on
    ``devices[i % D]`` and up to D chunks are in flight; results still come in user order.
    """
    leaves = jax.tree_util.tree_leaves(tree)
    n = int(leaves[0].shape[0])
    devices = list(devices) if devices else []
    pending: collections.deque = collections.deque()
    for c, u0 in enumerate(range(0, n, chunk)):
        sub = jax.tree_util.tree_map(lambda x, u0=u0: x[u0 : u0 + chunk], tree)
        n_real = min(chunk, n - u0)
        if n_real < chunk:
            sub = jax.tree_util.tree_map(lambda x, f: pad_rows(jnp.asarray(x), chunk, f), sub, fill)
        if devices:
            sub = jax.device_put(sub, devices[c % len(devices)])
        pending.append((u0, n_real, fn(sub)))  # dispatched asynchronously
        if len(pending) >= max(1, len(devices)):
            yield pending.popleft()
    while pending:
        yield pending.popleft()


def kernel_batch(batch: Batch, spec: SlateSpec = TOP1) -> Batch:
    """The fields the serving kernels read (user features stay behind, provider groups too
    unless ``spec`` measures exposure)."""
    return Batch(
        scores=batch.scores,
        labels=batch.labels,
        mask=batch.mask,
        group=batch.group,
        item_group=batch.item_group if spec.n_item_groups else None,
    )


def host_counts(batch: Batch, n_groups: int) -> tuple[np.ndarray, int]:
    """Users per group ``[G]`` (float64) and users of groups < G with nothing retrieved."""
    group = np.asarray(batch.group)
    real = group < n_groups
    counts = np.bincount(group[real], minlength=n_groups).astype(np.float64)
    return counts, int(np.sum(~np.asarray(batch.mask).any(axis=1) & real))


def _progress(progress: bool, total: int, desc: str):
    if not progress:
        return None
    from jaxfair.utils.progress import progress_bar as tqdm

    return tqdm(total=total, desc=desc, unit="chunk", leave=False)


def dense_sums(
    alphas32: jnp.ndarray,
    batch: Batch,
    n_groups: int,
    spec: SlateSpec = TOP1,
    payload: Payload = LABELS,
    *,
    alpha_chunk: int | None = None,
    user_chunk: int | None = None,
    progress: bool = False,
) -> GroupSums:
    """The plain executor: chunks of α and of whole ``SUM_BLOCK``s of users on one device."""
    batch = kernel_batch(batch, spec)
    p, n = int(alphas32.shape[0]), batch.n_users
    c = payload.n_channels(batch.n_labels)
    if alpha_chunk is None or user_chunk is None:
        alpha_chunk, user_chunk = plan_chunks(p, n, batch.n_candidates, spec=spec, n_channels=c)
    acc = BlockAccumulator(p, n_groups, payload, c, spec.n_item_groups)
    alpha_starts = list(range(0, p, alpha_chunk))
    chunks = [pad_rows(alphas32[a0 : a0 + alpha_chunk], alpha_chunk, 1.0) for a0 in alpha_starts]  # one shape
    bar = _progress(progress, -(-n // user_chunk) * len(alpha_starts), "evaluate")

    def serve(sub):
        return [kernels.group_sum_blocks(a, sub, n_groups, spec, payload) for a in chunks]

    for _, _, outs in map_user_chunks(serve, batch, user_chunk, batch_fill(batch, n_groups)):
        for a0, out in zip(alpha_starts, outs, strict=True):
            acc.add(out, a0, min(alpha_chunk, p - a0), merit=a0 == 0)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return acc.result(*host_counts(batch, n_groups))
