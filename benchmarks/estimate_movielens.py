"""Revealed preferences on MovieLens 100K: ``estimate`` with "rated >= 4" and "rated again within 7 days".

MovieLens logs ratings, not servings, so "served sessions" are built as honestly as the data
allow: each rating event (user u rated film i at time t) is one session whose served item is
i; the group is the user's gender (u.user). The K = 3 labels describe the *film*, never the
user's own rating (a label like "liked = rating >= 3" would make "rated >= 4" nearly
tautological: every z = 1 session would have liked = 1):

- ``popular``: the film has >= 100 ratings in the whole data set (an item property);
- ``acclaimed``: the mean rating the film got from *other* users (leave-one-out) is >= 3.5;
- ``recent``: released in 1995 or later (the ratings are from Sep 1997 – Apr 1998).

Signals: ``rated4`` = the rating is >= 4 (immediate satisfaction); ``again7d`` = the user rates
another film within 7 days after this one (a return signal; events in the last 7 days of the
log are dropped, since their return cannot be observed). MovieLens users rate in bursts, so
``again7d`` is mostly "not the last rating of a burst" — read its result with that in mind.

Writes ``benchmarks/results/estimate_movielens.csv`` (both signals' tables) and ``.json``
(``estimate_movielens_<labels>.*`` for ``--labels`` other than all three).
The data (``/work/shared/data/ml-100k``, or ``--data``) must not be committed (licence).

Usage: ``python benchmarks/estimate_movielens.py [--data DIR] [--n-boot 200] [--labels popular,acclaimed]
[--out benchmarks/results]``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import pandas as pd

from jaxfair.preferences import estimate
from jaxfair.utils.atomic import atomic_write_text

LABELS = ["popular", "acclaimed", "recent"]
WEEK = 7 * 24 * 3600


def served_sessions(data: Path) -> pd.DataFrame:
    r = pd.read_csv(data / "u.data", sep="\t", names=["user", "item", "rating", "ts"])
    users = pd.read_csv(data / "u.user", sep="|", names=["user", "age", "gender", "occupation", "zip"])
    items = pd.read_csv(data / "u.item", sep="|", header=None, encoding="latin-1", usecols=[0, 2])
    items.columns = ["item", "release"]
    year = pd.to_datetime(items.release, format="%d-%b-%Y", errors="coerce").dt.year
    items["recent"] = (year >= 1995).astype(int)  # a missing date counts as not recent
    r = r.merge(users[["user", "gender"]], on="user").merge(items[["item", "recent"]], on="item")
    n_item = r.groupby("item").rating.transform("size")
    sum_item = r.groupby("item").rating.transform("sum")
    r["popular"] = (n_item >= 100).astype(int)
    loo = (sum_item - r.rating) / (n_item - 1)  # other users' mean; NaN for a film rated once
    r["acclaimed"] = (loo >= 3.5).astype(int)
    r["rated4"] = (r.rating >= 4).astype(int)
    r = r.sort_values(["user", "ts"], kind="stable")
    nxt = r.groupby("user").ts.shift(-1)  # the user's next rating (same second counts: a burst)
    r["again7d"] = ((nxt - r.ts) <= WEEK).astype(int)
    r["observable"] = r.ts <= r.ts.max() - WEEK  # a return after this event could still be seen
    return r.rename(columns={"gender": "group"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="/work/shared/data/ml-100k")
    ap.add_argument("--n-boot", type=int, default=200)
    ap.add_argument("--out", default="benchmarks/results")
    ap.add_argument("--labels", default=",".join(LABELS), help=f"a subset of {LABELS} (default all)")
    args = ap.parse_args()
    labels = args.labels.split(",")
    r = served_sessions(Path(args.data))
    tables, info = [], {"labels": labels, "groups": "gender (u.user)", "n_boot": args.n_boot, "signals": {}}
    for signal, frame in (("rated4", r), ("again7d", r[r.observable])):
        t0 = time.perf_counter()
        est = estimate(frame, user="user", group="group", labels=labels, satisfaction=signal, n_boot=args.n_boot)
        seconds = time.perf_counter() - t0
        t = est.to_frame()
        t.insert(0, "signal", signal)
        tables.append(t)
        info["signals"][signal] = {
            "sessions": len(frame),
            "base_rate": float(frame[signal].mean()),
            "label_rates": {lab: float(frame[lab].mean()) for lab in labels},
            "seconds": seconds,
            **{k: v for k, v in est.summary().items() if k == "groups"},
        }
        print(f"signal {signal}: {len(frame)} sessions, P(z=1) = {frame[signal].mean():.3f}, {seconds:.1f} s")
        print(est.coefficients().to_string(index=False, float_format=lambda v: f"{v:.3f}"))
        print(t.drop(columns="signal").to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    out = Path(args.out)
    stem = "estimate_movielens" + ("" if labels == LABELS else "_" + "_".join(labels))
    pd.concat(tables).to_csv(out / f"{stem}.csv", index=False, float_format="%.4f")
    atomic_write_text(out / f"{stem}.json", json.dumps(info, indent=2) + "\n")
    print(f"wrote {out / stem}.csv and .json")


if __name__ == "__main__":
    main()
