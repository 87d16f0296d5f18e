"""Generate the small example log file ``examples/logs.{csv,parquet}`` (deterministic, seed 0).

A made-up recommender's logs: 240 users in two groups (80 % "majority", 20 % "minority"),
two sessions each of 8 candidates, two models (``f_click``, ``f_like``) predicting two
outcomes (``click``, ``like``) that pull in different directions, a retrieval flag, and two
user covariates (``activity``, ``tenure``; ``tenure`` differs by group, the outcomes depend
on covariates only, never on the group). Run ``python examples/make_logs.py`` to rebuild.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent


def make_logs(n_users: int = 240, sessions: int = 2, candidates: int = 8, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    minority = rng.random(n_users) < 0.2
    activity = rng.normal(size=n_users).round(3)
    tenure = (rng.gamma(2.0, 1.0, n_users) + 1.5 * minority).round(3)
    n_items = 500
    item_click = rng.normal(size=n_items)
    item_like = -0.6 * item_click + 0.8 * rng.normal(size=n_items)  # catchy items are less liked
    rows = []
    for u in range(n_users):
        # A user never sees an item twice, so (user, item) identifies a row.
        shown = rng.choice(n_items, sessions * candidates, replace=False).reshape(sessions, candidates)
        for s, items in enumerate(shown):
            p_click = 1 / (1 + np.exp(-(item_click[items] + 0.5 * activity[u])))
            p_like = 1 / (1 + np.exp(-(item_like[items] + 0.3 * tenure[u] - 0.5)))
            for j, item in enumerate(items):
                rows.append(
                    dict(
                        user_id=f"u{u:04d}",
                        session=s,
                        item_id=f"i{item:04d}",
                        group="minority" if minority[u] else "majority",
                        f_click=round(float(np.clip(p_click[j] + 0.1 * rng.normal(), 0, 1)), 4),
                        f_like=round(float(np.clip(p_like[j] + 0.1 * rng.normal(), 0, 1)), 4),
                        click=int(rng.random() < p_click[j]),
                        like=int(rng.random() < p_like[j]),
                        retrieved=int(rng.random() < 0.9),
                        activity=activity[u],
                        tenure=tenure[u],
                    )
                )
    return pd.DataFrame(rows)


if __name__ == "__main__":
    logs = make_logs()
    logs.to_csv(HERE / "logs.csv", index=False)
    logs.to_parquet(HERE / "logs.parquet", index=False)
    print(f"wrote {len(logs)} rows to {HERE / 'logs.csv'} and {HERE / 'logs.parquet'}")
