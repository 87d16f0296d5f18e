"""Grid evaluation: global utility, group utilities and DER for many α at once.

``evaluate(alphas [P, K], batch, prefs [G, K])`` runs one compiled kernel
(:func:`jaxfair.kernels.evaluate_chunk_blocks`) over chunks of α and of users whose size is
chosen from a memory budget, so peak memory stays bounded whatever P and N. Three paths give
the same bits: plain chunks; exactly pruned candidates bucketed by surviving-set size
(:func:`pruned_group_sums`, :mod:`jaxfair.prune`); users sharded over a device mesh or over
processes (:mod:`jaxfair.sharding`, :mod:`jaxfair.distributed`).
"""
from __future__ import annotations

import dataclasses
import functools
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxfair import kernels, prune as _prune
from jaxfair.batch import Batch
from jaxfair.validation import check_alphas, check_batch_prefs, warn_empty_groups

__all__ = ["Evaluation", "GroupReport", "chunked_group_sums", "evaluate", "finish_evaluation", "plan_chunks",
           "DEFAULT_MEMORY_BUDGET", "PRUNE_MIN_ALPHAS", "pruned_group_sums", "use_pruning"]

#: Bytes allowed for one kernel call's float32 [N_chunk, P_chunk] intermediates.
DEFAULT_MEMORY_BUDGET = 256 * 2**20
#: ``prune=None`` turns pruning on from this many α. Pruning costs ~1 µs per user once (the
#: m² dominance pass, compaction, bucketing) and saves a fraction of the per-α work; on the
#: 2-core CPU it lost at 1,001 α × 102,400 users (0.19 s vs 0.10 s) and won at 10,201 α.
PRUNE_MIN_ALPHAS = 4096
#: Users sorted by surviving-set size and served together in one bucketed kernel call.
PRUNE_TILE = 2048
#: Users pruned, sorted and regrouped together (whole tiles and whole SUM_BLOCKs).
PRUNE_SUPER_CHUNK = 32 * PRUNE_TILE
#: Candidate widths the bucketed kernel is compiled for (then multiples of 16 up to m).
PRUNE_WIDTHS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16)
#: Users per kernel call: small enough that a user's scores stay in cache while α streams.
DEFAULT_USER_CHUNK = 2048
# The kernel's fused loop holds best score, payload, output and the user-group product:
# about this many [N_chunk, P_chunk] float32 arrays.
_TEMPORARIES = 4


@dataclasses.dataclass(frozen=True)
class GroupReport:
    """Per-group report for one α, in the style of fairlearn's ``MetricFrame``.

    ``overall`` is the population-weighted global utility, ``by_group`` the group means.
    """

    alpha: np.ndarray
    overall: float
    by_group: pd.Series
    der: float

    def difference(self) -> float:
        """Largest minus smallest group utility."""
        return float(self.by_group.max() - self.by_group.min())

    def ratio(self) -> float:
        """Smallest over largest group utility (1 = equal; NaN if the largest is 0)."""
        top = float(self.by_group.max())
        return float(self.by_group.min() / top) if top > 0 else float("nan")

    def __repr__(self) -> str:
        return (f"GroupReport(alpha={np.round(self.alpha, 4).tolist()}, overall={self.overall:.4f}, "
                f"der={self.der:.4f}, by_group={self.by_group.round(4).to_dict()})")


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """Metrics for P weight vectors on one batch (numpy arrays).

    Attributes:
      alphas: ``[P, K]`` the weights evaluated.
      utility: ``[P]`` global (population-weighted) mean utility.
      der: ``[P]`` DER of the group means (NaN where a group has no users).
      group_utility: ``[P, G]`` mean utility per group.
      n_unserved: users with no retrieved candidate (utility 0, counted in their group).
      group_counts: ``[G]`` users per group.
      group_names / label_names: optional names used by ``to_frame`` and ``report``.
    """

    alphas: np.ndarray
    utility: np.ndarray
    der: np.ndarray
    group_utility: np.ndarray
    n_unserved: int
    group_counts: np.ndarray
    group_names: tuple[str, ...] | None = None
    label_names: tuple[str, ...] | None = None

    def __len__(self) -> int:
        return int(self.utility.shape[0])

    def _gnames(self) -> list[str]:
        g = self.group_utility.shape[1]
        return list(self.group_names) if self.group_names is not None else [f"group{i}" for i in range(g)]

    def _lnames(self) -> list[str]:
        k = self.alphas.shape[1]
        return list(self.label_names) if self.label_names is not None else [f"label{i}" for i in range(k)]

    def to_frame(self) -> pd.DataFrame:
        """Tidy table: one row per α with ``alpha_<label>``, ``utility``, ``der``, ``utility_<group>``."""
        cols: dict[str, Any] = {f"alpha_{n}": self.alphas[:, i] for i, n in enumerate(self._lnames())}
        cols["utility"] = self.utility
        cols["der"] = self.der
        for i, n in enumerate(self._gnames()):
            cols[f"utility_{n}"] = self.group_utility[:, i]
        frame = pd.DataFrame(cols)
        frame.attrs["n_unserved"] = int(self.n_unserved)
        return frame

    def report(self, i: int = 0) -> GroupReport:
        """MetricFrame-like per-group report for the ``i``-th α."""
        if not 0 <= i < len(self):
            raise ValueError(f"i: expected 0 <= i < {len(self)}, got {i}")
        return GroupReport(alpha=self.alphas[i], overall=float(self.utility[i]),
                           by_group=pd.Series(self.group_utility[i], index=self._gnames(), name="utility"),
                           der=float(self.der[i]))

    def best(self) -> GroupReport:
        """Report for the α with the highest global utility."""
        return self.report(int(np.nanargmax(self.utility)))


def plan_chunks(n_alphas: int, n_users: int, n_candidates: int, budget_bytes: int = DEFAULT_MEMORY_BUDGET) -> tuple[int, int]:
    """``(alpha_chunk, user_chunk)`` so that the kernel's ``[Nc, Pc]`` float32 temporaries
    (``_TEMPORARIES`` of them) and the ``[Nc, m]`` inputs fit in ``budget_bytes``."""
    if budget_bytes < 1:
        raise ValueError(f"budget_bytes: expected > 0, got {budget_bytes}")
    elems = max(1, budget_bytes // (4 * _TEMPORARIES))
    # Whole blocks of kernels.SUM_BLOCK users, so chunk edges fall on block edges and the
    # sums do not depend on the chunking (at least one block, even over a tiny budget).
    b = kernels.SUM_BLOCK
    blocks = _balanced(-(-n_users // b), max(1, min(DEFAULT_USER_CHUNK, elems // n_candidates) // b))
    user_chunk = blocks * b
    alpha_chunk = _balanced(n_alphas, max(1, elems // user_chunk))
    return alpha_chunk, user_chunk


def _balanced(total: int, largest: int) -> int:
    """Chunk size <= ``largest`` that splits ``total`` into equal-ish chunks (little padding)."""
    n_chunks = -(-total // largest)
    return int(-(-total // n_chunks))


def _pad_rows(x: jnp.ndarray, n: int, fill) -> jnp.ndarray:
    if x.shape[0] == n:
        return x
    pad = jnp.full((n - x.shape[0],) + x.shape[1:], fill, dtype=x.dtype)
    return jnp.concatenate([x, pad])


def _kernel_batch(batch: Batch) -> Batch:
    """The fields the serving kernels read (optional user features stay behind)."""
    return Batch(scores=batch.scores, labels=batch.labels, mask=batch.mask, group=batch.group)


def use_pruning(prune: bool | None, n_alphas: int, n_candidates: int) -> bool:
    """Resolve ``prune=None`` (auto): pruning costs ~m² comparisons per user once and saves
    work per α, so it pays only for many α (and not at all for m < 3)."""
    if prune is None:
        return n_alphas >= PRUNE_MIN_ALPHAS and n_candidates >= 3
    if not isinstance(prune, (bool, np.bool_)):
        raise ValueError(f"prune: expected True, False or None (auto), got {prune!r}")
    return bool(prune)


def _pruning_pays(batch: Batch) -> bool:
    """Auto mode: prune only if blocks of the first users would shrink to ≤ 3/4 of m
    candidates (with many labels few candidates are dominated, e.g. K = 8: 19.8 of 20 survive
    on toy, and the pruned path's bookkeeping then costs more than it saves)."""
    n, m = batch.n_users, batch.n_candidates
    k = min(n, PRUNE_TILE)
    keep = _prune.keep_mask(batch.scores[:k], batch.mask[:k], True)
    sizes = keep.sum(axis=1)
    nb = -(-k // kernels.SUM_BLOCK)
    sizes = np.pad(sizes, (0, nb * kernels.SUM_BLOCK - k))
    widths = [_bucket_width(int(w), m) for w in sizes.reshape(nb, -1).max(axis=1)]
    return float(np.mean(widths)) <= 0.75 * m


def chunked_group_sums(alphas32: jnp.ndarray, batch: Batch, prefs32: jnp.ndarray, alpha_chunk: int | None = None,
                       user_chunk: int | None = None, progress: bool = False, prune: bool | None = False,
                       memory_budget: int = DEFAULT_MEMORY_BUDGET, mesh: Any = None):
    """Group sums ``[P, G]``, counts ``[G]`` and unserved users over chunks of α and users.

    The kernel sums blocks of ``kernels.SUM_BLOCK`` users in float32; blocks accumulate in
    float64, so the error does not grow with N and does not depend on the chunking as long
    as ``user_chunk`` is a multiple of ``SUM_BLOCK`` (as :func:`plan_chunks` makes it).

    ``prune`` (True, False, None = auto) serves from the exactly pruned candidates
    (:mod:`jaxfair.prune`), bucketed by how many survive; bit-identical results. The
    chunk arguments then do not apply (the buckets plan their own from ``memory_budget``).

    ``mesh`` (a ``jax.sharding.Mesh`` from :func:`jaxfair.sharding.user_mesh`; default: all
    devices when there are several, else none) spreads the users over devices,
    bit-identically: in one process, when pruning is on, the pruned tiles go round-robin to
    the mesh's devices; otherwise (and always across processes) the users are sharded with
    ``shard_map`` (:mod:`jaxfair.sharding`), unpruned.
    """
    from jaxfair import sharding

    batch = _kernel_batch(batch)
    if mesh is None:
        mesh = sharding.default_mesh()
    else:
        sharding.check_mesh(mesh)
    pruning = use_pruning(prune, int(alphas32.shape[0]), batch.n_candidates) and (prune or _pruning_pays(batch))
    if mesh is not None and pruning and jax.process_count() == 1:
        # One process: pruned tiles go round-robin to the mesh's devices (same bits).
        return pruned_group_sums(alphas32, batch, prefs32, memory_budget=memory_budget, progress=progress,
                                 devices=list(mesh.devices.flat))
    if mesh is not None:
        return sharding.sharded_group_sums(alphas32, batch, prefs32, mesh, progress=progress)
    if pruning:
        return pruned_group_sums(alphas32, batch, prefs32, memory_budget=memory_budget, progress=progress)
    if alpha_chunk is None or user_chunk is None:
        alpha_chunk, user_chunk = plan_chunks(alphas32.shape[0], batch.n_users, batch.n_candidates)
    p, n, g = alphas32.shape[0], batch.n_users, prefs32.shape[0]
    sums = np.zeros((p, g), dtype=np.float64)
    counts = np.zeros(g, dtype=np.float64)
    unserved = 0.0
    user_starts = list(range(0, n, user_chunk))
    alpha_starts = list(range(0, p, alpha_chunk))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(user_starts) * len(alpha_starts), desc="evaluate", unit="chunk", leave=False)
    for u0 in user_starts:
        # Padding users get group id G: the kernel's one-hot gives them zero weight.
        sub = jax.tree_util.tree_map(lambda x: x[u0:u0 + user_chunk], batch)
        if sub.n_users < user_chunk:
            sub = Batch(scores=_pad_rows(sub.scores, user_chunk, 0.0), labels=_pad_rows(sub.labels, user_chunk, 0.0),
                        mask=_pad_rows(sub.mask, user_chunk, False), group=_pad_rows(sub.group, user_chunk, g))
        for a0 in alpha_starts:
            chunk = _pad_rows(alphas32[a0:a0 + alpha_chunk], alpha_chunk, 1.0)  # fixed shape: one compile
            s, c, un = kernels.evaluate_chunk_blocks(chunk, sub, prefs32)
            take = min(alpha_chunk, p - a0)
            acc = sums[a0:a0 + take]  # a view: blocks are added one by one, in user order, so
            for block in np.asarray(s, dtype=np.float64)[:, :take]:  # the float64 sums are also
                acc += block  # independent of the chunking
            if a0 == 0:
                counts += np.asarray(c, dtype=np.float64)
                unserved += float(un)
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return sums, counts, int(round(unserved))


def _bucket_width(w: int, m: int) -> int:
    """Smallest compiled width >= w (0 stays 0: nothing to serve)."""
    if w == 0:
        return 0
    for b in PRUNE_WIDTHS:
        if w <= b:
            return min(b, m)
    return min(m, -(-w // 16) * 16)


@functools.partial(jax.jit, static_argnames=("n_groups",))
def _tile_block_sums(alphas, scores, mask, value, group, n_groups):
    """Block sums ``[T / SUM_BLOCK, P, G]`` of a tile of whole user blocks served on their
    first W compacted candidates: ``scores [T, W, K]``, ``mask``/``value [T, W]``, ``group [T]``."""
    return kernels.served_block_sums(alphas, scores, mask, value, jax.nn.one_hot(group, n_groups, dtype=value.dtype))


_true_value_jit = jax.jit(kernels.true_value)


@functools.partial(jax.jit, static_argnames=("strict",))
def _compact(scores, mask, value, strict):
    """Prune and compact on the device: survivors first, in their original order.

    Returns ``(scores [S, m, K], keep [S, m], value [S, m], survivors [S])`` reordered per
    user (only gathers: the values are bit for bit the inputs').
    """
    keep = _prune.keep_mask_kernel(scores, mask, strict)
    # Stable partition by ranks (a sort is ~3x slower on CPU): survivor j goes to slot
    # (survivors before j), the others after all survivors, each group in index order.
    k = keep.astype(jnp.int32)
    count = k.sum(axis=1, keepdims=True)
    slot = jnp.where(keep, jnp.cumsum(k, axis=1) - 1, count + jnp.cumsum(1 - k, axis=1) - 1)  # [S, m]
    m = keep.shape[1]
    order = jnp.argmax(slot[:, :, None] == jnp.arange(m)[None, None, :], axis=1)  # [S, m]: slot -> candidate
    return (jnp.take_along_axis(scores, order[..., None], axis=1), jnp.take_along_axis(keep, order, axis=1),
            jnp.take_along_axis(value, order, axis=1), keep.sum(axis=1))


@functools.partial(jax.jit, static_argnames=("w", "n_groups"))
def _gather_tile(scores_c, keep_c, value_c, group, rows, w, n_groups):
    """One tile: users ``rows [T]`` (−1 = padding, group G) on their first ``w`` compacted
    candidates."""
    valid = rows >= 0
    r = jnp.maximum(rows, 0)
    return (scores_c[r, :w], keep_c[r, :w] & valid[:, None], value_c[r, :w],
            jnp.where(valid, group[r], n_groups).astype(jnp.int32))


def pruned_group_sums(alphas32: jnp.ndarray, batch: Batch, prefs32: jnp.ndarray, *,
                      memory_budget: int = DEFAULT_MEMORY_BUDGET, progress: bool = False, devices=None):
    """:func:`chunked_group_sums` on exactly pruned candidates, bucketed by surviving-set size.

    Per super-chunk of :data:`PRUNE_SUPER_CHUNK` users: prune (:func:`jaxfair.prune.keep_mask`),
    give each fixed block of ``SUM_BLOCK`` users the bucket width W of its largest surviving
    set, sort the *blocks* (never the users inside them) by W, and serve tiles of
    :data:`PRUNE_TILE` users (whole blocks of one W) on their first W compacted candidates
    with the same fused kernel and the same pairwise block tree as the unpruned path. Served
    values are identical (pruning is exact and keeps candidate order) and every user stays
    in its block at its place, so the block sums are bit-identical; they are added in
    float64 in block order, as unpruned. (Sorting users rather than blocks would pad less
    but reorder the block sums' operands; putting values back in order costs more than it
    saves on CPU — measured.)

    ``devices``: place tile i on ``devices[i % D]`` (one process, several devices); every
    tile runs the same program wherever it runs, so the bits do not change.

    Returns ``(sums [P, G] float64, counts [G], n_unserved)``.
    """
    p, (n, m, _), g = int(alphas32.shape[0]), batch.shape, int(prefs32.shape[0])
    devices = list(devices) if devices else [None]
    bsz = kernels.SUM_BLOCK
    tile = min(PRUNE_TILE, -(-n // bsz) * bsz)
    per_tile = tile // bsz
    s_chunk = min(PRUNE_SUPER_CHUNK, -(-n // tile) * tile)
    # The kernel's [T, Pc] temporaries, as in the unpruned path.
    alpha_chunk = _balanced(p, max(1, memory_budget // (4 * _TEMPORARIES) // tile))
    strict = _prune.alphas_allow_strict(np.asarray(alphas32))
    group_np = np.asarray(batch.group)
    mask_np = np.asarray(batch.mask)
    counts = np.bincount(group_np[group_np < g], minlength=g).astype(np.float64)
    unserved = int(np.sum(~mask_np.any(axis=1) & (group_np < g)))
    sums = np.zeros((p, g), dtype=np.float64)
    widths = np.array([_bucket_width(w, m) for w in range(m + 1)])
    starts = list(range(0, n, s_chunk))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(starts) * -(-p // alpha_chunk), desc="evaluate (pruned)", unit="chunk", leave=False)
    for u0 in starts:
        sub = jax.tree_util.tree_map(lambda x: x[u0:u0 + s_chunk], batch)
        ns = sub.n_users
        if ns < s_chunk:  # padding users: nothing retrieved, group G (count nowhere)
            sub = Batch(scores=_pad_rows(sub.scores, s_chunk, 0.0), labels=_pad_rows(sub.labels, s_chunk, 0.0),
                        mask=_pad_rows(sub.mask, s_chunk, False), group=_pad_rows(sub.group, s_chunk, g))
        value = _true_value_jit(sub, prefs32)  # [S, m], exactly as the unpruned kernel computes it
        scores_c, keep_c, value_c, survivors = _compact(sub.scores, sub.mask, value, strict)
        nb = s_chunk // bsz
        block_w = widths[np.asarray(survivors).reshape(nb, bsz).max(axis=1)]  # [nb]
        n_live = -(-ns // bsz)  # blocks holding real users
        order = np.argsort(block_w[:n_live], kind="stable")  # blocks, narrowest first
        tiles = []  # (block ids, device, device arrays)
        for t0 in range(0, n_live, per_tile):
            ids = order[t0:t0 + per_tile]
            w = int(block_w[ids].max())
            if w == 0:  # nobody served in these blocks: their sums are exact zeros
                continue
            rows = (ids[:, None] * bsz + np.arange(bsz)).reshape(-1)
            if ids.size < per_tile:  # pad with users of the (empty) padding group G
                rows = np.concatenate([rows, np.full((per_tile - ids.size) * bsz, -1)])
            arrs = _gather_tile(scores_c, keep_c, value_c, sub.group, jnp.asarray(rows, jnp.int32), w=w, n_groups=g)
            dev = devices[len(tiles) % len(devices)]
            tiles.append((ids, dev, arrs if dev is None else jax.device_put(arrs, dev)))
        for a0 in range(0, p, alpha_chunk):
            chunk = _pad_rows(alphas32[a0:a0 + alpha_chunk], alpha_chunk, 1.0)
            take = min(alpha_chunk, p - a0)
            blocks = np.zeros((n_live, take, g), dtype=np.float64)
            on_device = {id(d): jax.device_put(chunk, d) for d in devices}
            outs = [(ids, _tile_block_sums(on_device[id(d)], *arrs, n_groups=g)) for ids, d, arrs in tiles]  # async
            for ids, out in outs:
                blocks[ids] = np.asarray(out, dtype=np.float64)[: ids.size, :take]
            acc = sums[a0:a0 + take]
            for block in blocks:  # block order, as unpruned
                acc += block
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    return sums, counts, unserved


def evaluate(alphas: Any, batch: Batch, prefs: Any, *, chunk_size: int | None = None,
             memory_budget: int = DEFAULT_MEMORY_BUDGET, group_names: Sequence[str] | None = None,
             label_names: Sequence[str] | None = None, progress: bool = False,
             prune: bool | None = None, mesh: Any = None) -> Evaluation:
    """Evaluate P serving weight vectors on a batch with one compiled kernel.

    Args:
      alphas: ``[P, K]`` non-negative, finite, no all-zero row.
      batch: N users × m candidates × K labels.
      prefs: ``[G, K]`` true preferences α*; every group id in ``batch`` must be < G.
      chunk_size: α per kernel call; default chosen from ``memory_budget`` (users are then
        chunked too if one α over all users would not fit).
      memory_budget: bytes for one kernel call's ``[N_chunk, P_chunk]`` intermediates.
      group_names, label_names: optional names for tables.
      progress: show a progress bar over chunks.
      prune: serve from exactly pruned candidates (:mod:`jaxfair.prune`): True, False, or
        None = auto (on from :data:`PRUNE_MIN_ALPHAS` α when the first users' blocks shrink to
        ≤ 3/4 of the candidates). Results are bit-identical either
        way; only the speed differs. ``chunk_size`` applies to the unpruned path only.
      mesh: a ``jax.sharding.Mesh`` (:func:`jaxfair.sharding.user_mesh`) to shard the users
        over; default: all devices when there are several (else one device). Bit-identical
        to one device; in a multi-process run (:mod:`jaxfair.distributed`) ``batch`` holds
        this process's users and the result covers all processes' users.

    Returns:
      :class:`Evaluation` with ``utility [P]``, ``der [P]``, ``group_utility [P, G]``.
      A group with no users gets NaN utility and NaN DER, with an :class:`EmptyGroupWarning`.
    """
    p_arr = check_batch_prefs(batch, prefs)
    a_arr = check_alphas(alphas, batch.n_labels)
    n, m, _ = batch.shape
    alpha_chunk, user_chunk = plan_chunks(a_arr.shape[0], n, m, memory_budget)
    if chunk_size is not None:
        if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise ValueError(f"chunk_size: expected an int >= 1, got {chunk_size!r}")
        alpha_chunk = _balanced(a_arr.shape[0], int(chunk_size))
    sums, counts, unserved = chunked_group_sums(jnp.asarray(a_arr, jnp.float32), batch, jnp.asarray(p_arr, jnp.float32),
                                                alpha_chunk, user_chunk, progress, prune=prune,
                                                memory_budget=memory_budget, mesh=mesh)
    return finish_evaluation(a_arr, sums, counts, unserved, group_names, label_names)


def finish_evaluation(alphas: np.ndarray, sums: np.ndarray, counts: np.ndarray, unserved: int,
                      group_names=None, label_names=None) -> Evaluation:
    """Assemble an :class:`Evaluation` from group sums ``[P, G]`` and counts ``[G]``."""
    empty = warn_empty_groups(counts, group_names)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    total = counts.sum()
    utility = sums.sum(axis=1) / total
    if empty:
        der = np.full(len(alphas), np.nan)
    else:
        der = kernels.der_kernel(mu, np)
    return Evaluation(alphas=np.asarray(alphas, dtype=np.float64), utility=utility, der=der, group_utility=mu,
                      n_unserved=int(unserved), group_counts=counts.astype(np.int64),
                      group_names=tuple(group_names) if group_names is not None else None,
                      label_names=tuple(label_names) if label_names is not None else None)
