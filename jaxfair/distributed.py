"""Multi-process (multi-host) runs on JAX's distributed runtime.

Every process calls :func:`initialize` (before any other JAX work), then passes *its own*
users to :func:`jaxfair.evaluate`: the default mesh spans every device of every process and
each process gets the global result (:mod:`jaxfair.engine.sharding`). On CPU the processes talk
through gloo collectives (JAX's default CPU implementation); on GPUs through NCCL.

Configuration, as ``jax.distributed.initialize`` expects it, from arguments or from the
environment::

    JAXFAIR_COORDINATOR=host0:12345   # address of process 0, reachable from every process
    JAXFAIR_NUM_PROCESSES=2
    JAXFAIR_PROCESS_ID=0              # 0 .. N-1, one per process

``python -m jaxfair.distributed`` runs a grid evaluation of a scenario with the users split
over the processes (each samples its own share from its own key) and prints the result on
process 0 — the smoke test for a new cluster (see ``docs/scaling.md``).
"""

from __future__ import annotations

import argparse
import os
import sys

__all__ = ["ENV_COORDINATOR", "ENV_NUM_PROCESSES", "ENV_PROCESS_ID", "initialize", "main"]

ENV_COORDINATOR = "JAXFAIR_COORDINATOR"
ENV_NUM_PROCESSES = "JAXFAIR_NUM_PROCESSES"
ENV_PROCESS_ID = "JAXFAIR_PROCESS_ID"


def _int_setting(name: str, value, env: str, lo: int) -> int:
    raw = os.environ.get(env) if value is None else value
    if raw is None:
        raise ValueError(f"{name}: not given and {env} is not set")
    try:
        v = int(raw)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected an int >= {lo}, got {raw!r}") from None
    if v < lo:
        raise ValueError(f"{name}: expected an int >= {lo}, got {v}")
    return v


def initialize(
    coordinator: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    *,
    timeout_s: int = 300,
) -> tuple[int, int]:
    """Join a multi-process run; returns ``(process_id, num_processes)``.

    Arguments default to ``JAXFAIR_COORDINATOR``, ``JAXFAIR_NUM_PROCESSES`` and
    ``JAXFAIR_PROCESS_ID``. ``timeout_s`` bounds the wait for the other processes (a
    missing process fails the run instead of hanging it).
    """
    coord = coordinator if coordinator is not None else os.environ.get(ENV_COORDINATOR)
    if not coord or ":" not in coord:
        raise ValueError(f"coordinator: expected HOST:PORT (or set {ENV_COORDINATOR}), got {coord!r}")
    n = _int_setting("num_processes", num_processes, ENV_NUM_PROCESSES, 1)
    pid = _int_setting("process_id", process_id, ENV_PROCESS_ID, 0)
    if pid >= n:
        raise ValueError(f"process_id: expected 0 <= process_id < num_processes = {n}, got {pid}")
    import jax

    jax.distributed.initialize(
        coordinator_address=coord, num_processes=n, process_id=pid, initialization_timeout=int(timeout_s)
    )
    return pid, n


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m jaxfair.distributed",
        description="Evaluate an α grid with the users split over the processes of a "
        "multi-process run (JAXFAIR_* environment variables).",
    )
    ap.add_argument("--scenario", default="toy")
    ap.add_argument("--users", type=int, default=100_000, help="users per process (default 100000)")
    ap.add_argument("--grid", type=int, default=1001, help="directions α = (w, 1 − w) (default 1001)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--timeout", type=int, default=300, help="seconds to wait for the other processes")
    args = ap.parse_args(argv)
    pid, n = initialize(timeout_s=args.timeout)
    import time

    import jax

    import jaxfair as jf

    sc = jf.scenarios.load(args.scenario)
    batch = sc.sample(jax.random.fold_in(jax.random.PRNGKey(args.seed), pid), args.users)
    grid = jf.direction_grid(args.grid)
    t0 = time.perf_counter()
    ev = jf.evaluate(grid, batch, sc.prefs)
    dt = time.perf_counter() - t0
    if pid == 0:
        best = ev.best()
        print(
            f"{n} processes, {len(jax.devices())} devices, {args.users * n} users, {len(grid)} α: {dt:.2f} s; "
            f"best utility {best.overall:.4f} at α = {best.alpha.round(4).tolist()}, DER {best.der:.4f}"
        )
    jax.distributed.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
