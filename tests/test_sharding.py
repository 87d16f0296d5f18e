"""Users sharded over 2 and 4 simulated CPU devices: bit-identical to one device."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import warnings

import jax
import numpy as np
import pytest

import jaxfair as jf

_SCRIPT = textwrap.dedent("""
    import sys, warnings
    import jax, numpy as np, jaxfair as jf
    from jaxfair.bo import Evaluator
    from jaxfair.engine.sharding import user_mesh
    assert len(jax.devices()) == 4, jax.devices()
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(0), 3001)       # ragged: padding inside the last shard
    grid = jf.direction_grid(65)
    out = {}
    for d in (2, 4):  # (a 1-device mesh runs the same code as 2 and 4)
        for prune in (True, False):  # pruned tiles round-robin over devices / shard_map
            ev = jf.evaluate(grid, batch, sc.prefs, mesh=user_mesh(jax.devices()[:d]), prune=prune)
            key = f"{d}{'p' if prune else 's'}"
            out[f"gu{key}"], out[f"n{key}"], out[f"c{key}"] = ev.group_utility, ev.n_unserved, ev.group_counts
    out["default"] = jf.evaluate(grid, batch, sc.prefs).group_utility   # all 4 devices
    many = sc.sample(jax.random.PRNGKey(1), 9000)                       # several tiles per device
    out["many"] = jf.evaluate(grid, many, sc.prefs, mesh=user_mesh(jax.devices()), prune=True).group_utility
    rng = np.random.default_rng(0)
    small = jf.make_batch(rng.random((37, 5, 3)), rng.integers(0, 2, (37, 5, 3)), rng.random((37, 5)) < 0.6,
                          group=rng.integers(0, 3, 37))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out["small"] = jf.evaluate(jf.simplex_grid(3, 5), small, np.eye(3)).group_utility
    ev = Evaluator(sc, users=500, exact_users=3000, seed=4)
    out["bo"] = ev.evaluate(np.array([[0.3], [0.8]]), key=ev.key_for(0, 1)).group_utility
    ev2 = Evaluator(sc, users=500, exact_users=3000, seed=4, mesh=user_mesh(jax.devices()[:2]))
    assert (ev2.evaluate(np.array([[0.3], [0.8]]), key=ev2.key_for(0, 1)).group_utility == out["bo"]).all()
    np.savez(sys.argv[1], **out)
""")


@pytest.mark.long
def test_sharded_evaluation_is_bit_identical_on_2_and_4_devices(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    path = tmp_path / "out.npz"
    subprocess.run([sys.executable, "-c", _SCRIPT, str(path)], env=env, check=True, timeout=300)
    got = np.load(path)
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(0), 3001)
    want = jf.evaluate(jf.direction_grid(65), batch, sc.prefs)  # this process: one device, pruned
    for d in (2, 4):
        for key in (f"{d}p", f"{d}s"):
            np.testing.assert_array_equal(got[f"gu{key}"], want.group_utility)
            assert int(got[f"n{key}"]) == want.n_unserved
            np.testing.assert_array_equal(got[f"c{key}"], want.group_counts)
    np.testing.assert_array_equal(got["default"], want.group_utility)
    many = sc.sample(jax.random.PRNGKey(1), 9000)
    np.testing.assert_array_equal(
        got["many"], jf.evaluate(jf.direction_grid(65), many, sc.prefs, prune=False).group_utility
    )
    rng = np.random.default_rng(0)
    small = jf.make_batch(
        rng.random((37, 5, 3)), rng.integers(0, 2, (37, 5, 3)), rng.random((37, 5)) < 0.6, group=rng.integers(0, 3, 37)
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_array_equal(got["small"], jf.evaluate(jf.simplex_grid(3, 5), small, np.eye(3)).group_utility)
    from jaxfair.bo import Evaluator

    ev = Evaluator(sc, users=500, exact_users=3000, seed=4)
    np.testing.assert_array_equal(got["bo"], ev.evaluate(np.array([[0.3], [0.8]]), key=ev.key_for(0, 1)).group_utility)


def test_mesh_argument_is_validated():
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(0), 10)
    with pytest.raises(ValueError, match="mesh"):
        jf.evaluate(jf.direction_grid(3), batch, sc.prefs, mesh="all")
    from jax.sharding import Mesh

    with pytest.raises(ValueError, match="mesh"):
        jf.evaluate(jf.direction_grid(3), batch, sc.prefs, mesh=Mesh(np.asarray(jax.devices()), ("x",)))
