"""The utility-gap decomposition (paper eqs. 4–6), with bootstrap CIs, vectorised over α.

For a pair ``groups = (g1, g0)`` and serving weights α, with U_g(x) the utility of user x
under group g's true preferences α*(g) at the item served to x (the simulator knows every
user's counterfactual utility exactly: Y | X does not depend on the group, paper eq. 2):

    gap = E_1[U_1] − E_0[U_0]
        = (E_1[U_1] − E_SX[U_1])      term (4): g1's covariates vs the shared space
        + E_SX[U_1 − U_0]             term (5): same users, different preferences
        + (E_SX[U_0] − E_0[U_0])      term (6): the shared space vs g0's covariates

E_g is the mean over the batch's users of group g, E_SX the S_X-weighted mean over the users
of g1 ∪ g0 (:mod:`jaxfair.diagnose.weights`). One compiled kernel
(:func:`decomposition_sums`) serves every α and returns per-α float32 sums over one chunk of
users; the chunk sums are added in float64 in user order, the division and the terms are
formed in float64, so the terms add up to the gap to float64 rounding.

Devices: the users are cut into the same fixed chunks whatever the devices (the chunk size
depends only on ``user_chunk``, P and K), and with several devices (``mesh=``, default all
local devices) chunk i runs on device i mod D — the same compiled program on the same
inputs — and the chunk sums are still added in user order on the host. The result is
therefore bit-identical for 1, 2, 4 … devices. (Changing ``user_chunk`` moves the chunk
edges and changes the float32 sums by rounding only, ~1e-6 relative.)

Bootstrap: users are resampled with replacement within each group (stratified, so group
sizes stay fixed), ``n_boot`` times in one vectorised draw from an explicit key — or, with
``clusters``, whole clusters (the pool user behind repeated sessions) within their group;
the S_X weights are held fixed (the CIs do not include the propensity model's uncertainty).
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.diagnose.bound import bound_from_sums, label_range, max_abs_term5
from jaxfair.diagnose.decomposition import Decomposition
from jaxfair.diagnose.weights import SharedSpaceWeights, check_groups, check_user_weights, shared_space_weights
from jaxfair.engine import sharding
from jaxfair.engine.batch import Batch
from jaxfair.engine.executors import map_user_chunks
from jaxfair.engine.kernels import serve_kernel, slate_serve_kernel
from jaxfair.engine.slate import as_slate
from jaxfair.validation import check_alphas, check_batch_prefs

__all__ = [
    "bootstrap_counts",
    "decompose",
    "decompose_all",
    "decomposition_sums",
    "default_pair",
    "default_pair_reason",
    "group_utilities",
    "resolve_weights",
    "stratified_counts",
]

_EXACT = jax.lax.Precision.HIGHEST
#: Users per kernel call (bounds the ``[P, N_chunk, K]`` gathers and ``[B, N_chunk]`` counts).
USER_CHUNK = 16_384
#: Floats per ``[P, N_chunk, K]`` gather; fewer users per call when P·K is large.
GATHER_BUDGET = 2**25


def _served(alphas, scores, labels, mask, slate_weights=None):
    """Labels and scores of the served item: ``([P, N, K], [P, N, K])``, zeros when nothing was retrieved.

    With ``slate_weights`` (v_1..v_k, a tuple): the position-weighted sums Σ_r v_r Y[j_r] and
    Σ_r v_r f[j_r] over the slate of k (SPEC §7), so U = α*·Y is the slate utility.
    """
    rows = jnp.arange(scores.shape[0])[None, :]
    if slate_weights is None:
        idx = serve_kernel(alphas, scores, mask)  # [P, N]
        ok = (idx >= 0)[..., None]
        safe = jnp.maximum(idx, 0)
        return jnp.where(ok, labels[rows, safe], 0.0), jnp.where(ok, scores[rows, safe], 0.0)
    idx = slate_serve_kernel(alphas, scores, mask, len(slate_weights))  # [P, N, k]
    y = f = 0.0
    for r, v in enumerate(slate_weights):
        ok = (idx[..., r] >= 0)[..., None]
        safe = jnp.maximum(idx[..., r], 0)
        y = y + v * jnp.where(ok, labels[rows, safe], 0.0)
        f = f + v * jnp.where(ok, scores[rows, safe], 0.0)
    return y, f


@partial(jax.jit, static_argnames=("slate_weights",))
def decomposition_sums(alphas, scores, labels, mask, pair_prefs, user_weights, boot_counts, slate_weights=None):
    """Per-α sums over one chunk of users for the decomposition, its bootstrap and Thm 3.1.

    Args:
      alphas: float32 ``[P, K]``; scores, labels: float32 ``[N, m, K]``; mask: bool ``[N, m]``.
      pair_prefs: float32 ``[2, K]`` rows α*(g1), α*(g0).
      user_weights: float32 ``[3, N]``: 1[g = g1], the S_X weight (0 outside the pair),
        1[g = g0] (padding users: all 0).
      boot_counts: float32 ``[B, N]`` bootstrap multiplicities (B may be 0).
      slate_weights: None (top-1) or the position weights of a slate (static tuple).
    Returns:
      dict of float32 sums: ``num [P, 4]`` (Σ w·U for the 4 expectations of
      :data:`~jaxfair.diagnose.decomposition.EXPECTATIONS`), ``den [3]`` (Σ w),
      ``resid [P]`` (Σ w_S Σ_k |Δα*_k||Y_k − f_k|), ``f [P, K]`` (Σ w_S f_k),
      ``boot_num [B, P, 4]``, ``boot_den [B, 3]``.
    """
    y, f = _served(alphas, scores, labels, mask, slate_weights)
    u1 = jnp.einsum("pnk,k->pn", y, pair_prefs[0], precision=_EXACT)
    u0 = jnp.einsum("pnk,k->pn", y, pair_prefs[1], precision=_EXACT)
    dpref = jnp.abs(pair_prefs[0] - pair_prefs[1])
    resid = jnp.einsum("pnk,k->pn", jnp.abs(y - f), dpref, precision=_EXACT)
    w1, ws, w0 = user_weights[0], user_weights[1], user_weights[2]
    num = jnp.stack([u1 @ w1, u1 @ ws, u0 @ ws, u0 @ w0], axis=-1)
    cw = boot_counts[:, None, :] * user_weights[None]  # [B, 3, N]
    mm = partial(jnp.einsum, "bn,pn->bp", precision=_EXACT)
    boot_num = jnp.stack([mm(cw[:, 0], u1), mm(cw[:, 1], u1), mm(cw[:, 1], u0), mm(cw[:, 2], u0)], axis=-1)
    return {
        "num": num,
        "den": jnp.sum(user_weights, axis=1),
        "resid": resid @ ws,
        "f": jnp.einsum("pnk,n->pk", f, ws, precision=_EXACT),
        "boot_num": boot_num,
        "boot_den": jnp.sum(cw, axis=-1),
    }


@partial(jax.jit, static_argnames=("n_boot",))
def stratified_counts(key, group, n_boot: int):
    """Bootstrap multiplicities ``f32[n_boot, N]``: users resampled with replacement within their group.

    Sorting users by group makes each group a contiguous stratum; position i draws a user
    uniformly from its own stratum, so every resample keeps the group sizes.
    """
    n = group.shape[0]
    order = jnp.argsort(group, stable=True)
    sg = group[order]
    first = jnp.searchsorted(sg, sg, side="left")
    size = jnp.searchsorted(sg, sg, side="right") - first
    u = jax.random.uniform(key, (n_boot, n))
    pick = first[None, :] + jnp.minimum(jnp.floor(u * size[None, :]).astype(jnp.int32), size[None, :] - 1)
    users = order[pick]
    return jnp.zeros((n_boot, n), jnp.float32).at[jnp.arange(n_boot)[:, None], users].add(1.0)


def bootstrap_counts(key, group: np.ndarray, n_boot: int, clusters: np.ndarray | None = None) -> jnp.ndarray:
    """Bootstrap multiplicities ``f32[n_boot, N]``, stratified by group.

    With ``clusters`` (int ``[N]``, e.g. the pool user of each session; each cluster inside one
    group) whole clusters are resampled within their group and every session of a drawn
    cluster counts once per draw.
    """
    if clusters is None:
        return stratified_counts(key, jnp.asarray(group), int(n_boot))
    uniq, inv = np.unique(np.asarray(clusters), return_inverse=True)
    inv = inv.ravel()
    cgroup = np.zeros(len(uniq), np.int64)
    cgroup[inv] = group
    if np.any(cgroup[inv] != group):
        bad = int(uniq[inv[np.flatnonzero(cgroup[inv] != group)[0]]])
        raise ValueError(f"clusters: cluster {bad} has users in more than one group; a cluster must lie in one group")
    per_cluster = stratified_counts(key, jnp.asarray(cgroup), int(n_boot))  # [B, C]
    return per_cluster[:, jnp.asarray(inv)]


def check_clusters(clusters: Any, group: np.ndarray) -> np.ndarray | None:
    """Validate optional resampling units ``int [N]`` (one per user of ``group [N]``)."""
    if clusters is None:
        return None
    clusters = np.asarray(clusters)
    if clusters.shape != group.shape or not np.issubdtype(clusters.dtype, np.integer):
        raise ValueError(
            f"clusters: expected an int array of shape {group.shape} ([N]), got {clusters.dtype} {clusters.shape}"
        )
    return clusters


def group_utilities(
    batch: Batch, prefs: np.ndarray, alpha: np.ndarray, *, slate: int = 1, position_weights: Any = "dcg", gamma=0.8
) -> np.ndarray:
    """float64 ``[G]`` utility μ_g at ``alpha [K]`` (the slate utility with ``slate`` > 1); NaN for empty groups."""
    from jaxfair.evaluate import evaluate

    ev = evaluate(
        np.asarray(alpha, np.float64)[None],
        batch.replace(item_group=None),
        prefs,
        slate=slate,
        position_weights=position_weights,
        gamma=gamma,
    )
    return np.asarray(ev.group_utility, np.float64)[0]


def default_pair(batch: Batch, prefs: np.ndarray, alpha: np.ndarray, **slate_options) -> tuple[int, int]:
    """(g1, g0) for a two-group comparison at ``alpha [K]``: g1 the best-served group, g0 the worst-served.

    ``slate_options`` (``slate``, ``position_weights``, ``gamma``): rank the groups by the slate
    utility the decomposition explains (SPEC §7), not by top-1 utility.
    """
    return default_pair_reason(batch, prefs, alpha, **slate_options)[0]


def default_pair_reason(
    batch: Batch, prefs: np.ndarray, alpha: np.ndarray, group_names: Sequence[str] | None = None, **slate_options
) -> tuple[tuple[int, int], str]:
    """:func:`default_pair` and the sentence saying why: ``((g1, g0), "g1 = tech: the best-served …")``."""
    mu = group_utilities(batch, prefs, alpha, **slate_options)
    present = [g for g in range(len(mu)) if np.isfinite(mu[g])]
    if len(present) < 2:
        raise ValueError(
            f"batch.group: the diagnosis compares two groups, but only group(s) {present} have users (G = 1)"
        )
    order = sorted(present, key=lambda g: -mu[g])
    g1, g0 = order[0], order[-1]
    names = [f"group {g}" for g in range(len(mu))] if group_names is None else list(group_names)
    k = slate_options.get("slate", 1)
    what = "utility" if k == 1 else f"slate utility (k = {k})"
    a = np.round(np.asarray(alpha, np.float64) / np.sum(alpha), 3).tolist()
    best = "better-served" if len(present) == 2 else "best-served"
    why = (
        f"g1 = {names[g1]}: the {best} group at α = {a} ({what} {mu[g1]:.4f}); "
        f"g0 = {names[g0]}: the worst-served ({mu[g0]:.4f})"
    )
    if len(present) > 2:
        rest = ", ".join(f"{names[g]} {mu[g]:.4f}" for g in order[1:-1])
        why += f"; in between: {rest}"
    return (g1, g0), why


def resolve_weights(batch: Batch, groups: tuple[int, int], weights: Any, **estimate_options) -> SharedSpaceWeights:
    """``weights``: None (estimate), a :class:`SharedSpaceWeights` for this pair, or ``[N]`` raw weights."""
    if weights is None:
        return shared_space_weights(batch, groups, **estimate_options)
    if isinstance(weights, SharedSpaceWeights):
        if tuple(weights.groups) != tuple(groups):
            raise ValueError(f"weights: computed for groups {weights.groups}, the decomposition is for {groups}")
        if weights.weights.shape != (batch.n_users,):
            raise ValueError(f"weights: computed for {weights.weights.shape[0]} users, the batch has {batch.n_users}")
        return weights
    return check_user_weights(weights, np.asarray(batch.group), groups)


def decompose(
    alphas: Any,
    batch: Batch,
    prefs: Any,
    *,
    groups: Sequence[int] | None = None,
    weights: Any = None,
    n_boot: int = 200,
    key: Any = None,
    level: float = 0.95,
    user_chunk: int = USER_CHUNK,
    group_names: Sequence[str] | None = None,
    clusters: Any = None,
    mesh: Any = None,
    slate: Any = 1,
    label_names: Sequence[str] | None = None,
    position_weights: Any = "dcg",
    gamma: float = 0.8,
    **estimate_options,
) -> Decomposition:
    """Decompose the utility gap between two groups into terms (4), (5), (6) for every α.

    ``slate``/``position_weights``/``gamma`` (SPEC §7): U is the slate utility Σ_r v_r α*·Y[j_r].
    The terms are expectations of U, so they carry over unchanged. Theorem 3.1's bound is
    evaluated with the position-weighted slate quantities Σ_r v_r Y[j_r] and Σ_r v_r f[j_r] in
    place of the served item's (its proof is linear in Y and f, and v ≥ 0 keeps f ≥ 0 — it
    needs scores f ≥ 0 as for top-1); the default pair ``groups`` is chosen by the same slate
    utility at the first α.

    Args:
      alphas: ``[P, K]`` serving weights (>= 0, finite, no all-zero row); a single ``[K]`` is
        accepted as P = 1.
      batch: users with (unless ``weights`` is given) covariates ``batch.features``.
      prefs: true preferences ``[G, K]``.
      groups: ``(g1, g0)``, g1 the reference group; default: the groups with the highest and
        the lowest (slate) utility at the first α (with G = 2: the better-served group is g1).
      weights: S_X weights — None (estimate from ``batch.features``; ``estimate_options`` go
        to :func:`~jaxfair.diagnose.weights.shared_space_weights`), a
        :class:`~jaxfair.diagnose.weights.SharedSpaceWeights`, or raw ``[N]`` weights >= 0.
      n_boot: bootstrap resamples (0: no CIs).
      key: PRNG key of the bootstrap (default ``PRNGKey(0)``).
      level: CI level in (0, 1).
      group_names: names of the G groups (default ``group 0`` ...).
      label_names: names of α's K components, for the table's ``alpha_<name>`` columns: the
        scores α weights (:attr:`~jaxfair.scenarios.base.Scenario.score_names`).
      clusters: optional int ``[N]``: resample these units instead of single users (e.g. the
        pool user each session came from — sessions of one pool user are not independent);
        each cluster must lie in one group.
      mesh: a ``jax.sharding.Mesh`` of this process's devices
        (:func:`jaxfair.engine.sharding.user_mesh`) to spread the user chunks over; default: all
        local devices when there are several, else one device. Bit-identical results for
        any mesh (module docstring); the bootstrap multiplicities are drawn once for all
        users, so every device uses the same per-user draws.
    Returns:
      :class:`Decomposition`.
    Raises:
      ValueError: naming the bad argument (α, prefs, groups, weights, n_boot, level, mesh, ...).
    """
    if not isinstance(batch, Batch):
        raise ValueError(f"batch: expected a jaxfair.Batch, got {type(batch).__name__}")
    prefs_np = check_batch_prefs(batch, prefs)
    a = np.asarray(alphas, np.float64)
    alphas_np = check_alphas(a[None] if a.ndim == 1 else a, batch.n_labels)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot: expected an int >= 0, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: expected 0 < level < 1, got {level!r}")
    if isinstance(user_chunk, bool) or not isinstance(user_chunk, (int, np.integer)) or user_chunk < 1:
        raise ValueError(f"user_chunk: expected an int >= 1, got {user_chunk!r}")
    sl = as_slate(slate, position_weights, gamma, batch.n_candidates)  # the one slate resolution
    slate_weights = None if sl.k == 1 and isinstance(sl.position_weights, str) else tuple(float(v) for v in sl.weights)
    if mesh is None:
        mesh = sharding.default_local_mesh()
    devices = None if mesh is None else sharding.local_mesh_devices(mesh)
    group = np.asarray(batch.group)
    if groups is None:
        groups = default_pair(batch, prefs_np, alphas_np[0], slate=sl.k, position_weights=position_weights, gamma=gamma)
    pair = check_groups(group, groups, prefs_np.shape[0])
    w = resolve_weights(batch, pair, weights, **estimate_options)
    g1, g0 = pair
    user_w = np.stack([(group == g1), w.weights, (group == g0)]).astype(np.float32)
    clusters = check_clusters(clusters, group)
    if n_boot:
        counts = bootstrap_counts(jax.random.PRNGKey(0) if key is None else key, group, int(n_boot), clusters)
    else:
        counts = jnp.zeros((0, batch.n_users), jnp.float32)
    # Bound the [P, N_chunk, K] gathers (and [B, P] products) to ~GATHER_BUDGET floats each.
    chunk = int(min(user_chunk, max(256, GATHER_BUDGET // (alphas_np.shape[0] * max(batch.n_labels, 1)))))
    sums = _chunked_sums(
        jnp.asarray(alphas_np, jnp.float32),
        batch,
        jnp.asarray(prefs_np[[g1, g0]], jnp.float32),
        user_w,
        counts,
        chunk,
        devices,
        slate_weights,
    )
    expectations = sums["num"] / sums["den"][[0, 1, 1, 2]]
    terms = _terms(expectations)
    if n_boot:
        boot_e = sums["boot_num"] / sums["boot_den"][:, None, [0, 1, 1, 2]]
        boot_terms = _terms(boot_e)
        q = (1 - level) / 2
        ci = np.moveaxis(np.quantile(boot_terms, [q, 1 - q], axis=0), 0, -1)
    else:
        boot_terms = np.zeros((0,) + terms.shape)
        ci = np.full(terms.shape + (2,), np.nan)
    bound = bound_from_sums(
        alphas_np,
        prefs_np[g1],
        prefs_np[g0],
        sums["resid"] / sums["den"][1],
        sums["f"] / sums["den"][1],
        terms[:, 1],
        np.asarray(batch.scores),
        term5_max=max_abs_term5(
            prefs_np[g1], prefs_np[g0], *label_range(batch.labels, batch.mask), sum(slate_weights or (1.0,))
        ),
    )
    names = tuple(f"group {g}" for g in range(prefs_np.shape[0])) if group_names is None else tuple(group_names)
    if len(names) != prefs_np.shape[0]:
        raise ValueError(f"group_names: expected {prefs_np.shape[0]} names (rows of prefs), got {len(names)}")
    return Decomposition(
        alphas=alphas_np,
        groups=pair,
        group_names=names,
        label_names=None if label_names is None else tuple(str(n) for n in label_names),
        expectations=expectations,
        terms=terms,
        ci=ci,
        boot_terms=boot_terms,
        level=float(level),
        n_boot=int(n_boot),
        bound=bound,
        weights=w,
        n_users=(int(np.sum(group == g1)), int(np.sum(group == g0))),
    )


def _terms(e: np.ndarray) -> np.ndarray:
    """``[..., 4]`` expectations → ``[..., 4]`` (term4, term5, term6, gap), float64."""
    e = np.asarray(e, np.float64)
    return np.stack([e[..., 0] - e[..., 1], e[..., 1] - e[..., 2], e[..., 2] - e[..., 3], e[..., 0] - e[..., 3]], -1)


def _chunked_sums(
    alphas,
    batch: Batch,
    pair_prefs,
    user_w: np.ndarray,
    counts,
    chunk: int,
    devices: Sequence[jax.Device] | None = None,
    slate_weights=None,
) -> dict:
    """:func:`decomposition_sums` over fixed-size user chunks (the last one zero-padded), added
    in float64 in user order. With ``devices`` (D of them), chunk i runs on ``devices[i % D]``
    and up to D chunks are in flight; the chunks and the order of the float64 adds do not
    depend on D, so neither do the bits."""
    # Users first in every array (the engine's map_user_chunks cuts and pads the leading axis).
    users = (batch.scores, batch.labels, batch.mask, jnp.asarray(user_w).T, jnp.asarray(counts).T)
    fill = (0.0, 0.0, False, 0.0, 0.0)  # padding users: nothing retrieved, zero weight, zero counts

    def sums(sub):
        scores, labels, mask, uw, bc = sub
        return decomposition_sums(alphas, scores, labels, mask, pair_prefs, uw.T, bc.T, slate_weights=slate_weights)

    total: dict[str, np.ndarray] = {}
    for _, _, out in map_user_chunks(sums, users, min(chunk, batch.n_users), fill, devices=devices):
        for k, v in out.items():  # user order, whatever the devices
            total[k] = total.get(k, 0.0) + np.asarray(v, np.float64)
    return total


def decompose_all(
    alphas: Any, batch: Batch, prefs: Any, *, reference: int | None = None, weights: dict | None = None, **kwargs
) -> dict[int, Decomposition]:
    """G >= 2: every other group (with users) against one ``reference`` group g1.

    ``reference`` defaults to the group with the highest (slate) utility at the first α. ``weights``:
    optional ``{g0: weights}``. Returns ``{g0: Decomposition}``.
    """
    prefs_np = check_batch_prefs(batch, prefs)
    a = np.asarray(alphas, np.float64)
    a = check_alphas(a[None] if a.ndim == 1 else a, batch.n_labels)
    group = np.asarray(batch.group)
    present = [g for g in range(prefs_np.shape[0]) if np.any(group == g)]
    if len(present) < 2:
        raise ValueError(f"batch.group: the diagnosis compares groups, but only group(s) {present} have users (G = 1)")
    if reference is None:
        slate_options = {k: kwargs[k] for k in ("slate", "position_weights", "gamma") if k in kwargs}
        reference = default_pair(batch, prefs_np, a[0], **slate_options)[0]
    if int(reference) not in present:
        raise ValueError(f"reference: group {reference!r} has no users in the batch (groups present: {present})")
    weights = weights or {}
    return {
        g: decompose(a, batch, prefs_np, groups=(int(reference), g), weights=weights.get(g), **kwargs)
        for g in present
        if g != int(reference)
    }
