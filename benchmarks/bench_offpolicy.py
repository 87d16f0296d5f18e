"""Off-policy evaluation on impression logs (issue #27, SPEC §10): speed, CI coverage, and how much to randomise.

Sections (``--only`` picks some; the default runs ``speed surface randomise``; ``coverage`` is its own,
longer run):

* ``speed`` — exact K = 2 propensities for 100k sessions × 20 candidates (goal ≤ 1 s on 2 cores) and
  Monte Carlo K = 3 with M = 4096 draws on the same sessions (goal ≤ 10 s); median of ``--repeats``
  runs after one warm-up call (compiles).
* ``surface`` — the goal's comparison: the off-policy surface (``compute_offpolicy_surface``: DR, 200
  bootstrap resamples by user, declared logging so propensities are computed, exact K = 2, ~48k sessions
  × 51 α, the log read as the command line reads it, no figures) against the full-information
  ``--replay`` surface of the same sessions (``compute_surface`` on their full labels, exact sweep,
  direction 53 points + 13 × 13 box, no figures), interleaved in one run after one warm-up call each
  (compiles excluded for both): goal ratio ≤ 2×. The bare kernels (``label_means`` against ``estimate``)
  are timed beside them, for context.
* ``randomise`` — "how much to randomise": D₀ = Dirichlet(C·a) for several C and log sizes N; the 95 %
  CI width of the global utility at the recommended α (DR, identified α only) against the utility
  the randomisation costs (the best α's exact utility minus what the randomised logging served,
  ``LogTruth.logging_value``); a table and ``docs/figures/impressions-randomise.png``.
* ``coverage`` — over ``--seeds`` seeds (default 200) of small toy logs: the share of 95 % CIs of IPS,
  SNIPS and DR that cover the truth (the population value, from 400k full-information sessions), at
  the logging centre and away from it; DM's bias when its outcome model is miscalibrated (the scores
  squashed or shifted and used as Ŷ as they are), beside DM and DR with the fitted calibration;
  ``docs/figures/impressions-coverage.png`` and ``impressions-dm-bias.png``.

The machine is a shared 2-core VM (other jobs ran at the same time): every time carries the load
average it was measured under; compare times within one run, not across runs.

Usage: ``python benchmarks/bench_offpolicy.py [--only speed surface randomise coverage] [--seeds 200]
[--out benchmarks/results] [--figures docs/figures]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd

import jaxfair as jf
from jaxfair.offpolicy import LoggingPolicy, OutcomeModel, estimate, fit_outcome_model, propensities, simulate_log
from jaxfair.offpolicy.bootstrap import user_multiplicities
from jaxfair.offpolicy.envelope import log_envelopes
from jaxfair.scenarios import load
from jaxfair.utils.atomic import atomic_write_text


def machine() -> dict:
    return {
        "platform": platform.platform(),
        "processor": platform.processor(),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "note": "shared 2-core VM: other jobs (five other sessions) used the same cores during the run",
    }


def timed(fn, repeats: int) -> dict:
    t0 = time.perf_counter()
    fn()  # warm-up: compiles
    first = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": statistics.median(times), "times_s": times, "first_s": first, "load_avg_1m": os.getloadavg()[0]}


def bench_speed(repeats: int) -> dict:
    out = {}
    sc2 = load("toy", seed=0, n_candidates=20)
    b2 = sc2.sample(jax.random.PRNGKey(1), 100_000)
    pol2 = LoggingPolicy.parse("dirichlet:5@0.5,0.5")
    r = timed(lambda: propensities(b2, pol2), repeats)
    out["exact_k2"] = dict(
        r, sessions=100_000, candidates=20, policy=str(pol2), goal_s=1.0, ratio_to_goal=r["median_s"] / 1.0
    )
    print(f"exact K=2 propensities, 100k x 20: {r['median_s']:.3f} s (goal 1 s; load {r['load_avg_1m']:.1f})")
    r = timed(lambda: propensities(b2, pol2, slate=3), repeats)
    out["exact_k2_slate3"] = dict(r, sessions=100_000, candidates=20, slate=3, policy=str(pol2))
    print(
        f"exact K=2 slate (k=3) propensities, 100k x 20: {r['median_s']:.2f} s (no goal; load {r['load_avg_1m']:.1f})"
    )
    sc3 = load("toy", seed=0, n_candidates=20, n_labels=3)
    b3 = sc3.sample(jax.random.PRNGKey(1), 100_000)
    pol3 = LoggingPolicy.parse("dirichlet:5@1,1,1")
    r = timed(lambda: propensities(b3, pol3, mc=4096), repeats)
    out["monte_carlo_k3"] = dict(
        r, sessions=100_000, candidates=20, policy=str(pol3), mc=4096, goal_s=10.0, ratio_to_goal=r["median_s"] / 10.0
    )
    print(
        f"Monte Carlo K=3 propensities, M=4096, 100k x 20: {r['median_s']:.2f} s "
        f"(goal 10 s; load {r['load_avg_1m']:.1f})"
    )
    return out


def replay_of(truth, scenario, name: str = "toy-full-information"):
    """The full-information ``--replay`` scenario of a simulated log's sessions (every candidate labelled,
    one logged user per session, the sessions in the log's order)."""
    from jaxfair.scenarios.replay import ReplayScenario

    b = truth.batch
    s, m, k = b.shape
    user = np.repeat(np.arange(s), m)
    return ReplayScenario(
        name=name,
        label_names=scenario.label_names,
        group_names=scenario.group_names,
        prefs=scenario.prefs,
        seed=0,
        scores=np.asarray(b.scores).reshape(-1, k),
        labels=np.asarray(b.labels).reshape(-1, k),
        mask=np.asarray(b.mask).reshape(-1),
        user=user,
        session=np.zeros_like(user),
        user_group=np.asarray(b.group),
        user_features=None,
        feature_names=(),
        options={"replay": True},
        info={},
    )


def bench_surface(repeats: int, n_sessions: int = 48_000) -> dict:
    """The goal's comparison (issue #27): the off-policy surface against the full-information replay surface
    of the same sessions, both warmed up first (compiles excluded from both), interleaved run by run."""
    from jaxfair.scenarios.impressions import ImpressionScenario
    from jaxfair.surface.compute import compute_surface
    from jaxfair.surface.offpolicy import compute_offpolicy_surface

    sc = load("toy", seed=0, n_candidates=20)
    pol = LoggingPolicy.parse("dirichlet:5@0.5,0.5")
    log, truth = simulate_log(sc, pol, n_sessions=n_sessions, seed=1)
    replay = replay_of(truth, sc)
    n_dir = 51
    w = np.linspace(0.0, 1.0, n_dir)
    grid = np.stack([w, 1.0 - w], axis=1)

    def fresh(n):
        # A new ImpressionLog object per call (same arrays): the declared D0's propensities are kept per log,
        # so a bare estimate on one log object would skip them after its first call.
        logs = iter([dataclasses.replace(log) for _ in range(n)])
        return lambda: next(logs)

    fresh_boot, fresh_plain = fresh(repeats + 1), fresh(repeats + 1)
    fresh_prop, fresh_walk, fresh_outcome, fresh_counts = (fresh(repeats + 1) for _ in range(4))

    def offpolicy(n_grid):
        # As the command line reads a log: the ImpressionLog is built (and the declared D0's propensities
        # computed for its check) inside the timed call, then the estimate and the tables.
        imp = ImpressionScenario.from_log(log, name="toy-log", prefs=sc.prefs, seed=0)
        imp.log = None
        return compute_offpolicy_surface(imp, n_grid=n_grid, estimator="dr", n_boot=200, seed=0)

    runs = {
        # --replay surface: the exact sweep (the default for K = 2), direction 4·13 + 1 = 53 points and the
        # 13 × 13 box, no figures; the sweep's cost hardly depends on the grid.
        "replay_surface_full_information": lambda: compute_surface(replay, n_grid=13),
        "offpolicy_surface_dr_boot200_51": lambda: offpolicy(n_dir),
        "offpolicy_surface_dr_boot200_53": lambda: offpolicy(53),  # the replay's own direction grid
        "label_means_full_information": lambda: jax.block_until_ready(jf.label_means(grid, truth.batch)),
        "estimate_dr_boot200": lambda: estimate(grid, fresh_boot(), estimator="dr", n_boot=200),
        "estimate_dr_no_bootstrap": lambda: estimate(grid, fresh_plain(), estimator="dr", n_boot=0),
        # stages of the estimate, each on its own (a fresh log object each: walks and users are kept per log)
        "stage_propensities_exact_k2": lambda: propensities(fresh_prop(), pol),  # the envelope walk included
        "stage_envelope_walk": lambda: log_envelopes(fresh_walk()),
        "stage_outcome_model_fit": lambda: fit_outcome_model(fresh_outcome(), key=jax.random.PRNGKey(0)),
        "stage_bootstrap_counts": lambda: user_multiplicities(jax.random.PRNGKey(0), fresh_counts(), 200),
    }
    first, times = {}, {name: [] for name in runs}
    for name, fn in runs.items():  # warm-up: compiles
        t0 = time.perf_counter()
        fn()
        first[name] = time.perf_counter() - t0
    loads = []
    for _ in range(repeats):  # interleaved, so both sides see the same load
        for name, fn in runs.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
        loads.append(os.getloadavg()[0])
    res = {
        n: {"median_s": statistics.median(t), "min_s": min(t), "times_s": t, "first_s": first[n]}
        for n, t in times.items()
    }
    full = res["replay_surface_full_information"]["median_s"]
    out = {
        "sessions": n_sessions,
        "candidates": 20,
        "alphas": n_dir,
        "logging": str(pol),
        "estimator": "dr",
        "n_boot": 200,
        "timing": "median of the repeats after one warm-up call each (compiles excluded for both sides), "
        "interleaved run by run in one process",
        "load_avg_1m_during": loads,
        "timings": res,
        "ratio_offpolicy_surface_to_replay_surface": res["offpolicy_surface_dr_boot200_51"]["median_s"] / full,
        "ratio_offpolicy_surface_53_to_replay_surface": res["offpolicy_surface_dr_boot200_53"]["median_s"] / full,
        "ratio_estimate_to_label_means": res["estimate_dr_boot200"]["median_s"]
        / res["label_means_full_information"]["median_s"],
        "goal_ratio": 2.0,
    }
    med = {n: r["median_s"] for n, r in res.items()}
    out["where_the_time_goes_s"] = {  # medians; differences of separately timed calls, so approximate
        "envelope_walk": med["stage_envelope_walk"],
        "propensities_from_the_walk": med["stage_propensities_exact_k2"] - med["stage_envelope_walk"],
        "outcome_model": med["stage_outcome_model_fit"],
        "serving_and_channel_sums": med["estimate_dr_no_bootstrap"]
        - med["stage_propensities_exact_k2"]
        - med["stage_outcome_model_fit"],
        "bootstrap_counts_and_sums": med["estimate_dr_boot200"] - med["estimate_dr_no_bootstrap"],
        "bootstrap_counts_alone": med["stage_bootstrap_counts"],
        "log_build_check_and_tables": med["offpolicy_surface_dr_boot200_51"] - med["estimate_dr_boot200"],
    }
    for name, r in res.items():
        print(f"{name}: {r['median_s']:.3f} s (min {r['min_s']:.3f}, first {r['first_s']:.1f} s)")
    print("where the time goes:", {n: round(v, 3) for n, v in out["where_the_time_goes_s"].items()})
    print(
        f"off-policy DR surface (200 resamples, 51 α) / full-information replay surface: "
        f"{out['ratio_offpolicy_surface_to_replay_surface']:.2f}x (goal 2x; load {statistics.mean(loads):.1f})"
    )
    return out


def bench_randomise(figures: Path, out_dir: Path, seeds: int = 5) -> dict:
    sc = load("toy", seed=0, n_candidates=20)
    w = np.linspace(0.0, 1.0, 21)
    grid = np.stack([w, 1.0 - w], axis=1)
    center = np.array([0.5, 0.5])
    rows = []
    for c in (2.0, 5.0, 20.0, 100.0):
        pol = LoggingPolicy("dirichlet", c, center)
        for n in (2_000, 10_000, 50_000):
            for seed in range(seeds):
                log, truth = simulate_log(sc, pol, n_sessions=n, seed=100 + seed)
                est = estimate(grid, log, estimator="dr", n_boot=200, key=jax.random.PRNGKey(seed))
                t = est.metrics(sc.prefs)
                counts = np.bincount(np.asarray(truth.batch.group), minlength=2).astype(float)
                share = counts / counts.sum()
                glob_truth = truth.truth(grid) @ share
                at_center = float(truth.truth(center[None])[0] @ share)
                served = float(truth.logging_value() @ share)
                ok = t["identified"].to_numpy()
                rec = int(np.nanargmax(np.where(ok, t["global_utility"].to_numpy(), np.nan))) if ok.any() else None
                width = t["global_utility_ci_high"] - t["global_utility_ci_low"]
                rows.append(
                    {
                        "C": c,
                        "N": n,
                        "seed": seed,
                        "identified_share": float(ok.mean()),
                        "recommended_w": np.nan if rec is None else float(w[rec]),
                        "ci_width": np.nan if rec is None else float(width[rec]),
                        "regret_of_recommended": np.nan if rec is None else float(glob_truth.max() - glob_truth[rec]),
                        "cost_of_randomising": at_center - served,
                        "gap_logging_to_best": float(glob_truth.max()) - served,
                        "best_w_truth": float(w[int(np.argmax(glob_truth))]),
                    }
                )
        print(f"C = {c:g}: done")
    df = pd.DataFrame(rows)
    atomic_write_text(out_dir / "offpolicy_randomise_runs.csv", df.to_csv(index=False))
    table = df.groupby(["C", "N"], as_index=False).agg(
        identified_share=("identified_share", "mean"),
        recommended_w=("recommended_w", "mean"),
        ci_width=("ci_width", "mean"),
        regret_of_recommended=("regret_of_recommended", "mean"),
        cost_of_randomising=("cost_of_randomising", "mean"),
        gap_logging_to_best=("gap_logging_to_best", "mean"),
    )
    atomic_write_text(out_dir / "offpolicy_randomise.csv", table.to_csv(index=False))
    draw_randomise(table, figures / "impressions-randomise.png", seeds)
    return {
        "seeds_per_cell": seeds,
        "grid": 21,
        "estimator": "dr",
        "center": center.tolist(),
        "cost_of_randomising": "exact global utility of serving the centre a deterministically minus the expected "
        "global utility the randomised logging served (LogTruth.logging_value), on the same sessions",
        "table": table.to_dict(orient="records"),
    }


def draw_randomise(table: pd.DataFrame, path: Path, seeds: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4.6))
    # staggered styles: the identified shares of 10k and 50k sessions coincide (support, not N, limits them)
    styles = {2_000: ("o", "-", 6), 10_000: ("s", "--", 9), 50_000: ("^", ":", 5)}
    for n, sub in table.groupby("N"):
        sub = sub.sort_values("C")
        mk, ls, ms = styles.get(n, ("o", "-", 6))
        kw = dict(marker=mk, ls=ls, ms=ms, label=f"N = {n:,} sessions")
        ax.plot(sub["cost_of_randomising"], sub["ci_width"], **kw)
        ax2.plot(sub["C"], 100 * sub["identified_share"], **kw)
        if n == table["N"].max():
            for _, r in sub.iterrows():
                ax.annotate(f"C = {r['C']:g}", (r["cost_of_randomising"], r["ci_width"]), textcoords="offset points",
                            xytext=(-10, 8), fontsize=8)  # fmt: skip
    ax.margins(x=0.1, y=0.12)
    ax.set_xlabel("utility randomising costs: serving a = (0.5, 0.5) minus the logging (exact)")
    ax.set_ylabel("95 % CI width of global utility\nat the recommended α (DR)")
    ax.set_title("precision bought vs utility paid", fontsize=9)
    ax2.set_xscale("log")
    ax2.set_xticks([2, 5, 20, 100], ["2", "5", "20", "100"])
    ax2.set_xlabel("Dirichlet concentration C (smaller = more randomised)")
    ax2.set_ylabel("share of the 21-point w grid identified (%)")
    ax2.set_title("where the log can tell (ESS ≥ 30, deficient share ≤ 1 %)", fontsize=9)
    for a in (ax, ax2):
        a.grid(alpha=0.3)
        a.legend(fontsize=8)
    fig.suptitle(
        f"How much to randomise: D0 = Dirichlet(C·(0.5, 0.5)), toy scenario, m = 20; mean over {seeds} logs per point",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def bench_coverage(figures: Path, out_dir: Path, seeds: int, n_sessions: int = 2_000) -> dict:
    sc = load("toy", seed=0, n_candidates=10)
    pol = LoggingPolicy.parse("dirichlet:5@0.5,0.5")
    alphas = np.array([[0.5, 0.5], [0.65, 0.35], [0.8, 0.2], [0.3, 0.7]])
    big = sc.sample(jax.random.PRNGKey(987654), 400_000)
    pop = jf.evaluate(alphas, big, sc.prefs).group_utility  # [P, G] population truth
    names = sc.group_names
    distort = {"squashed": lambda f: 0.25 + 0.5 * f, "shifted": lambda f: np.clip(f + 0.15, 0.0, 1.0)}
    rows = []
    t0 = time.perf_counter()
    for seed in range(seeds):
        log, truth = simulate_log(sc, pol, n_sessions=n_sessions, seed=seed)
        sample_truth = truth.truth(alphas)
        key = jax.random.PRNGKey(seed)
        fitted = fit_outcome_model(log, key=key)
        models = {"fitted": fitted}
        for name, fn in distort.items():
            pred = np.where(np.asarray(log.batch.mask)[..., None], fn(np.asarray(log.batch.scores, np.float64)), 0.0)
            models[name] = OutcomeModel(pred.astype(np.float32), {"kind": "given", "method": name})
        runs = [("ips", None), ("snips", None), ("dr", "fitted"), ("dm", "fitted")]
        runs += [(e, d) for e in ("dm", "dr") for d in distort]
        for estimator, model in runs:
            est = estimate(
                alphas,
                log,
                estimator=estimator,
                n_boot=200,
                key=key,
                outcome_model=None if model is None else models[model],
            )
            t = est.metrics(sc.prefs)
            for i in range(len(alphas)):
                for g, gname in enumerate(names):
                    lo, hi = t[f"utility_{gname}_ci_low"][i], t[f"utility_{gname}_ci_high"][i]
                    rows.append(
                        {
                            "seed": seed,
                            "estimator": estimator,
                            "outcome_model": model or "",
                            "w": alphas[i, 0] / alphas[i].sum(),
                            "group": gname,
                            "estimate": t[f"utility_{gname}"][i],
                            "ci_low": lo,
                            "ci_high": hi,
                            "identified": bool(t[f"identified_{gname}"][i]),
                            "truth": pop[i, g],
                            "sample_truth": sample_truth[i, g],
                        }
                    )
        if seed % 20 == 19:
            print(f"coverage: {seed + 1} seeds, {time.perf_counter() - t0:.0f} s")
    df = pd.DataFrame(rows)
    df["covers"] = (df["ci_low"] <= df["truth"]) & (df["truth"] <= df["ci_high"])
    df["covers_sample_truth"] = (df["ci_low"] <= df["sample_truth"]) & (df["sample_truth"] <= df["ci_high"])
    df["error"] = df["estimate"] - df["truth"]
    atomic_write_text(out_dir / "offpolicy_coverage_runs.csv", df.to_csv(index=False))
    summ = (
        df[df["identified"]]
        .groupby(["estimator", "outcome_model", "w", "group"], as_index=False)
        .agg(
            n=("covers", "size"),
            coverage=("covers", "mean"),
            coverage_sample_truth=("covers_sample_truth", "mean"),
            bias=("error", "mean"),
            sd=("error", "std"),
            mean_ci_width=("ci_high", "mean"),
        )
    )
    summ["mean_ci_width"] -= (
        df[df["identified"]].groupby(["estimator", "outcome_model", "w", "group"])["ci_low"].mean().to_numpy()
    )
    summ["bias_se"] = summ["sd"] / np.sqrt(summ["n"])
    summ["coverage_se"] = np.sqrt(summ["coverage"] * (1 - summ["coverage"]) / summ["n"])
    atomic_write_text(out_dir / "offpolicy_coverage.csv", summ.to_csv(index=False))
    overall = df[df["identified"]].groupby(["estimator", "outcome_model"])["covers"].agg(["mean", "size"]).reset_index()
    draw_coverage(df, summ, figures / "impressions-coverage.png", seeds, n_sessions, str(pol))
    draw_dm_bias(summ, figures / "impressions-dm-bias.png", seeds, n_sessions)
    return {
        "seeds": seeds,
        "sessions_per_log": n_sessions,
        "logging": str(pol),
        "alphas_w": (alphas[:, 0] / alphas.sum(axis=1)).tolist(),
        "n_boot": 200,
        "interval": "normal bootstrap interval (t with U-1 df), users resampled within groups",
        "truth": "population group utility from 400k full-information toy sessions",
        "overall_coverage": overall.to_dict(orient="records"),
        "cells": summ.to_dict(orient="records"),
    }


def draw_coverage(df, summ, path, seeds, n_sessions, pol):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    show = [("ips", ""), ("snips", ""), ("dr", "fitted")]
    groups = list(df["group"].unique())
    w_far = 0.8
    fig, axes = plt.subplots(len(show), len(groups), figsize=(10, 7.5), sharex=True)
    n_show = min(100, seeds)
    for i, (est, model) in enumerate(show):
        for j, g in enumerate(groups):
            ax = axes[i, j]
            sub = df[
                (df["estimator"] == est)
                & (df["outcome_model"] == model)
                & (df["group"] == g)
                & np.isclose(df["w"], w_far)
            ]
            sub = sub[sub["seed"] < n_show]
            miss = ~sub["covers"]
            for ok, color in ((False, "tab:blue"), (True, "tab:red")):
                s = sub[miss == ok]
                ax.vlines(
                    s["seed"],
                    s["ci_low"],
                    s["ci_high"],
                    color=color,
                    lw=1.2,
                    label="misses the truth" if ok else "95 % CI",
                )
                ax.plot(s["seed"], s["estimate"], ".", color=color, ms=3)
            truth = sub["truth"].iloc[0] if len(sub) else np.nan
            ax.axhline(truth, color="black", lw=1, label="truth")
            cell = summ[
                (summ["estimator"] == est)
                & (summ["outcome_model"] == model)
                & (summ["group"] == g)
                & np.isclose(summ["w"], w_far)
            ]
            cov = (
                f"coverage {cell['coverage'].iloc[0]:.1%} ± {cell['coverage_se'].iloc[0]:.1%} "
                f"over {int(cell['n'].iloc[0])} seeds"
                if len(cell)
                else ""
            )
            ax.set_title(f"{est.upper()}{' (fitted Ŷ)' if model else ''} — {g}: {cov}", fontsize=9)
            if j == 0:
                ax.set_ylabel("group utility")
            if i == len(show) - 1:
                ax.set_xlabel("seed (first 100 shown)")
            if i == 0 and j == 0:
                handles, labels = ax.get_legend_handles_labels()
    fig.suptitle(
        f"95 % CIs against the truth at w = {w_far} (logging {pol}, {n_sessions:,} sessions per log, toy, m = 10)",
        fontsize=10,
    )
    fig.legend(handles, labels, fontsize=8, loc="lower center", ncol=3)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def draw_dm_bias(summ, path, seeds, n_sessions):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = [
        ("dm", "fitted"),
        ("dm", "squashed"),
        ("dm", "shifted"),
        ("dr", "fitted"),
        ("dr", "squashed"),
        ("dr", "shifted"),
    ]
    groups = list(summ["group"].unique())
    fig, axes = plt.subplots(1, len(groups), figsize=(11.5, 4), sharey=True)
    ws = sorted(summ["w"].unique())
    width = 0.8 / len(cases)
    for j, g in enumerate(groups):
        ax = axes[j]
        for c, (est, model) in enumerate(cases):
            sub = summ[(summ["estimator"] == est) & (summ["outcome_model"] == model) & (summ["group"] == g)].set_index(
                "w"
            )
            x = np.arange(len(ws)) + (c - len(cases) / 2 + 0.5) * width
            y = [sub["bias"].get(w, np.nan) for w in ws]
            e = [2 * sub["bias_se"].get(w, np.nan) for w in ws]
            ax.bar(
                x, y, width, yerr=e, label=f"{est.upper()}, Ŷ {model}", hatch="//" if est == "dr" else None, alpha=0.85
            )
        ax.axhline(0, color="black", lw=0.8)
        ax.set_xticks(np.arange(len(ws)), [f"w = {w:.2f}" for w in ws])
        ax.set_title(g, fontsize=9)
        if j == 0:
            ax.set_ylabel("mean error (estimate − truth), ± 2 s.e.")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, fontsize=7, loc="center right")
    fig.suptitle(
        "DM is biased when its outcome model is miscalibrated "
        "(scores squashed 0.25 + 0.5 f, or shifted f + 0.15, used as Ŷ);\n"
        f"DR with the same Ŷ is not. {seeds} logs of {n_sessions:,} sessions; "
        "'fitted' = the cross-fitted calibration",
        fontsize=9,
    )
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--only",
        nargs="+",
        choices=["speed", "surface", "randomise", "coverage"],
        default=["speed", "surface", "randomise"],
    )
    ap.add_argument("--seeds", type=int, default=200, help="coverage: logs (seeds)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--figures", default="docs/figures")
    ap.add_argument(
        "--redraw", action="store_true", help="redraw the coverage and randomise figures from the saved results"
    )
    args = ap.parse_args()
    out_dir, figures = Path(args.out), Path(args.figures)
    if args.redraw:
        df = pd.read_csv(out_dir / "offpolicy_coverage_runs.csv", keep_default_na=False, na_values=[""])
        df["outcome_model"] = df["outcome_model"].fillna("")
        summ = pd.read_csv(out_dir / "offpolicy_coverage.csv", keep_default_na=False, na_values=[""])
        summ["outcome_model"] = summ["outcome_model"].fillna("")
        meta = json.loads((out_dir / "offpolicy_coverage.json").read_text())["coverage"]
        draw_coverage(
            df, summ, figures / "impressions-coverage.png", meta["seeds"], meta["sessions_per_log"], meta["logging"]
        )
        draw_dm_bias(summ, figures / "impressions-dm-bias.png", meta["seeds"], meta["sessions_per_log"])
        rand = json.loads((out_dir / "offpolicy_randomise.json").read_text())["randomise"]
        table = pd.read_csv(out_dir / "offpolicy_randomise.csv")
        draw_randomise(table, figures / "impressions-randomise.png", rand["seeds_per_cell"])
        return
    out_dir.mkdir(parents=True, exist_ok=True)
    figures.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), "jax": jax.__version__, "devices": [str(d) for d in jax.devices()]}
    if "speed" in args.only:
        result["speed"] = bench_speed(args.repeats)
    if "surface" in args.only:
        result["surface"] = bench_surface(args.repeats)
    if "randomise" in args.only:
        result["randomise"] = bench_randomise(figures, out_dir)
    if "coverage" in args.only:
        result["coverage"] = bench_coverage(figures, out_dir, args.seeds)
    for section in args.only:  # one file per section, so a rerun of one keeps the others
        record = {
            "machine": result["machine"],
            "machine_after": machine(),
            "jax": result["jax"],
            section: result[section],
        }
        record["devices"] = result["devices"]
        path = out_dir / f"offpolicy_{section}.json"
        atomic_write_text(path, json.dumps(record, indent=2, default=float) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
