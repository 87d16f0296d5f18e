"""Users sharded over a device mesh: the same block sums as one device, computed in place.

The grid kernel is embarrassingly parallel over users except for the group sums, which are
taken over fixed blocks of :data:`jaxfair.engine.kernels.SUM_BLOCK` users. Giving every device a
whole number of blocks (users padded at the end with users of the empty padding group G)
means each device computes exactly the block sums one device would have computed for those
users; the blocks are gathered in user order and added in float64 on the host, in the same
order as the one-device path. Results are therefore bit-identical for any number of
devices or processes. Counts and unserved users are ``psum``-reduced.

Multi-host (:mod:`jaxfair.distributed`): each process passes only its own users; the global
user order is process 0's users, then process 1's, and so on (each padded to a whole number
of blocks per local device). When every process but the last holds a multiple of
``SUM_BLOCK × local devices`` users, the result is bit-identical to one process evaluating
all users concatenated; otherwise the padding moves block edges and the sums agree to
float32 rounding.

Shapes: N users, m candidates, K labels, G groups, P weight vectors, D devices.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from jaxfair.engine import kernels
from jaxfair.engine.batch import Batch
from jaxfair.engine.kernels import LABELS, TOP1, Payload, SlateSpec

__all__ = ["USER_AXIS", "default_local_mesh", "default_mesh", "local_mesh_devices", "mesh_sums", "user_mesh"]

#: Name of the mesh axis the users are split over.
USER_AXIS = "users"


def user_mesh(devices: Sequence[jax.Device] | None = None) -> Mesh:
    """A 1-D mesh over ``devices`` (default: every device of every process) named ``users``."""
    devs = list(jax.devices() if devices is None else devices)
    if not devs:
        raise ValueError("devices: expected at least one device")
    return Mesh(np.asarray(devs), (USER_AXIS,))


def default_mesh() -> Mesh | None:
    """The mesh ``evaluate`` uses when none is given: all devices when there are several
    (or several processes), else None (the one-device path)."""
    if jax.process_count() > 1 or len(jax.devices()) > 1:
        return user_mesh()
    return None


def default_local_mesh() -> Mesh | None:
    """A mesh over this process's devices when it has several, else None (the one-device
    path). For computations that need all users in one process (the diagnosis bootstrap)."""
    devs = jax.local_devices()
    return user_mesh(devs) if len(devs) > 1 else None


def local_mesh_devices(mesh) -> list[jax.Device]:
    """The devices of ``mesh`` in mesh order; ValueError (naming ``mesh``) if it is not a
    :func:`user_mesh` or holds another process's devices."""
    check_mesh(mesh)
    devs = list(mesh.devices.flat)
    other = [d for d in devs if d.process_index != jax.process_index()]
    if other:
        raise ValueError(
            f"mesh: expected devices of this process only, got {len(other)} of other processes "
            f"(e.g. {other[0]}); use jaxfair.engine.sharding.user_mesh(jax.local_devices())"
        )
    return devs


def check_mesh(mesh) -> Mesh:
    if not isinstance(mesh, Mesh):
        raise ValueError(
            f"mesh: expected a jax.sharding.Mesh (see jaxfair.engine.sharding.user_mesh), got {type(mesh).__name__}"
        )
    if mesh.axis_names != (USER_AXIS,):
        raise ValueError(f"mesh: expected one axis named {USER_AXIS!r}, got axes {mesh.axis_names}")
    return mesh


@functools.cache
def _sharded_kernel(mesh: Mesh, n_groups: int, slate: SlateSpec = TOP1):
    spec = PartitionSpec(USER_AXIS)
    expo = slate.n_item_groups > 0

    def local(alphas, payload, scores, labels, mask, group, *item_group):
        batch = Batch(scores=scores, labels=labels, mask=mask, group=group, item_group=item_group[0] if expo else None)
        out = kernels.group_sum_blocks(alphas, batch, n_groups, slate, payload)
        # Integer counts: exact for any number of users (float32 would stop at 2^24).
        onehot = jax.nn.one_hot(group, n_groups, dtype=jnp.int32)
        counts = jnp.sum(onehot, axis=0)
        unserved = jnp.sum(jnp.where(jnp.any(mask, axis=-1), 0, onehot.sum(-1)))
        # Blocks come back in device order = user order, replicated so every process reads them.
        blocks = jax.tree_util.tree_map(lambda x: jax.lax.all_gather(x, USER_AXIS, tiled=True), out)
        return blocks, jax.lax.psum(counts, USER_AXIS), jax.lax.psum(unserved, USER_AXIS)

    in_specs = (PartitionSpec(), PartitionSpec(), spec, spec, spec, spec) + ((spec,) if expo else ())
    fn = jax.shard_map(local, mesh=mesh, in_specs=in_specs, out_specs=PartitionSpec(), check_vma=False)
    return jax.jit(fn)


def _local_rows(
    batch: Batch, mesh: Mesh, n_groups: int, with_item_group: bool = False
) -> tuple[dict[str, np.ndarray], int]:
    """This process's users padded to whole blocks per local device; the padded count."""
    n_local_dev = sum(1 for d in mesh.devices.flat if d.process_index == jax.process_index())
    unit = kernels.SUM_BLOCK * max(1, n_local_dev)
    n = batch.n_users
    if jax.process_count() > 1:
        from jax.experimental import multihost_utils

        n = int(np.max(multihost_utils.process_allgather(np.array([n]))))  # same local shape everywhere
    n_pad = -(-n // unit) * unit
    pad = n_pad - batch.n_users
    fields = {
        "scores": np.asarray(batch.scores),
        "labels": np.asarray(batch.labels),
        "mask": np.asarray(batch.mask),
        "group": np.asarray(batch.group),
    }
    if with_item_group:
        fields["item_group"] = np.asarray(batch.item_group)
    fill = {
        "scores": 0.0,
        "labels": 0.0,
        "mask": False,
        "group": n_groups,  # padding: group G counts nowhere
        "item_group": 0,
    }
    if pad:
        fields = {
            k: np.concatenate([v, np.full((pad,) + v.shape[1:], fill[k], dtype=v.dtype)]) for k, v in fields.items()
        }
    return fields, n_pad


def mesh_sums(
    alphas32: jnp.ndarray,
    batch: Batch,
    n_groups: int,
    spec: SlateSpec = TOP1,
    payload: Payload = LABELS,
    *,
    mesh: Mesh,
    alpha_chunk: int | None = None,
    progress: bool = False,
):
    """The mesh executor: a :class:`jaxfair.engine.results.GroupSums` with the users sharded
    over ``mesh``. In a multi-process run, ``batch`` holds this process's users only and every
    process gets the global result.
    """
    from jaxfair.engine.executors import BlockAccumulator, _progress, pad_rows

    check_mesh(mesh)
    p, g, h = int(alphas32.shape[0]), n_groups, spec.n_item_groups
    c = payload.n_channels(batch.n_labels)
    fields, n_pad = _local_rows(batch, mesh, g, with_item_group=h > 0)
    sharding = NamedSharding(mesh, PartitionSpec(USER_AXIS))
    n_proc = jax.process_count()
    glob = {
        k: jax.make_array_from_process_local_data(sharding, v, (n_pad * n_proc,) + v.shape[1:])
        for k, v in fields.items()
    }
    n_blocks = n_pad * n_proc // kernels.SUM_BLOCK
    if alpha_chunk is None:  # the gathered [blocks, Pc, G·C (+ H)] outputs are the only arrays growing with P
        alpha_chunk = max(1, min(p, (64 * 2**20) // (4 * (g * c + h) * n_blocks)))
    kernel = _sharded_kernel(mesh, g, spec)
    acc = BlockAccumulator(p, g, payload, c, h)
    counts = unserved = None
    starts = range(0, p, alpha_chunk)
    bar = _progress(progress, len(starts), f"evaluate ({mesh.devices.size} devices)")
    inputs = [glob[k] for k in ("scores", "labels", "mask", "group")] + ([glob["item_group"]] if h else [])
    for a0 in starts:
        chunk = pad_rows(alphas32[a0 : a0 + alpha_chunk], alpha_chunk, 1.0)  # fixed shape: one compile
        blocks, cnt, un = kernel(jnp.asarray(chunk), payload, *inputs)
        acc.add(blocks, a0, min(alpha_chunk, p - a0), merit=counts is None)  # user order, as on one device
        if counts is None:
            counts, unserved = np.asarray(cnt, dtype=np.float64), int(round(float(un)))
        if bar is not None:
            bar.update(1)
    if bar is not None:
        bar.close()
    return acc.result(counts, unserved)
