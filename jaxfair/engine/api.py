"""The engine's public entry points: :func:`evaluate`, :func:`label_means` and
:func:`group_utility_from_label_means`.

Data flow: batch → kernel (:func:`jaxfair.engine.kernels.group_sum_blocks`) → executor
(:func:`jaxfair.engine.dispatch.group_sums`) → :class:`GroupSums` → results. The kernel sums a
:class:`jaxfair.engine.kernels.Payload` of C channels through the slate: :func:`label_means` sums the
K labels (prefs-free, SPEC §9: μ_g(α) = α*(g) · L_g(α) for any preferences, applied after the
kernel); :func:`evaluate` sums one channel, the per-user utility α*(g_n)·Y folded in before
(K times less work in the kernel than K label channels, and the pre-SPEC-§9 bits), or the
labels when asked for them (``return_label_means=True``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax.numpy as jnp
import numpy as np

from jaxfair.engine import kernels
from jaxfair.engine.batch import Batch
from jaxfair.engine.checks import check_alphas, check_batch, check_batch_prefs, warn_empty_groups
from jaxfair.engine.dispatch import group_sums
from jaxfair.engine.kernels import LABELS, TOP1, Payload, SlateSpec
from jaxfair.engine.planning import DEFAULT_MEMORY_BUDGET, balanced, plan_chunks
from jaxfair.engine.provider import provider_metrics
from jaxfair.engine.results import Evaluation, GroupSums, group_utility_from_label_means
from jaxfair.engine.slate import Slate, slate_spec_for

__all__ = ["evaluate", "finish_evaluation", "group_utility_from_label_means", "label_means", "run_group_sums"]


def run_group_sums(
    alphas: Any,
    batch: Batch,
    n_groups: int,
    *,
    slate: Any = 1,
    position_weights: Any = "dcg",
    gamma: float = 0.8,
    n_item_groups: int | None = None,
    chunk_size: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool = False,
    prune: bool | None = None,
    mesh: Any = None,
    payload: Payload = LABELS,
) -> tuple[np.ndarray, Slate, SlateSpec, GroupSums]:
    """Validate, resolve the slate, plan chunks and run the chosen executor on ``payload``:
    ``(alphas float64 [P, K], Slate, SlateSpec, GroupSums)``."""
    a_arr = check_alphas(alphas, batch.n_labels)
    sl, spec = slate_spec_for(batch, slate, position_weights, gamma, n_item_groups)
    n, m, k = batch.shape
    c = payload.n_channels(k)
    alpha_chunk, user_chunk = plan_chunks(a_arr.shape[0], n, m, memory_budget, spec=spec, n_channels=c)
    if chunk_size is not None:
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
            raise ValueError(f"chunk_size: expected an int >= 1, got {chunk_size!r}")
        alpha_chunk = balanced(a_arr.shape[0], int(chunk_size))
    sums = group_sums(
        jnp.asarray(a_arr, jnp.float32),
        batch,
        n_groups,
        spec,
        alpha_chunk=alpha_chunk,
        user_chunk=user_chunk,
        progress=progress,
        prune=prune,
        memory_budget=memory_budget,
        mesh=mesh,
        payload=payload,
    )
    return a_arr, sl, spec, sums


def _check_n_groups(batch: Batch, n_groups: Any) -> int:
    gmax = int(np.asarray(batch.group).max()) if batch.n_users else -1
    g = gmax + 1 if n_groups is None else n_groups
    if isinstance(g, bool) or not isinstance(g, (int, np.integer)) or g < 1 or g <= gmax:
        raise ValueError(f"n_groups: expected an int > largest group id ({gmax}), got {n_groups!r}")
    return int(g)


def label_means(
    alphas: Any,
    batch: Batch,
    *,
    slate: Any = 1,
    position_weights: Any = "dcg",
    gamma: float = 0.8,
    prune: bool | None = None,
    mesh: Any = None,
    n_groups: int | None = None,
    chunk_size: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    progress: bool = False,
    group_names: Sequence[str] | None = None,
) -> np.ndarray:
    """Prefs-free sufficient statistic (SPEC §9): ``L [P, G, K]`` float64,
    ``L_g(α) = mean over g's users of Σ_r v_r · Y[n, j_r(α), :]`` (top-1: v = (1)).

    Group utility for any preferences is ``μ_g(α) = α*(g) · L_g(α)``
    (:func:`group_utility_from_label_means`, also for Q preference matrices at once).

    Args:
      alphas: ``[P, K]``; batch: N users; slate: a :class:`jaxfair.Slate` or a size k (with
        ``position_weights``/``gamma``, as in :func:`evaluate`); prune, mesh, chunk_size,
        memory_budget, progress: as in :func:`evaluate` (they change speed, never bits).
      n_groups: G (default: largest group id + 1).
      group_names: names for the empty-group warning.
    Returns:
      float64 ``[P, G, K]``; NaN rows (with an :class:`EmptyGroupWarning`) for empty groups.
    """
    check_batch(batch)
    g = _check_n_groups(batch, n_groups)
    _, _, _, sums = run_group_sums(
        alphas,
        batch.replace(item_group=None),
        g,
        slate=slate,
        position_weights=position_weights,
        gamma=gamma,
        chunk_size=chunk_size,
        memory_budget=memory_budget,
        progress=progress,
        prune=prune,
        mesh=mesh,
    )
    warn_empty_groups(sums.counts, group_names)
    return sums.label_means()


def evaluate(
    alphas: Any,
    batch: Batch,
    prefs: Any,
    *,
    chunk_size: int | None = None,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    group_names: Sequence[str] | None = None,
    label_names: Sequence[str] | None = None,
    progress: bool = False,
    prune: bool | None = None,
    mesh: Any = None,
    slate: Any = 1,
    position_weights: Any = "dcg",
    gamma: float = 0.8,
    n_item_groups: int | None = None,
    return_label_means: bool = False,
) -> Evaluation:
    """Evaluate P serving weight vectors on a batch with one compiled kernel.

    Args:
      alphas: ``[P, K]`` non-negative, finite, no all-zero row.
      batch: N users × m candidates × K labels.
      prefs: ``[G, K]`` true preferences α*; every group id in ``batch`` must be < G.
      chunk_size: α per kernel call; default chosen from ``memory_budget`` (users are then
        chunked too if one α over all users would not fit).
      memory_budget: bytes for one kernel call's ``[N_chunk, P_chunk]`` intermediates.
      group_names, label_names: optional names for tables.
      progress: show a progress bar over chunks.
      prune: serve from exactly pruned candidates (:mod:`jaxfair.engine.prune`): True, False, or
        None = auto (on from ``PRUNE_MIN_ALPHAS`` α when the first users' blocks shrink to
        ≤ 3/4 of the candidates). Results are bit-identical either way; only the speed
        differs. ``chunk_size`` applies to the unpruned path only.
      mesh: a ``jax.sharding.Mesh`` (:func:`jaxfair.engine.sharding.user_mesh`) to shard the users
        over; default: all devices when there are several (else one device). Bit-identical
        to one device; in a multi-process run (:mod:`jaxfair.distributed`) ``batch`` holds
        this process's users and the result covers all processes' users.
      slate: a :class:`jaxfair.Slate`, or a slate size k, ``1 <= k <= m`` (SPEC §7): the k
        retrieved candidates with the highest Σ_k α_k f_k, by (score desc, index asc); utility
        ``Σ_r v_r α*(g)·Y[j_r]``. ``slate=1`` is the top-1 model.
      position_weights: ``"dcg"`` (default), ``"geometric"``, ``"uniform"`` or a vector of
        k weights (:func:`jaxfair.engine.position.position_weights`); gamma: geometric decay.
      n_item_groups: H provider groups (default: from ``batch.item_group``, at least 2).
        With ``batch.item_group`` the result also holds provider exposure and provider DER.
      return_label_means: also return ``label_means [P, G, K]`` (SPEC §9). The kernel then
        sums the K labels instead of the one folded utility (about K times the serving work)
        and ``group_utility`` is ``group_utility_from_label_means(label_means, prefs)``
        exactly; without it (default) ``group_utility`` comes from the folded utility, the
        same numbers to float32 rounding of the block sums (tested: rtol 1e-5, atol 1e-6).

    Returns:
      :class:`Evaluation` with ``utility [P]``, ``der [P]``, ``group_utility [P, G]``,
      ``label_means [P, G, K]`` (None unless ``return_label_means``) and, with provider
      groups, ``exposure_share [P, H]``, ``merit_share [H]``, ``provider_der [P]``.
      A group with no users gets NaN utility and NaN DER, with an :class:`EmptyGroupWarning`;
      a provider group with no merit gets NaN provider DER, with a :class:`ProviderGroupWarning`.
    """
    p_arr = check_batch_prefs(batch, prefs)
    if not isinstance(return_label_means, (bool, np.bool_)):
        raise ValueError(f"return_label_means: expected True or False, got {return_label_means!r}")
    payload = LABELS if return_label_means else kernels.utility_payload(p_arr)
    a_arr, sl, spec, sums = run_group_sums(
        alphas,
        batch,
        int(p_arr.shape[0]),
        slate=slate,
        position_weights=position_weights,
        gamma=gamma,
        n_item_groups=n_item_groups,
        chunk_size=chunk_size,
        memory_budget=memory_budget,
        progress=progress,
        prune=prune,
        mesh=mesh,
        payload=payload,
    )
    return evaluation_from_sums(a_arr, sums, p_arr, group_names, label_names, spec=spec, slate=sl)


def evaluation_from_sums(
    alphas: np.ndarray,
    sums: GroupSums,
    prefs: np.ndarray,
    group_names=None,
    label_names=None,
    *,
    spec: SlateSpec = TOP1,
    slate: Slate | None = None,
) -> Evaluation:
    """An :class:`Evaluation` from an executor's :class:`GroupSums` and preferences ``[G, K]``:
    label channels give μ = label means · prefs (:func:`group_utility_from_label_means`) and
    the label means; a utility channel gives μ = utility sums / counts (the pre-SPEC-§9 bits)."""
    empty = warn_empty_groups(sums.counts, group_names)
    lm = sums.label_means() if sums.channels == "labels" else None
    return finish_evaluation(
        alphas,
        sums.utility_sums(prefs),
        sums.counts,
        sums.n_unserved,
        group_names,
        label_names,
        spec=spec,
        exposure=sums.exposure,
        merit=sums.merit(prefs),
        group_utility=sums.group_utility(prefs),
        label_means=lm,
        slate=slate,
        warned=empty,
    )


def finish_evaluation(
    alphas: np.ndarray,
    sums: np.ndarray,
    counts: np.ndarray,
    unserved: int,
    group_names=None,
    label_names=None,
    *,
    spec: SlateSpec = TOP1,
    exposure=None,
    merit=None,
    group_utility: np.ndarray | None = None,
    label_means: np.ndarray | None = None,
    slate: Slate | None = None,
    warned: list | None = None,
) -> Evaluation:
    """Assemble an :class:`Evaluation` from utility group sums ``[P, G]`` and counts ``[G]``
    (group means from the sums unless ``group_utility`` is given), and, with provider groups,
    exposure sums ``[P, H]`` and merit ``[H]``."""
    counts = np.asarray(counts, np.float64)
    empty = warn_empty_groups(counts, group_names) if warned is None else warned
    if group_utility is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            group_utility = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    utility = sums.sum(axis=1) / counts.sum()
    der = np.full(len(alphas), np.nan) if empty else kernels.der_kernel(group_utility, np)
    extra = {}
    if exposure is not None:
        e_share, m_share, pder = provider_metrics(exposure, merit)
        extra = dict(
            provider_der=pder, exposure_share=e_share, merit_share=m_share, n_item_groups=int(np.shape(exposure)[1])
        )
    if slate is None:
        slate = Slate(int(spec.k), tuple(spec.weights))
    return Evaluation(
        alphas=np.asarray(alphas, dtype=np.float64),
        utility=utility,
        der=der,
        group_utility=group_utility,
        n_unserved=int(unserved),
        group_counts=counts.astype(np.int64),
        group_names=tuple(group_names) if group_names is not None else None,
        label_names=tuple(label_names) if label_names is not None else None,
        slate=int(spec.k),
        position_weights=np.asarray(spec.weights, np.float64),
        label_means=label_means,
        slate_spec=slate,
        **extra,
    )
