"""Stretch (issue #16): does return in MovieLens 100K depend on a period's satisfaction?

Periods are weeks. For every (user, week) with at least one rating: the utility proxy s is
the share of that week's ratings >= 3 (the scenario's ``liked`` label), and the user
*returned* if it rated anything in the following week. Weeks whose next week lies after the
last time stamp are dropped (censored). Fits ρ(s) = ρ_min + (ρ_max − ρ_min)·σ(κ·(s − s_mid))
by maximum likelihood, with a bootstrap over users (95 % percentile intervals), and the
return rate by bins of s. Writes ``benchmarks/results/retention_fit_movielens.json``.

Usage: ``python benchmarks/fit_retention_movielens.py [--data /path/to/ml-100k] [--boot 100]``.
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
import pandas as pd
from scipy import optimize

from jaxfair.utils.atomic import atomic_write_text

WEEK = 7 * 24 * 3600


def user_weeks(path: str) -> pd.DataFrame:
    df = pd.read_csv(os.path.join(path, "u.data"), sep="\t", names=["user", "item", "rating", "ts"])
    df["week"] = (df["ts"] - df["ts"].min()) // WEEK
    last = int(df["week"].max())
    w = df.groupby(["user", "week"]).agg(s=("rating", lambda r: float(np.mean(r >= 3))), n=("rating", "size"))
    w = w.reset_index()
    active = set(zip(w["user"], w["week"], strict=True))
    w["returned"] = [(u, k + 1) in active for u, k in zip(w["user"], w["week"], strict=True)]
    return w[w["week"] < last].reset_index(drop=True)


def nll(theta, s, y):
    lo, hi = 1 / (1 + np.exp(-theta[0])), 1 / (1 + np.exp(-theta[1]))
    lo, hi = min(lo, hi), max(lo, hi)
    p = lo + (hi - lo) / (1 + np.exp(-theta[2] * (s - theta[3])))
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return -np.sum(y * np.log(p) + (1 - y) * np.log(1 - p))


def fit(s, y):
    best = None
    for k0 in (1.0, 5.0, 10.0):
        for m0 in (0.5, 0.8):
            r = optimize.minimize(
                nll,
                x0=[-1.0, 1.0, k0, m0],
                args=(s, y),
                method="Nelder-Mead",
                options=dict(maxiter=4000, xatol=1e-6, fatol=1e-6),
            )
            if best is None or r.fun < best.fun:
                best = r
    lo, hi = sorted(1 / (1 + np.exp(-best.x[:2])))
    return dict(
        rho_min=float(lo), rho_max=float(hi), kappa=float(best.x[2]), s_mid=float(best.x[3]), nll=float(best.fun)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/work/shared/data/ml-100k")
    ap.add_argument("--boot", type=int, default=100)
    ap.add_argument("--out", default="benchmarks/results")
    args = ap.parse_args()
    w = user_weeks(args.data)
    s, y = w["s"].to_numpy(), w["returned"].to_numpy().astype(float)
    point = fit(s, y)
    # Null model: a constant return rate. Likelihood-ratio statistic (3 extra parameters).
    p0 = y.mean()
    nll0 = -np.sum(y * np.log(p0) + (1 - y) * np.log(1 - p0))
    rng = np.random.default_rng(0)
    users = w["user"].unique()
    by_user = {u: idx for u, idx in w.groupby("user").indices.items()}
    boots = []
    for _ in range(args.boot):
        pick = np.concatenate([by_user[u] for u in rng.choice(users, len(users))])
        boots.append(fit(s[pick], y[pick]))
    ci = {
        k: [float(np.percentile([b[k] for b in boots], 2.5)), float(np.percentile([b[k] for b in boots], 97.5))]
        for k in ("rho_min", "rho_max", "kappa", "s_mid")
    }
    bins = pd.cut(w["s"], [-0.01, 0.5, 0.7, 0.8, 0.9, 0.99, 1.0])
    table = w.groupby(bins, observed=True)["returned"].agg(["mean", "size"]).reset_index()
    out = dict(
        user_weeks=int(len(w)),
        users=int(len(users)),
        return_rate=float(p0),
        fit=point,
        ci95=ci,
        lr_statistic=float(2 * (nll0 - point["nll"])),
        by_s_bin=[dict(s=str(r.s), return_rate=float(r["mean"]), n=int(r["size"])) for _, r in table.iterrows()],
    )
    print(json.dumps(out, indent=1))
    atomic_write_text(os.path.join(args.out, "retention_fit_movielens.json"), json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
