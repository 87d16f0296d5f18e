"""BO benchmark (issue #4): evaluator share of an iteration, full-protocol wall time, results.

    .venv/bin/python benchmarks/bench_bo.py --scenarios toy [--trials 20 --iterations 20]

Per scenario: runs ``run_study`` (random, ei, fair-ehvi; 20 trials × 20 iterations by
default) into ``results/bench-bo-<scenario>`` (resumable; big rows stay in git-ignored
``results/``), reports it, and writes small summaries to ``benchmarks/results/``:
``bo_<scenario>.json`` (timings, evaluator share, medians, p-values) and
``bo_<scenario>_summary.csv`` / ``bo_<scenario>_wilcoxon.csv``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch


def evaluator_micro(scenario, users: int, reps: int = 50) -> dict:
    from jaxfair.bo import Evaluator

    ev = Evaluator(scenario, users=users)
    X = torch.tensor([[0.5]], dtype=torch.float64)
    ev(X)  # compile
    t = []
    for i in range(reps):
        t0 = time.perf_counter()
        ev(X, key=ev.key_for(10_000 + i))
        t.append(time.perf_counter() - t0)
    return {"users": users, "median_s": float(np.median(t)), "p90_s": float(np.quantile(t, 0.9))}


def acquisition_timing(scenario, n_obs: int = 15, seed: int = 0, timeout: float = 120.0) -> list[dict]:
    """Time one fair-ehvi proposal (fit + acquisition) per optimiser on ``n_obs`` real observations."""
    import warnings

    from jaxfair.bo import Evaluator
    from jaxfair.bo.methods import MethodConfig, propose
    from jaxfair.bo.pareto import reference_point

    warnings.filterwarnings("ignore")
    torch.set_num_threads(1)
    ev = Evaluator(scenario, users=2000, seed=seed)
    X = torch.rand(n_obs, ev.dim, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    Y = ev(X)
    ref = torch.from_numpy(reference_point(Y.numpy()))
    cases = [
        ("grid greedy (default)", dict()),
        ("grid greedy, legacy qEHVI flag", dict(legacy=True)),
        ("continuous q=1", dict(optimizer="continuous", q=1)),
        ("continuous q=2", dict(optimizer="continuous", q=2)),
        ("continuous q=4", dict(optimizer="continuous", q=4)),
        (
            "continuous q=10 sequential, 4 restarts/128 raw, capped",
            dict(optimizer="continuous", q=10, sequential=True, num_restarts=4, raw_samples=128, timeout_sec=timeout),
        ),
    ]
    out = []
    for label, opts in cases:
        cfg = MethodConfig.build("fair-ehvi", **opts)
        t0 = time.perf_counter()
        p = propose(cfg, X, Y, ev.bounds, seed=seed, ref_point=ref)
        out.append(
            {
                "case": label,
                "fit_s": p.t_fit,
                "acq_s": p.t_acq,
                "total_s": time.perf_counter() - t0,
                "q_returned": p.n_batch,
                "hit_timeout": bool(opts.get("timeout_sec") and p.t_acq >= timeout),
            }
        )
        print(out[-1], flush=True)
    nehvi = MethodConfig.build("nehvi")
    t0 = time.perf_counter()
    p = propose(nehvi, X, Y, ev.bounds, seed=seed, ref_point=ref)
    out.append(
        {
            "case": "nehvi grid greedy (optimize_acqf_discrete) q=10",
            "fit_s": p.t_fit,
            "acq_s": p.t_acq,
            "total_s": time.perf_counter() - t0,
            "q_returned": p.n_batch,
            "hit_timeout": False,
        }
    )
    print(out[-1], flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", default="toy", help="comma-separated; 'all' = every available scenario")
    ap.add_argument("--methods", default="random,ei,fair-ehvi")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--iterations", type=int, default=20)
    ap.add_argument("--n-init", type=int, default=5)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--acq-timing", action="store_true", help="only time the acquisition optimisers")
    ap.add_argument("--rows-dir", default="results", help="where the per-row study output goes (git-ignored)")
    args = ap.parse_args()

    from jaxfair import scenarios
    from jaxfair.bo import report, run_study

    names = scenarios.available() if args.scenarios == "all" else args.scenarios.split(",")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.acq_timing:
        res = acquisition_timing(scenarios.load(names[0]))
        (out / f"bo_acq_timing_{names[0]}.json").write_text(
            json.dumps(
                {
                    "scenario": names[0],
                    "n_obs": 15,
                    "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
                    "cases": res,
                },
                indent=2,
            )
        )
        return 0
    for name in names:
        t0 = time.perf_counter()
        sc = scenarios.load(name)
        t_load = time.perf_counter() - t0
        micro = evaluator_micro(sc, args.users)
        study_dir = Path(args.rows_dir) / f"bench-bo-{name}"
        t0 = time.perf_counter()
        rows = run_study(
            sc,
            args.methods,
            trials=args.trials,
            iterations=args.iterations,
            n_init=args.n_init,
            users_per_eval=args.users,
            seed=args.seed,
            out=study_dir,
        )
        wall = time.perf_counter() - t0
        rep = report(study_dir)
        bo = rows[rows["phase"] == "bo"]
        per_method = {}
        for m, g in bo.groupby("method"):
            it = g["t_fit"] + g["t_acq"] + g["t_eval"]
            per_method[m] = {
                "mean_fit_s": float(g["t_fit"].mean()),
                "mean_acq_s": float(g["t_acq"].mean()),
                "mean_eval_s": float(g["t_eval"].mean()),
                "mean_iteration_s": float(it.mean()),
                "evaluator_share": float(g["t_eval"].sum() / it.sum()),
            }
        model_iters = bo[bo["method"] != "random"]
        share_all = float(model_iters["t_eval"].sum() / (model_iters[["t_fit", "t_acq", "t_eval"]].sum().sum()))
        summ, wil = rep["summary"], rep["wilcoxon"]
        summ.to_csv(out / f"bo_{name}_summary.csv", index=False)
        wil.to_csv(out / f"bo_{name}_wilcoxon.csv", index=False)
        result = {
            "scenario": name,
            "title": getattr(sc, "title", name),
            "protocol": {
                "methods": args.methods,
                "trials": args.trials,
                "iterations": args.iterations,
                "n_init": args.n_init,
                "users_per_eval": args.users,
                "seed": args.seed,
            },
            "machine": {
                "platform": platform.platform(),
                "cpus": os.cpu_count(),
                "torch_threads": torch.get_num_threads(),
                "processor": platform.processor(),
            },
            "scenario_load_s": t_load,
            "study_wall_s": wall,
            "note": "wall time includes resumed work only if the study directory was empty at start",
            "evaluator_call": micro,
            "per_method": per_method,
            "evaluator_share_of_model_iterations": share_all,
            "summary": summ.to_dict("records"),
            "wilcoxon": wil.to_dict("records"),
        }
        (out / f"bo_{name}.json").write_text(json.dumps(result, indent=2))
        print(
            json.dumps(
                {
                    k: result[k]
                    for k in (
                        "scenario",
                        "study_wall_s",
                        "evaluator_call",
                        "per_method",
                        "evaluator_share_of_model_iterations",
                    )
                },
                indent=2,
            )
        )
        print(summ.to_string(index=False))
        print(wil[["comparison", "metric", "median_diff", "p_value"]].to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
