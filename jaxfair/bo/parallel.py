"""Fan a study's independent (method, trial) units out over Ray workers.

Each unit rebuilds the same :class:`~jaxfair.bo.evaluator.Evaluator` (same seed, so the
same user batches and held-out batch; on an impression log the same
:class:`~jaxfair.bo.offpolicy.OffPolicyEvaluator`) and runs the ``unit_fn`` it is handed —
:func:`jaxfair.bo.study.run_unit`, passed in by the study so that this module does not
import the study back (no import circle) —, which
derives every random stream from ``(seed, trial, method, evaluation)``: a unit's rows do
not depend on which worker runs it or on how many there are. Workers write their unit's
row file after every evaluation exactly as the in-process path does, so a killed study
resumes from the files. Every worker is limited to one JAX/XLA and one torch intra-op
thread, so N workers use about N cores and do not oversubscribe the machine.

Ray is an optional dependency (``pip install 'jaxfair[distributed]'``).

**Ray's processes end with the driver.** A local Ray runtime started here is fate-shared with
this process: GCS and raylet die with it, but Ray's per-node agents (``ray::DashboardAgent``,
``ray::RuntimeEnvAgent``, ~170 MB) outlive a driver killed by SIGKILL. So after ``ray.init``
the driver records the pid and start time of every Ray process it started (its descendants) in
``<tmp>/jaxfair-ray-<uid>/<driver pid>.json`` (``$JAXFAIR_RAY_REAP_DIR`` overrides the folder)
and starts a small watchdog (``python -m jaxfair.bo.parallel --reap-after RECORD``) in its own
session, reading a pipe from the driver: when the driver ends in any way the pipe closes and
the watchdog ends the recorded processes that are still the same processes (pid *and* start
time) and any process whose command line names the Ray session (workers that were starting).
A clean finish shuts Ray down and removes the record; a record whose driver is gone
(the watchdog was killed too) is reaped by the next start.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["reap_leftovers", "run_units_on_ray", "worker_env"]


def worker_env() -> dict[str, str]:
    """Environment for Ray workers: one XLA CPU thread pool thread, one OpenMP/MKL thread."""
    xla = os.environ.get("XLA_FLAGS", "")
    extra = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return {
        "XLA_FLAGS": f"{xla} {extra}".strip(),
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu"),
    }


def _reap_dir() -> Path:
    return Path(os.environ.get("JAXFAIR_RAY_REAP_DIR") or Path(tempfile.gettempdir()) / f"jaxfair-ray-{os.getuid()}")


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (None when it is gone or a zombie): pid + start = one process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rpartition(")")[2].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def _write_record(path: Path, session_dir: str | None, exclude: set[int]) -> None:
    from jaxfair.utils.atomic import atomic_write_text

    procs = [
        [p, t]
        for p in _descendants(os.getpid())
        if p not in exclude and _is_ray(p, session_dir) and (t := _start_time(p)) is not None
    ]
    old = json.loads(path.read_text())["procs"] if path.exists() else []
    known = {tuple(p) for p in procs}
    procs += [p for p in old if tuple(p) not in known]  # keep processes seen earlier (e.g. reparented)
    atomic_write_text(
        path,
        json.dumps(
            {
                "driver": os.getpid(),
                "driver_start": _start_time(os.getpid()),
                "session_dir": session_dir,
                "procs": procs,
            }
        ),
    )


def _is_ray(pid: int, session_dir: str | None) -> bool:
    """A Ray process: ``ray::…`` title, a program under ``…/ray/``, or naming the session."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            cmd = fh.read()
    except OSError:
        return False
    session = os.path.basename((session_dir or "").rstrip("/")).encode()
    return cmd.startswith(b"ray::") or b"/ray/" in cmd or (session.startswith(b"session_") and session in cmd)


def _session_processes(session_dir: str | None) -> list[int]:
    """Processes whose command line names the Ray session (workers still starting when the driver died)."""
    if not session_dir:
        return []
    needle = os.path.basename(session_dir.rstrip("/")).encode()
    if not needle.startswith(b"session_"):
        return []
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if needle in fh.read():
                        out.append(int(entry))
            except OSError:
                continue
    return [p for p in out if _start_time(p) is not None]


def _reap(path: Path, grace: float = 2.0) -> int:
    """End the recorded processes that still run (same pid and start time); remove the record."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    alive = [p for p, t in record.get("procs", []) if _start_time(p) == t]
    alive += [p for p in _session_processes(record.get("session_dir")) if p not in alive]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in alive:
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + grace
        while alive and time.monotonic() < deadline:
            time.sleep(0.05)
            alive = [p for p in alive if _start_time(p) is not None]
        if not alive:
            break
    path.unlink(missing_ok=True)
    return len(record.get("procs", []))


def reap_leftovers() -> int:
    """End the Ray processes of earlier drivers that died without cleaning up; how many records."""
    folder = _reap_dir()
    n = 0
    for path in folder.glob("*.json") if folder.is_dir() else []:
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if _start_time(int(record.get("driver", -1))) != record.get("driver_start"):
            _reap(path)
            n += 1
    return n


class _FateSharing:
    """Record this driver's Ray processes and a watchdog that ends them when the driver ends."""

    def __init__(self):
        self.path = _reap_dir() / f"{os.getpid()}.json"
        self.watchdog: subprocess.Popen | None = None
        self.session_dir: str | None = None
        # Children the driver had before Ray started are not Ray's: never recorded.
        self.before = set(_descendants(os.getpid())) if os.path.isdir("/proc") else set()

    def start(self, ray) -> None:
        if not os.path.isdir("/proc"):
            return  # no /proc (not Linux): nothing recorded
        try:
            self.session_dir = ray._private.worker._global_node.get_session_dir_path()
        except AttributeError:
            self.session_dir = None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.watchdog = subprocess.Popen(
            [sys.executable, "-m", "jaxfair.bo.parallel", "--reap-after", str(self.path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.update()

    def update(self) -> None:
        if self.watchdog is not None:
            _write_record(self.path, self.session_dir, self.before | {self.watchdog.pid})

    def stop(self) -> None:
        if self.watchdog is None:
            return
        _reap(self.path)  # after ray.shutdown: ends only what is left (normally nothing)
        self.watchdog.stdin.close()
        try:
            self.watchdog.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.watchdog.kill()
            self.watchdog.wait()


def _unit_task(unit_fn, scenario, evaluator_kwargs: dict, cfg, trial: int, prev, common: dict, torch_threads: int):
    import torch

    from jaxfair.bo.evaluator import Evaluator
    from jaxfair.scenarios.impressions import ImpressionScenario

    torch.set_num_threads(torch_threads)
    if isinstance(scenario, ImpressionScenario):  # off-policy objectives: the same log, options and seed
        from jaxfair.bo.offpolicy import OffPolicyEvaluator

        ev = OffPolicyEvaluator(scenario, **evaluator_kwargs)
    else:
        ev = Evaluator(scenario, **evaluator_kwargs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]parse invariant.*")
        return unit_fn(ev, cfg, trial, prev, **common)


def run_units_on_ray(
    scenario: Any,
    evaluator_kwargs: dict,
    configs: dict,
    units: list[tuple[int, str]],
    done: dict,
    common: dict,
    *,
    workers: int,
    ray_address: str | None,
    torch_threads: int,
    progress: bool,
    unit_fn: Callable[..., pd.DataFrame],
) -> pd.DataFrame:
    """Run ``units`` ((trial, method) pairs) as Ray tasks; rows in the order of ``units``.

    ``unit_fn(evaluator, cfg, trial, prev, **common)`` runs one unit
    (:func:`jaxfair.bo.study.run_unit`; a module-level function, pickled by reference).

    Starts a local Ray runtime with ``workers`` CPUs (shut down afterwards) unless Ray is
    already initialised or ``ray_address`` names a cluster to join.
    """
    import pandas as pd

    from jaxfair.utils.progress import progress_bar as tqdm

    try:
        import ray
    except ImportError as exc:
        raise ValueError("workers: running units in parallel needs Ray: pip install 'jaxfair[distributed]'") from exc
    started = False
    fate = _FateSharing()  # before ray.init: the driver's other children are not Ray's
    if not ray.is_initialized():
        env = {"env_vars": worker_env()}
        if ray_address is None:
            reap_leftovers()
            ray.init(num_cpus=workers, include_dashboard=False, runtime_env=env, log_to_driver=False)
            fate.start(ray)
        else:
            ray.init(address=ray_address, include_dashboard=False, runtime_env=env, log_to_driver=False)
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_unit_task)
        scenario_ref = ray.put(scenario)
        pending = {}
        for i, (t, m) in enumerate(units):
            ref = task.remote(
                unit_fn, scenario_ref, evaluator_kwargs, configs[m], t, done.get((m, t)), common, torch_threads
            )
            pending[ref] = i
        results: list[pd.DataFrame | None] = [None] * len(units)
        bar = tqdm(
            total=len(units),
            desc=f"bo {common['scenario_name']} ({workers} workers)",
            disable=not progress,
            unit="unit",
        )
        waiting = list(pending)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            results[pending[ready[0]]] = ray.get(ready[0])
            fate.update()  # workers and agents started since
            bar.update(1)
        bar.close()
    finally:
        if started:
            ray.shutdown()
            fate.stop()
    return pd.concat(results, ignore_index=True)


def _watch(record: str) -> None:
    """Watchdog: block until the driver's pipe closes (the driver ended), then reap its record."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C goes to the driver, which shuts Ray down
    try:
        sys.stdin.buffer.read()
    except OSError:
        pass
    _reap(Path(record))


if __name__ == "__main__" and len(sys.argv) == 3 and sys.argv[1] == "--reap-after":
    _watch(sys.argv[2])
