"""The off-policy kernel of slates and K ≥ 3: per-session channels gathered at the engine's served index,
summed per group and per bootstrap replicate (SPEC §10). K = 2 top-1 logs take the exact envelope walk
instead (:mod:`jaxfair.offpolicy.envelope`), as their full-information surfaces take the sweep.

For every α of a chunk the engine's serving kernel (:func:`jaxfair.engine.kernels.serve_kernel`, or
:func:`~jaxfair.engine.kernels.slate_serve_kernel` for slates — the grid serving implementation) gives
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
import numpy as np

from jaxfair.engine.kernels import serve_kernel, slate_serve_kernel

__all__ = ["BOOT_CHANNELS", "SUMMED", "grid_sums", "session_sums"]

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


#: α per kernel call of :func:`grid_sums`.
ALPHA_CHUNK = 64
#: Floats per ``[P_chunk, N_chunk, ·]`` intermediate; sessions per call follow from it.
SESSION_BUDGET = 2**22
#: Floats of the bootstrap's buffered per-session channels (and their resampling counts) per product.
BOOT_BUFFER = 2**24


def grid_sums(a, log, rho, yhat, yhat_shown, low_p, boot, n_boot, estimator, with_outcome, with_def, progress) -> dict:
    """The grid path's sums (slates, K ≥ 3), in the form :func:`jaxfair.offpolicy.estimate.estimate` reads:
    float64 sums of every channel over all sessions, and the bootstrap sums of the estimator's own
    channels (``boot_<name>`` ``[B, P, G, ...]``), chunk by chunk (:mod:`.channels`).

    Candidates no α >= 0 can serve are dropped first (:mod:`jaxfair.engine.prune`, exact), and sessions
    are taken in order of their survivor count so each call holds W columns (a multiple of 4), not m.
    ``boot``: :func:`jaxfair.offpolicy.bootstrap.user_multiplicities`; each chunk's per-group block of it is
    gathered once, whatever the number of α chunks, and multiplied by the chunk's per-session channels
    (float32 BLAS)."""
    from jaxfair.engine.prune import alphas_allow_strict, compact_order, keep_mask

    batch = log.batch
    s, m, n_lab = batch.shape
    k, g = log.slate_k, log.n_groups
    p = a.shape[0]
    pc = min(ALPHA_CHUNK, p)
    a32 = np.asarray(a, np.float32)
    scores, mask = np.asarray(batch.scores), np.asarray(batch.mask)
    keep = keep_mask(jnp.asarray(scores), jnp.asarray(mask), alphas_allow_strict(a32), k)
    surv = keep.sum(axis=1)
    perm = np.argsort(surv, kind="stable")
    cols = compact_order(keep)
    group = np.asarray(batch.group)
    onehot = np.eye(g, dtype=np.float32)[group]
    y_shown = log.shown_labels().astype(np.float32)
    rho32 = np.asarray(rho, np.float32)
    starts = list(range(0, p, pc))
    chunks = [
        jnp.asarray(
            np.concatenate([a32[a0 : a0 + pc], np.ones((pc - len(a32[a0 : a0 + pc]), a32.shape[1]), np.float32)])
        )
        for a0 in starts
    ]
    opts = dict(
        weights=tuple(float(v) for v in log.position_weights),
        estimator=estimator,
        with_outcome=with_outcome,
        with_deficiency=with_def,
    )
    row, counts = boot
    total: dict[str, np.ndarray] = {}
    bar = None
    if progress:
        from jaxfair.utils.progress import progress_bar

        bar = progress_bar(total=len(starts) * s, desc="off-policy", unit="session", leave=False)

    scores_flat, keep_flat = scores.reshape(s * m, n_lab), np.asarray(keep).reshape(s * m)
    yhat_flat, low_p_flat = yhat.reshape(s * m, n_lab), low_p.reshape(s * m, k)

    def dispatch(u0):
        """Gather chunk ``u0``'s sessions and dispatch its kernel calls (asynchronous)."""
        w_first = min(m, max(4, -(-int(surv[perm[u0]]) // 4) * 4))
        nc = int(max(256, min(s, SESSION_BUDGET // (pc * max(w_first, k * n_lab + 3 * k + 2 * n_lab + 1)))))
        idx = perm[u0 : u0 + nc]
        n_real = len(idx)
        w = min(m, max(k, 4, -(-int(surv[idx].max()) // 4) * 4))
        cl = cols[idx, :w]

        flat = idx[:, None] * m + cl

        def take(x):  # [S·m, ...] rows at (session, column): [nc, W, ...] (a 1-D take: faster than x[idx, cl])
            return np.take(x, flat, axis=0)

        parts = [
            take(scores_flat),
            take(keep_flat),
            cl.astype(np.int32),
            log.shown[idx],
            rho32[idx],
            y_shown[idx],
            take(yhat_flat),
            yhat_shown[idx],
            take(low_p_flat),
            onehot[idx],
        ]
        if n_real < nc:  # one shape per (chunk, W): few compiles
            parts = [
                np.concatenate([x, np.full((nc - n_real,) + x.shape[1:], -1 if i == 3 else 0, x.dtype)])
                for i, x in enumerate(parts)
            ]
        dev = [jnp.asarray(x) for x in parts]
        outs = [session_sums(c, *dev, **opts) for c in chunks]
        return nc, (idx, outs)

    buffered: list = []  # (session indices, {a0: per-session channels [n, P_chunk·C_b]}) not yet multiplied
    cb = int(sum(np.prod(shape) for shape in _boot_shape(estimator, k, n_lab)))  # C_b

    def flush():
        """The bootstrap sums of the buffered sessions: per group, its users' resampling counts ``[B, n_g]``
        times their channels ``[n_g, P_chunk·C_b]`` — one float32 BLAS product per group and α chunk (one
        product over 48k sessions took a quarter of the time of twelve over 4k-session blocks)."""
        if not buffered:
            return
        idx = np.concatenate([i for i, _ in buffered])
        grp = group[idx]
        xs = {a0: np.concatenate([x[a0] for _, x in buffered]) for a0 in starts}
        for gid in np.unique(grp):
            sel = np.flatnonzero(grp == gid)
            c_sel = counts[row[idx[sel]]].T  # [B, n_g]
            for a0, x2 in xs.items():
                take_p = min(pc, p - a0)
                prod = c_sel @ x2[sel]  # float32 BLAS: [B, P·C_b]
                boot_sum[:, a0 : a0 + take_p, gid, :] += prod.reshape(n_boot, take_p, cb)
        buffered.clear()

    def collect(job):
        """Add a dispatched chunk's sums to the totals and its per-session channels to the bootstrap's buffer."""
        idx, outs = job
        n_real = len(idx)
        xs = {}
        for a0, (sums, per_session) in zip(starts, outs, strict=True):
            take_p = min(pc, p - a0)
            for name, val in sums.items():
                arr = np.asarray(val, np.float64)[:take_p]
                if name not in total:
                    total[name] = np.zeros((p,) + arr.shape[1:])
                total[name][a0 : a0 + take_p] += arr
            if n_boot:
                x = np.asarray(per_session)[:n_real, :take_p]  # [N, P, C_b]
                xs[a0] = x.reshape(n_real, take_p * cb) if take_p == pc else np.ascontiguousarray(x).reshape(n_real, -1)
            if bar is not None:
                bar.update(n_real)
        if n_boot:
            buffered.append((idx, xs))
            if sum(len(i) for i, _ in buffered) * max(n_boot, p * cb) >= BOOT_BUFFER:
                flush()

    boot_sum = np.zeros((n_boot, p, g, cb)) if n_boot else None
    # The next chunk's kernels are dispatched before this chunk's host work, so XLA and the host overlap;
    # chunks are added in order.
    u0, pending = 0, None
    while u0 < s:
        nc, job = dispatch(u0)
        u0 += nc
        if pending is not None:
            collect(pending)
        pending = job
    if pending is not None:
        collect(pending)
    flush()
    if bar is not None:
        bar.close()
    if boot_sum is not None:
        c0 = 0
        for name, shape in zip(BOOT_CHANNELS[estimator], _boot_shape(estimator, k, n_lab), strict=True):
            size = int(np.prod(shape))
            total["boot_" + name] = boot_sum[..., c0 : c0 + size].reshape(boot_sum.shape[:3] + shape)
            c0 += size
    return total


def _boot_shape(estimator: str, k: int, n_lab: int) -> list[tuple]:
    """Shapes of the estimator's bootstrapped channels (:data:`BOOT_CHANNELS`), per session and α."""
    shapes = {"num": (k, n_lab), "w": (k,), "ips": (n_lab,), "dm": (n_lab,), "dr": (n_lab,)}
    return [shapes[name] for name in BOOT_CHANNELS[estimator]]
