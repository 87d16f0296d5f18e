"""The paper's protocol: trials × iterations of each method, paired by trial, resumable.

The study directory ``out/`` holds ``study.json`` (the configuration, checked on resume:
:mod:`jaxfair.bo.config`), ``rows/`` and ``rows.csv`` (one row per evaluation, written
atomically: :mod:`jaxfair.bo.rows`) and, while a study runs, its lock (:mod:`jaxfair.bo.lock`).

Every random stream is derived from ``(seed, trial, method, evaluation)``: the user batch
of evaluation e in trial t is the same for every method (common random numbers, paired
comparison), the initial design depends on (seed, trial) only, and each proposal seeds
torch and its QMC sampler from (seed, trial, method, e). A resumed study therefore
rebuilds exactly the state an uninterrupted one had; only wall-time columns differ.
"""

from __future__ import annotations

import contextlib
import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from jaxfair.bo.config import LOCATION_OPTIONS, check_or_write_config, evaluation_record, scenario_identity
from jaxfair.bo.evaluator import Evaluator, parse_objectives
from jaxfair.bo.lock import StudyLock
from jaxfair.bo.methods import METHODS, MethodConfig, propose
from jaxfair.bo.rows import CorruptRowsWarning, RowNames, load_rows, load_unit_rows, unit_file, write_rows
from jaxfair.bo.trial import _trial_reference, derive_seed, initial_design
from jaxfair.named_prefs import prefs_record
from jaxfair.utils.progress import progress_bar as tqdm

__all__ = [
    "CorruptRowsWarning",
    "run_study",
    "load_rows",
    "load_unit_rows",
    "run_unit",
    "TIMING_COLUMNS",
]

#: Columns that measure wall time (differ between otherwise identical runs).
TIMING_COLUMNS = ("t_fit", "t_acq", "t_eval", "t_exact")


def _parse_methods(methods) -> list[str]:
    if isinstance(methods, str):
        methods = [m.strip() for m in methods.split(",") if m.strip()]
    methods = list(methods)
    if not methods:
        raise ValueError("methods: expected at least one method")
    for m in methods:
        if m not in METHODS:
            raise ValueError(f"methods: unknown method {m!r}; known: {', '.join(METHODS)}")
    if len(set(methods)) != len(methods):
        raise ValueError(f"methods: duplicates in {methods}")
    return methods


def _check_int(name: str, v: Any, lo: int) -> int:
    if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < lo:
        raise ValueError(f"{name}: expected an int >= {lo}, got {v!r}")
    return int(v)


def run_study(
    scenario: Any,
    methods: Sequence[str] | str = ("random", "ei", "fair-ehvi"),
    *,
    trials: int = 20,
    iterations: int = 20,
    n_init: int = 5,
    users_per_eval: int = 2000,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    method_options: dict[str, dict] | None = None,
    space: str = "direction",
    exact_users: int = 100_000,
    scenario_seed: int = 0,
    scenario_options: dict | None = None,
    progress: bool = True,
    torch_threads: int | None = 1,
    workers: int = 1,
    ray_address: str | None = None,
    objectives: Sequence[str] | str = ("utility", "der"),
    slate: int = 1,
    position_weights: Any = "dcg",
    horizon: int | None = None,
    prefs_set: Any = None,
    offpolicy: dict | None = None,
) -> pd.DataFrame:
    """Run (or resume) a BO study; return the tidy rows (one per evaluation).

    Args:
      scenario: a registered scenario name or a :class:`~jaxfair.scenarios.Scenario`; an impression
        log (:class:`~jaxfair.scenarios.impressions.ImpressionScenario`) is studied off-policy
        (:class:`~jaxfair.bo.offpolicy.OffPolicyEvaluator`; ``offpolicy``: its estimator options
        ``estimator``, ``clip``, ``min_ess``, ``p_min``, ``mc``), its search kept inside the identified region.
      methods: names from :data:`jaxfair.bo.methods.METHODS` (list or comma-separated).
      trials, iterations: paper protocol 20 × 20; each trial has ``n_init`` initial
        evaluations (uniform random, shared by all methods) then ``iterations`` proposals.
      users_per_eval: users per simulated online test (noise level).
      seed: root seed of every stream (see module docstring).
      out: directory for incremental, resumable results (None: keep in memory only).
      method_options: ``{method: {option: value}}`` for :class:`MethodConfig`.
      space: ``"direction"`` (default) or ``"box"``.
      exact_users: size of the exact-value batch (new users of a generated scenario, sessions resampled
        from a pool or a log) for the noise-free ``*_exact`` columns (a replay of logged
        sessions ignores it: its exact value is every logged session once, while each online
        test draws ``users_per_eval`` logged sessions with replacement, a resample of the logs).
      scenario_seed, scenario_options: passed to ``scenarios.load`` when ``scenario`` is a name.
      progress: show a tqdm bar.
      torch_threads: torch intra-op threads during the study (restored afterwards; None =
        leave as is). Default 1: the GP matrices are tiny (≤ ~50 points), and on a 2-core
        machine two torch threads competing with JAX/other work made a GP fit ~5× slower.
      workers: run the independent (method, trial) units on this many Ray workers
        (:mod:`jaxfair.bo.parallel`; 1 = in this process, no Ray). Rows are identical
        whatever the number: every unit derives all its random streams from the seed.
      ray_address: connect to this Ray cluster (e.g. ``"auto"``) instead of starting a
        local one with ``workers`` CPUs; the output directory must be on a filesystem the
        workers share.
      objectives: ``("utility", "der")`` (default) or ``("utility", "der", "provider_der")``
        (three objectives, SPEC §7; adds the columns provider_der, provider_der_exact and
        ref_provider_der); slate, position_weights: slate size k and position weights of every
        evaluation (:class:`~jaxfair.bo.evaluator.Evaluator`). Recorded in ``study.json`` only
        when not the defaults, so studies written before these options still resume.
      horizon: T periods: evaluate each α's long-run (utility, DER) over T periods of
        retention dynamics (:mod:`jaxfair.dynamics.blackbox`) instead of one session.
      prefs_set: a :class:`~jaxfair.preferences.PrefSet` (bound to the scenario's groups and labels
        by name), or a spec ``"dirichlet:C[:Q]"`` / ``"box:D[:Q]"`` / ``"file:PATH"`` built around the
        scenario's prefs. Needed by the robust objectives ``utility_q{q}`` / ``der_min``
        (:mod:`jaxfair.bo.objectives`), which then add their observed and ``*_exact`` columns;
        recorded in ``study.json`` (a resume with another set is refused).

    While it runs, ``out`` is locked (:mod:`jaxfair.bo.lock`): a second study on the same
    directory raises :class:`~jaxfair.bo.lock.StudyLockedError`. A damaged per-trial row
    file is moved aside and its unit run again (:func:`load_unit_rows`).

    Returns:
      DataFrame with columns scenario, method, trial, eval (0-based within the trial),
      iteration (0 for the initial design, 1.. for proposals), phase, x0.. (search space),
      alpha_<label> (weights), utility, der (observed, point prefs), utility_exact, der_exact,
      the robust objectives' columns (e.g. utility_q10, der_min and their ``_exact``),
      group_utility_<group>, group_utility_exact_<group> (:class:`~jaxfair.bo.rows.RowNames`),
      n_unserved, resamples, ref_utility, ref_der (the trial's hypervolume reference in the
      objectives' space: first and second objective), gamma, acq_value, n_batch, note and the
      wall times t_fit, t_acq, t_eval, t_exact (seconds).
    """
    methods = _parse_methods(methods)
    trials = _check_int("trials", trials, 1)
    iterations = _check_int("iterations", iterations, 0)
    n_init = _check_int("n_init", n_init, 2)
    users_per_eval = _check_int("users_per_eval", users_per_eval, 1)
    seed = _check_int("seed", seed, 0)
    method_options = dict(method_options or {})
    for m in method_options:
        if m not in methods:
            raise ValueError(f"method_options: method {m!r} is not in methods {methods}")
    configs = {m: MethodConfig.build(m, **method_options.get(m, {})) for m in methods}

    if isinstance(scenario, str):
        from jaxfair import scenarios

        scenario_name = scenario
        scenario = scenarios.load(scenario, seed=scenario_seed, **(scenario_options or {}))
    else:
        scenario_name = getattr(scenario, "name", type(scenario).__name__)
    objectives = parse_objectives(objectives)
    slate_kw = dict(objectives=objectives, slate=slate, position_weights=position_weights)
    hz = {} if horizon is None else {"horizon": horizon}  # absent from old configs: they stay resumable
    if isinstance(prefs_set, str):
        from jaxfair.preferences import PrefSet

        prefs_set = PrefSet.for_scenario(prefs_set, scenario, name="prefs_set")
    ps = {} if prefs_set is None else {"prefs_set": prefs_set}
    from jaxfair.scenarios.impressions import ImpressionScenario

    if isinstance(scenario, ImpressionScenario):  # SPEC §10: off-policy objectives (jaxfair.bo.offpolicy)
        from jaxfair.bo.offpolicy import OffPolicyEvaluator

        ev_kwargs = dict(seed=seed, space=space, **(offpolicy or {}), **slate_kw, **hz, **ps)
        ev = OffPolicyEvaluator(scenario, **ev_kwargs)
    elif offpolicy is not None:
        raise ValueError("offpolicy: only for a scenario that is an impression log")
    else:
        ev_kwargs = dict(users=users_per_eval, seed=seed, space=space, exact_users=exact_users, **slate_kw, **hz, **ps)
        ev = Evaluator(scenario, **ev_kwargs)
    if ev.prefs_set is not None:
        ps = {"prefs_set": ev.prefs_set}  # bound to the scenario's order: what the Ray workers get too

    # Where the raw data lives is not part of what the study is (the same data under another path).
    recorded = {k: v for k, v in (scenario_options or {}).items() if k not in LOCATION_OPTIONS}
    config = dict(
        scenario=scenario_name,
        scenario_seed=scenario_seed,
        scenario_options=recorded,
        prefs=np.asarray(scenario.prefs).tolist(),
        # The same rows, keyed by group and label: which row went to which group (SPEC §9).
        prefs_by_group=prefs_record(scenario.group_names, scenario.label_names, scenario.prefs),
        methods=methods,
        trials=trials,
        iterations=iterations,
        n_init=n_init,
        users_per_eval=users_per_eval,
        seed=seed,
        space=space,
        exact_users=exact_users,
        method_options={m: {k: v for k, v in vars(c).items() if k != "name"} for m, c in configs.items()},
        group_names=list(getattr(scenario, "group_names", [])),
        label_names=list(getattr(scenario, "label_names", [])),
        **hz,
    )
    config.update(scenario_identity(scenario))
    config.update(evaluation_record(scenario, ev, exact_users, objectives, position_weights))
    out_dir = Path(out) if out is not None else None
    if torch_threads is not None:
        _check_int("torch_threads", torch_threads, 1)
    workers = _check_int("workers", workers, 1)
    if ray_address is not None and (not isinstance(ray_address, str) or not ray_address):
        raise ValueError(
            f"ray_address: expected a Ray address string (e.g. 'auto', 'ray://host:10001'), got {ray_address!r}"
        )
    units = [(t, m) for t in range(trials) for m in methods]  # the in-process order
    with StudyLock(out_dir) if out_dir is not None else contextlib.nullcontext():
        done: dict[tuple[str, int], pd.DataFrame] = {}
        if out_dir is not None:
            check_or_write_config(out_dir, config)
            for t, m in units:
                prev = load_unit_rows(
                    out_dir / "rows" / unit_file(m, t), m, t, n_init + iterations, ev.dim, objectives=objectives
                )
                if prev is not None:
                    done[(m, t)] = prev
        names = RowNames.build(scenario.score_names, scenario.group_names, done.values(), scenario.label_names)
        common = dict(
            scenario_name=scenario_name, iterations=iterations, n_init=n_init, seed=seed, out_dir=out_dir, names=names
        )
        if workers == 1 and ray_address is None:
            prev_threads = torch.get_num_threads()
            try:
                if torch_threads is not None:
                    torch.set_num_threads(torch_threads)
                rows = _run_units(ev, configs, units, done, progress, **common)
            finally:
                torch.set_num_threads(prev_threads)
        else:
            from jaxfair.bo.parallel import run_units_on_ray

            rows = run_units_on_ray(
                scenario,
                {**ev_kwargs, **ps},  # each worker rebuilds the same evaluator (the set bound as above)
                configs,
                units,
                done,
                common,
                workers=workers,
                ray_address=ray_address,
                torch_threads=torch_threads or 1,
                progress=progress,
                unit_fn=run_unit,
            )
        if out_dir is not None:
            write_rows(rows, out_dir / "rows.csv")
    return rows


def run_unit(
    ev: Evaluator,
    cfg: MethodConfig,
    trial: int,
    prev: pd.DataFrame | None,
    *,
    scenario_name: str,
    iterations: int,
    n_init: int,
    seed: int,
    out_dir: Path | None,
    exact_cache: dict | None = None,
    bar=None,
    names: RowNames | None = None,
) -> pd.DataFrame:
    """Run (or finish) one independent (method, trial) unit; its rows."""
    X_init = initial_design(ev, seed, trial, n_init)
    if names is None:
        names = RowNames.build(
            ev.scenario.score_names, ev.scenario.group_names, [] if prev is None else [prev], ev.scenario.label_names
        )
    return _run_one(
        ev,
        cfg,
        scenario_name,
        trial,
        X_init,
        iterations,
        seed,
        prev,
        out_dir,
        {} if exact_cache is None else exact_cache,
        bar,
        names,
    )


def _run_units(ev, configs, units, done, progress, *, scenario_name, iterations, n_init, seed, out_dir, names):
    exact_cache: dict[bytes, Any] = {}
    bar = tqdm(total=len(units) * (n_init + iterations), desc=f"bo {scenario_name}", disable=not progress, unit="eval")
    frames = []
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*[Ss]parse invariant.*")
        for t, m in units:
            frames.append(
                run_unit(
                    ev,
                    configs[m],
                    t,
                    done.get((m, t)),
                    scenario_name=scenario_name,
                    iterations=iterations,
                    n_init=n_init,
                    seed=seed,
                    out_dir=out_dir,
                    exact_cache=exact_cache,
                    bar=bar,
                    names=names,
                )
            )
    bar.close()
    return pd.concat(frames, ignore_index=True)


def _run_one(
    ev: Evaluator,
    cfg: MethodConfig,
    scenario_name: str,
    trial: int,
    X_init: torch.Tensor,
    iterations: int,
    seed: int,
    prev: pd.DataFrame | None,
    out_dir: Path | None,
    exact_cache: dict,
    bar,
    names: RowNames,
) -> pd.DataFrame:
    n_init = X_init.shape[0]
    n_total = n_init + iterations
    xcols = [f"x{i}" for i in range(ev.dim)]
    rows: list[dict] = [] if prev is None else prev.to_dict("records")
    if len(rows) > n_total:
        raise ValueError(
            f"out: {len(rows)} rows for ({cfg.name}, trial {trial}) but the study has {n_total} evaluations"
        )
    for e, r in enumerate(rows):
        if r["eval"] != e:
            raise ValueError(f"out: rows of ({cfg.name}, trial {trial}) are not evaluations 0..{len(rows) - 1}")
    if bar is not None:
        bar.update(len(rows))
    X = torch.tensor([[r[c] for c in xcols] for r in rows], dtype=torch.float64).reshape(-1, ev.dim)
    objs = tuple(getattr(ev, "objectives", ("utility", "der")))
    three = len(objs) == 3
    Y = torch.tensor([[r[o] for o in objs] for r in rows], dtype=torch.float64).reshape(-1, len(objs))
    ref = gamma = None
    if len(rows) >= n_init:
        ref, gamma = _trial_reference(Y[:n_init])

    for e in range(len(rows), n_total):
        if e < n_init:
            x_next, prop = X_init[e : e + 1], None
        else:
            prop = propose(
                cfg,
                X,
                Y,
                ev.bounds,
                seed=derive_seed(seed, trial, cfg.name, e),
                ref_point=torch.as_tensor(ref, dtype=torch.float64),
                gamma=gamma,
            )
            x_next = prop.X
        t0 = time.perf_counter()
        res = ev.evaluate(x_next, key=ev.key_for(trial, e))
        t_eval = time.perf_counter() - t0
        if res.x_evaluated is not None:  # moved into an impression log's identified region: record what was evaluated
            x_next = res.x_evaluated.reshape(x_next.shape)
        t0 = time.perf_counter()
        ckey = x_next.numpy().tobytes()
        if ckey not in exact_cache:
            exact_cache[ckey] = ev.exact(x_next)
        ex = exact_cache[ckey]
        t_exact = time.perf_counter() - t0
        y = res.Y
        if not torch.isfinite(y).all():  # the evaluator resamples empty groups; anything else is a bug
            raise ValueError(f"Y: non-finite observation {y.tolist()} at trial {trial}, evaluation {e}")
        X = torch.cat([X, x_next])
        Y = torch.cat([Y, y])
        if e == n_init - 1:
            ref, gamma = _trial_reference(Y[:n_init])
        row = dict(
            scenario=scenario_name,
            method=cfg.name,
            trial=trial,
            eval=e,
            iteration=max(0, e - n_init + 1),
            phase="init" if e < n_init else "bo",
        )
        row.update({c: float(x_next[0, i]) for i, c in enumerate(xcols)})
        row.update({c: float(a) for c, a in zip(names.alphas, res.alphas[0], strict=True)})
        # The point values always; then each objective under its own name (the same value for
        # utility/der/provider_der, the set's quantile / minimum for the robust ones).
        row.update(
            utility=float(res.utility[0]),
            der=float(res.der[0]),
            utility_exact=float(ex.utility[0]),
            der_exact=float(ex.der[0]),
        )
        for i, o in enumerate(objs):
            row.update({o: float(y[0, i]), f"{o}_exact": float(ex.value(o)[0])})
        row.update({c: float(v) for c, v in zip(names.group_utility, res.group_utility[0], strict=True)})
        row.update({c: float(v) for c, v in zip(names.group_utility_exact, ex.group_utility[0], strict=True)})
        row.update(
            n_unserved=res.n_unserved,
            resamples=res.resamples,
            ref_utility=float(ref[0]) if ref is not None else float("nan"),
            ref_der=float(ref[1]) if ref is not None else float("nan"),
            **({"ref_provider_der": float(ref[2]) if ref is not None else float("nan")} if three else {}),
            gamma=float(gamma) if gamma is not None else float("nan"),
            acq_value=prop.acq_value if prop else float("nan"),
            n_batch=prop.n_batch if prop else 0,
            note="; ".join(n for n in (prop.note if prop else "", res.note) if n),
            t_fit=prop.t_fit if prop else 0.0,
            t_acq=prop.t_acq if prop else 0.0,
            t_eval=t_eval,
            t_exact=t_exact,
        )
        rows.append(row)
        if out_dir is not None:
            write_rows(pd.DataFrame(rows), out_dir / "rows" / unit_file(cfg.name, trial))
        if bar is not None:
            bar.update(1)
    df = pd.DataFrame(rows)
    # Rows written before the reference was known (initial design) get it filled in memory.
    df["ref_utility"], df["ref_der"], df["gamma"] = float(ref[0]), float(ref[1]), float(gamma)
    if three:
        df["ref_provider_der"] = float(ref[2])
    # An all-empty note column is read back as float NaN; cast before filling.
    df["note"] = df["note"].astype(object).fillna("").astype(str)
    return df
