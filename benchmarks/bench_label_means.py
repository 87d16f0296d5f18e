"""Prefs-free engine vs the previous engine (issue #22): evaluate K = 2 on the headline grid, and
Q = 256 preference matrices applied after one ``label_means`` call (the goal: ≤ 10 % on top of
``label_means``; ``q256_apply_over_label_means``).

Run: ``.venv/bin/python benchmarks/bench_label_means.py --old-tree /path/to/old/checkout``.
The old and the new package are timed in alternating subprocesses of one run (same machine,
same load), best of ``--repeat`` each; the JSON keeps every timing and the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).parent / "results"

_CHILD = r"""
import json, sys, time
import jax, numpy as np
import jaxfair as jf
n, repeat, new = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1"
sc = jf.scenarios.load("toy")
batch = sc.sample(jax.random.PRNGKey(0), n).replace(item_group=None)
grid = jf.box_grid(2, 101, 0.01, 1.0)
def best(fn):
    fn()
    t = []
    for _ in range(repeat):
        t0 = time.perf_counter(); fn(); t.append(time.perf_counter() - t0)
    return min(t)
out = {"evaluate_s": best(lambda: jf.evaluate(grid, batch, sc.prefs))}
out["evaluate_top1_unpruned_s"] = best(lambda: jf.evaluate(grid, batch, sc.prefs, prune=False))
if new:
    q = np.random.default_rng(0).dirichlet(np.ones(2), size=(256, sc.n_groups))
    lm = jf.label_means(grid, batch, n_groups=sc.n_groups)
    out["label_means_s"] = best(lambda: jf.label_means(grid, batch, n_groups=sc.n_groups))
    out["apply_q256_s"] = best(lambda: jf.group_utility_from_label_means(lm, q))
    out["label_means_plus_q256_s"] = best(
        lambda: jf.group_utility_from_label_means(jf.label_means(grid, batch, n_groups=sc.n_groups), q)
    )
print(json.dumps(out))
"""


def child(tree: str, n: int, repeat: int, new: bool) -> dict:
    env = dict(os.environ, PYTHONPATH=tree)
    r = subprocess.run(
        [sys.executable, "-c", _CHILD, str(n), str(repeat), "1" if new else "0"],
        env=env,
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--old-tree", required=True, help="checkout of the previous engine")
    ap.add_argument("--users", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    new_tree = str(Path(__file__).resolve().parents[1])
    runs = {"old": [], "new": []}
    for _ in range(args.rounds):  # alternate, so both see the same load
        runs["old"].append(child(args.old_tree, args.users, args.repeat, False))
        runs["new"].append(child(new_tree, args.users, args.repeat, True))
    old = min(r["evaluate_s"] for r in runs["old"])
    new = min(r["evaluate_s"] for r in runs["new"])
    old_u = min(r["evaluate_top1_unpruned_s"] for r in runs["old"])
    new_u = min(r["evaluate_top1_unpruned_s"] for r in runs["new"])
    lm_q = min(r["label_means_plus_q256_s"] for r in runs["new"])
    apply_q = min(r["apply_q256_s"] for r in runs["new"])
    lm_only = min(r["label_means_s"] for r in runs["new"])
    result = {
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "cpus": os.cpu_count()},
        "cpu_model": next(
            (ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?"
        ),
        "avx512": "avx512f" in open("/proc/cpuinfo").read(),
        "setup": {"scenario": "toy", "users": args.users, "K": 2, "n_alpha": 10_201, "repeat": args.repeat},
        "runs": runs,
        "evaluate_new_over_old": new / old,
        "evaluate_unpruned_new_over_old": new_u / old_u,
        "q256_apply_over_label_means": apply_q / lm_only,
        "label_means_plus_q256_over_label_means": lm_q / lm_only,
        "label_means_over_evaluate": lm_only / new,
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "label_means.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k not in ("runs",)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
