"""The one place that picks an executor (dense chunks, pruned tiles or a device mesh)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from jaxfair.engine import sharding
from jaxfair.engine.batch import Batch
from jaxfair.engine.executors import dense_sums
from jaxfair.engine.kernels import LABELS, TOP1, Payload, SlateSpec
from jaxfair.engine.planning import DEFAULT_MEMORY_BUDGET, pruning_pays, use_pruning
from jaxfair.engine.pruned import pruned_sums
from jaxfair.engine.results import GroupSums

__all__ = ["group_sums"]


def _sign_bit_free(spec: SlateSpec, batch: Batch, payload: Payload) -> SlateSpec:
    """``spec`` with ``nonneg_values`` set when provider exposure is measured and every value the
    payload sends through the network is >= 0: then the provider indicators ride in the values'
    sign bits (:func:`jaxfair.engine.topk.slate_outputs`), the same bits for less work. The
    check reads the payload's own values (whatever kind of payload it is), eagerly, outside jit.
    Only in one process: each process sees its own users, and all must compile one program."""
    if not spec.n_item_groups or spec.nonneg_values or jax.process_count() > 1:
        return spec
    return spec._replace(nonneg_values=bool(jnp.all(payload.values(batch) >= 0)))


def group_sums(
    alphas32: jnp.ndarray,
    batch: Batch,
    n_groups: int,
    spec: SlateSpec = TOP1,
    payload: Payload = LABELS,
    *,
    alpha_chunk: int | None = None,
    user_chunk: int | None = None,
    progress: bool = False,
    prune: bool | None = False,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    mesh: Any = None,
) -> GroupSums:
    """All group sums of P weight vectors on ``batch``: the one place that picks the executor.

    ``payload`` (:class:`jaxfair.engine.kernels.Payload`): the C channels summed — the K labels
    (default, prefs-free) or the folded utility (C = 1); every executor takes it alike.

    ``prune`` (True, False, None = auto): serve from exactly pruned candidates
    (:mod:`jaxfair.engine.prune`) bucketed by how many survive; the chunk arguments then do not
    apply (the buckets plan their own from ``memory_budget``). ``mesh`` (a
    :func:`jaxfair.engine.sharding.user_mesh`; default: all devices when there are several, else
    none): in one process with pruning on, the pruned tiles go round-robin to the mesh's
    devices; otherwise (and always across processes) the users are sharded with
    ``shard_map``, unpruned. Every choice gives the same bits.
    """
    if mesh is None:
        mesh = sharding.default_mesh()
    else:
        sharding.check_mesh(mesh)
    spec = _sign_bit_free(spec, batch, payload)
    pruning = use_pruning(prune, int(alphas32.shape[0]), batch.n_candidates) and (prune or pruning_pays(batch, spec.k))
    if pruning and (mesh is None or jax.process_count() == 1):
        devices = None if mesh is None else list(mesh.devices.flat)
        return pruned_sums(
            alphas32, batch, n_groups, spec, payload, memory_budget=memory_budget, progress=progress, devices=devices
        )
    if mesh is not None:
        return sharding.mesh_sums(alphas32, batch, n_groups, spec, payload, mesh=mesh, progress=progress)
    return dense_sums(
        alphas32, batch, n_groups, spec, payload, alpha_chunk=alpha_chunk, user_chunk=user_chunk, progress=progress
    )
