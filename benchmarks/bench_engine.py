"""Engine benchmarks (issue #2): grid kernel vs pandas / NumPy / PyTorch, sweep2, scaling, memory.

Run: ``.venv/bin/python benchmarks/bench_engine.py [--quick]``. Writes
``benchmarks/results/engine.json`` and ``engine.csv`` and prints a Markdown table.
All baselines are measured in the same run on the same batch; slow baselines are timed on
a subset of α and extrapolated linearly (cost is exactly linear in the number of α),
which the table says. Every method's answers are checked against the grid kernel's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd

import jaxfair as jf
from jaxfair.utils.atomic import atomic_write_text

OUT = Path(__file__).parent / "results"


def _cpuinfo() -> tuple[str, set]:
    """The CPU's model name and flags (Linux ``/proc/cpuinfo``; empty elsewhere)."""
    model, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not model:
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return model, flags


def machine() -> dict:
    """Where a benchmark ran, including what decides the kernel's vector code: the CPU's AVX
    flags and ``XLA_FLAGS`` (``--xla_cpu_max_isa=AVX2`` caps it), and the load when it started."""
    model, flags = _cpuinfo()
    return {
        "cpu_model": model,
        "cpu_avx2": "avx2" in flags,
        "cpu_avx512f": "avx512f" in flags,
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        "load_average_at_start": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "jax_backend": jax.default_backend(),
        "devices": [str(d) for d in jax.devices()],
        "numpy": np.__version__,
        "torch": __import__("torch").__version__,
    }


def timeit(fn, repeat=3):
    """Best of ``repeat`` wall times (after the caller's warm-up) and the last result."""
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


# ---------------------------------------------------------------- baselines
def pandas_loop(df: pd.DataFrame, alphas: np.ndarray, prefs: np.ndarray, n_groups: int) -> np.ndarray:
    """What a careful researcher writes first: for each α, for each user, pick the best row."""
    out = np.zeros((len(alphas), n_groups))
    users = list(df.groupby("user"))
    for p, (a0, a1) in enumerate(alphas):
        sums = np.zeros(n_groups)
        counts = np.zeros(n_groups)
        for _, rows in users:
            rows = rows[rows["retrieved"]]
            g = int(rows["group"].iloc[0]) if len(rows) else None
            if g is None:
                continue
            score = a0 * rows["f0"] + a1 * rows["f1"]
            best = rows.loc[score.idxmax()]
            sums[g] += prefs[g, 0] * best["y0"] + prefs[g, 1] * best["y1"]
            counts[g] += 1
        out[p] = sums / counts
    return out


def numpy_loop(scores, labels, mask, group, prefs, alphas):
    """Vectorised over users, a Python loop over α (float32, like the kernel)."""
    value = np.einsum("nmk,nk->nm", labels, prefs[group].astype(np.float32))
    counts = np.bincount(group, minlength=prefs.shape[0])
    out = np.empty((len(alphas), prefs.shape[0]))
    rows = np.arange(len(group))
    for p, a in enumerate(alphas.astype(np.float32)):
        s = np.where(mask, scores @ a, -np.inf)
        idx = s.argmax(axis=1)
        u = np.where(mask.any(1), value[rows, idx], 0.0)
        out[p] = np.bincount(group, weights=u, minlength=prefs.shape[0]) / counts
    return out


def torch_vectorised(scores, labels, mask, group, prefs, alphas, chunk=256):
    """Vectorised over α and users in PyTorch (chunks of α bound memory)."""
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    s_t, m_t = torch.from_numpy(np.array(scores)), torch.from_numpy(np.array(mask))  # writable copies
    g_t = torch.from_numpy(group.astype(np.int64))
    value = torch.einsum(
        "nmk,nk->nm", torch.from_numpy(np.array(labels)), torch.from_numpy(prefs.astype(np.float32))[g_t]
    )
    counts = torch.bincount(g_t, minlength=prefs.shape[0]).double()
    out = []
    with torch.no_grad():
        for c0 in range(0, len(alphas), chunk):
            a = torch.from_numpy(alphas[c0 : c0 + chunk].astype(np.float32))
            s = torch.einsum("nmk,pk->pnm", s_t, a).masked_fill(~m_t[None], float("-inf"))
            idx = s.argmax(-1)
            u = torch.gather(value[None].expand(len(a), -1, -1), 2, idx[..., None])[..., 0]
            u = u * m_t.any(1)[None]
            sums = torch.zeros(len(a), prefs.shape[0], dtype=torch.float64).index_add_(1, g_t, u.double())
            out.append(sums / counts)
    return torch.cat(out).numpy()


# ---------------------------------------------------------------- sections
def headline(n_users: int, pandas_alphas: int, numpy_alphas: int) -> dict:
    sc = jf.scenarios.load("toy")
    batch = sc.sample(jax.random.PRNGKey(0), n_users)
    prefs = sc.prefs
    grid = jf.box_grid(2, 101, 0.01, 1.0)  # 101 × 101 = 10,201 α, none at the origin
    scores, labels = np.asarray(batch.scores), np.asarray(batch.labels)
    mask, group = np.asarray(batch.mask), np.asarray(batch.group)
    res = {"n_users": n_users, "m": batch.n_candidates, "K": 2, "n_alpha": len(grid)}

    jf.evaluate(grid[:50], batch, prefs)  # compile
    t_jax, ev = timeit(lambda: jf.evaluate(grid, batch, prefs), repeat=3)
    ref = ev.group_utility
    jf.evaluate(grid[:50], batch, prefs, prune=False)
    t_unpruned, ev_unpruned = timeit(lambda: jf.evaluate(grid, batch, prefs, prune=False), repeat=3)

    def sweep_all():
        return jf.sweep2(batch, prefs).evaluate(grid)

    sweep_all()
    t_sweep, sw = timeit(sweep_all, repeat=5)
    t_sweep_build, sweep_obj = timeit(lambda: jf.sweep2(batch, prefs), repeat=5)
    t_sweep_query, _ = timeit(lambda: sweep_obj.evaluate(grid), repeat=5)

    torch_vectorised(scores, labels, mask, group, prefs, grid[:256])  # warm-up
    t_torch, tv = timeit(lambda: torch_vectorised(scores, labels, mask, group, prefs, grid), repeat=1)

    sub = np.linspace(0, len(grid) - 1, numpy_alphas).astype(int)
    numpy_loop(scores, labels, mask, group, prefs, grid[:5])
    t_np_sub, npv = timeit(lambda: numpy_loop(scores, labels, mask, group, prefs, grid[sub]), repeat=1)
    t_np = t_np_sub * len(grid) / len(sub)

    df = pd.DataFrame(
        {
            "user": np.repeat(np.arange(n_users), batch.n_candidates),
            "f0": scores[..., 0].ravel(),
            "f1": scores[..., 1].ravel(),
            "y0": labels[..., 0].ravel(),
            "y1": labels[..., 1].ravel(),
            "retrieved": mask.ravel(),
            "group": np.repeat(group, batch.n_candidates),
        }
    )
    sub_pd = np.linspace(0, len(grid) - 1, pandas_alphas).astype(int)
    t_pd_sub, pdv = timeit(lambda: pandas_loop(df, grid[sub_pd], prefs, 2), repeat=1)
    t_pd = t_pd_sub * len(grid) / len(sub_pd)

    def agree(x, rows):
        return float(np.abs(x - ref[rows]).max())

    res["methods"] = {
        "pandas per-user loop": {
            "seconds": t_pd,
            "measured_alphas": int(len(sub_pd)),
            "extrapolated": True,
            "max_abs_diff_vs_jax": agree(pdv, sub_pd),
        },
        "numpy per-alpha loop": {
            "seconds": t_np,
            "measured_alphas": int(len(sub)),
            "extrapolated": True,
            "max_abs_diff_vs_jax": agree(npv, sub),
        },
        "torch vectorised": {
            "seconds": t_torch,
            "measured_alphas": len(grid),
            "extrapolated": False,
            "max_abs_diff_vs_jax": agree(tv, slice(None)),
        },
        "jaxfair evaluate (grid kernel)": {
            "seconds": t_jax,
            "measured_alphas": len(grid),
            "extrapolated": False,
            "max_abs_diff_vs_jax": 0.0,
        },
        "jaxfair evaluate, no pruning (prune=False)": {
            "seconds": t_unpruned,
            "measured_alphas": len(grid),
            "extrapolated": False,
            "max_abs_diff_vs_jax": agree(ev_unpruned.group_utility, slice(None)),
        },
        "jaxfair sweep2 (build + 10,201 queries)": {
            "seconds": t_sweep,
            "measured_alphas": len(grid),
            "extrapolated": False,
            "build_seconds": t_sweep_build,
            "query_seconds": t_sweep_query,
            "n_breakpoints": int(sweep_obj.breakpoints.size),
            "max_abs_diff_vs_jax": agree(sw.group_utility, slice(None)),
            "share_of_alpha_exactly_equal": float(np.mean(np.all(np.abs(sw.group_utility - ref) < 1e-6, axis=1))),
        },
    }
    for v in res["methods"].values():
        v["speedup_of_grid_kernel"] = v["seconds"] / t_jax
    res["sweep2_speedup_over_grid"] = t_jax / t_sweep
    return res


def scaling() -> list[dict]:
    rows = []
    sc2 = jf.scenarios.load("toy")
    for n in (1_000, 10_000, 100_000):
        batch = sc2.sample(jax.random.PRNGKey(1), n)
        grid = jf.box_grid(2, 101, 0.01, 1.0)
        jf.evaluate(grid[:10], batch, sc2.prefs)
        t, _ = timeit(lambda: jf.evaluate(grid, batch, sc2.prefs), repeat=2 if n < 100_000 else 1)
        rows.append(
            {
                "axis": "N",
                "N": n,
                "P": len(grid),
                "K": 2,
                "seconds": t,
                "ns_per_user_alpha_candidate": t / (n * len(grid) * 20) * 1e9,
            }
        )
    batch = sc2.sample(jax.random.PRNGKey(1), 10_000)
    for n_side in (11, 32, 101, 320):
        grid = jf.box_grid(2, n_side, 0.01, 1.0)
        jf.evaluate(grid, batch, sc2.prefs)
        t, _ = timeit(lambda: jf.evaluate(grid, batch, sc2.prefs), repeat=2)
        rows.append(
            {
                "axis": "P",
                "N": 10_000,
                "P": len(grid),
                "K": 2,
                "seconds": t,
                "ns_per_user_alpha_candidate": t / (10_000 * len(grid) * 20) * 1e9,
            }
        )
    for k in (2, 4, 8):
        sck = jf.scenarios.load("toy", n_labels=k)
        batch = sck.sample(jax.random.PRNGKey(1), 10_000)
        alphas = np.random.default_rng(0).dirichlet(np.ones(k), size=2_000)
        jf.evaluate(alphas, batch, sck.prefs)
        t, _ = timeit(lambda: jf.evaluate(alphas, batch, sck.prefs), repeat=2)
        rows.append(
            {
                "axis": "K",
                "N": 10_000,
                "P": len(alphas),
                "K": k,
                "seconds": t,
                "ns_per_user_alpha_candidate": t / (10_000 * len(alphas) * 20) * 1e9,
            }
        )
    return rows


_MEMORY_CHILD = """
import resource, sys, time, json, jax, jaxfair as jf
n = int(sys.argv[1])
sc = jf.scenarios.load("toy")
batch = sc.sample(jax.random.PRNGKey(0), n)
grid = jf.box_grid(2, 101, 0.01, 1.0)
t = time.perf_counter()
ev = jf.evaluate(grid, batch, sc.prefs)
t_eval = time.perf_counter() - t
t = time.perf_counter()
sw = jf.sweep2(batch, sc.prefs).evaluate(grid)
t_sweep = time.perf_counter() - t
print(json.dumps({"N": n, "P": len(grid), "evaluate_seconds": t_eval, "sweep2_seconds": t_sweep,
                  "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20,
                  "max_abs_diff_sweep_vs_grid": float(abs(ev.utility - sw.utility).max())}))
"""


def memory(n_users: int) -> dict:
    """Peak RSS of a fresh process evaluating N users × 10,201 α (ru_maxrss, whole process)."""
    res = subprocess.run(
        [sys.executable, "-c", _MEMORY_CHILD, str(n_users)], capture_output=True, text=True, check=True
    )
    return json.loads(res.stdout.strip().splitlines()[-1])


def markdown(result: dict) -> str:
    h = result["headline"]
    lines = [
        f"Grid evaluation, N = {h['n_users']:,} users × m = {h['m']} × K = 2, {h['n_alpha']:,} α "
        f"(101 × 101 box), {result['machine']['cpus']} CPU cores, JAX backend {result['machine']['jax_backend']}:",
        "",
        "| method | seconds | grid kernel is × faster | max abs diff of group utility vs grid kernel |",
        "|---|---:|---:|---:|",
    ]
    for name, v in h["methods"].items():
        note = f" (timed on {v['measured_alphas']} α, extrapolated)" if v["extrapolated"] else ""
        lines.append(
            f"| {name}{note} | {v['seconds']:.3f} | {v['speedup_of_grid_kernel']:.1f} | "
            f"{v['max_abs_diff_vs_jax']:.2g} |"
        )
    lines.append("")
    lines.append(f"sweep2 vs grid kernel: {h['sweep2_speedup_over_grid']:.1f}× faster")
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test), no 1M-user memory run")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    result = {"machine": machine(), "quick": args.quick}

    def save():  # after every section: a crash later loses nothing measured
        atomic_write_text(out / "engine.json", json.dumps(result, indent=2))

    if args.quick:
        result["headline"] = headline(1_000, pandas_alphas=2, numpy_alphas=50)
        save()
    else:
        result["headline"] = headline(10_000, pandas_alphas=3, numpy_alphas=1_000)
        save()
        result["scaling"] = scaling()
        save()
        result["memory"] = [memory(1_000_000)]
        save()
    rows = [{"method": k, **v} for k, v in result["headline"]["methods"].items()]
    pd.DataFrame(rows).to_csv(out / "engine.csv", index=False)
    if "scaling" in result:
        pd.DataFrame(result["scaling"]).to_csv(out / "engine_scaling.csv", index=False)
    print(markdown(result))
    if "scaling" in result:
        print(pd.DataFrame(result["scaling"]).to_string(index=False))
        print(result["memory"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
