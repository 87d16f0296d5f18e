"""The price of robustness (issue #20 item 4): Fair EHVI with point prefs vs robust objectives, paired.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_robust_bo.py [--scenario toy --prefs-set dirichlet:3:64
        --trials 3 --iterations 8]

Runs :func:`jaxfair.bo.robustness.price_of_robustness`: two Fair EHVI studies with one seed (same
initial designs, same user batches), one on (utility, DER) under the point prefs, one on
(utility_q10, der_min) over the preference set; each trial's recommended α is evaluated both
ways on the held-out batch. Writes ``benchmarks/results/robust_bo_<scenario>.json`` and
``robust_bo_<scenario>_{alphas,trials}.csv`` (the studies themselves go to a temporary directory).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="toy")
    ap.add_argument("--prefs-set", default="dirichlet:3:64")
    ap.add_argument("--objectives", default="utility_q10,der_min")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--iterations", type=int, default=8)
    ap.add_argument("--users", type=int, default=2000)
    ap.add_argument("--exact-users", type=int, default=20_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    from jaxfair import scenarios
    from jaxfair.bo.robustness import price_of_robustness

    sc = scenarios.load(args.scenario)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        res = price_of_robustness(
            sc,
            args.prefs_set,
            tmp,
            robust_objectives=args.objectives,
            trials=args.trials,
            iterations=args.iterations,
            users_per_eval=args.users,
            exact_users=args.exact_users,
            seed=args.seed,
        )
    out = ROOT / "results"
    out.mkdir(exist_ok=True)
    stem = f"robust_bo_{args.scenario}"
    res["alphas"].to_csv(out / f"{stem}_alphas.csv", index=False)
    res["trials"].to_csv(out / f"{stem}_trials.csv", index=False)
    record = dict(
        command="PYTHONPATH=. .venv/bin/python benchmarks/bench_robust_bo.py "
        + " ".join(f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()),
        scenario=args.scenario,
        prefs=[[float(x) for x in row] for row in sc.prefs],
        group_names=list(sc.group_names),
        prefs_set=args.prefs_set,
        summary=res["summary"],
        seconds=round(time.perf_counter() - t0, 1),
        machine=platform.platform(),
    )
    (out / f"{stem}.json").write_text(json.dumps(record, indent=2))
    print(res["alphas"].to_string(index=False))
    print(res["trials"].to_string(index=False))
    print(json.dumps(res["summary"], indent=2))


if __name__ == "__main__":
    main()
