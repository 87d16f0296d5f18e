"""Fan a study's independent (method, trial) units out over Ray workers.

Each unit rebuilds the same :class:`~jaxfair.bo.evaluator.Evaluator` (same seed, so the
same user batches and held-out batch) and runs the ``unit_fn`` it is handed —
:func:`jaxfair.bo.study.run_unit`, passed in by the study so that this module does not
import the study back (no import circle) —, which
derives every random stream from ``(seed, trial, method, evaluation)``: a unit's rows do
not depend on which worker runs it or on how many there are. Workers write their unit's
row file after every evaluation exactly as the in-process path does, so a killed study
resumes from the files. Every worker is limited to one JAX/XLA and one torch intra-op
thread, so N workers use about N cores and do not oversubscribe the machine.

Ray is an optional dependency (``pip install 'jaxfair[distributed]'``).
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import pandas as pd
from tqdm.auto import tqdm

__all__ = ["run_units_on_ray", "worker_env"]


def worker_env() -> dict[str, str]:
    """Environment for Ray workers: one XLA CPU thread pool thread, one OpenMP/MKL thread."""
    xla = os.environ.get("XLA_FLAGS", "")
    extra = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    return {"XLA_FLAGS": f"{xla} {extra}".strip(), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
            "OPENBLAS_NUM_THREADS": "1", "JAX_PLATFORMS": os.environ.get("JAX_PLATFORMS", "cpu")}


def _unit_task(unit_fn, scenario, evaluator_kwargs: dict, cfg, trial: int, prev, common: dict, torch_threads: int):
    import torch

    from jaxfair.bo.evaluator import Evaluator

    torch.set_num_threads(torch_threads)
    ev = Evaluator(scenario, **evaluator_kwargs)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]parse invariant.*")
        return unit_fn(ev, cfg, trial, prev, **common)


def run_units_on_ray(scenario: Any, evaluator_kwargs: dict, configs: dict, units: list[tuple[int, str]],
                     done: dict, common: dict, *, workers: int, ray_address: str | None, torch_threads: int,
                     progress: bool, unit_fn: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    """Run ``units`` ((trial, method) pairs) as Ray tasks; rows in the order of ``units``.

    ``unit_fn(evaluator, cfg, trial, prev, **common)`` runs one unit
    (:func:`jaxfair.bo.study.run_unit`; a module-level function, pickled by reference).

    Starts a local Ray runtime with ``workers`` CPUs (shut down afterwards) unless Ray is
    already initialised or ``ray_address`` names a cluster to join.
    """
    try:
        import ray
    except ImportError as exc:
        raise ValueError("workers: running units in parallel needs Ray: pip install 'jaxfair[distributed]'") from exc
    started = False
    if not ray.is_initialized():
        env = {"env_vars": worker_env()}
        if ray_address is None:
            ray.init(num_cpus=workers, include_dashboard=False, runtime_env=env, log_to_driver=False)
        else:
            ray.init(address=ray_address, include_dashboard=False, runtime_env=env, log_to_driver=False)
        started = True
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(_unit_task)
        scenario_ref = ray.put(scenario)
        pending = {}
        for i, (t, m) in enumerate(units):
            ref = task.remote(unit_fn, scenario_ref, evaluator_kwargs, configs[m], t, done.get((m, t)), common,
                              torch_threads)
            pending[ref] = i
        results: list[pd.DataFrame | None] = [None] * len(units)
        bar = tqdm(total=len(units), desc=f"bo {common['scenario_name']} ({workers} workers)", disable=not progress,
                   unit="unit")
        waiting = list(pending)
        while waiting:
            ready, waiting = ray.wait(waiting, num_returns=1)
            results[pending[ready[0]]] = ray.get(ready[0])
            bar.update(1)
        bar.close()
    finally:
        if started:
            ray.shutdown()
    return pd.concat(results, ignore_index=True)
