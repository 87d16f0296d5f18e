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

Sums are per group (``[P, G, C]``) and, for the estimator's own channels, per bootstrap replicate
(``[B, P, G, C]``: the per-session resampling counts times the channels). Shapes: N sessions, m
candidates, K labels, k positions, G groups, B replicates, P weight vectors.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp

from jaxfair.engine.kernels import serve_kernel, slate_serve_kernel

__all__ = ["BOOT_CHANNELS", "session_sums"]

_EXACT = jax.lax.Precision.HIGHEST

#: The channels each estimator bootstraps.
BOOT_CHANNELS = {"ips": ("ips",), "snips": ("num", "w"), "dm": ("dm",), "dr": ("dr",)}


def _gather(values, idx):
    """``values [N, m, C]`` at ``idx [P, N]`` (−1: 0): ``[P, N, C]``."""
    rows = jnp.arange(values.shape[0])[None, :]
    return jnp.where((idx >= 0)[..., None], values[rows, jnp.maximum(idx, 0)], 0.0)


@partial(jax.jit, static_argnames=("weights", "estimator", "with_outcome", "with_deficiency"))
def session_sums(
    alphas,
    scores,
    mask,
    shown,
    rho,
    y_shown,
    yhat,
    yhat_shown,
    low_p,
    onehot,
    boot,
    *,
    weights: tuple,
    estimator: str,
    with_outcome: bool,
    with_deficiency: bool,
):
    """Group sums of the channels (module docstring) over one chunk of sessions and α.

    Args:
      alphas: float32 ``[P, K]``; scores: float32 ``[N, m, K]``; mask: bool ``[N, m]``.
      shown: int32 ``[N, k]`` logged candidate per position (−1: none); rho: float32 ``[N, k]`` clipped
        inverse propensities (0 where nothing was shown); y_shown: float32 ``[N, k, K]`` logged labels.
      yhat: float32 ``[N, m, K]`` outcome model; yhat_shown: ``[N, k, K]`` it at the shown items
        (both ignored unless ``with_outcome``).
      low_p: bool ``[N, m, k]``: p₀(j at r) < p_min (ignored unless ``with_deficiency``).
      onehot: float32 ``[N, G]`` group membership (padding sessions: 0).
      boot: float32 ``[B, N]`` bootstrap multiplicities of each session (B may be 0).
      weights: position weights v (static tuple of k); estimator: which channels to bootstrap (static).
    Returns:
      dict of float32 sums ``[P, G, ...]`` per channel and ``boot_<channel>`` ``[B, P, G, ...]``.
    """
    k = len(weights)
    idx = serve_kernel(alphas, scores, mask)[..., None] if k == 1 else slate_serve_kernel(alphas, scores, mask, k)
    match = ((idx == shown[None]) & (shown[None] >= 0)).astype(jnp.float32)  # [P, N, k]
    mr = match * rho[None]
    v = jnp.asarray(weights, jnp.float32)
    ch = {
        "num": mr[..., None] * y_shown[None],  # [P, N, k, K]
        "w": mr,
        "w2": mr * rho[None],
        "match": match,
    }
    ch["ips"] = jnp.einsum("pnrk,r->pnk", ch["num"], v, precision=_EXACT)
    if with_outcome:
        dm = sum(v[r] * _gather(yhat, idx[..., r]) for r in range(k))
        corr = jnp.einsum("pnr,nrk,r->pnk", mr, y_shown - yhat_shown, v, precision=_EXACT)
        ch["dm"], ch["dr"] = dm, dm + corr
    if with_deficiency:
        rows = jnp.arange(scores.shape[0])[None, :]
        low = [jnp.where(idx[..., r] >= 0, low_p[rows, jnp.maximum(idx[..., r], 0), r], False) for r in range(k)]
        ch["deficient"] = jnp.any(jnp.stack(low, axis=-1), axis=-1).astype(jnp.float32)[..., None]
    out = {}
    for name, x in ch.items():
        flat = x.reshape(x.shape[:2] + (-1,))
        out[name] = jnp.einsum("pnc,ng->pgc", flat, onehot, precision=_EXACT).reshape(
            (x.shape[0], onehot.shape[1]) + x.shape[2:]
        )
    for name in BOOT_CHANNELS[estimator]:
        x = ch[name]
        flat = x.reshape(x.shape[:2] + (-1,))
        b = jnp.einsum("bn,ng,pnc->bpgc", boot, onehot, flat, precision=_EXACT)
        out[f"boot_{name}"] = b.reshape(b.shape[:3] + x.shape[2:])
    return out
