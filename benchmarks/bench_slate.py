"""Slate benchmarks (issue #17): slate grid kernel vs a vectorised NumPy argsort baseline vs
the unpruned top-1 grid kernel, provider-exposure overhead, pruning for slates.

Run: ``PYTHONPATH=. .venv/bin/python benchmarks/bench_slate.py [--quick] [--out-name NAME]``.
Writes ``benchmarks/results/slate.json`` (or ``NAME.json``) and prints the times and ratios. The
machine block records ``XLA_FLAGS`` and whether the CPU has AVX-512: run it once more with
``XLA_FLAGS=--xla_cpu_max_isa=AVX2 ... --out-name slate_avx2`` to measure an AVX2-only CPU
(16 vector registers instead of 32). Everything is measured in the
same run on the same batch (toy scenario, 10,000 users × 20 candidates × 2 labels, the
101 × 101 α box = 10,201 α). The NumPy baseline is timed on a subset of α and extrapolated
linearly (its cost is exactly linear in the number of α), which the table says; its answers
are checked against the kernel's on that subset.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import jax
import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from bench_engine import machine  # noqa: E402

import jaxfair as jf  # noqa: E402
from jaxfair.engine import prune  # noqa: E402
from jaxfair.utils.atomic import atomic_write_text  # noqa: E402

OUT = Path(__file__).parent / "results"


def numpy_argsort_slate(scores, labels, mask, group, prefs, alphas, k, v, item_group=None, n_item_groups=0):
    """Vectorised over users (float32, like the kernel), a Python loop over α: per α a stable
    argsort of −score per user (ties: lowest index), top k, position-weighted values."""
    n = len(group)
    value = np.einsum("nmk,nk->nm", labels, prefs[group].astype(np.float32))
    counts = np.bincount(group, minlength=prefs.shape[0])
    rows = np.arange(n)[:, None]
    out = np.empty((len(alphas), prefs.shape[0]))
    expo = np.zeros((len(alphas), n_item_groups))
    v32 = v.astype(np.float32)
    for p, a in enumerate(alphas.astype(np.float32)):
        s = np.where(mask, scores @ a, -np.inf)
        top = np.argsort(-s, axis=1, kind="stable")[:, :k]  # [N, k]
        filled = mask[rows, top]
        u = (np.where(filled, value[rows, top], 0.0) * v32).sum(1)
        out[p] = np.bincount(group, weights=u, minlength=prefs.shape[0]) / counts
        if n_item_groups:
            ig = item_group[rows, top]
            for h in range(n_item_groups):
                expo[p, h] = (np.where(filled & (ig == h), v32, 0.0)).sum()
    return out, expo


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="1,000 users, 2,601 α (a smoke run)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--numpy-alphas", type=int, default=60)
    ap.add_argument("--repeat", type=int, default=3, help="interleaved timing rounds (best of)")
    ap.add_argument("--out-name", default="slate", help="results/NAME.json (default: slate)")
    ap.add_argument("--note", default="", help="free text stored with the results (e.g. the load)")
    args = ap.parse_args(argv)
    n_users, n_grid = (1_000, 51) if args.quick else (10_000, 101)
    k = args.k
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(0), n_users).replace(item_group=None)  # exposure only where asked
    rng = np.random.default_rng(0)
    item_group = (rng.random((n_users, batch.n_candidates)) < 0.3).astype(np.int32)  # H = 2, 30 % minority
    bexp = batch.replace(item_group=jax.numpy.asarray(item_group))
    prefs = np.asarray(sc.prefs)
    grid = jf.box_grid(2, n_grid, 0.01, 1.0)
    v = jf.position_weights(k)
    res = {
        "n_users": n_users,
        "m": batch.n_candidates,
        "K": 2,
        "n_alpha": len(grid),
        "k": k,
        "position_weights": "dcg",
        "machine": machine(),
        "note": args.note or "2-core CPU shared with other jobs: compare ratios within this run, not absolute times",
    }
    methods = {
        "top1_unpruned": lambda: jf.evaluate(grid, batch, prefs, prune=False),
        "top1_pruned": lambda: jf.evaluate(grid, batch, prefs, prune=True),
        "slate1_unpruned": lambda: jf.evaluate(grid, batch, prefs, slate=1, prune=False),
        "slate_unpruned": lambda: jf.evaluate(grid, batch, prefs, slate=k, prune=False),
        "slate_pruned": lambda: jf.evaluate(grid, batch, prefs, slate=k, prune=True),
        "slate_exposure_unpruned": lambda: jf.evaluate(grid, bexp, prefs, slate=k, prune=False),
        "slate_exposure_pruned": lambda: jf.evaluate(grid, bexp, prefs, slate=k, prune=True),
    }
    # Interleaved rounds, best of each: the machine's load drifts over minutes, and
    # interleaving exposes every method to the same drift.
    t = {name: float("inf") for name in methods}
    out = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, fn in methods.items():
            out[name] = fn()  # compile / warm up
        for _ in range(args.repeat):
            for name, fn in methods.items():
                t0 = time.perf_counter()
                fn()
                t[name] = min(t[name], time.perf_counter() - t0)
    for name in methods:
        print(f"{name}: {t[name]:.3f} s", flush=True)
    top1, slate = out["top1_unpruned"], out["slate_unpruned"]
    assert np.array_equal(slate.group_utility, out["slate_pruned"].group_utility)
    assert np.array_equal(slate.group_utility, out["slate_exposure_unpruned"].group_utility)
    assert np.array_equal(out["slate_exposure_unpruned"].exposure_share, out["slate_exposure_pruned"].exposure_share)
    assert np.array_equal(out["slate1_unpruned"].group_utility, top1.group_utility)
    keep1 = prune.keep_mask(batch.scores, batch.mask, True).sum(1).mean()
    keepk = prune.keep_mask(batch.scores, batch.mask, True, k=k).sum(1).mean()
    res["mean_survivors"] = {"top1": float(keep1), f"slate{k}": float(keepk)}

    sub = grid[np.linspace(0, len(grid) - 1, args.numpy_alphas).astype(int)]
    np_args = (
        np.asarray(batch.scores),
        np.asarray(batch.labels),
        np.asarray(batch.mask),
        np.asarray(batch.group),
        prefs,
        sub,
        k,
        v,
        item_group,
        2,
    )
    t0 = time.perf_counter()
    np_gu, _ = numpy_argsort_slate(*np_args)
    t_np_sub = time.perf_counter() - t0
    t["numpy_argsort_extrapolated"] = t_np_sub * len(grid) / len(sub)
    ev_sub = jf.evaluate(sub, batch, prefs, slate=k, prune=False)
    res["numpy_max_abs_diff"] = float(np.abs(np_gu - ev_sub.group_utility).max())
    res["numpy_timed_alphas"] = int(len(sub))
    res["seconds"] = t
    res["ratios"] = {
        "numpy_over_slate": t["numpy_argsort_extrapolated"] / min(t["slate_unpruned"], t["slate_pruned"]),
        "slate_unpruned_over_top1_unpruned": t["slate_unpruned"] / t["top1_unpruned"],
        "slate_best_over_top1_unpruned": min(t["slate_unpruned"], t["slate_pruned"]) / t["top1_unpruned"],
        "exposure_overhead_unpruned": t["slate_exposure_unpruned"] / t["slate_unpruned"] - 1.0,
        "exposure_overhead_pruned": t["slate_exposure_pruned"] / t["slate_pruned"] - 1.0,
        "slate1_over_top1": t["slate1_unpruned"] / t["top1_unpruned"],
    }
    res["machine"]["load_average_at_end"] = list(os.getloadavg()) if hasattr(os, "getloadavg") else None
    print(json.dumps(res["ratios"], indent=2))
    if not args.quick:
        OUT.mkdir(exist_ok=True)
        atomic_write_text(OUT / f"{args.out_name}.json", json.dumps(res, indent=2, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
