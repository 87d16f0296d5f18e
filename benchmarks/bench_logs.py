"""Bring-your-own-logs benchmark: ``from_frame`` / ``from_file`` (Parquet) and ``sample`` times.

Synthetic logs of U users × 20 logged candidates (20 % minority, 90 % retrieved, one user
covariate, a candidate id so the duplicate check runs), for U = 10,000 and 100,000; both the
pooled scenario and the replay. ``sample`` is the median of 20 calls of 10,000 sessions after
compilation, blocked until ready. Writes ``benchmarks/results/logs.json`` (atomically).

Usage: ``python benchmarks/bench_logs.py [--users 10000,100000] [--out benchmarks/results]``.
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
import numpy as np
import pandas as pd

from jaxfair import scenarios
from jaxfair.utils.atomic import atomic_write_text

COLUMNS = dict(
    user="user_id",
    group="group",
    scores=["f_click", "f_like"],
    labels=["click", "like"],
    candidate="item_id",
    retrieved="retrieved",
    features=["activity"],
    prefs={"majority": [0.8, 0.2], "minority": [0.2, 0.8]},  # logs carry no prefs: stated here
)


def make_frame(n_users: int, per_user: int = 20, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = per_user * n_users
    u = np.repeat(np.arange(n_users), per_user)
    return pd.DataFrame(
        {
            "user_id": u,
            "item_id": np.tile(np.arange(per_user), n_users),
            "group": np.where(rng.random(n_users) < 0.2, "minority", "majority")[u],
            "f_click": rng.random(rows),
            "f_like": rng.random(rows),
            "click": (rng.random(rows) < 0.5).astype(int),
            "like": (rng.random(rows) < 0.5).astype(int),
            "retrieved": (rng.random(rows) < 0.9).astype(int),
            "activity": rng.normal(size=n_users)[u],
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--users", default="10000,100000")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for n_users in (int(u) for u in args.users.split(",")):
            df = make_frame(n_users)
            path = Path(tmp) / "logs.parquet"
            df.to_parquet(path, index=False)
            for replay in (False, True):
                t0 = time.perf_counter()
                sc = scenarios.from_frame(df, replay=replay, **COLUMNS)
                t_frame = time.perf_counter() - t0
                t0 = time.perf_counter()
                scenarios.from_file(path, replay=replay, **COLUMNS)
                t_file = time.perf_counter() - t0
                jax.block_until_ready(sc.sample(jax.random.PRNGKey(0), 10_000).scores)
                times = []
                for i in range(20):
                    t0 = time.perf_counter()
                    jax.block_until_ready(sc.sample(jax.random.PRNGKey(i + 1), 10_000).scores)
                    times.append(time.perf_counter() - t0)
                row = dict(
                    rows=len(df),
                    users=n_users,
                    replay=replay,
                    from_frame_s=round(t_frame, 3),
                    from_file_parquet_s=round(t_file, 3),
                    sample_10k_ms=round(1e3 * statistics.median(times), 2),
                )
                print(row, flush=True)
                results.append(row)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    payload = dict(
        machine=dict(
            platform=platform.platform(), cpus=os.cpu_count(), jax=jax.__version__, backend=jax.default_backend()
        ),
        results=results,
    )
    atomic_write_text(out / "logs.json", json.dumps(payload, indent=1))


if __name__ == "__main__":
    main()
