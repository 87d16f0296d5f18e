"""decompose with the users spread over 2 and 4 simulated CPU devices: bit-identical to one device."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import jax
import numpy as np
import pytest
from jax.sharding import Mesh

from jaxfair import scenarios
from jaxfair.diagnose import decompose

_N, _CHUNK = 3001, 700  # 5 chunks, the last one ragged (padded): devices get unequal numbers of chunks

_SCRIPT = textwrap.dedent("""
    import sys
    import jax, numpy as np
    from jaxfair import scenarios
    from jaxfair.diagnose import decompose
    from jaxfair.engine.sharding import user_mesh
    sys.path.insert(0, sys.argv[2])
    from test_diagnose_sharding import _case, _fields
    assert len(jax.devices()) == 4, jax.devices()
    out = {}
    for name, mesh in (("d2", user_mesh(jax.devices()[:2])), ("d4", user_mesh(jax.devices())), ("default", None)):
        for cl in (False, True):
            args, kw = _case(cl)
            d = decompose(*args, **kw, mesh=mesh)
            out.update({f"{name}{int(cl)}_{k}": v for k, v in _fields(d).items()})
    np.savez(sys.argv[1], **out)
""")


def _case(clusters: bool):
    """Positional args and keywords of one decomposition: toy users, raw S_X weights, bootstrap."""
    sc = scenarios.load("toy", covariate_shift=1.0)
    batch = sc.sample(jax.random.PRNGKey(3), _N)
    h = np.random.default_rng(0).uniform(0.2, 2.0, _N)
    w = np.linspace(0.0, 1.0, 9)
    kw = dict(groups=(1, 0), weights=h, n_boot=40, key=jax.random.PRNGKey(7), user_chunk=_CHUNK)
    if clusters:  # clusters inside groups: user pairs of one group
        kw["clusters"] = np.asarray(batch.group) * _N + np.arange(_N) // 2
    return (np.stack([w, 1 - w], 1), batch, sc.prefs), kw


def _case_call(clusters: bool, **extra):
    args, kw = _case(clusters)
    return decompose(*args, **kw, **extra)


def _fields(d) -> dict:
    return {
        "expectations": d.expectations,
        "terms": d.terms,
        "ci": d.ci,
        "boot_terms": d.boot_terms,
        "given": d.bound.given,
        "optimal": d.bound.optimal,
        "residual": d.bound.residual,
        "f_mean": d.bound.f_mean,
    }


@pytest.mark.long
def test_sharded_decomposition_is_bit_identical_on_2_and_4_devices(tmp_path):
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    path = tmp_path / "out.npz"
    subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(path), os.path.dirname(__file__)], env=env, check=True, timeout=300
    )
    got = np.load(path)
    assert len(jax.local_devices()) == 1  # this process: the one-device path
    for cl in (False, True):
        want = _fields(_case_call(cl))
        assert np.isfinite(want["ci"]).all()
        for name in ("d2", "d4", "default"):
            for k, v in want.items():
                np.testing.assert_array_equal(got[f"{name}{int(cl)}_{k}"], v, err_msg=f"{name} clusters={cl} {k}")


def test_one_device_mesh_is_the_one_device_path():
    from jaxfair.engine.sharding import user_mesh

    d1 = _fields(_case_call(False, mesh=user_mesh(jax.local_devices()[:1])))
    d0 = _fields(_case_call(False))
    for k in d0:
        np.testing.assert_array_equal(d1[k], d0[k])


def test_mesh_argument_is_validated():
    (alphas, batch, prefs), kw = _case(False)
    kw["n_boot"] = 0
    with pytest.raises(ValueError, match="mesh"):
        decompose(alphas, batch, prefs, **kw, mesh="all")
    with pytest.raises(ValueError, match="mesh"):
        decompose(alphas, batch, prefs, **kw, mesh=Mesh(np.asarray(jax.devices()), ("x",)))
