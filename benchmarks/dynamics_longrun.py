"""One-session vs long-run utility optimum: every α of the 101-point direction grid simulated at once.

For toy and MovieLens: ``simulate`` of all 101 α on 10,000 slots over T = 100 and 200
periods, seeds 0–2; the α with the highest mean horizon utility, its 3-seed t-interval, the
DER and minority amplification there, and the horizon utility at the one-session optima.
Writes ``benchmarks/results/dynamics_longrun.json`` (atomically).

Usage: ``python benchmarks/dynamics_longrun.py [--scenarios toy,movielens]``.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np

from jaxfair import scenarios
from jaxfair.dynamics import simulate
from jaxfair.dynamics.report import t_interval
from jaxfair.engine import grids
from jaxfair.utils.atomic import atomic_write_text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", default="toy,movielens")
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    g = grids.direction_grid(101)
    out = {}
    for name in args.scenarios.split(","):
        sc = scenarios.load(name)
        for periods in (100, 200):
            rs = [simulate(sc, g, periods=periods, slots=10_000, seed=s) for s in range(3)]
            u = np.stack([r.horizon_utility for r in rs])
            d = np.stack([r.horizon_der for r in rs]).mean(0)
            amp = np.stack([r.amplification[:, 1] for r in rs]).mean(0)
            mu, lo, hi = t_interval(u)
            i, j = int(np.argmax(mu)), int(np.argmax(d))
            out[f"{name}-T{periods}"] = dict(
                best_utility_w=float(g[i, 0]),
                utility=float(mu[i]),
                utility_lo=float(lo[i]),
                utility_hi=float(hi[i]),
                der_at=float(d[i]),
                amp_minority_at=float(amp[i]),
                best_der_w=float(g[j, 0]),
                der=float(d[j]),
                amp_minority_at_best_der=float(amp[j]),
                utility_at_066=float(mu[66]),
                utility_at_069=float(mu[69]),
            )
            print(name, periods, out[f"{name}-T{periods}"], flush=True)
    atomic_write_text(os.path.join(args.out, "dynamics_longrun.json"), json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
