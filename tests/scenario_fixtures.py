"""Small generated data files for the scenario tests (never the real datasets)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_ml100k(directory: Path, n_users: int = 30, n_items: int = 60, per_user: int = 25, seed: int = 0) -> Path:
    """A tiny ``ml-100k/`` (u.data, u.item) with the real formats; returns the ml-100k dir."""
    rng = np.random.default_rng(seed)
    d = Path(directory) / "ml-100k"
    d.mkdir(parents=True, exist_ok=True)
    genres = (rng.random((n_items, 19)) < 0.15).astype(int)
    genres[genres.sum(1) == 0, 0] = 1
    lines = []
    for i in range(n_items):
        flags = "|".join(str(g) for g in genres[i])
        lines.append(f"{i + 1}|Movie {i + 1} (1995)|01-Jan-1995||http://example.invalid/{i + 1}|{flags}")
    (d / "u.item").write_text("\n".join(lines) + "\n", encoding="latin-1")
    rows = []
    for u in range(n_users):
        items = rng.choice(n_items, size=per_user, replace=False)
        for it in items:
            # Ratings depend on the genre, so "liked" is learnable.
            r = int(np.clip(round(3 + genres[it, :3].sum() - genres[it, 3:6].sum() + rng.normal(0, 0.7)), 1, 5))
            rows.append(f"{u + 1}\t{it + 1}\t{r}\t{880000000 + int(rng.integers(0, 10**7))}")
    (d / "u.data").write_text("\n".join(rows) + "\n")
    return d
