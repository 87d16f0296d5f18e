"""Scenario benchmarks: build time from raw data, cached load time, ``sample`` time, AUC tables.

For each scenario at its default (paper) size: build from raw data into a fresh cache dir
(timed), load again from that cache (timed), draw 10,000 users × m = 20 (first call
compiles; then the median of repeated calls, blocked until ready), and the AUC table.
Writes ``benchmarks/results/scenarios.json``.

Usage: ``python benchmarks/bench_scenarios.py [--only NAME ...] [--out PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import jax

from jaxfair import scenarios

PAPER = {
    "synthetic": {"All": (0.995, 0.996), "majority": (0.996, 0.996), "minority": (0.995, 0.996)},
    "movielens": {"All": (0.782, 0.929), "majority": (0.780, 0.927), "minority": (0.790, 0.934)},
    "modcloth": {"All": (0.827, 0.869), "majority": (0.830, 0.854), "minority": (0.826, 0.872)},
    "electronics": {"All": (0.861, 0.830), "majority": (0.857, 0.829), "minority": (0.865, 0.830)},
}
DEFAULT = ["synthetic", "movielens", "modcloth-standin", "electronics-standin"]


def bench(name: str, cache_dir: Path, n_users: int = 10_000, repeats: int = 20) -> dict:
    t0 = time.perf_counter()
    sc = scenarios.load(name, cache_dir=cache_dir)
    build = time.perf_counter() - t0
    t0 = time.perf_counter()
    sc = scenarios.load(name, cache_dir=cache_dir)
    cached = time.perf_counter() - t0
    assert sc.info["cache_hit"], "second load should come from the cache"
    key = jax.random.PRNGKey(0)
    t0 = time.perf_counter()
    jax.block_until_ready(sc.sample(key, n_users))
    first = time.perf_counter() - t0
    times = []
    for r in range(repeats):
        k = jax.random.fold_in(key, r)
        t0 = time.perf_counter()
        jax.block_until_ready(sc.sample(k, n_users))
        times.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    auc = sc.auc_table()
    auc_s = time.perf_counter() - t0
    base = name.replace("-standin", "")
    return {
        "name": name,
        "title": sc.title,
        "standin": sc.is_standin,
        "build_seconds": round(build, 2),
        "cached_load_seconds": round(cached, 3),
        "sample_10k_first_call_seconds": round(first, 3),
        "sample_10k_median_ms": round(1e3 * statistics.median(times), 3),
        "auc_table_seconds": round(auc_s, 2),
        "pool_users": sc.n_pool_users,
        "pool_rows": sc.n_pool_rows,
        "options": sc.options,
        "build_info": {k: v for k, v in sc.info.items() if k != "cf"},
        "cf_epochs": len(sc.info.get("cf", {}).get("epochs", [])) or None,
        "auc": json.loads(auc.round(4).to_json(orient="index")),
        "paper_auc": None
        if sc.is_standin
        else {g: dict(zip(sc.label_names, v, strict=False)) for g, v in PAPER[base].items()},
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="*", default=DEFAULT)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "scenarios.json"))
    args = ap.parse_args()
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.is_file() else {}
    results["machine"] = {
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "jax_backend": jax.default_backend(),
        "python": platform.python_version(),
    }
    results.setdefault("scenarios", {})
    with tempfile.TemporaryDirectory() as tmp:  # fresh cache: the first load builds from raw data
        for name in args.only:
            print(f"== {name}", flush=True)
            res = bench(name, Path(tmp))
            results["scenarios"][name] = res
            print(
                json.dumps({k: res[k] for k in ("build_seconds", "cached_load_seconds", "sample_10k_median_ms")}),
                flush=True,
            )
            print(json.dumps(res["auc"], indent=1), flush=True)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1, default=str))


if __name__ == "__main__":
    main()
