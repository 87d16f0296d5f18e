"""The off-policy kernel: per-session channels gathered at the engine's served index, summed per group
and per bootstrap replicate (SPEC §10).

For every α of a chunk the engine's serving kernel (:func:`jaxfair.engine.kernels.serve_kernel`, or
:func:`~jaxfair.engine.kernels.slate_serve_kernel` for slates — the one serving implementation) gives
the served candidate(s) ``j_r(α)``; each session then contributes, with ``m_r = 1[j_r(α) = a_{n,r}]`` and
ρ_r its (clipped) inverse propensity at position r:

* ``ips``  ``[K]``: Σ_r v_r m_r ρ_r Y[a_r]                       (IPS numerator)
* ``num``  ``[k, K]``: m_r ρ_r Y[a_r] per position;  ``w`` ``[k]``: m_r ρ_r;  ``w2`` ``[k]``: m_r ρ_r²;
  ``match`` ``[k]``: m_r                                           (SNIPS, ESS, mean weight, matches)
* ``dm``   ``[K]``: Σ_r v_r Ŷ[j_r(α)];  ``dr`` ``[K]``: dm + Σ_r v_r m_r ρ_r (Y[a_r] − Ŷ[a_r])
* ``deficient`` ``[1]``: 1[some position's target item has p₀(j_r(α), r) < p_min] (declared D₀ only)

Sums are per group (``[P, G, C]``), of the channels the estimate reads only (:data:`SUMMED`: ``w``, ``w2``,
``match``, ``deficient`` and the estimator's own: summing the rest cost a third of the kernel's time);
the estimator's own channels also come back per session, and the
caller forms the bootstrap replicates ``[B, P, G, C]`` as the resampling counts times them (one float32
matrix product per group on the host: BLAS, not an XLA CPU scatter). Shapes: N sessions, W compacted
candidates, K labels, k positions, G groups, P weight vectors.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxfair.engine.kernels import serve_kernel, slate_serve_kernel

__all__ = ["BOOT_CHANNELS", "SUMMED", "session_sums"]

_EXACT = jax.lax.Precision.HIGHEST

#: The channels each estimator bootstraps.
BOOT_CHANNELS = {"ips": ("ips",), "snips": ("num", "w"), "dm": ("dm",), "dr": ("dr",)}
#: The channels each estimator's group sums are taken of (its own, and the honesty columns').
SUMMED = {e: tuple(dict.fromkeys(own + ("w", "w2", "match", "deficient"))) for e, own in BOOT_CHANNELS.items()}


def _gather(values, idx):
    """``values [N, W, C]`` at columns ``idx [P, N]`` (−1: 0): ``[P, N, C]``."""
    rows = jnp.arange(values.shape[0])[None, :]
    return jnp.where((idx >= 0)[..., None], values[rows, jnp.maximum(idx, 0)], 0.0)


@partial(jax.jit, static_argnames=("weights", "estimator", "with_outcome", "with_deficiency"))
def session_sums(
    alphas,
    scores,
    keep,
    cand,
    shown,
    rho,
    y_shown,
    yhat,
    yhat_shown,
    low_p,
    onehot,
    *,
    weights: tuple,
    estimator: str,
    with_outcome: bool,
    with_deficiency: bool,
):
    """Group sums of the channels (module docstring) over one chunk of sessions and α, and the
    per-session values of the estimator's own channels (for the bootstrap).

    Candidates come compacted (W columns, :mod:`jaxfair.engine.prune`): only those some α >= 0 can
    serve, in their original order, so the engine's kernel serves the same candidates with the same
    float32 scores as on all m; ``cand`` maps a column back to its candidate index.

    Args:
      alphas: float32 ``[P, K]``; scores: float32 ``[N, W, K]``; keep: bool ``[N, W]`` (retrieved
        survivors); cand: int32 ``[N, W]`` original candidate index of each column.
      shown: int32 ``[N, k]`` logged candidate per position (−1: none); rho: float32 ``[N, k]`` clipped
        inverse propensities (0 where nothing was shown); y_shown: float32 ``[N, k, K]`` logged labels.
      yhat: float32 ``[N, W, K]`` outcome model; yhat_shown: ``[N, k, K]`` it at the shown items
        (both ignored unless ``with_outcome``).
      low_p: bool ``[N, W, k]``: p₀(j at r) < p_min (ignored unless ``with_deficiency``).
      onehot: float32 ``[N, G]`` group membership (padding sessions: 0).
      weights: position weights v (static tuple of k); estimator: whose channels to return per session.
    Returns:
      ``(sums, per_session)``: dict of float32 group sums ``[P, G, ...]`` per channel of :data:`SUMMED`
      (``deficient`` only ``with_deficiency``), and float32 ``[N, P, C_b]`` the estimator's channels
      (:data:`BOOT_CHANNELS`, flattened and concatenated; session-major, as the bootstrap's matrix product
      takes them).
    """
    k = len(weights)
    col = serve_kernel(alphas, scores, keep)[..., None] if k == 1 else slate_serve_kernel(alphas, scores, keep, k)
    rows = jnp.arange(scores.shape[0])[None, :, None]
    idx = jnp.where(col >= 0, cand[rows, jnp.maximum(col, 0)], -1)  # [P, N, k] original candidate index
    match = ((idx == shown[None]) & (shown[None] >= 0)).astype(jnp.float32)  # [P, N, k]
    mr = match * rho[None]
    v = jnp.asarray(weights, jnp.float32)
    ch = {
        "num": mr[..., None] * y_shown[None],  # [P, N, k, K]
        "w": mr,
        "w2": mr * rho[None],
        "match": match,
    }
    if estimator == "ips":
        ch["ips"] = jnp.einsum("pnrk,r->pnk", ch["num"], v, precision=_EXACT)
    if with_outcome:
        dm = sum(v[r] * _gather(yhat, col[..., r]) for r in range(k))
        corr = jnp.einsum("pnr,nrk,r->pnk", mr, y_shown - yhat_shown, v, precision=_EXACT)
        ch["dm"], ch["dr"] = dm, dm + corr
    if with_deficiency:
        r1 = jnp.arange(scores.shape[0])[None, :]
        low = [jnp.where(col[..., r] >= 0, low_p[r1, jnp.maximum(col[..., r], 0), r], False) for r in range(k)]
        ch["deficient"] = jnp.any(jnp.stack(low, axis=-1), axis=-1).astype(jnp.float32)[..., None]
    sums = {}
    for name in SUMMED[estimator]:
        if name not in ch:  # deficient without a declared D0
            continue
        x = ch[name]
        flat = x.reshape(x.shape[:2] + (-1,))
        sums[name] = jnp.einsum("pnc,ng->pgc", flat, onehot, precision=_EXACT).reshape(
            (x.shape[0], onehot.shape[1]) + x.shape[2:]
        )
    per_session = jnp.concatenate([ch[n].reshape(ch[n].shape[:2] + (-1,)) for n in BOOT_CHANNELS[estimator]], -1)
    return sums, jnp.swapaxes(per_session, 0, 1)
