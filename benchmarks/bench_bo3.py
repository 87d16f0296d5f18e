"""Slates and providers (issue #17): 3-objective Fair EHVI proposal timing and the MovieLens trade-off.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_bo3.py timing [--iterations 10 --trials 2]
    PYTHONPATH=. .venv/bin/python benchmarks/bench_bo3.py tradeoff [--scenario movielens --slate 10]

``timing``: the same small study (toy with a biased minority provider, slate k = 3) run with
two objectives (utility, DER) and with three (+ provider DER); per method the median GP-fit
and acquisition seconds over every proposal of the study. The 2-objective ``fair-ehvi`` is
the baseline measured in the same run (report ratios: the machine is shared and loaded).
Writes ``benchmarks/results/bo3_timing.json``.

``tradeoff``: viewer DER × provider DER at slate k over 101 directions α = (w, 1 − w), on
``--reps`` independent batches of ``--users`` users; mean and 95 % t-interval over batches
per α. Writes ``benchmarks/results/slates_<scenario>_tradeoff.{csv,json}`` and
``docs/figures/slates_<scenario>_tradeoff.png``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent


def _machine() -> dict:
    import torch

    return {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_avg_1m": os.getloadavg()[0],
        "note": "2-core machine shared with other engineers' jobs: compare ratios within this run",
    }


def timing(trials: int, iterations: int) -> dict:
    from jaxfair.bo.study import run_study

    common = dict(
        trials=trials,
        iterations=iterations,
        n_init=5,
        users_per_eval=2000,
        exact_users=5000,
        progress=False,
        slate=3,
        scenario_options=dict(provider_bias=1.5),
    )
    out = {"study": {k: v for k, v in common.items() if k != "progress"}, "cases": []}
    for objectives, methods in (("utility,der", "fair-ehvi"), ("utility,der,provider_der", "fair-ehvi,parego")):
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            rows = run_study("toy", methods, objectives=objectives, **common)
        wall = time.perf_counter() - t0
        bo = rows[rows["phase"] == "bo"]
        for m, g in bo.groupby("method"):
            total = g["t_fit"] + g["t_acq"]
            out["cases"].append(
                dict(
                    objectives=objectives,
                    method=m,
                    proposals=len(g),
                    median_fit_s=float(g["t_fit"].median()),
                    median_acq_s=float(g["t_acq"].median()),
                    median_proposal_s=float(total.median()),
                    p90_proposal_s=float(total.quantile(0.9)),
                    median_batch=float(g["n_batch"].median()),
                    study_wall_s=wall,
                )
            )
    base = next(c for c in out["cases"] if c["objectives"] == "utility,der" and c["method"] == "fair-ehvi")
    for c in out["cases"]:
        c["acq_ratio_vs_2obj_fair_ehvi"] = c["median_acq_s"] / base["median_acq_s"]
        c["proposal_ratio_vs_2obj_fair_ehvi"] = c["median_proposal_s"] / base["median_proposal_s"]
    out["machine"] = _machine()
    return out


def tradeoff(scenario: str, slate: int, users: int, reps: int, points: int) -> dict:
    import jax
    import pandas as pd
    from scipy import stats

    from jaxfair import scenarios
    from jaxfair.evaluate import evaluate

    sc = scenarios.load(scenario)
    w = np.linspace(0.0, 1.0, points)
    alphas = np.stack([w, 1.0 - w], 1)
    runs = {k: [] for k in ("utility", "der", "provider_der", "exposure_tail", "merit_tail")}
    t0 = time.perf_counter()
    for r in range(reps):
        batch = sc.sample(jax.random.PRNGKey(1000 + r), users)
        ev = evaluate(alphas, batch, sc.prefs, slate=slate, position_weights="dcg", n_item_groups=sc.n_item_groups)
        runs["utility"].append(ev.utility)
        runs["der"].append(ev.der)
        runs["provider_der"].append(ev.provider_der)
        runs["exposure_tail"].append(ev.exposure_share[:, -1])
        runs["merit_tail"].append(np.full(points, ev.merit_share[-1]))
    wall = time.perf_counter() - t0
    tq = stats.t.ppf(0.975, reps - 1)
    frame = {"w_label0": w}
    for k, v in runs.items():
        v = np.asarray(v, np.float64)
        frame[f"{k}_mean"] = v.mean(0)
        frame[f"{k}_ci95"] = tq * v.std(0, ddof=1) / np.sqrt(reps)
    df = pd.DataFrame(frame)
    key = {}
    for name, col in (
        ("max_utility", "utility_mean"),
        ("max_viewer_der", "der_mean"),
        ("max_provider_der", "provider_der_mean"),
    ):
        i = int(df[col].idxmax())
        key[name] = {c: float(df.loc[i, c]) for c in df.columns}
    # Correlation of the two fairness objectives along the α direction (the "interaction").
    rho = float(stats.spearmanr(df["der_mean"], df["provider_der_mean"]).statistic)
    out = dict(
        scenario=scenario,
        slate=slate,
        position_weights="dcg",
        users=users,
        reps=reps,
        points=points,
        item_groups=list(sc.item_group_names),
        prefs=np.asarray(sc.prefs).tolist(),
        label_names=list(sc.label_names),
        key_points=key,
        spearman_viewer_vs_provider_der=rho,
        wall_s=wall,
        machine=_machine(),
    )
    res = ROOT / "results"
    df.to_csv(res / f"slates_{scenario}_tradeoff.csv", index=False)
    _figure(df, sc, slate, users, reps, ROOT.parent / "docs" / "figures" / f"slates_{scenario}_tradeoff.png")
    return out


def _figure(df, sc, slate, users, reps, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.6))
    ax = axes[0]
    w = df["w_label0"]
    for col, label, c in (
        ("der", "viewer DER (user groups)", "C0"),
        ("provider_der", "provider DER (provider groups)", "C1"),
    ):
        ax.plot(w, df[f"{col}_mean"], color=c, label=label)
        ax.fill_between(
            w, df[f"{col}_mean"] - df[f"{col}_ci95"], df[f"{col}_mean"] + df[f"{col}_ci95"], color=c, alpha=0.25
        )
    ax.set_xlabel(f"weight on {sc.label_names[0]!r} (α = (w, 1 − w))")
    ax.set_ylabel("DER (1 = fair)")
    # Below the axes: inside, any corner covers a curve (viewer DER starts low at w = 0).
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)
    ax.set_title(f"fairness along α, slate k = {slate} (dcg)")
    ax = axes[1]
    pts = ax.scatter(df["der_mean"], df["provider_der_mean"], c=w, cmap="viridis", s=14)
    ax.errorbar(
        df["der_mean"],
        df["provider_der_mean"],
        xerr=df["der_ci95"],
        yerr=df["provider_der_ci95"],
        fmt="none",
        ecolor="0.6",
        elinewidth=0.6,
        zorder=0,
    )
    ax.set_xlabel("viewer DER")
    ax.set_ylabel("provider DER")
    ax.set_title("viewer × provider fairness trade-off")
    fig.colorbar(pts, ax=ax, label="w (weight on label 0)")
    fig.suptitle(f"{sc.title}: {users:,} users × {reps} batches, mean ± 95 % CI over batches")
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("timing")
    t.add_argument("--trials", type=int, default=2)
    t.add_argument("--iterations", type=int, default=10)
    d = sub.add_parser("tradeoff")
    d.add_argument("--scenario", default="movielens")
    d.add_argument("--slate", type=int, default=10)
    d.add_argument("--users", type=int, default=20_000)
    d.add_argument("--reps", type=int, default=5)
    d.add_argument("--points", type=int, default=101)
    args = ap.parse_args()
    res = ROOT / "results"
    res.mkdir(exist_ok=True)
    if args.cmd == "timing":
        out = timing(args.trials, args.iterations)
        path = res / "bo3_timing.json"
    else:
        out = tradeoff(args.scenario, args.slate, args.users, args.reps, args.points)
        path = res / f"slates_{args.scenario}_tradeoff.json"
    path.write_text(json.dumps(out, indent=2))
    print(json.dumps(out, indent=2)[:3000])
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
