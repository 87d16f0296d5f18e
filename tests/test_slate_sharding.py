"""Slates on 2 and 4 simulated devices and on 2 processes: the same bits as one device
(k = 1 also the same bits as top-1), provider exposure included."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from processes import run_two_processes

import jaxfair as jf

# make test-all only (issue #28: suite time): the mesh and two-process executors are payload-
# agnostic and covered by tests/test_sharding.py (2 and 4 devices) and tests/test_multihost.py
# (two processes); slates on one device by tests/test_slate.py (bit-identical routes, reference).
pytestmark = [pytest.mark.slow, pytest.mark.long]

_SETUP = textwrap.dedent("""
    import numpy as np, jax, jaxfair as jf
    def make(n, seed=0):
        rng = np.random.default_rng(seed)
        scores = rng.random((n, 12, 2)).astype(np.float32)
        scores[: n // 3] = np.round(scores[: n // 3] * 4) / 4
        mask = rng.random((n, 12)) < 0.8
        mask[::101] = False
        return jf.make_batch(scores, rng.integers(0, 2, (n, 12, 2)), mask, group=rng.integers(0, 2, n),
                             item_group=rng.integers(0, 3, (n, 12)))
    PREFS = np.array([[0.8, 0.2], [0.2, 0.8]])
    GRID = jf.direction_grid(33)
""")

_DEVICES = _SETUP + textwrap.dedent("""
    import sys
    from jaxfair.engine.sharding import user_mesh
    assert len(jax.devices()) == 4
    batch = make(3001)
    out = {}
    for d in (2, 4):
        for prune in (True, False):
            for k in (1, 3):
                ev = jf.evaluate(GRID, batch, PREFS, mesh=user_mesh(jax.devices()[:d]), prune=prune, slate=k)
                out[f"{d}{prune}{k}gu"], out[f"{d}{prune}{k}es"] = ev.group_utility, ev.exposure_share
                out[f"{d}{prune}{k}pd"] = ev.provider_der
    np.savez(sys.argv[1], **out)
""")

_WORKER = _SETUP + textwrap.dedent("""
    import sys
    from jaxfair.distributed import initialize
    pid, n = initialize(timeout_s=60)
    batch = make(2048 + 300)
    lo, hi = (0, 1024) if pid == 0 else (1024, 2048 + 300)
    mine = jax.tree_util.tree_map(lambda x: x[lo:hi], batch)
    out = {}
    for k in (1, 3):
        ev = jf.evaluate(GRID, mine, PREFS, slate=k)
        out[f"{k}gu"], out[f"{k}es"], out[f"{k}pd"] = ev.group_utility, ev.exposure_share, ev.provider_der
    np.savez(sys.argv[1] + f"{pid}.npz", **out)
    jax.distributed.shutdown()
""")


def _local(n):
    ns: dict = {}
    exec(_SETUP, ns)  # noqa: S102 - the same batch as the subprocesses build
    return ns["make"](n), ns["PREFS"], ns["GRID"]


def test_slates_on_2_and_4_devices_are_bit_identical(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    path = tmp_path / "out.npz"
    subprocess.run([sys.executable, "-c", _DEVICES, str(path)], env=env, check=True, timeout=300)
    got = np.load(path)
    batch, prefs, grid = _local(3001)
    top1 = jf.evaluate(grid, batch, prefs, prune=False)
    for k in (1, 3):
        want = jf.evaluate(grid, batch, prefs, slate=k, prune=False)
        if k == 1:
            np.testing.assert_array_equal(want.group_utility, top1.group_utility)
        for d in (2, 4):
            for prune in (True, False):
                np.testing.assert_array_equal(got[f"{d}{prune}{k}gu"], want.group_utility)
                np.testing.assert_array_equal(got[f"{d}{prune}{k}es"], want.exposure_share)
                np.testing.assert_array_equal(got[f"{d}{prune}{k}pd"], want.provider_der)


def test_slates_on_two_processes_match_one_process(tmp_path):
    run_two_processes(_WORKER, tmp_path / "out")
    batch, prefs, grid = _local(2048 + 300)
    top1 = jf.evaluate(grid, batch, prefs, prune=False)
    for k in (1, 3):
        want = jf.evaluate(grid, batch, prefs, slate=k, prune=False)
        for pid in range(2):
            got = np.load(tmp_path / f"out{pid}.npz")
            np.testing.assert_array_equal(got[f"{k}gu"], want.group_utility)
            np.testing.assert_array_equal(got[f"{k}es"], want.exposure_share)
            np.testing.assert_array_equal(got[f"{k}pd"], want.provider_der)
            if k == 1:
                np.testing.assert_array_equal(got["1gu"], top1.group_utility)
    assert jax.process_count() == 1
