"""Exact candidate pruning: drop candidates that can never be served for any α ≥ 0.

Serving is ``ĵ(α) = first argmax_j fl32(Σ_k α_k f[n,j,k])`` over retrieved j (SPEC §2: the
lowest index wins ties), computed in float32 by :func:`jaxfair.engine.kernels.served_value`. A
retrieved candidate ``i`` *dominates* candidate ``j`` of the same user when either

1. ``i < j`` and ``f_i ≥ f_j`` on every label. Float rounding is monotone (products by
   α_k ≥ 0, sums, FMA, flush-to-zero all preserve ≤), so ``fl32(α·f_i) ≥ fl32(α·f_j)`` for
   every α ≥ 0: ``j`` can at best tie with ``i`` and then ``i`` wins by index; or
2. ``i > j`` and ``f_i`` beats ``f_j`` on every label by a margin that survives float32
   rounding: ``f_ik − f_jk ≥ τ (|f_ik| + |f_jk|) + 2⁻⁴⁰`` with ``τ = (K + 2) · 2⁻²³`` and
   ``|f| ≤ 2²⁰``. The float32 sum of K products has absolute error at most
   ``γ_K Σ_k α_k |f_k|`` (γ_K < τ) plus an underflow term below ``K · 2⁻¹²⁶``; when every
   non-zero α_k lies in ``[2⁻⁶⁰, 2⁶⁰]`` (:func:`alphas_allow_strict`) the margin exceeds
   both errors, so ``fl32(α·f_i) > fl32(α·f_j)`` strictly and ``j`` never wins. Without
   the margin a later, strictly better candidate could still tie in float32 and lose to
   ``j`` by index, which is why rule 2 is not plain Pareto dominance.

A dominated candidate is never the served one: the served candidate ``w`` (first float32
maximum) cannot be dominated — by rule 1 an earlier candidate would tie it and win, by
rule 2 a candidate would beat it. Hence serving over the survivors, kept in their original
order, picks exactly the same candidate with exactly the same float32 score computation:
results are bit-identical to the unpruned kernel. This needs no transitivity: every
pruned candidate is dominated by *some* retrieved candidate, pruned or not.

Slates of k (SPEC §7): a candidate dominated (by the rules above) by at least k retrieved
candidates is ranked below each of them for every α, so at least k candidates precede it
and it never enters the slate. Removing candidates that are in no slate does not change the
(score, index) order of the others: the slate over the survivors, kept in their original
order, is the same candidates at the same ranks with the same float32 scores. k = 1 is the
rule above (dominated by ≥ 1).

Shapes: N users, m candidates, K labels, W ≤ m survivors kept per user.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["STRICT_ALPHA_RANGE", "alphas_allow_strict", "compact_order", "keep_mask", "survivor_counts"]

#: Non-zero α entries must lie in this range for rule 2 (see the module docstring).
STRICT_ALPHA_RANGE = (2.0**-60, 2.0**60)
_MAX_ABS_SCORE = 2.0**20
_ABS_MARGIN = 2.0**-40
# Users per pruning call: the pairwise [n, m, m, K] comparison stays ~50 MB at m = 20, K = 2.
_PRUNE_CHUNK = 16_384


def _tau(k: int) -> float:
    return (k + 2) * 2.0**-23


def alphas_allow_strict(alphas: np.ndarray) -> bool:
    """Whether every non-zero entry of ``alphas [P, K]`` is in :data:`STRICT_ALPHA_RANGE`
    (then rule 2 is exact for all of them)."""
    a = np.abs(np.asarray(alphas, dtype=np.float64))
    nz = a[a > 0]
    lo, hi = STRICT_ALPHA_RANGE
    return bool(nz.size == 0 or (nz.min() >= lo and nz.max() <= hi))


@functools.partial(jax.jit, static_argnames=("strict", "k"))
def keep_mask_kernel(scores: jnp.ndarray, mask: jnp.ndarray, strict: bool, k: int = 1) -> jnp.ndarray:
    """Candidates that may be served (in a slate of ``k``) for some α: bool ``[N, m]`` (a
    subset of ``mask``).

    Args:
      scores: float32 ``[N, m, K]``; mask: bool ``[N, m]``;
      strict: also apply rule 2 (only valid for α passing :func:`alphas_allow_strict`);
      k: slate size: a candidate is pruned when at least k retrieved candidates dominate it.
    """
    slate_k = k
    n, m, k = scores.shape
    fi = scores[:, :, None, :]  # dominator i  [N, m, 1, K]
    fj = scores[:, None, :, :]  # dominated j  [N, 1, m, K]
    idx = jnp.arange(m)
    earlier = (idx[:, None] < idx[None, :])[None]  # [1, i, j]
    dom = earlier & jnp.all(fi >= fj, axis=-1)
    if strict:
        later = (idx[:, None] > idx[None, :])[None]
        ai, aj = jnp.abs(fi), jnp.abs(fj)
        margin = (fi - fj) >= _tau(k) * (ai + aj) + _ABS_MARGIN
        small = (ai <= _MAX_ABS_SCORE) & (aj <= _MAX_ABS_SCORE)
        dom = dom | (later & jnp.all(margin & small, axis=-1))
    if slate_k == 1:
        dominated = jnp.any(dom & mask[:, :, None], axis=1)  # only retrieved candidates dominate
    else:
        dominated = jnp.sum(dom & mask[:, :, None], axis=1, dtype=jnp.int32) >= slate_k
    return mask & ~dominated


def keep_mask(scores, mask, strict: bool, k: int = 1) -> np.ndarray:
    """:func:`keep_mask_kernel` over chunks of users (bounded memory): bool ``[N, m]``."""
    n = scores.shape[0]
    step = min(-(-n // 256) * 256, _PRUNE_CHUNK)  # padded to a multiple of 256: few distinct shapes, few compiles
    out = []
    for u0 in range(0, n, step):
        s, mk = scores[u0 : u0 + step], mask[u0 : u0 + step]
        if s.shape[0] < step:  # pad to one shape: one compile
            pad = step - s.shape[0]
            s = jnp.concatenate([jnp.asarray(s), jnp.zeros((pad,) + s.shape[1:], s.dtype)])
            mk = jnp.concatenate([jnp.asarray(mk), jnp.zeros((pad,) + mk.shape[1:], bool)])
        out.append(np.asarray(keep_mask_kernel(jnp.asarray(s), jnp.asarray(mk), strict, k))[: min(step, n - u0)])
    return np.concatenate(out)


def survivor_counts(keep: np.ndarray) -> np.ndarray:
    """Survivors per user: int ``[N]``."""
    return keep.sum(axis=1)


def compact_order(keep: np.ndarray) -> np.ndarray:
    """Per user, candidate indices with survivors first in their original order: int ``[N, m]``.

    ``np.take_along_axis(x, order[:, :W], 1)`` keeps the first W columns of the compacted
    candidates (pruned ones after the survivors, to be masked out).
    """
    return np.argsort(~keep, axis=1, kind="stable")
