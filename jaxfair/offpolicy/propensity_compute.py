"""The computation behind :func:`jaxfair.offpolicy.propensity.propensities` (the module docstring of
:mod:`jaxfair.offpolicy.propensity` says what is exact and what is Monte Carlo)."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.engine.batch import Batch
from jaxfair.engine.executors import map_user_chunks
from jaxfair.engine.kernels import serve_kernel, slate_serve_kernel
from jaxfair.offpolicy.policy import LoggingPolicy
from jaxfair.offpolicy.propensity import Propensities

__all__ = ["compute", "count_served", "deterministic", "dirichlet_k2", "epsilon_propensities", "monte_carlo"]

#: α per step of the Monte Carlo scan (bounds the ``[P, N_chunk, m]`` comparisons).
MC_ALPHA_CHUNK = 128
#: Elements of one ``[P_chunk, N_chunk, m·k]`` comparison; sessions per call follow from it.
MC_BUDGET = 2**24


def _resolve(log_or_batch: Any, slate: Any) -> tuple[Batch, np.ndarray | None, int]:
    """``(batch, shown [S, k] or None, k)`` of a log or a batch."""
    from jaxfair.offpolicy.log import ImpressionLog

    if isinstance(slate, bool) or not isinstance(slate, (int, np.integer)) or slate < 1:
        raise ValueError(f"slate: expected an int >= 1, got {slate!r}")
    if isinstance(log_or_batch, ImpressionLog):
        k = log_or_batch.slate_k
        if slate not in (1, k):
            raise ValueError(f"slate: the log has slates of k = {k}, got slate={slate}")
        return log_or_batch.batch, log_or_batch.shown, k
    if isinstance(log_or_batch, Batch):
        if slate > log_or_batch.n_candidates:
            raise ValueError(f"slate: expected k <= m = {log_or_batch.n_candidates}, got {slate}")
        return log_or_batch, None, int(slate)
    raise ValueError(f"log_or_batch: expected an ImpressionLog or a Batch, got {type(log_or_batch).__name__}")


def compute(log_or_batch, policy, *, slate=1, mc=4096, key=None, chunk=None) -> Propensities:
    batch, shown, k = _resolve(log_or_batch, slate)
    if not isinstance(policy, LoggingPolicy):
        raise ValueError(f"policy: expected a LoggingPolicy, got {type(policy).__name__}")
    if policy.n_labels != batch.n_labels:
        raise ValueError(f"policy: has K={policy.n_labels} weights, the scores have K={batch.n_labels}")
    if isinstance(mc, bool) or not isinstance(mc, (int, np.integer)) or mc < 1:
        raise ValueError(f"mc: expected an int >= 1, got {mc!r}")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, (int, np.integer)) or chunk < 1):
        raise ValueError(f"chunk: expected an int >= 1, got {chunk!r}")
    scores, mask = np.asarray(batch.scores), np.asarray(batch.mask)
    positive = np.flatnonzero(policy.center > 0)
    if policy.kind == "epsilon":
        return Propensities(epsilon_propensities(scores, mask, policy.center, policy.strength, k), None, "exact")
    if positive.size == 1:  # Dir with one positive weight: α ∝ e_k in every draw
        return Propensities(deterministic(scores, mask, policy.center, k), None, "exact")
    if positive.size == 2 and k == 1:
        conc = policy.strength * policy.center[positive]
        p = dirichlet_k2(scores[..., positive[0]], scores[..., positive[1]], mask, conc[0], conc[1])
        return Propensities(p, None, "exact")
    key = jax.random.PRNGKey(0) if key is None else key
    return monte_carlo(scores, mask, policy, int(mc), key, k, shown, chunk)


def epsilon_propensities(scores, mask, center, eps: float, k: int = 1) -> np.ndarray:
    """Epsilon logging: ``[S, m]`` (k = 1) or ``[S, m, k]``: E/|R| on retrieved candidates at each filled
    position plus (1 − E) on the item(s) the centre's weights serve (the engine's kernel, ties lowest index)."""
    det = deterministic(scores, mask, center, k)
    n_ret = mask.sum(axis=1)
    filled = np.arange(k)[None, :] < np.minimum(n_ret, k)[:, None]  # [S, k]
    uniform = np.where(n_ret > 0, 1.0 / np.maximum(n_ret, 1), 0.0)  # [S]
    explore = mask[:, :, None] * filled[:, None, :] * uniform[:, None, None]
    out = eps * explore + (1.0 - eps) * (det if k > 1 else det[..., None])
    return out if k > 1 else out[..., 0]


def deterministic(scores, mask, alpha, k: int = 1) -> np.ndarray:
    """One-hot propensities of the fixed weights ``alpha``: ``[S, m]`` (k = 1) or ``[S, m, k]``."""
    a = jnp.asarray(np.asarray(alpha, np.float32)[None])
    s, m = mask.shape
    if k == 1:
        idx = np.asarray(serve_kernel(a, jnp.asarray(scores), jnp.asarray(mask)))[0][:, None]
    else:
        idx = np.asarray(slate_serve_kernel(a, jnp.asarray(scores), jnp.asarray(mask), k))[0]  # [S, k]
    out = (idx[:, None, :] == np.arange(m)[None, :, None]).astype(np.float64)  # -1 matches nothing
    return out if k > 1 else out[..., 0]


def dirichlet_k2(f0, f1, mask, a0: float, a1: float) -> np.ndarray:
    """Exact top-1 propensities ``[S, m]`` under w = α₀/(α₀+α₁) ~ Beta(a0, a1), a0, a1 > 0.

    Candidate ``right`` of each envelope event (:func:`jaxfair.engine.sweep.user_envelopes`) is served on
    the open w-interval up to the session's next event (or 1); the breakpoints themselves have
    probability 0 under a continuous Beta, so ties (SPEC §2) only decide who owns each interval.
    """
    from scipy.special import betainc

    from jaxfair.engine.sweep import user_envelopes

    s, m = mask.shape
    user, w, _, _, right = user_envelopes(f0, f1, mask)
    w_next = np.ones_like(w)
    same = user[1:] == user[:-1]
    w_next[:-1] = np.where(same, w[1:], 1.0)
    cdf = betainc(a0, a1, np.concatenate([w, w_next]))
    mass = cdf[len(w) :] - cdf[: len(w)]
    return np.bincount(user * m + right, weights=mass, minlength=s * m).reshape(s, m)


@partial(jax.jit, static_argnames=("k",))
def count_served(alphas, scores, mask, k: int = 1):
    """How often each candidate is served at each position over ``alphas [C, P, K]`` (C chunks of P):
    int32 ``[N, m, k]``. Scores ``[N, m, K]``, mask ``[N, m]``; the engine's serving kernels."""
    m = mask.shape[1]
    cand = jnp.arange(m, dtype=jnp.int32)

    def step(acc, a):
        idx = serve_kernel(a, scores, mask)[..., None] if k == 1 else slate_serve_kernel(a, scores, mask, k)
        hits = jnp.sum((idx[:, :, None, :] == cand[None, None, :, None]).astype(jnp.int32), axis=0)  # [N, m, k]
        return acc + hits, None

    acc0 = jnp.zeros(mask.shape + (k,), jnp.int32)
    out, _ = jax.lax.scan(step, acc0, alphas)
    return out


def monte_carlo(scores, mask, policy: LoggingPolicy, mc: int, key, k: int, shown, chunk) -> Propensities:
    """Propensities from ONE set of ``mc`` draws of D₀ for every session (common random numbers)."""
    s, m, n_lab = scores.shape
    pc = min(MC_ALPHA_CHUNK, mc)
    n_chunks = -(-mc // pc)
    draws = np.asarray(policy.sample(key, mc), np.float32)
    # Pad to whole chunks with a copy of the first draw, whose hits are subtracted again below.
    pad = n_chunks * pc - mc
    alphas = np.concatenate([draws, np.repeat(draws[:1], pad, axis=0)]).reshape(n_chunks, pc, n_lab)
    if chunk is None:
        chunk = max(256, min(s, MC_BUDGET // max(1, pc * m * k)))
    counts = np.zeros((s, m, k), np.float64)
    a_dev = jnp.asarray(alphas)
    for u0, n_real, out in map_user_chunks(
        lambda sub: count_served(a_dev, sub[0], sub[1], k), (scores, mask), int(chunk), (0.0, False)
    ):
        counts[u0 : u0 + n_real] = np.asarray(out)[:n_real]
    if pad:
        counts -= pad * deterministic(scores, mask, draws[0], k).reshape(s, m, k)
    total = float(mc)
    if shown is not None:  # the logged draw is one more draw of D₀ (module docstring)
        rows, pos = np.nonzero(shown >= 0)
        counts[rows, shown[rows, pos], pos] += 1.0
        total += 1.0
    p = counts / total
    served_any = mask.any(axis=1)
    se = np.where(served_any[:, None, None], np.sqrt(p * (1.0 - p) / total), 0.0)
    if k == 1:
        p, se = p[..., 0], se[..., 0]
    return Propensities(p, se, "monte-carlo", int(mc))
