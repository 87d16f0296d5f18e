"""Ctrl-C at random times: N real SIGINTs to `jaxfair bo`, each must end with exit 130 and one line.

Issue #21's goal: 20 of 20 SIGINTs at random times → exit 130, the one line
``jaxfair: interrupted; rerun the same command to resume``, no traceback, no core dump (exit 139
or a negative status), and the study resumable. This is not a speed benchmark; it lives here
because it takes minutes (tests/test_sigint.py sends two signals at fixed points in CI).

Each trial starts the installed console script (``.venv/bin/jaxfair``, what a user runs) on the
same study directory and sends SIGINT after a delay drawn uniformly from [0, T], where T is the
time one uninterrupted run of the study took (measured first, on a separate directory). Trials
whose run finished before the signal count as "finished" (exit 0, nothing to interrupt) and are
reported apart. After the trials the same command runs to completion, and its rows are compared
with the uninterrupted run's (timing columns aside): a resumed study must give the same rows.

Usage: ``python benchmarks/sigint_trials.py [--trials 20] [--seed 0] [--out benchmarks/results] [--name sigint]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from jaxfair.utils.atomic import atomic_write_text

MESSAGE = "jaxfair: interrupted; rerun the same command to resume"
ARGS = ["bo", "--scenario", "toy", "--methods", "random,ei", "--trials", "2", "--iterations", "3", "--users", "300"]


def _jaxfair() -> str:
    script = Path(sys.executable).with_name("jaxfair")
    if not script.exists():
        raise SystemExit(f"no console script beside {sys.executable}: install the package (make venv)")
    return str(script)


def _run(out: Path, delay: float | None) -> dict:
    start = time.monotonic()
    proc = subprocess.Popen(
        [_jaxfair(), *ARGS, "--out", str(out)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    if delay is not None:
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=900)
    lines = err.strip().splitlines()
    return {
        "delay_s": delay,
        "rc": proc.returncode,
        "wall_s": round(time.monotonic() - start, 2),
        "last_line": lines[-1] if lines else "",
        "traceback": "Traceback" in err or "Exception ignored" in err,
        "stderr_lines": len(lines),
    }


def _rows(out: Path) -> pd.DataFrame:
    """The study's rows without the timing columns (``t_*``: wall-clock, never equal twice)."""
    rows = pd.read_csv(out / "rows.csv")
    rows = rows.drop(columns=[c for c in rows.columns if c.startswith("t_")])
    return rows.sort_values(["method", "trial", "iteration"]).reset_index(drop=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--name", default="sigint", help="result file name (without .json)")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(args.seed)
    work = Path(tempfile.mkdtemp(prefix="jaxfair-sigint-"))
    reference = _run(work / "reference", None)
    if reference["rc"] != 0:
        raise SystemExit(f"the uninterrupted run failed: {reference}")
    horizon = reference["wall_s"]
    trials: list[dict] = []
    # Until --trials signals have landed in a running command (a run that finished first is not one).
    while sum(t["outcome"] != "finished" for t in trials) < args.trials and len(trials) < 3 * args.trials:
        result = _run(work / "study", float(rng.uniform(0.0, horizon)))
        result["outcome"] = (
            "finished"
            if result["rc"] == 0
            else "clean"
            if result["rc"] == 130 and not result["traceback"] and result["last_line"] == MESSAGE
            else "FAILED"
        )
        trials.append(result)
        print(
            f"[{len(trials)}] SIGINT at {result['delay_s']:.2f} s: {result['outcome']} "
            f"(exit {result['rc']}, {result['last_line']!r})",
            flush=True,
        )
        if result["outcome"] == "finished":  # the next signal goes to a fresh study
            shutil.rmtree(work / "study")
    final = _run(work / "study", None)
    same_rows = final["rc"] == 0 and _rows(work / "study").equals(_rows(work / "reference"))
    interrupted = [t for t in trials if t["outcome"] != "finished"]
    summary = {
        "command": "jaxfair " + " ".join(ARGS) + " --out DIR",
        "seed": args.seed,
        "uninterrupted_wall_s": horizon,
        "trials": trials,
        "interrupted": len(interrupted),
        "clean": sum(t["outcome"] == "clean" for t in trials),
        "failed": sum(t["outcome"] == "FAILED" for t in trials),
        "finished_before_signal": sum(t["outcome"] == "finished" for t in trials),
        "resumed_rows_equal_uninterrupted": bool(same_rows),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load": os.getloadavg()},
    }
    args.out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.out / f"{args.name}.json", json.dumps(summary, indent=2) + "\n")
    print(
        f"{summary['clean']} of {len(interrupted)} interrupted runs clean (exit 130, one line, no traceback); "
        f"{summary['failed']} failed; {summary['finished_before_signal']} finished before the signal; "
        f"resumed rows equal the uninterrupted run's: {same_rows}"
    )
    if summary["failed"] == 0 and same_rows:
        shutil.rmtree(work)
        return 0
    print(f"kept {work} for inspection", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
