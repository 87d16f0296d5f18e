"""Estimation benchmark: ``jaxfair.preferences.estimate`` on 100k served sessions, 200 bootstrap resamples.

Issue #20's goal: ≤ 10 s on 2 cores. Two logs of 100k sessions (2 groups × 2,500 users × 20
sessions, K = 3 labels): **binary** labels (0/1, the usual click/like/share), where distinct
(y, z) rows collapse to at most 2^(K+1) = 16 per group, and **probability** labels (uniform in
[0, 1]), where every row is distinct — the worst case for the compiled Newton pass. Each is timed
three times after one warm-up call (which compiles or loads the numba kernel); the median is
reported with the machine's load average, since this machine is shared.

Usage: ``python benchmarks/bench_estimate.py [--out benchmarks/results] [--repeats 3]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

import numpy as np

from jaxfair.preferences import estimate, served_sessions
from jaxfair.utils.atomic import atomic_write_text

TRUTH = np.array([[0.7, 0.2, 0.1], [0.2, 0.3, 0.5]])
LABELS = ["click", "like", "share"]


def make_log(kind: str, seed: int = 0):
    df = served_sessions(TRUTH, users_per_group=2500, sessions_per_user=20, label_names=LABELS, seed=seed)
    if kind == "probability":
        rng = np.random.default_rng(seed + 1)
        y = rng.random((len(df), 3))
        df[LABELS] = y
        alpha = TRUTH[(df.group == "g1").to_numpy().astype(int)]
        logit = -1.0 + 2.0 * (alpha * y).sum(axis=1)
        df["satisfied"] = (rng.random(len(df)) < 1 / (1 + np.exp(-logit))).astype(int)
    return df


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--n-boot", type=int, default=200)
    args = ap.parse_args()
    cols = dict(user="user", group="group", labels=LABELS, satisfaction="satisfied", n_boot=args.n_boot)
    out = {
        "what": "estimate() on 100k served sessions (2 groups x 2500 users x ~20 sessions, K=3), bootstrap by user",
        "n_boot": args.n_boot,
        "machine": {
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        },
        "goal_seconds": 10.0,
        "cases": {},
    }
    for kind in ("binary", "probability"):
        df = make_log(kind)
        t0 = time.perf_counter()
        est = estimate(df, **cols)  # warm-up: compiles (or loads) the numba pass
        first = time.perf_counter() - t0
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            est = estimate(df, **cols)
            times.append(time.perf_counter() - t0)
        table = est.to_frame()
        covered = ((table.ci_low <= TRUTH.ravel()) & (TRUTH.ravel() <= table.ci_high)).tolist()
        out["cases"][kind] = {
            "sessions": len(df),
            "first_call_s": first,
            "median_s": statistics.median(times),
            "times_s": times,
            "load_average_1min": os.getloadavg()[0],
            "identified": bool(table.identified.all()),
            "truth_in_ci": covered,
        }
        print(f"{kind}: {len(df)} sessions, median {statistics.median(times):.2f} s (first {first:.2f} s), "
              f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
    path = Path(args.out) / "estimate.json"
    atomic_write_text(path, json.dumps(out, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
