"""Scale benchmarks (issue #10): pruning, sweep2 scaling, device/process scaling, BO on Ray.

Run: ``.venv/bin/python benchmarks/bench_scale.py [--quick] [--sections a,b]``. Writes
``benchmarks/results/scale.json`` after every section (a crash loses nothing measured)
and prints Markdown tables. Ratios are measured in the same run on the same batch; every
faster path's answers are checked against the reference path's (bit-identical or not).
Sections: prune, sweep, devices, bo.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd

import jaxfair as jf
from jaxfair.engine import kernels, prune
from jaxfair.utils.atomic import atomic_write_text

sys.path.insert(0, str(Path(__file__).parent))
from bench_engine import machine, numpy_loop, timeit  # noqa: E402

OUT = Path(__file__).parent / "results"


def _save(result: dict, out: Path) -> None:
    atomic_write_text(out / "scale.json", json.dumps(result, indent=2, default=float))


# ---------------------------------------------------------------- pruning
def prune_section(quick: bool) -> dict:
    """Surviving-set sizes per scenario, and the grid kernel pruned vs not (same bits)."""
    n = 2_000 if quick else 10_000
    grid = jf.box_grid(2, 101, 0.01, 1.0)  # the engine headline's 10,201 α
    rows = []
    for name in ("toy", "synthetic", "movielens"):
        try:
            sc = jf.scenarios.load(name)
        except (ValueError, FileNotFoundError, OSError) as exc:  # data not here: say so in the table
            rows.append({"scenario": name, "skipped": str(exc).splitlines()[0]})
            continue
        batch = sc.sample(jax.random.PRNGKey(0), n)
        scores, mask = np.asarray(batch.scores), np.asarray(batch.mask)
        keep = prune.keep_mask(scores, mask, True)
        weak = prune.keep_mask(scores, mask, False)
        sizes = keep.sum(1)
        nb = n // kernels.SUM_BLOCK
        block_max = sizes[: nb * kernels.SUM_BLOCK].reshape(nb, -1).max(1)
        g = grid if batch.n_labels == 2 else None
        if g is None:
            continue
        jf.evaluate(g, batch, sc.prefs, prune=False)
        jf.evaluate(g, batch, sc.prefs, prune=True)
        t0, e0 = timeit(lambda: jf.evaluate(g, batch, sc.prefs, prune=False), repeat=3)
        t1, e1 = timeit(lambda: jf.evaluate(g, batch, sc.prefs, prune=True), repeat=3)
        rows.append(
            {
                "scenario": name,
                "N": n,
                "m": batch.n_candidates,
                "P": len(g),
                "retrieved_mean": float(mask.sum(1).mean()),
                "survivors_mean": float(sizes.mean()),
                "survivors_max": int(sizes.max()),
                "survivors_mean_rule1_only": float(weak.sum(1).mean()),
                "block_width_mean": float(block_max.mean()),
                "unpruned_s": t0,
                "pruned_s": t1,
                "speedup": t0 / t1,
                "bit_identical": bool(np.array_equal(e0.group_utility, e1.group_utility)),
            }
        )
        print(rows[-1], flush=True)
    return {"rows": rows}


def k_section(quick: bool) -> dict:
    """Grid kernel vs the vectorised NumPy loop for K = 2, 3, 4, 8 (toy scenario)."""
    n = 2_000 if quick else 10_000
    rows = []
    for k in (2, 3, 4, 8):
        sc = jf.scenarios.load("toy", n_labels=k)
        batch = sc.sample(jax.random.PRNGKey(1), n)
        alphas = np.random.default_rng(0).dirichlet(np.ones(k), size=10_201) + 1e-3
        args = (
            np.asarray(batch.scores),
            np.asarray(batch.labels),
            np.asarray(batch.mask),
            np.asarray(batch.group),
            np.asarray(sc.prefs),
        )
        jf.evaluate(alphas, batch, sc.prefs)
        t_jax, ev = timeit(lambda: jf.evaluate(alphas, batch, sc.prefs), repeat=2)
        t_jax0, _ = timeit(lambda: jf.evaluate(alphas, batch, sc.prefs, prune=False), repeat=2)
        sub = np.linspace(0, len(alphas) - 1, 200 if quick else 1000).astype(int)
        t_np_sub, npv = timeit(lambda: numpy_loop(*args, alphas[sub]), repeat=1)
        t_np = t_np_sub * len(alphas) / len(sub)
        keep = prune.keep_mask(args[0], args[2], True)
        rows.append(
            {
                "K": k,
                "N": n,
                "P": len(alphas),
                "grid_kernel_s": t_jax,
                "grid_kernel_unpruned_s": t_jax0,
                "numpy_loop_s_extrapolated": t_np,
                "numpy_measured_alphas": len(sub),
                "ratio_vs_numpy": t_np / t_jax,
                "survivors_mean": float(keep.sum(1).mean()),
                "max_abs_diff_vs_numpy": float(np.abs(npv - ev.group_utility[sub]).max()),
            }
        )
        print(rows[-1], flush=True)
    return {"rows": rows}


# ---------------------------------------------------------------- sweep2
def sweep_section(quick: bool) -> dict:
    sc = jf.scenarios.load("toy")
    jf.sweep2(sc.sample(jax.random.PRNGKey(9), 1000), sc.prefs)  # numba/jit compile
    rows = []
    for n in (10_000, 100_000) if quick else (10_000, 100_000, 300_000, 1_000_000):
        batch = sc.sample(jax.random.PRNGKey(1), n)
        jax.block_until_ready(batch)
        jf.sweep2(batch, sc.prefs)  # compiles true_value for this N
        t, sw = timeit(lambda: jf.sweep2(batch, sc.prefs), repeat=3)
        rows.append({"N": n, "build_s": t, "ns_per_user": t / n * 1e9, "breakpoints": int(sw.breakpoints.size)})
        print(rows[-1], flush=True)
    return {"rows": rows}


# ---------------------------------------------------------------- devices / processes
_DEVICE_CHILD = textwrap.dedent("""
    import json, sys, time, jax, numpy as np, jaxfair as jf
    from jaxfair.engine.sharding import user_mesh
    n, p, d, prune = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[5] == "1"
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(0), n)
    grid = jf.direction_grid(p)
    kw = dict(prune=prune)
    if d > 0:
        kw["mesh"] = user_mesh(jax.devices()[:d])
    jf.evaluate(grid, batch, sc.prefs, **kw)
    best = 1e9
    for _ in range(3):
        t = time.perf_counter()
        ev = jf.evaluate(grid, batch, sc.prefs, **kw)
        best = min(best, time.perf_counter() - t)
    np.save(sys.argv[4], ev.group_utility)
    print(json.dumps({"seconds": best}))
""")

_PROCESS_CHILD = textwrap.dedent("""
    import json, sys, time
    import numpy as np
    from jaxfair.distributed import initialize
    pid, nproc = initialize(timeout_s=120)
    import jax, jaxfair as jf
    n, p = int(sys.argv[1]), int(sys.argv[2])
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(0), n)
    share = n // nproc
    mine = jax.tree_util.tree_map(lambda x: x[pid * share:(pid + 1) * share if pid < nproc - 1 else n], batch)
    grid = jf.direction_grid(p)
    jf.evaluate(grid, mine, sc.prefs)
    best = 1e9
    for _ in range(3):
        t = time.perf_counter(); ev = jf.evaluate(grid, mine, sc.prefs); best = min(best, time.perf_counter() - t)
    if pid == 0:
        np.save(sys.argv[3], ev.group_utility)
        print(json.dumps({"seconds": best}))
    jax.distributed.shutdown()
""")


def devices_section(quick: bool) -> dict:
    n, p = (20_480, 1001) if quick else (102_400, 1001)
    tmp = Path(tempfile.mkdtemp())
    rows = []
    base = None
    setups = [("1 device, no mesh, unpruned", 0, 0), ("1 device, no mesh, pruned", 0, 1)]
    for d in (1, 2, 4):
        setups += [
            (f"{d}-device mesh, shard_map (unpruned)", d, 0),
            (f"{d}-device mesh, pruned tiles round-robin", d, 1),
        ]
    for label, d, pr in setups:
        env = {**os.environ, "JAX_PLATFORMS": "cpu", "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
        out = subprocess.run(
            [sys.executable, "-c", _DEVICE_CHILD, str(n), str(p), str(d), str(tmp / f"d{d}{pr}.npy"), str(pr)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=900,
        )
        secs = json.loads(out.stdout.strip().splitlines()[-1])["seconds"]
        gu = np.load(tmp / f"d{d}{pr}.npy")
        base = gu if base is None else base
        rows.append(
            {"setup": label, "N": n, "P": p, "seconds": secs, "identical_to_first": bool(np.array_equal(gu, base))}
        )
        print(rows[-1], flush=True)
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    procs = []
    for pid in range(2):
        env = {
            **os.environ,
            "JAX_PLATFORMS": "cpu",
            "JAXFAIR_COORDINATOR": f"localhost:{port}",
            "JAXFAIR_NUM_PROCESSES": "2",
            "JAXFAIR_PROCESS_ID": str(pid),
        }
        env.pop("XLA_FLAGS", None)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", _PROCESS_CHILD, str(n), str(p), str(tmp / "proc.npy")],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
            )
        )
    outs = [pr.communicate(timeout=900)[0] for pr in procs]
    secs = json.loads(outs[0].strip().splitlines()[-1])["seconds"]
    gu = np.load(tmp / "proc.npy")
    rows.append(
        {
            "setup": "2 local processes (gloo), half the users each (shard_map, unpruned)",
            "N": n,
            "P": p,
            "seconds": secs,
            "identical_to_first": bool(np.array_equal(gu, base)),
        }
    )
    print(rows[-1], flush=True)
    return {"rows": rows}


# ---------------------------------------------------------------- BO on Ray
def bo_section(quick: bool, scenario: str) -> dict:
    from jaxfair.bo import run_study
    from jaxfair.bo.study import TIMING_COLUMNS

    proto = dict(trials=2, iterations=3) if quick else dict(trials=20, iterations=20)
    res = {"scenario": scenario, **proto, "methods": "random,ei,fair-ehvi"}
    frames = {}
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            frames[workers] = run_study(
                scenario, "random,ei,fair-ehvi", out=d, workers=workers, progress=False, **proto
            )
            res[f"wall_s_workers{workers}"] = time.perf_counter() - t
        print(res, flush=True)
    cols = [c for c in frames[1].columns if c not in TIMING_COLUMNS]
    res["rows_identical"] = bool(frames[1][cols].equals(frames[2][cols]))
    res["speedup_workers2"] = res["wall_s_workers1"] / res["wall_s_workers2"]
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sections", default="prune,k,sweep,devices,bo")
    ap.add_argument("--bo-scenario", default="toy")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "scale.json"
    result = json.loads(path.read_text()) if path.exists() else {}
    result["machine"] = machine()
    result["quick"] = args.quick
    result["note"] = "measured on a 2-core machine shared with other jobs; ratios are taken within one run"
    todo = [s.strip() for s in args.sections.split(",") if s.strip()]
    for s in todo:
        if s == "prune":
            result["prune"] = prune_section(args.quick)
        elif s == "k":
            result["k_ratios"] = k_section(args.quick)
        elif s == "sweep":
            result["sweep2"] = sweep_section(args.quick)
        elif s == "devices":
            result["devices"] = devices_section(args.quick)
        elif s == "bo":
            result["bo_workers"] = bo_section(args.quick, args.bo_scenario)
        else:
            raise SystemExit(f"--sections: unknown section {s!r}")
        _save(result, out)
    for key in ("prune", "k_ratios", "sweep2", "devices"):
        if key in result:
            print(f"\n## {key}\n" + pd.DataFrame(result[key]["rows"]).to_string(index=False))
    if "bo_workers" in result:
        print("\n## bo_workers\n" + json.dumps(result["bo_workers"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
