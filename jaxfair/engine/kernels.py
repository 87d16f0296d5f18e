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
from jaxfair.engine.topk import running_argmax, running_topk, slate_outputs, slate_total

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
    ``n_item_groups``: H provider groups to measure exposure of (0 = none);
    ``nonneg_values``: every payload value is >= 0 (checked eagerly by the caller), so the
    sign bit of a value channel is free to carry a provider indicator through the network
    (:func:`jaxfair.engine.topk.slate_outputs`) instead of a chain of its own.
    """

    k: int = 1
    weights: tuple = (1.0,)
    n_item_groups: int = 0
    nonneg_values: bool = False


#: Today's top-1 model: one item, v_1 = 1, no provider exposure.
TOP1 = SlateSpec()


def slate_spec(k: int = 1, weights=None, n_item_groups: int = 0) -> SlateSpec:
    """A :class:`SlateSpec` from validated inputs (``weights`` default: all ones)."""
    w = (1.0,) * int(k) if weights is None else tuple(float(x) for x in weights)
    return SlateSpec(int(k), w, int(n_item_groups))


def serve_kernel(alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray) -> jnp.ndarray:
    """Served candidate per user and α: ``int32 [P, N]``, −1 where nothing was retrieved.

    Ties go to the lowest candidate index.
    """
    n, m = mask.shape
    index = jnp.broadcast_to(jnp.arange(m, dtype=jnp.int32), (n, m))
    return running_argmax(alphas, scores, mask, index).T


def slate_serve_kernel(alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray, k: int) -> jnp.ndarray:
    """Slate per user and α: ``int32 [P, N, k]`` candidate indices by rank, −1 for empty ranks.

    Ranked by (score descending, index ascending); ``k`` static. ``k = 1`` serves as
    :func:`serve_kernel`.
    """
    n, m = mask.shape
    index = jnp.broadcast_to(jnp.arange(m, dtype=jnp.int32), (n, m))
    (ranks,) = running_topk(alphas, scores, mask, (index,), k)
    out = jnp.stack(ranks, axis=-1)  # [N, P, min(k, m)]
    if k > m:
        out = jnp.concatenate([out, jnp.full(out.shape[:2] + (k - m,), -1, out.dtype)], axis=-1)
    return jnp.transpose(out, (1, 0, 2))


def served_value(alphas: jnp.ndarray, batch: Batch, value: jnp.ndarray) -> jnp.ndarray:
    """``value[n, ĵ_n(α)]`` for every α: ``[N, P]``; 0 for users with no retrieved candidate."""
    return running_argmax(alphas, batch.scores, batch.mask, value)


def slate_value(
    alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray, value: jnp.ndarray, spec: SlateSpec = TOP1
) -> jnp.ndarray:
    """``Σ_r v_r · value[n, j_r(α)]``: ``[N, P]`` (0 for empty ranks); ``spec`` static.

    ``spec = TOP1`` gives :func:`served_value` bit for bit.
    """
    return slate_outputs(alphas, scores, mask, (value,), None, spec._replace(n_item_groups=0))[0][0]


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


def _paired_trees(xs, es, onehot):
    """Block sums of C channels ``xs`` (``[B, P]`` each → ``[P, G]``) and H − 1 exposures ``es``
    (``[B, P]`` each → ``[P]``), two per pairwise tree where possible.

    Every output of the serving network read by its own tree is its own XLA fusion, and each
    fusion recomputes the whole top-k network (XLA duplicates cheap elementwise producers
    into every consumer; an optimization barrier does not stop it). A complex64 tree carries
    two float32 trees in one fusion: complex addition adds the real and the imaginary parts
    separately, so each part has the bits of its own float32 tree. Channel q pairs with
    exposure q (the exposure broadcast over G, read at g = 0); the exposures left pair with
    each other; channels left alone keep their own trees (two channels in one complex tree
    were measured ~50× slower: that fusion did not vectorise).
    """
    n_pairs = min(len(xs), len(es))
    g = onehot.shape[1]
    sums, others = [], []
    for u, e in zip(xs[:n_pairs], es[:n_pairs], strict=True):
        t = _tree(jax.lax.complex(u[:, :, None] * onehot[:, None, :], jnp.broadcast_to(e[:, :, None], e.shape + (g,))))
        sums.append(jnp.real(t))
        others.append(jnp.imag(t)[:, 0])
    sums += [_block_tree(u, onehot) for u in xs[n_pairs:]]
    rest = es[n_pairs:]
    for i in range(0, len(rest), 2):
        if i + 1 < len(rest):
            t = _tree(jax.lax.complex(rest[i], rest[i + 1]))
            others += [jnp.real(t), jnp.imag(t)]
        else:
            others.append(_tree(rest[i]))
    return sums, others


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
    With provider groups, channel and exposure trees share complex64 trees
    (:func:`_paired_trees`), so the network runs once per pair instead of once per output.

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
        xs, e = slate_outputs(alphas, s, mk, tuple(x[..., q] for q in range(c)), g[0] if expo else None, spec)
        if not expo:
            return jnp.stack([_block_tree(u, oh) for u in xs], axis=-1)  # [P, G, C]
        sums, others = _paired_trees(xs, e, oh)
        return jnp.stack(sums, axis=-1), jnp.stack(others, axis=-1), _tree(slate_total(mk, spec))

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
