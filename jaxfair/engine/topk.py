"""The running top-k network of the serving kernel (SPEC §7): per (user, α) the k best
candidates in (score descending, index ascending) order, with what rides along with them.

Shapes: N users, m candidates, K labels, P serving weight vectors α, k ranks. Pure functions
of arrays, traced inside the jitted kernels of :mod:`jaxfair.engine.kernels` (which re-exports
nothing from here; ``spec`` below is a ``kernels.SlateSpec``).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def running_topk(alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray, payloads, k: int):
    """Walk the m candidates keeping, per (user, α), the k best scores so far and their payloads.

    The ranks hold candidates ordered by (score descending, index ascending) — SPEC §7. A new
    candidate j has the highest index seen so far, so it goes *after* every rank it ties:
    with ``better_r = s_j > best_r`` (strict; monotone in r because ranks are sorted) rank r
    becomes ``best_{r−1}`` if ``better_{r−1}``, else ``s_j`` if ``better_r``, else stays. This is
    a running insertion network of compare-selects: like the top-1 walk it fuses into one
    elementwise XLA loop in which each user's scores are scalars and α streams along the fast
    axis. For k = 1 it *is* the top-1 walk (same float operations, same bits).

    Masked candidates score −inf: then ``α·f`` is −inf or NaN (0·−inf), and neither compares
    greater than anything, so they never enter; empty ranks keep the initial payload.

    Args:
      alphas: ``[P, K]``; scores: ``[N, m, K]``; mask: ``[N, m]``;
      payloads: tuple of ``[N, m]`` arrays to return for the ranked candidates;
      k: ranks kept (a static int >= 1; ranks beyond m stay empty).
    Returns:
      tuple (one per payload) of lists of k ``[N, P]`` arrays, rank 1 first; empty ranks hold
      −1 (integer payloads) or 0.
    """
    p, (n, m, kk) = alphas.shape[0], scores.shape
    # Candidate-major layout, materialised (the barrier stops XLA from fusing the transpose
    # into the loop as a strided read, which defeats vectorisation).
    masked = jnp.where(mask[..., None], scores, -jnp.inf)
    cand = jax.lax.optimization_barrier(jnp.transpose(masked, (1, 2, 0)))  # [m, K, N]
    pays = [jax.lax.optimization_barrier(x.T) for x in payloads]  # [m, N] each
    ranks = min(k, m)
    best = [jnp.full((n, p), -jnp.inf, dtype=scores.dtype) for _ in range(ranks)]
    outs = [
        [jnp.full((n, p), -1 if jnp.issubdtype(x.dtype, jnp.integer) else 0, dtype=x.dtype) for _ in range(ranks)]
        for x in payloads
    ]
    for j in range(m):
        s = cand[j, 0][:, None] * alphas[None, :, 0]
        for q in range(1, kk):
            s = s + cand[j, q][:, None] * alphas[None, :, q]
        live = min(j + 1, ranks)  # candidate j can only reach ranks 0..j
        better = [s > best[r] for r in range(live)]
        new_best = [jnp.where(better[0], s, best[0])]
        for r in range(1, live):
            new_best.append(jnp.where(better[r], jnp.where(better[r - 1], best[r - 1], s), best[r]))
        for pay, out in zip(pays, outs, strict=True):
            pj = pay[j][:, None]
            new_out = [jnp.where(better[0], pj, out[0])]
            for r in range(1, live):
                new_out.append(jnp.where(better[r], jnp.where(better[r - 1], out[r - 1], pj), out[r]))
            out[:live] = new_out
        best[:live] = new_best
    return tuple(outs)


def running_argmax(alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray, payload: jnp.ndarray):
    """Top-1 serving: the k = 1 case of :func:`running_topk`.

    Strict ``>`` keeps the earliest maximum (lowest index wins ties). Why this shape: an
    unrolled loop of elementwise ``[N, P]`` updates fuses into one vectorised XLA loop;
    ``argmax`` over a materialised ``[P, N, m]`` tensor plus a gather is ~10× slower on CPU
    (measured in ``benchmarks/``).

    Args:
      alphas: ``[P, K]``; scores: ``[N, m, K]``; mask: ``[N, m]``;
      payload: ``[N, m]`` what to return for the winner (candidate index or utility).
    Returns:
      ``[N, P]`` payload of the served candidate (−1 or 0 if nothing was retrieved).
    """
    return running_topk(alphas, scores, mask, (payload,), 1)[0][0]


def weighted(vals, weights):
    """``Σ_r v_r · vals[r]`` in rank order (float32); v_1 = 1 multiplies nothing (top-1 bits)."""
    out = vals[0] if weights[0] == 1.0 else vals[0] * weights[0]
    for r in range(1, len(vals)):
        out = out + vals[r] * weights[r]
    return out


def slate_outputs(alphas, scores, mask, values: tuple, item_group, spec):
    """Per (user, α): the position-weighted slate sum of each payload in ``values`` (a tuple of
    C ``[N, m]``) as a tuple of C ``[N, P]`` and, with H provider groups, the exposure of
    providers 1..H−1 (a tuple of H − 1 ``[N, P]`` arrays; else None).

    Each provider h >= 1 rides along the slate as a 0/1 indicator, so its exposure is the
    position-weighted sum of the indicators, like the values; provider 0's is the α-free total
    exposure minus the others' (:func:`slate_total`), which saves one indicator. An indicator
    costs a chain of about two selects per rank and candidate — unless ``spec.nonneg_values``:
    then every value is >= 0, its sign bit carries no information, and indicator h rides in
    the sign bit of channel h − 1 (value −|x| for provider h, +|x| otherwise; selects move
    bits unchanged, so after the walk |·| is the value and the sign bit the indicator, and
    an empty rank's +0 is "no value, no provider"). Channels are few, so indicators beyond
    the C-th still get their own chain. Tracking a provider as an int32 bitmask of ranks
    instead was measured slower (+74 % vs +35 % over the slate at k = 10): building the mask
    costs as many operations as the chain.
    """
    h, c = spec.n_item_groups, len(values)
    dtype = values[0].dtype
    inds = [item_group == g for g in range(1, h)] if h else []
    packed = min(len(inds), c) if spec.nonneg_values else 0
    carried = tuple(jnp.where(inds[i], -jnp.abs(values[i]), jnp.abs(values[i])) for i in range(packed))
    carried += tuple(values[packed:]) + tuple(x.astype(dtype) for x in inds[packed:])
    outs = running_topk(alphas, scores, mask, carried, spec.k)
    w = spec.weights[: len(outs[0])]
    vals = [[jnp.abs(o) for o in outs[i]] for i in range(packed)] + list(outs[packed:c])
    flags = [[jnp.signbit(o).astype(dtype) for o in outs[i]] for i in range(packed)] + list(outs[c:])
    sums = tuple(weighted(o, w) for o in vals)
    return sums, (tuple(weighted(o, w) for o in flags) if h else None)


def slate_total(mask, spec):
    """α-free total exposure of each user's slate, Σ_{r < min(k, retrieved)} v_r: ``[N]``, summed
    in rank order as :func:`weighted` sums the payloads (same bits when one provider fills it)."""
    ranks = min(spec.k, mask.shape[1])
    n_ret = jnp.sum(mask, axis=1)
    return weighted([(n_ret > r).astype(jnp.float32) for r in range(ranks)], spec.weights[:ranks])
