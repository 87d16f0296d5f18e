"""Does ``estimate`` recover known preferences? Coverage of its CIs over many generated logs.

Each seed draws a log from :func:`jaxfair.preferences.served_sessions` with the known α*(g)
below (2 groups × K = 3 labels, 0/1 labels, logistic satisfaction with intercept -1 and
strength 2), estimates α*(g) with 200 bootstrap resamples by user, and records whether each
group × label truth lies in its 95 % CI. Reports the coverage per entry and per seed (all six
entries at once; they are not independent: each row sums to 1), each with a Wilson 95 %
interval, the share of groups identified, and draws ``recovery.png`` (estimate and CI against
the truth for the first 40 seeds).

Usage: ``python benchmarks/validate_estimate.py [--seeds 200] [--user-sd 0] [--interval normal|percentile|bca]
[--out benchmarks/results]
[--figure docs/figures/preferences-estimation-recovery.png]``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from jaxfair.preferences import estimate, served_sessions
from jaxfair.utils.atomic import atomic_write_text

TRUTH = np.array([[0.6, 0.3, 0.1], [0.2, 0.3, 0.5]])
LABELS = ["click", "like", "share"]
GROUPS = ["majority", "minority"]


def wilson(k: int, n: int, z: float = 1.96) -> list[float]:
    if n == 0:
        return [math.nan, math.nan]
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return [c - h, c + h]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--users", default="600,300", help="users per group (default 600,300)")
    ap.add_argument("--sessions", type=float, default=20.0, help="mean sessions per user")
    ap.add_argument("--user-sd", type=float, default=0.0, help="sd of a per-user random intercept (0: none)")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument(
        "--interval", choices=["normal", "percentile", "bca"], default="normal", help="bootstrap CI (default normal)"
    )
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--figure", default="docs/figures/preferences-estimation-recovery.png")
    args = ap.parse_args()
    users = [int(u) for u in args.users.split(",")]
    t0 = time.perf_counter()
    rows = []
    for seed in range(args.seeds):
        df = served_sessions(
            TRUTH,
            users_per_group=users,
            sessions_per_user=args.sessions,
            user_sd=args.user_sd,
            group_names=GROUPS,
            label_names=LABELS,
            seed=10_000 + seed,
        )
        t = estimate(df, user="user", group="group", labels=LABELS, satisfaction="satisfied", n_boot=args.n_boot,
                     seed=seed, interval=args.interval).to_frame()  # fmt: skip
        t["seed"] = seed
        t["truth"] = TRUTH.ravel()
        rows.append(t)
    import pandas as pd

    all_rows = pd.concat(rows, ignore_index=True)
    ident = all_rows[all_rows.identified]
    ident = ident.assign(covered=(ident.ci_low <= ident.truth) & (ident.truth <= ident.ci_high))
    per_entry = {}
    for (g, lab), d in ident.groupby(["group", "label"], sort=False):
        k = int(d.covered.sum())
        per_entry[f"{g}/{lab}"] = {"covered": k, "of": len(d), "coverage": k / len(d), "wilson95": wilson(k, len(d))}
    full = all_rows.groupby("seed").identified.all()
    seeds_ok = ident.groupby("seed").covered.all().reindex(full[full].index)
    k_all, k_any = int(ident.covered.sum()), len(ident)
    summary = {
        "truth": {g: dict(zip(LABELS, TRUTH[i].tolist(), strict=True)) for i, g in enumerate(GROUPS)},
        "design": {"users_per_group": users, "mean_sessions_per_user": args.sessions, "user_sd": args.user_sd,
                   "intercept": -1.0, "strength": 2.0, "label_rate": 0.5, "n_boot": args.n_boot, "level": 0.95,
                   "interval": args.interval},
        "seeds": args.seeds,
        "identified_share": float(all_rows.drop_duplicates(["seed", "group"]).identified.mean()),
        "coverage_all_entries": {"covered": k_all, "of": k_any, "coverage": k_all / k_any,
                                 "wilson95": wilson(k_all, k_any)},
        "coverage_per_entry": per_entry,
        "seeds_with_every_entry_covered": {"covered": int(seeds_ok.sum()), "of": len(seeds_ok),
                                           "share": float(seeds_ok.mean()), "wilson95": wilson(int(seeds_ok.sum()),
                                                                                             len(seeds_ok))},
        "mean_ci_width": float((ident.ci_high - ident.ci_low).mean()),
        "seconds": time.perf_counter() - t0,
    }  # fmt: skip
    suffix = "" if args.user_sd == 0 else f"_usersd{args.user_sd:g}"
    suffix += "" if args.interval == "normal" else f"_{args.interval}"
    suffix += "" if args.n_boot == 200 else f"_boot{args.n_boot}"
    path = Path(args.out) / f"estimate_recovery{suffix}.json"
    atomic_write_text(path, json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: summary[k] for k in ("identified_share", "coverage_all_entries",
                                              "seeds_with_every_entry_covered")}, indent=1))  # fmt: skip
    print(f"wrote {path}")
    if args.figure and args.interval == "normal" and args.n_boot == 200:  # the documented figure: the defaults
        draw(all_rows, args.figure, args)


def draw(rows, path, args) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = rows[rows.seed < 40]
    fig, axes = plt.subplots(len(GROUPS), len(LABELS), figsize=(11, 5.6), sharey=True)
    for gi, g in enumerate(GROUPS):
        for li, lab in enumerate(LABELS):
            ax = axes[gi, li]
            d = shown[(shown.group == g) & (shown.label == lab)]
            ok = d[d.identified]
            cov = (ok.ci_low <= ok.truth) & (ok.truth <= ok.ci_high)
            for mask, colour, name in ((cov, "tab:blue", "CI covers truth"), (~cov, "tab:red", "CI misses truth")):
                e = ok[mask]
                ax.errorbar(e.seed, e.estimate, yerr=[e.estimate - e.ci_low, e.ci_high - e.estimate], fmt="o",
                            ms=3, lw=1, color=colour, label=name)  # fmt: skip
            ax.axhline(TRUTH[gi, li], color="black", lw=1, ls="--", label="truth α*")
            ax.set_title(f"{g} · {lab}: {int(cov.sum())}/{len(ok)} covered", fontsize=10)
            if gi == len(GROUPS) - 1:
                ax.set_xlabel("seed")
            if li == 0:
                ax.set_ylabel("α̂* with 95 % CI")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=3, frameon=False)
    users = args.users.replace(",", " / ")
    fig.suptitle(f"Recovering known preferences: {users} users per group, ~{args.sessions:g} sessions each, "
                 f"bootstrap by user ({args.n_boot} resamples, {args.interval} CIs); first 40 seeds",
                 fontsize=11)  # fmt: skip
    fig.tight_layout(rect=(0, 0.06, 1, 0.95))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
