"""How the engine cuts the work: chunk sizes from a memory budget and the pruning rules.

Nothing here changes a result: chunk edges fall on whole blocks of ``kernels.SUM_BLOCK``
users and pruning is exact, so these rules only decide the speed (and peak memory).
"""

from __future__ import annotations

import numpy as np

from jaxfair.engine import kernels
from jaxfair.engine import prune as _prune
from jaxfair.engine.batch import Batch
from jaxfair.engine.kernels import TOP1, SlateSpec

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "DEFAULT_USER_CHUNK",
    "PRUNE_MIN_ALPHAS",
    "PRUNE_SUPER_CHUNK",
    "PRUNE_TILE",
    "PRUNE_WIDTHS",
    "balanced",
    "bucket_width",
    "plan_chunks",
    "pruning_pays",
    "temporaries",
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


def temporaries(spec: SlateSpec = TOP1, n_channels: int = 1) -> int:
    """``[N_chunk, P_chunk]`` arrays live in the kernel: per rank a score, C channel payloads
    (and H − 1 provider payloads), plus the user-group (and user-provider) products. Top-1
    with C = 1: 4 (best score, payload, output, user-group product)."""
    per_rank = 1 + n_channels + max(spec.n_item_groups - 1, 0)
    return 2 + per_rank * spec.k + spec.n_item_groups


def plan_chunks(
    n_alphas: int,
    n_users: int,
    n_candidates: int,
    budget_bytes: int = DEFAULT_MEMORY_BUDGET,
    spec: SlateSpec = TOP1,
    n_channels: int = 1,
) -> tuple[int, int]:
    """``(alpha_chunk, user_chunk)`` so that the kernel's ``[Nc, Pc]`` float32 temporaries
    (:func:`temporaries`) and the ``[Nc, m]`` inputs fit in ``budget_bytes``."""
    if budget_bytes < 1:
        raise ValueError(f"budget_bytes: expected > 0, got {budget_bytes}")
    elems = max(1, budget_bytes // (4 * temporaries(spec, n_channels)))
    # Whole blocks of kernels.SUM_BLOCK users, so chunk edges fall on block edges and the
    # sums do not depend on the chunking (at least one block, even over a tiny budget).
    b = kernels.SUM_BLOCK
    blocks = balanced(-(-n_users // b), max(1, min(DEFAULT_USER_CHUNK, elems // n_candidates) // b))
    user_chunk = blocks * b
    alpha_chunk = balanced(n_alphas, max(1, elems // user_chunk))
    return alpha_chunk, user_chunk


def balanced(total: int, largest: int) -> int:
    """Chunk size <= ``largest`` that splits ``total`` into equal-ish chunks (little padding)."""
    n_chunks = -(-total // largest)
    return int(-(-total // n_chunks))


def use_pruning(prune: bool | None, n_alphas: int, n_candidates: int) -> bool:
    """Resolve ``prune=None`` (auto): pruning costs ~m² comparisons per user once and saves
    work per α, so it pays only for many α (and not at all for m < 3)."""
    if prune is None:
        return n_alphas >= PRUNE_MIN_ALPHAS and n_candidates >= 3
    if not isinstance(prune, (bool, np.bool_)):
        raise ValueError(f"prune: expected True, False or None (auto), got {prune!r}")
    return bool(prune)


def bucket_width(w: int, m: int) -> int:
    """Smallest compiled width >= w (0 stays 0: nothing to serve)."""
    if w == 0:
        return 0
    for b in PRUNE_WIDTHS:
        if w <= b:
            return min(b, m)
    return min(m, -(-w // 16) * 16)


def pruning_pays(batch: Batch, k: int = 1) -> bool:
    """Auto mode: prune only if blocks of the first users would shrink to ≤ 3/4 of m
    candidates (with many labels few candidates are dominated, e.g. K = 8: 19.8 of 20 survive
    on toy, and the pruned path's bookkeeping then costs more than it saves)."""
    n, m = batch.n_users, batch.n_candidates
    n_first = min(n, PRUNE_TILE)
    keep = _prune.keep_mask(batch.scores[:n_first], batch.mask[:n_first], True, k=k)
    sizes = keep.sum(axis=1)
    nb = -(-n_first // kernels.SUM_BLOCK)
    sizes = np.pad(sizes, (0, nb * kernels.SUM_BLOCK - n_first))
    widths = [bucket_width(int(w), m) for w in sizes.reshape(nb, -1).max(axis=1)]
    return float(np.mean(widths)) <= 0.75 * m
