"""Evaluation over a preference set (issue #20 goal): Q = 256 preference matrices on the standard grid
(toy, 10k users × 10,201 α) cost ≤ 1.1× one ``label_means`` call.

Run: ``.venv/bin/python benchmarks/bench_prefset.py``. ``label_means`` and ``evaluate_set`` are
timed alternately in one process (same machine, same load), best of ``--repeat`` each after a
warm-up (compilation excluded). ``evaluate_set`` computes utility, DER and the worst/best ratio
``[Q, P]``; the min / median / max summaries are computed on first use, so they are timed
separately (``evaluate_set_plus_summaries_s``: ``evaluate_set`` then ``to_frame``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "results"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--q", type=int, default=256)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    import jax

    import jaxfair as jf
    from jaxfair.preferences import PrefSet, evaluate_set

    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(0), args.users).replace(item_group=None)
    grid = jf.box_grid(2, 101, 0.01, 1.0)
    ps = PrefSet.dirichlet(sc.prefs, 50.0, q=args.q, group_names=sc.group_names, label_names=sc.label_names)
    fns = {
        "label_means_s": lambda: jf.label_means(grid, batch, n_groups=sc.n_groups),
        "evaluate_set_s": lambda: evaluate_set(grid, batch, ps, group_names=sc.group_names),
        "evaluate_set_plus_summaries_s": lambda: evaluate_set(grid, batch, ps, group_names=sc.group_names).to_frame(),
    }
    for fn in fns.values():  # warm-up: compile once
        fn()
    runs = {k: [] for k in fns}
    for _ in range(args.rounds * args.repeat):  # alternate, so every function sees the same load
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            runs[k].append(time.perf_counter() - t0)
    best = {k: min(v) for k, v in runs.items()}
    result = {
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_avg_1min": os.getloadavg()[0]},
        "setup": {"scenario": "toy", "users": args.users, "K": 2, "n_alpha": len(grid), "Q": args.q},
        "runs": runs,
        "best": best,
        "evaluate_set_over_label_means": best["evaluate_set_s"] / best["label_means_s"],
        "evaluate_set_plus_summaries_over_label_means": best["evaluate_set_plus_summaries_s"] / best["label_means_s"],
        "goal": "evaluate_set_over_label_means <= 1.1",
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "prefset.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
