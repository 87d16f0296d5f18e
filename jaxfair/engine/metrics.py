"""Public per-α metrics: serving, user/group utility, DER, retrieval quality, oracle.

Each function validates its inputs eagerly (``ValueError`` naming the argument) and then
runs a jit-compiled kernel from :mod:`jaxfair.engine.kernels` in float32.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.engine import kernels
from jaxfair.engine.batch import Batch
from jaxfair.engine.checks import check_alpha, check_batch, check_batch_prefs, warn_empty_groups
from jaxfair.engine.dispatch import group_sums as _group_sums
from jaxfair.engine.slate import as_slate, slate_spec_for

__all__ = ["der", "der_raw", "group_utility", "oracle_utility", "retrieval_quality", "serve", "user_utility"]

_serve_jit = jax.jit(kernels.serve_kernel)
_slate_serve_jit = jax.jit(kernels.slate_serve_kernel, static_argnums=3)


@functools.partial(jax.jit, static_argnames=("spec",))
def _user_utility_jit(alpha, batch, prefs, spec=kernels.TOP1):
    return kernels.slate_value(alpha[None], batch.scores, batch.mask, kernels.true_value(batch, prefs), spec)[:, 0]


def _no_exposure(batch: Batch, slate, position_weights, gamma):
    """Slate spec for per-user / per-group utility (provider exposure is not measured)."""
    return slate_spec_for(batch.replace(item_group=None), slate, position_weights, gamma)[1]


def serve(alpha: Any, batch: Batch, slate: int | None = None) -> jnp.ndarray:
    """Served candidate per user, ``int32 [N]``: argmax_j Σ_k α_k f[n,j,k] over retrieved j.

    Ties go to the lowest index; −1 where a user has no retrieved candidate. With
    ``slate=k`` (1 <= k <= m): the slate, ``int32 [N, k]`` candidate indices by rank —
    (score desc, index asc), SPEC §7 — with −1 for empty ranks.
    """
    check_batch(batch)
    a = check_alpha(alpha, batch.n_labels)
    a32 = jnp.asarray(a, jnp.float32)[None]
    if slate is None:
        return _serve_jit(a32, batch.scores, batch.mask)[0]
    k = as_slate(slate, n_candidates=batch.n_candidates).k
    return _slate_serve_jit(a32, batch.scores, batch.mask, k)[0]


def user_utility(
    alpha: Any, batch: Batch, prefs: Any, *, slate: int = 1, position_weights: Any = "dcg", gamma: float = 0.8
) -> jnp.ndarray:
    """``u_n(α) = Σ_r v_r Σ_k α*_k(g_n) Y[n, j_r(α), k]``: float32 ``[N]`` (0 for unserved users).

    ``slate=1`` (default) is the top-1 utility ``α*(g_n)·Y[n, ĵ(α)]``; see
    :func:`jaxfair.evaluate` for ``slate``, ``position_weights`` and ``gamma``.
    """
    p = check_batch_prefs(batch, prefs)
    a = check_alpha(alpha, batch.n_labels)
    spec = _no_exposure(batch, slate, position_weights, gamma)
    return _user_utility_jit(
        jnp.asarray(a, jnp.float32), batch.replace(features=None, item_group=None), jnp.asarray(p, jnp.float32), spec
    )


def group_utility(
    alpha: Any, batch: Batch, prefs: Any, *, slate: int = 1, position_weights: Any = "dcg", gamma: float = 0.8
) -> np.ndarray:
    """μ_g(α), the mean user utility per group: float ``[G]``; NaN (with a warning) if empty."""
    p = check_batch_prefs(batch, prefs)
    a = check_alpha(alpha, batch.n_labels)
    spec = _no_exposure(batch, slate, position_weights, gamma)
    sums = _group_sums(jnp.asarray(a, jnp.float32)[None], batch, p.shape[0], spec, kernels.utility_payload(p))
    warn_empty_groups(sums.counts)
    return sums.group_utility(p)[0]


def _check_mu(mu: Any) -> np.ndarray:
    arr = np.asarray(mu, dtype=np.float64)
    if arr.ndim < 1 or arr.shape[-1] < 2:
        raise ValueError(f"mu: expected shape [..., G] with G >= 2 group utilities, got shape {arr.shape}")
    if np.any(np.isinf(arr)):
        raise ValueError(f"mu: expected finite group utilities, got {arr.tolist()}")
    if np.any(arr < 0):
        raise ValueError(f"mu: DER is defined for group utilities >= 0 only, got {arr.tolist()}")
    return arr


def der(mu: Any) -> np.ndarray:
    """Deviation from Equal Representation, renormalised: 1 = equal, 0 = one group gets all.

    ``DER(μ) = 1 − G/(G−1) · Σ_g (μ_g/Σ_h μ_h − 1/G)²`` over the last axis of ``mu [..., G]``.
    Σμ = 0 gives 1; a NaN entry (an empty group) gives NaN.
    """
    return np.asarray(kernels.der_kernel(_check_mu(mu), np), dtype=np.float64)[()]


def der_raw(mu: Any) -> np.ndarray:
    """Un-renormalised deviation ``Σ_g (μ_g/Σμ − 1/G)²``: 0 = equal, (G−1)/G = one group gets all."""
    return np.asarray(kernels.der_raw_kernel(_check_mu(mu), np), dtype=np.float64)[()]


@jax.jit
def _retrieval_quality_sums(batch, n_groups_arr):
    best = jnp.max(jnp.where(batch.mask, batch.labels.sum(-1), 0.0), axis=-1)  # [N]
    onehot = jax.nn.one_hot(batch.group, n_groups_arr.shape[0], dtype=best.dtype)
    return best @ onehot, onehot.sum(0)


def retrieval_quality(batch: Batch, n_groups: int | None = None) -> np.ndarray:
    """Q_m per group (paper Def. 3.2): mean over the group's users of max_j I[n,j] Σ_k Y[n,j,k].

    Args:
      batch: the users; n_groups: G (default: largest group id + 1).
    Returns:
      float ``[G]``; NaN (with a warning) for a group with no users.
    """
    check_batch(batch)
    gmax = int(np.asarray(batch.group).max())
    g = gmax + 1 if n_groups is None else n_groups
    if not isinstance(g, (int, np.integer)) or g < 1 or g <= gmax:
        raise ValueError(f"n_groups: expected an int > largest group id ({gmax}), got {n_groups!r}")
    sums, counts = _retrieval_quality_sums(batch, jnp.zeros(int(g)))
    counts = np.asarray(counts)
    warn_empty_groups(counts)
    return np.asarray(kernels.group_means(sums, counts), dtype=np.float64)


def oracle_utility(
    batch: Batch,
    prefs: Any,
    *,
    slate: int = 1,
    position_weights: Any = "dcg",
    gamma: float = 0.8,
    full_information: bool = False,
) -> np.ndarray:
    """μ_g when each group is served with its own α*(g) (disparate treatment: the upper reference).

    ``full_information=True``: the full-information oracle slate of SPEC §7 — each user's
    candidates ranked by their true value α*(g)·Y (same tie rule), which with non-increasing
    position weights no slate beats (rearrangement inequality). Otherwise the model scores f
    are ranked with α = α*(g), as for top-1. ``slate``/``position_weights``/``gamma`` as in
    :func:`jaxfair.evaluate`.

    Returns float ``[G]``; NaN (with a warning) for a group with no users.
    """
    p = check_batch_prefs(batch, prefs)
    if not isinstance(full_information, (bool, np.bool_)):
        raise ValueError(f"full_information: expected True or False, got {full_information!r}")
    spec = _no_exposure(batch, slate, position_weights, gamma)
    p32 = jnp.asarray(p, jnp.float32)
    if full_information:  # rank by the labels Y with α = α*(g): scores α*(g)·Y in float32
        batch = batch.replace(scores=batch.labels)
    # Serve everyone with each group's α* in turn (the same kernel as `evaluate`, so the
    # same ties) and keep group g's utility under its own α*(g): the diagonal.
    sums = _group_sums(p32, batch, p.shape[0], spec, kernels.utility_payload(p32))
    warn_empty_groups(sums.counts)
    return np.diagonal(sums.group_utility(p)).copy()  # [G (α = α*(g)), G] → diagonal
