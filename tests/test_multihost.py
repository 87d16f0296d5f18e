"""Two processes on localhost (jax.distributed, gloo CPU collectives), each holding half of
the users: the global result equals one process evaluating all of them, bit for bit."""

from __future__ import annotations

import textwrap

import jax
import numpy as np
import pytest
from processes import run_two_processes

import jaxfair as jf

pytestmark = pytest.mark.long

_WORKER = textwrap.dedent("""
    import sys
    import numpy as np
    from jaxfair.distributed import initialize
    pid, n = initialize(timeout_s=60)                     # JAXFAIR_* environment variables
    import jax, jaxfair as jf
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(0), 2048 + 300)  # the same users in both processes...
    lo, hi = (0, 1024) if pid == 0 else (1024, 2048 + 300)
    mine = jax.tree_util.tree_map(lambda x: x[lo:hi], batch)  # ...each keeps its share
    ev = jf.evaluate(jf.direction_grid(129), mine, sc.prefs)
    assert len(jax.devices()) == 2 and jax.process_count() == 2
    np.savez(sys.argv[1] + f"{pid}.npz", gu=ev.group_utility, c=ev.group_counts, u=ev.n_unserved)
    jax.distributed.shutdown()
""")


def test_two_processes_each_with_half_the_users_match_one_process(tmp_path):
    run_two_processes(_WORKER, tmp_path / "out")
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(0), 2048 + 300)
    want = jf.evaluate(jf.direction_grid(129), batch, sc.prefs)
    for pid in range(2):  # every process has the global result
        got = np.load(tmp_path / f"out{pid}.npz")
        np.testing.assert_array_equal(got["gu"], want.group_utility)
        np.testing.assert_array_equal(got["c"], want.group_counts)
        assert int(got["u"]) == want.n_unserved


def test_initialize_validates_settings(monkeypatch):
    from jaxfair import distributed

    for k in (distributed.ENV_COORDINATOR, distributed.ENV_NUM_PROCESSES, distributed.ENV_PROCESS_ID):
        monkeypatch.delenv(k, raising=False)
    with pytest.raises(ValueError, match="coordinator"):
        distributed.initialize()
    with pytest.raises(ValueError, match="num_processes"):
        distributed.initialize("localhost:1")
    with pytest.raises(ValueError, match="process_id"):
        distributed.initialize("localhost:1", 2, 2)
    monkeypatch.setenv(distributed.ENV_NUM_PROCESSES, "two")
    with pytest.raises(ValueError, match="num_processes.*'two'"):
        distributed.initialize("localhost:1", process_id=0)
