"""Dynamics over a preference set: one member against a Q-member set, timed in the same run (issue #28).

The slowest command a user met: ``jaxfair dynamics`` on a K = 3 scenario with a preference
set. This times :func:`jaxfair.dynamics.prefs_set.simulate_over_set` — what the command runs —
on the toy scenario with K = 3 at the command's defaults (10,000 slots, 200 periods, the
default policies ``fixed:1/1/1,retune,retune_fair:0.9`` on the 101-per-edge simplex grid of
5,151 α, R = 10), one seed, for sets of Q = 1, 2, 4, 8 members (``dirichlet:50`` around the
scenario's prefs). Each timed run (seed 0) follows a warm-up run of the same Q on another seed
(seed 1), so nothing is cached but the compiled code; the time covers the whole call: the bank,
the shared serving (:class:`~jaxfair.dynamics.serving.LabelSumTable`) and the scans, blocked
until the float64 results are on the host. The shared serving alone is timed too (a fresh
table, warm). Wall and process CPU seconds are recorded: the machine is shared, so the ratio
set/one-member measured in the same run is the number to read.

It uses only ``simulate_over_set``'s public arguments, so the same script times an older
checkout (``PYTHONPATH=<checkout> python benchmarks/bench_dynamics_set.py --members 1,8
--label before --warmup once``: the per-member loop compiles nothing new after the first
member, one warm-up suffices).

Writes ``benchmarks/results/dynamics_set[_LABEL].json`` (atomically). ``--plot PNG`` draws
seconds against members from ``dynamics_set.json`` and, when present, ``dynamics_set_before.json``
(and times nothing).

Usage: ``python benchmarks/bench_dynamics_set.py [--members 1,2,4,8] [--periods 200] [--slots 10000]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import time

import jax
import numpy as np

from jaxfair import scenarios
from jaxfair.dynamics import bank_for
from jaxfair.dynamics.policies import Fixed, default_policies, parse_policy
from jaxfair.dynamics.prefs_set import simulate_over_set
from jaxfair.dynamics.serving import LabelSumTable
from jaxfair.engine import grids
from jaxfair.engine.slate import as_slate
from jaxfair.preferences import PrefSet
from jaxfair.utils.atomic import atomic_write_text


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _timed(fn):
    """(result, wall s, process CPU s) of ``fn()``, blocked until its arrays are ready."""
    c0, t0 = _cpu(), time.perf_counter()
    out = jax.block_until_ready(fn())
    return out, time.perf_counter() - t0, _cpu() - c0


def _commit() -> str:
    """The commit of the checkout whose ``jaxfair`` is imported (the code timed)."""
    import jaxfair

    where = os.path.dirname(os.path.dirname(os.path.abspath(jaxfair.__file__)))
    try:
        return subprocess.run(
            ["git", "-C", where, "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "?"


def plot(results_dir: str, path: str) -> None:
    """Seconds against members: this code (wall and CPU) and, when measured, the code before."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {}
    for label, name in (
        ("vectorised scan", "dynamics_set.json"),
        ("per-member loop, before (Q = 1, 8)", "dynamics_set_before.json"),
    ):
        f = os.path.join(results_dir, name)
        if os.path.exists(f):
            with open(f) as fh:
                runs[label] = json.load(fh)
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    for (label, run), colour in zip(runs.items(), ("tab:blue", "tab:red"), strict=False):
        q = [r["members"] for r in run["results"]]
        ax.plot(q, [r["wall_s"] for r in run["results"]], "o-", color=colour, label=f"{label}: wall")
        ax.plot(q, [r["cpu_s"] for r in run["results"]], "s--", color=colour, alpha=0.6, label=f"{label}: CPU")
    first = next(iter(runs.values()))
    one = next(r for r in first["results"] if r["members"] == 1)
    qs = [r["members"] for r in first["results"]]
    ax.plot(qs, [3 * one["wall_s"]] * len(qs), ":", color="grey", label="goal: 3 × one member")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xticks(qs, [str(q) for q in qs])
    ax.set_xlabel("members of the preference set (Q)")
    ax.set_ylabel("seconds for one seed (log scale)")
    cmd = first["command_equivalent"].split()
    slots, periods = (int(cmd[cmd.index(flag) + 1]) for flag in ("--slots", "--periods"))
    ax.set_title(
        f"dynamics over a preference set: toy K = 3, {first['grid_alphas']:,} grid α,\n"
        f"{slots:,} slots × {periods} periods, 1 seed (2-core VM shared with other jobs)",
        fontsize=10,
    )
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)  # below: no curve hidden
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    print("wrote", path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--members", default="1,2,4,8", help="set sizes Q to time (comma-separated)")
    ap.add_argument("--labels", type=int, default=3, help="K of the toy scenario (default 3)")
    ap.add_argument("--grid", type=int, default=101, help="simplex grid points per edge (default 101)")
    ap.add_argument("--slots", type=int, default=10_000)
    ap.add_argument("--periods", type=int, default=200)
    ap.add_argument("--warmup", choices=("each", "once"), default="each", help="warm-up before each Q or the first")
    ap.add_argument("--label", default="", help="suffix of the JSON file (e.g. before)")
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--plot", default=None, metavar="PNG", help="only draw the figure from the JSON files in --out")
    args = ap.parse_args()
    if args.plot:
        plot(args.out, args.plot)
        return
    sizes = [int(q) for q in args.members.split(",")]
    sc = scenarios.load("toy", n_labels=args.labels)
    grid = grids.simplex_grid(args.labels, args.grid)
    policies = [parse_policy(p, args.labels, grid, 10) for p in default_policies(args.labels).split(",")]
    full = PrefSet.parse(
        f"dirichlet:50:{max(sizes)}",
        np.asarray(sc.prefs, np.float64),
        seed=0,
        group_names=list(sc.group_names),
        label_names=list(sc.label_names),
    )
    kw = dict(periods=args.periods, slots=args.slots)

    def run_set(q: int, seed: int):
        ps = PrefSet(full.values[:q], full.group_names, full.label_names, full.kind, full.params)
        runs = simulate_over_set(sc, policies, ps, seeds=[seed], **kw)
        return [(r[0].counts, r[0].sums) for r in runs]

    rows, first = [], None
    for i, q in enumerate(sizes):
        if args.warmup == "each" or i == 0:
            run_set(q, 1)
        out, wall, cpu = _timed(lambda q=q: run_set(q, 0))
        first = out[0] if first is None else first
        # Member 0 is the same member in every set: its trajectories must not depend on the others.
        same = bool(np.array_equal(out[0][0], first[0]) and np.array_equal(out[0][1], first[1]))
        rows.append(dict(members=q, wall_s=round(wall, 2), cpu_s=round(cpu, 2), member0_bits_as_smallest_set=same))
        print(json.dumps(rows[-1]), flush=True)
    # The shared part alone: the bank and one serving of the grid and the fixed α (a fresh table).
    bank = bank_for(sc, 0)
    slate = as_slate(1, None, None, sc.n_candidates)
    fixed = np.stack([p.alpha for p in policies if isinstance(p, Fixed)])

    def serve():
        table = LabelSumTable(bank.batch, slate)
        return [table.label_sums(grid), table.label_sums(fixed)]

    _, serve_wall, serve_cpu = _timed(serve)
    one = next(r for r in rows if r["members"] == 1)
    for r in rows:
        r["wall_ratio_to_one_member"] = round(r["wall_s"] / one["wall_s"], 2)
        r["cpu_ratio_to_one_member"] = round(r["cpu_s"] / one["cpu_s"], 2)
    out = dict(
        command_equivalent=(
            f"jaxfair dynamics --scenario toy --option n_labels={args.labels} --grid {args.grid} "
            f"--slots {args.slots} --periods {args.periods} --prefs-set dirichlet:50:Q --seeds 1"
        ),
        policies=[p.name for p in policies],
        grid_alphas=len(grid),
        bank_users=bank.n_users,
        sessions_per_user=bank.n_sessions,
        results=rows,
        shared_serving=dict(wall_s=round(serve_wall, 2), cpu_s=round(serve_cpu, 2)),
        code=_commit(),
        machine=dict(
            platform=platform.platform(),
            cpus=os.cpu_count(),
            loadavg=os.getloadavg(),
            note="2-core VM shared with other jobs running at the same time: absolute times are inflated and "
            "noisy; compare the ratios measured in the same run",
        ),
    )
    name = "dynamics_set" + (f"_{args.label}" if args.label else "") + ".json"
    atomic_write_text(os.path.join(args.out, name), json.dumps(out, indent=2) + "\n")
    print(json.dumps(out["shared_serving"]), "->", os.path.join(args.out, name))


if __name__ == "__main__":
    main()
