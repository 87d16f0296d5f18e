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
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxfair import kernels
from jaxfair import prune as _prune
from jaxfair.batch import Batch, check_item_group
from jaxfair.kernels import TOP1, SlateSpec
from jaxfair.position import check_slate
from jaxfair.position import position_weights as _position_weights
from jaxfair.validation import check_alphas, check_batch_prefs, warn_empty_groups, warn_provider_groups

__all__ = [
    "Evaluation",
    "GroupReport",
    "chunked_group_sums",
    "evaluate",
    "finish_evaluation",
    "plan_chunks",
    "DEFAULT_MEMORY_BUDGET",
    "PRUNE_MIN_ALPHAS",
    "provider_metrics",
    "pruned_group_sums",
    "resolve_slate",
    "use_pruning",
]

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
# about this many [N_chunk, P_chunk] float32 arrays (top-1; see _temporaries for slates).
_TEMPORARIES = 4


def _temporaries(spec: SlateSpec) -> int:
    """``[N_chunk, P_chunk]`` arrays live in the kernel: per rank a score and a value (and a
    provider group), plus the user-group (and user-provider) products."""
    if spec == TOP1:
        return _TEMPORARIES
    per_rank = 2 + max(spec.n_item_groups - 1, 0)
    return 2 + per_rank * spec.k + spec.n_item_groups


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
        return (
            f"GroupReport(alpha={np.round(self.alpha, 4).tolist()}, overall={self.overall:.4f}, "
            f"der={self.der:.4f}, by_group={self.by_group.round(4).to_dict()})"
        )


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
      slate: slate size k (1 = top-1); position_weights: ``[k]`` v_1..v_k used.
      provider_der: ``[P]`` provider DER (SPEC §7) of the exposure/merit ratios; all-NaN
        without provider groups, NaN where undefined (a group with no merit, or no exposure).
      exposure_share: ``[P, H]`` e_h, share of the position-weighted exposure per provider group.
      merit_share: ``[H]`` m_h, share of the merit (α-free).
      n_item_groups: H (0 when the batch has no ``item_group``).
    """

    alphas: np.ndarray
    utility: np.ndarray
    der: np.ndarray
    group_utility: np.ndarray
    n_unserved: int
    group_counts: np.ndarray
    group_names: tuple[str, ...] | None = None
    label_names: tuple[str, ...] | None = None
    slate: int = 1
    position_weights: np.ndarray | None = None
    provider_der: np.ndarray | None = None
    exposure_share: np.ndarray | None = None
    merit_share: np.ndarray | None = None
    n_item_groups: int = 0

    def __post_init__(self):
        p = int(np.shape(self.utility)[0])
        if self.position_weights is None:
            object.__setattr__(self, "position_weights", np.ones(int(self.slate)))
        if self.provider_der is None:
            object.__setattr__(self, "provider_der", np.full(p, np.nan))
        if self.exposure_share is None:
            object.__setattr__(self, "exposure_share", np.zeros((p, int(self.n_item_groups))))
        if self.merit_share is None:
            object.__setattr__(self, "merit_share", np.zeros(int(self.n_item_groups)))

    @property
    def exposure_ratio(self) -> np.ndarray:
        """``[P, H]`` ρ_h = e_h / m_h (NaN where m_h = 0)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(
                self.merit_share > 0,
                self.exposure_share / np.where(self.merit_share > 0, self.merit_share, 1.0),
                np.nan,
            )

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
        if self.n_item_groups:
            cols["provider_der"] = self.provider_der
        for i, n in enumerate(self._gnames()):
            cols[f"utility_{n}"] = self.group_utility[:, i]
        ratio = self.exposure_ratio
        for h in range(self.n_item_groups):
            cols[f"exposure_share_provider{h}"] = self.exposure_share[:, h]
            cols[f"exposure_ratio_provider{h}"] = ratio[:, h]
        frame = pd.DataFrame(cols)
        frame.attrs["n_unserved"] = int(self.n_unserved)
        frame.attrs["slate"] = int(self.slate)
        if self.n_item_groups:
            frame.attrs["merit_share"] = self.merit_share.tolist()
        return frame

    def report(self, i: int = 0) -> GroupReport:
        """MetricFrame-like per-group report for the ``i``-th α."""
        if not 0 <= i < len(self):
            raise ValueError(f"i: expected 0 <= i < {len(self)}, got {i}")
        return GroupReport(
            alpha=self.alphas[i],
            overall=float(self.utility[i]),
            by_group=pd.Series(self.group_utility[i], index=self._gnames(), name="utility"),
            der=float(self.der[i]),
        )

    def best(self) -> GroupReport:
        """Report for the α with the highest global utility."""
        return self.report(int(np.nanargmax(self.utility)))


def plan_chunks(
    n_alphas: int, n_users: int, n_candidates: int, budget_bytes: int = DEFAULT_MEMORY_BUDGET, spec: SlateSpec = TOP1
) -> tuple[int, int]:
    """``(alpha_chunk, user_chunk)`` so that the kernel's ``[Nc, Pc]`` float32 temporaries
    (``_TEMPORARIES`` of them for top-1, ~2–3 per rank for a slate of ``spec.k``) and the
    ``[Nc, m]`` inputs fit in ``budget_bytes``."""
    if budget_bytes < 1:
        raise ValueError(f"budget_bytes: expected > 0, got {budget_bytes}")
    elems = max(1, budget_bytes // (4 * _temporaries(spec)))
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


def _kernel_batch(batch: Batch, spec: SlateSpec = TOP1) -> Batch:
    """The fields the serving kernels read (user features stay behind, provider groups too
    unless ``spec`` measures exposure)."""
    return Batch(
        scores=batch.scores,
        labels=batch.labels,
        mask=batch.mask,
        group=batch.group,
        item_group=batch.item_group if spec.n_item_groups else None,
    )


def resolve_slate(
    batch: Batch, slate: Any = 1, position_weights: Any = "dcg", gamma: float = 0.8, n_item_groups: Any = None
) -> SlateSpec:
    """Validate slate arguments against a batch into a :class:`jaxfair.kernels.SlateSpec`.

    ``n_item_groups`` (H) defaults to the batch's (largest provider id + 1, at least 2);
    without ``batch.item_group`` exposure is not measured (H = 0).
    """
    k = check_slate(slate, batch.n_candidates)
    v = _position_weights(k, position_weights, gamma)
    if batch.item_group is None:
        if n_item_groups not in (None, 0):
            raise ValueError(
                f"n_item_groups: given ({n_item_groups!r}) but the batch has no item_group "
                "(build it with make_batch(..., item_group=...))"
            )
        h = 0
    else:
        if n_item_groups is None:
            h = max(batch.n_item_groups, 2)
        elif (
            isinstance(n_item_groups, (bool, np.bool_))
            or not isinstance(n_item_groups, (int, np.integer))
            or n_item_groups < 2
        ):
            raise ValueError(f"n_item_groups: expected an int >= 2 (provider groups H), got {n_item_groups!r}")
        else:
            h = int(n_item_groups)
        check_item_group(np.asarray(batch.item_group), batch.n_users, batch.n_candidates, h, name="batch.item_group")
    return kernels.slate_spec(k, v, h)


def use_pruning(prune: bool | None, n_alphas: int, n_candidates: int) -> bool:
    """Resolve ``prune=None`` (auto): pruning costs ~m² comparisons per user once and saves
    work per α, so it pays only for many α (and not at all for m < 3)."""
    if prune is None:
        return n_alphas >= PRUNE_MIN_ALPHAS and n_candidates >= 3
    if not isinstance(prune, (bool, np.bool_)):
        raise ValueError(f"prune: expected True, False or None (auto), got {prune!r}")
    return bool(prune)


def _pruning_pays(batch: Batch, k: int = 1) -> bool:
    """Auto mode: prune only if blocks of the first users would shrink to ≤ 3/4 of m
    candidates (with many labels few candidates are dominated, e.g. K = 8: 19.8 of 20 survive
    on toy, and the pruned path's bookkeeping then costs more than it saves)."""
    n, m = batch.n_users, batch.n_candidates
    n_first = k_users = min(n, PRUNE_TILE)
    keep = _prune.keep_mask(batch.scores[:k_users], batch.mask[:k_users], True, k=k)
    sizes = keep.sum(axis=1)
    nb = -(-n_first // kernels.SUM_BLOCK)
    sizes = np.pad(sizes, (0, nb * kernels.SUM_BLOCK - n_first))
    widths = [_bucket_width(int(w), m) for w in sizes.reshape(nb, -1).max(axis=1)]
    return float(np.mean(widths)) <= 0.75 * m


def chunked_group_sums(
    alphas32: jnp.ndarray,
    batch: Batch,
    prefs32: jnp.ndarray,
    alpha_chunk: int | None = None,
    user_chunk: int | None = None,
    progress: bool = False,
    prune: bool | None = False,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    mesh: Any = None,
    spec: SlateSpec = TOP1,
):
    """Group sums ``[P, G]``, counts ``[G]`` and unserved users over chunks of α and users.

    ``spec`` (:func:`resolve_slate`; default top-1) sets the slate size, position weights
    and provider groups; every path below takes it as a parameter. With provider groups
    (``spec.n_item_groups = H > 0``) two more results: exposure sums ``[P, H]`` and merit
    ``[H]`` (float64), i.e. ``(sums, counts, unserved, exposure, merit)``.

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

    batch = _kernel_batch(batch, spec)
    if mesh is None:
        mesh = sharding.default_mesh()
    else:
        sharding.check_mesh(mesh)
    pruning = use_pruning(prune, int(alphas32.shape[0]), batch.n_candidates) and (prune or _pruning_pays(batch, spec.k))
    if mesh is not None and pruning and jax.process_count() == 1:
        # One process: pruned tiles go round-robin to the mesh's devices (same bits).
        return pruned_group_sums(
            alphas32,
            batch,
            prefs32,
            memory_budget=memory_budget,
            progress=progress,
            devices=list(mesh.devices.flat),
            spec=spec,
        )
    if mesh is not None:
        return sharding.sharded_group_sums(alphas32, batch, prefs32, mesh, progress=progress, spec=spec)
    if pruning:
        return pruned_group_sums(alphas32, batch, prefs32, memory_budget=memory_budget, progress=progress, spec=spec)
    if alpha_chunk is None or user_chunk is None:
        alpha_chunk, user_chunk = plan_chunks(alphas32.shape[0], batch.n_users, batch.n_candidates, spec=spec)
    p, n, g = alphas32.shape[0], batch.n_users, prefs32.shape[0]
    h = spec.n_item_groups
    sums = np.zeros((p, g), dtype=np.float64)
    expo = np.zeros((p, h), dtype=np.float64)
    merit = np.zeros(h, dtype=np.float64)
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
        sub = jax.tree_util.tree_map(lambda x, u0=u0: x[u0 : u0 + user_chunk], batch)
        if sub.n_users < user_chunk:
            sub = _pad_batch(sub, user_chunk, g)
        for a0 in alpha_starts:
            chunk = _pad_rows(alphas32[a0 : a0 + alpha_chunk], alpha_chunk, 1.0)  # fixed shape: one compile
            out = kernels.evaluate_chunk_blocks(chunk, sub, prefs32, spec)
            s, c, un = out[:3]
            take = min(alpha_chunk, p - a0)
            _add_blocks(sums[a0 : a0 + take], s, take)
            if h:
                _add_blocks(expo[a0 : a0 + take], out[3], take)
            if a0 == 0:
                counts += np.asarray(c, dtype=np.float64)
                unserved += float(un)
                if h:
                    for block in np.asarray(out[4], dtype=np.float64):
                        merit += block
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    if h:
        return sums, counts, int(round(unserved)), expo, merit
    return sums, counts, int(round(unserved))


def _add_blocks(acc: np.ndarray, blocks, take: int) -> None:
    """``acc [take, C] += blocks [nb, ≥take, C]`` one block at a time, in user order, so the
    float64 sums do not depend on the chunking (``acc`` is a view into the result)."""
    for block in np.asarray(blocks, dtype=np.float64)[:, :take]:
        acc += block


def _pad_batch(sub: Batch, n: int, g: int) -> Batch:
    """Pad a batch to ``n`` users of the padding group ``g`` with nothing retrieved."""
    return Batch(
        scores=_pad_rows(sub.scores, n, 0.0),
        labels=_pad_rows(sub.labels, n, 0.0),
        mask=_pad_rows(sub.mask, n, False),
        group=_pad_rows(sub.group, n, g),
        item_group=None if sub.item_group is None else _pad_rows(sub.item_group, n, 0),
    )


def _bucket_width(w: int, m: int) -> int:
    """Smallest compiled width >= w (0 stays 0: nothing to serve)."""
    if w == 0:
        return 0
    for b in PRUNE_WIDTHS:
        if w <= b:
            return min(b, m)
    return min(m, -(-w // 16) * 16)


@functools.partial(jax.jit, static_argnames=("n_groups", "spec"))
def _tile_block_sums(alphas, scores, mask, value, group, item_group, n_groups, spec=TOP1):
    """Block sums ``[T / SUM_BLOCK, P, G]`` of a tile of whole user blocks served on their
    first W compacted candidates: ``scores [T, W, K]``, ``mask``/``value``/``item_group [T, W]``,
    ``group [T]`` (with provider groups, a pair: also exposure ``[T / SUM_BLOCK, P, H]``)."""
    return kernels.served_block_sums(
        alphas, scores, mask, value, jax.nn.one_hot(group, n_groups, dtype=value.dtype), spec, item_group
    )


_true_value_jit = jax.jit(kernels.true_value)


@functools.partial(jax.jit, static_argnames=("strict", "k"))
def _compact(scores, mask, value, item_group, strict, k=1):
    """Prune (for slates of ``k``) and compact on the device: survivors first, in their
    original order.

    Returns ``(scores [S, m, K], keep [S, m], value [S, m], item_group [S, m], survivors [S])``
    reordered per user (only gathers: the values are bit for bit the inputs').
    """
    keep = _prune.keep_mask_kernel(scores, mask, strict, k)
    # Stable partition by ranks (a sort is ~3x slower on CPU): survivor j goes to slot
    # (survivors before j), the others after all survivors, each group in index order.
    k = keep.astype(jnp.int32)
    count = k.sum(axis=1, keepdims=True)
    slot = jnp.where(keep, jnp.cumsum(k, axis=1) - 1, count + jnp.cumsum(1 - k, axis=1) - 1)  # [S, m]
    m = keep.shape[1]
    order = jnp.argmax(slot[:, :, None] == jnp.arange(m)[None, None, :], axis=1)  # [S, m]: slot -> candidate
    return (
        jnp.take_along_axis(scores, order[..., None], axis=1),
        jnp.take_along_axis(keep, order, axis=1),
        jnp.take_along_axis(value, order, axis=1),
        jnp.take_along_axis(item_group, order, axis=1),
        keep.sum(axis=1),
    )


@functools.partial(jax.jit, static_argnames=("w", "n_groups"))
def _gather_tile(scores_c, keep_c, value_c, ig_c, group, rows, w, n_groups):
    """One tile: users ``rows [T]`` (−1 = padding, group G) on their first ``w`` compacted
    candidates."""
    valid = rows >= 0
    r = jnp.maximum(rows, 0)
    return (
        scores_c[r, :w],
        keep_c[r, :w] & valid[:, None],
        value_c[r, :w],
        jnp.where(valid, group[r], n_groups).astype(jnp.int32),
        ig_c[r, :w],
    )


def pruned_group_sums(
    alphas32: jnp.ndarray,
    batch: Batch,
    prefs32: jnp.ndarray,
    *,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool = False,
    devices=None,
    spec: SlateSpec = TOP1,
):
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

    Slates (``spec.k = k``): a candidate dominated by ≥ k others can never enter a slate
    (:mod:`jaxfair.prune`), and serving the survivors in their original order ranks the
    slate's candidates exactly as serving all of them does.

    Returns ``(sums [P, G] float64, counts [G], n_unserved)`` (plus exposure ``[P, H]`` and
    merit ``[H]`` with provider groups, as :func:`chunked_group_sums`).
    """
    p, (n, m, _), g = int(alphas32.shape[0]), batch.shape, int(prefs32.shape[0])
    devices = list(devices) if devices else [None]
    bsz = kernels.SUM_BLOCK
    tile = min(PRUNE_TILE, -(-n // bsz) * bsz)
    per_tile = tile // bsz
    s_chunk = min(PRUNE_SUPER_CHUNK, -(-n // tile) * tile)
    # The kernel's [T, Pc] temporaries, as in the unpruned path.
    alpha_chunk = _balanced(p, max(1, memory_budget // (4 * _temporaries(spec)) // tile))
    h = spec.n_item_groups
    strict = _prune.alphas_allow_strict(np.asarray(alphas32))
    group_np = np.asarray(batch.group)
    mask_np = np.asarray(batch.mask)
    counts = np.bincount(group_np[group_np < g], minlength=g).astype(np.float64)
    unserved = int(np.sum(~mask_np.any(axis=1) & (group_np < g)))
    sums = np.zeros((p, g), dtype=np.float64)
    expo = np.zeros((p, h), dtype=np.float64)
    merit = np.zeros(h, dtype=np.float64)
    widths = np.array([_bucket_width(w, m) for w in range(m + 1)])
    starts = list(range(0, n, s_chunk))
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(starts) * -(-p // alpha_chunk), desc="evaluate (pruned)", unit="chunk", leave=False)
    for u0 in starts:
        sub = jax.tree_util.tree_map(lambda x, u0=u0: x[u0 : u0 + s_chunk], batch)
        ns = sub.n_users
        if ns < s_chunk:  # padding users: nothing retrieved, group G (count nowhere)
            sub = _pad_batch(sub, s_chunk, g)
        value = _true_value_jit(sub, prefs32)  # [S, m], exactly as the unpruned kernel computes it
        if h:  # merit is α-free and uses every retrieved candidate (pruned or not)
            for block in np.asarray(_merit_jit(sub, value, h), dtype=np.float64)[: -(-ns // bsz)]:
                merit += block
        ig = sub.item_group if h else jnp.zeros(sub.mask.shape, jnp.int32)
        scores_c, keep_c, value_c, ig_c, survivors = _compact(sub.scores, sub.mask, value, ig, strict, spec.k)
        nb = s_chunk // bsz
        block_w = widths[np.asarray(survivors).reshape(nb, bsz).max(axis=1)]  # [nb]
        n_live = -(-ns // bsz)  # blocks holding real users
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
                scores_c, keep_c, value_c, ig_c, sub.group, jnp.asarray(rows, jnp.int32), w=w, n_groups=g
            )
            dev = devices[len(tiles) % len(devices)]
            tiles.append((ids, dev, arrs if dev is None else jax.device_put(arrs, dev)))
        for a0 in range(0, p, alpha_chunk):
            chunk = _pad_rows(alphas32[a0 : a0 + alpha_chunk], alpha_chunk, 1.0)
            take = min(alpha_chunk, p - a0)
            blocks = np.zeros((n_live, take, g), dtype=np.float64)
            eblocks = np.zeros((n_live, take, h), dtype=np.float64)
            on_device = {id(d): jax.device_put(chunk, d) for d in devices}
            outs = [
                (ids, _tile_block_sums(on_device[id(d)], *arrs, n_groups=g, spec=spec)) for ids, d, arrs in tiles
            ]  # async
            for ids, out in outs:
                if h:
                    out, eout = out
                    eblocks[ids] = np.asarray(eout, dtype=np.float64)[: ids.size, :take]
                blocks[ids] = np.asarray(out, dtype=np.float64)[: ids.size, :take]
            acc = sums[a0 : a0 + take]
            for block in blocks:  # block order, as unpruned
                acc += block
            if h:
                acc = expo[a0 : a0 + take]
                for block in eblocks:
                    acc += block
            if bar is not None:
                bar.update(1)
    if bar is not None:
        bar.close()
    if h:
        return sums, counts, unserved, expo, merit
    return sums, counts, unserved


_merit_jit = jax.jit(kernels.merit_block_sums, static_argnums=2)


def evaluate(
    alphas: Any,
    batch: Batch,
    prefs: Any,
    *,
    chunk_size: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    group_names: Sequence[str] | None = None,
    label_names: Sequence[str] | None = None,
    progress: bool = False,
    prune: bool | None = None,
    mesh: Any = None,
    slate: int = 1,
    position_weights: Any = "dcg",
    gamma: float = 0.8,
    n_item_groups: int | None = None,
) -> Evaluation:
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
      slate: slate size k, ``1 <= k <= m`` (SPEC §7): the k retrieved candidates with the
        highest Σ_k α_k f_k, by (score desc, index asc); utility ``Σ_r v_r α*(g)·Y[j_r]``.
        ``slate=1`` is the top-1 model, bit for bit.
      position_weights: ``"dcg"`` (default), ``"geometric"``, ``"uniform"`` or a vector of
        k weights (:func:`jaxfair.position.position_weights`); gamma: geometric decay.
      n_item_groups: H provider groups (default: from ``batch.item_group``, at least 2).
        With ``batch.item_group`` the result also holds provider exposure and provider DER.

    Returns:
      :class:`Evaluation` with ``utility [P]``, ``der [P]``, ``group_utility [P, G]`` and, with
      provider groups, ``exposure_share [P, H]``, ``merit_share [H]``, ``provider_der [P]``.
      A group with no users gets NaN utility and NaN DER, with an :class:`EmptyGroupWarning`;
      a provider group with no merit gets NaN provider DER, with a :class:`ProviderGroupWarning`.
    """
    p_arr = check_batch_prefs(batch, prefs)
    a_arr = check_alphas(alphas, batch.n_labels)
    spec = resolve_slate(batch, slate, position_weights, gamma, n_item_groups)
    n, m, _ = batch.shape
    alpha_chunk, user_chunk = plan_chunks(a_arr.shape[0], n, m, memory_budget, spec=spec)
    if chunk_size is not None:
        if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise ValueError(f"chunk_size: expected an int >= 1, got {chunk_size!r}")
        alpha_chunk = _balanced(a_arr.shape[0], int(chunk_size))
    out = chunked_group_sums(
        jnp.asarray(a_arr, jnp.float32),
        batch,
        jnp.asarray(p_arr, jnp.float32),
        alpha_chunk,
        user_chunk,
        progress,
        prune=prune,
        memory_budget=memory_budget,
        mesh=mesh,
        spec=spec,
    )
    sums, counts, unserved = out[:3]
    expo, merit = (out[3], out[4]) if spec.n_item_groups else (None, None)
    return finish_evaluation(
        a_arr, sums, counts, unserved, group_names, label_names, spec=spec, exposure=expo, merit=merit
    )


def provider_metrics(exposure: np.ndarray, merit: np.ndarray, warn: bool = True):
    """Provider exposure fairness (SPEC §7) from exposure ``E [P, H]`` and merit ``M [H]``.

    Returns ``(exposure_share [P, H], merit_share [H], provider_der [P])``: e_h = E_h/ΣE,
    m_h = M_h/ΣM, provider DER = the DER formula on ρ_h = e_h/m_h. Undefined (NaN, with a
    :class:`ProviderGroupWarning` naming h when ``warn``) where a provider group has no merit
    (M_h = 0) or where nothing is exposed (ΣE = 0).
    """
    # Provider 0's exposure is a float32 difference (total − others): clip its rounding below 0.
    exposure = np.maximum(np.asarray(exposure, np.float64), 0.0)
    merit = np.asarray(merit, np.float64)
    tot_e = exposure.sum(axis=1, keepdims=True)
    tot_m = merit.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        e_share = np.where(tot_e > 0, exposure / np.where(tot_e > 0, tot_e, 1.0), np.nan)
        m_share = merit / tot_m if tot_m > 0 else np.full_like(merit, np.nan)
        ratio = np.where(m_share > 0, e_share / np.where(m_share > 0, m_share, 1.0), np.nan)
    no_merit = [int(h) for h in np.flatnonzero(~(merit > 0))]
    if warn:
        warn_provider_groups(no_merit, int(np.sum(tot_e[:, 0] <= 0)))
    pder = kernels.der_kernel(ratio, np) if exposure.shape[1] >= 2 else np.full(exposure.shape[0], np.nan)
    return e_share, m_share, np.asarray(pder, np.float64)


def finish_evaluation(
    alphas: np.ndarray,
    sums: np.ndarray,
    counts: np.ndarray,
    unserved: int,
    group_names=None,
    label_names=None,
    *,
    spec: SlateSpec = TOP1,
    exposure=None,
    merit=None,
) -> Evaluation:
    """Assemble an :class:`Evaluation` from group sums ``[P, G]`` and counts ``[G]`` (and,
    with provider groups, exposure sums ``[P, H]`` and merit ``[H]``)."""
    empty = warn_empty_groups(counts, group_names)
    with np.errstate(invalid="ignore", divide="ignore"):
        mu = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    total = counts.sum()
    utility = sums.sum(axis=1) / total
    if empty:
        der = np.full(len(alphas), np.nan)
    else:
        der = kernels.der_kernel(mu, np)
    extra = {}
    if exposure is not None:
        e_share, m_share, pder = provider_metrics(exposure, merit)
        extra = dict(
            provider_der=pder, exposure_share=e_share, merit_share=m_share, n_item_groups=int(np.shape(exposure)[1])
        )
    return Evaluation(
        alphas=np.asarray(alphas, dtype=np.float64),
        utility=utility,
        der=der,
        group_utility=mu,
        n_unserved=int(unserved),
        group_counts=counts.astype(np.int64),
        group_names=tuple(group_names) if group_names is not None else None,
        label_names=tuple(label_names) if label_names is not None else None,
        slate=int(spec.k),
        position_weights=np.asarray(spec.weights, np.float64),
        **extra,
    )
