"""Stand-in generators for the ModCloth / Electronics CSVs (the real files are not shipped).

``generate_standin(dataset, n_rows, seed)`` returns a DataFrame with exactly the columns of
Wan et al.'s file, written by :func:`write_standin` and then read by the *real* loader, so
the whole pipeline — negatives, labels, the Flax model — runs end to end. A stand-in is
always reported as such: scenario names ``modcloth-standin`` / ``electronics-standin``,
``Scenario.is_standin = True``, ``describe()`` and every figure title (``Scenario.title``).

What is plausible about it (default sizes are the real files'):

* sizes: ModCloth 99,893 rows, ~44.8k users, ~1k items; Electronics 1,292,954 rows,
  ~1.16M users, ~9.6k items (most users rate once; activity heavy-tailed).
* item popularity Zipf-like; ratings from a latent user·item affinity plus item quality,
  cut to the real files' rating shares (ModCloth mostly 4–5, Electronics ~60 % fives).
* ModCloth ``fit`` "Just right" for ~2/3 of reviews, more often for high ratings, ~10 %
  missing; ``user_attr`` Small/Large (~80/20), ``model_attr`` Small / Small&Large.
* Electronics ``model_attr`` Female / Male / Female&Male, ``user_attr`` Female / Male.
None of these numbers are the real data's; they only make the pipeline's inputs realistic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from jaxfair.scenarios.marketbias import DATASETS
from jaxfair.utils.atomic import atomic_write

__all__ = ["REAL_SIZES", "generate_standin", "write_standin"]

# rows, users, items of the real files (Wan et al., 2020).
REAL_SIZES = {"modcloth": (99_893, 44_783, 1_020), "electronics": (1_292_954, 1_157_633, 9_560)}
_RATING_SHARES = {"modcloth": [0.04, 0.08, 0.17, 0.28, 0.43], "electronics": [0.08, 0.05, 0.08, 0.19, 0.60]}


def _sizes(dataset: str, n_rows: int) -> tuple[int, int]:
    rows, users, items = REAL_SIZES[dataset]
    n_users = max(2, int(round(n_rows * users / rows)))
    n_items = max(10, int(round(items * min(1.0, (n_rows / rows) ** 0.5))))
    return n_users, n_items


def generate_standin(dataset: str, n_rows: int | None = None, seed: int = 0) -> pd.DataFrame:
    """A DataFrame with the columns of ``df_<dataset>.csv`` (see the module docstring)."""
    if dataset not in DATASETS:
        raise ValueError(f"dataset: expected one of {list(DATASETS)}, got {dataset!r}")
    n_rows = REAL_SIZES[dataset][0] if n_rows is None else n_rows
    if not isinstance(n_rows, (int, np.integer)) or n_rows < 20:
        raise ValueError(f"n_rows: expected an int >= 20, got {n_rows!r}")
    rng = np.random.default_rng(seed)
    n_users, n_items = _sizes(dataset, n_rows)
    # Every user rates once; the remaining rows go to users with heavy-tailed activity.
    act = rng.pareto(1.2, n_users) + 1e-3
    counts = 1 + rng.multinomial(n_rows - n_users, act / act.sum())
    user = np.repeat(np.arange(n_users), counts)
    pop = 1.0 / np.arange(1, n_items + 1) ** 0.9
    item = rng.permutation(n_items)[rng.choice(n_items, size=n_rows, p=pop / pop.sum())]
    # Ratings: latent affinity cut at the target shares.
    a, b = rng.normal(size=(n_users, 4)), rng.normal(size=(n_items, 4))
    quality = rng.normal(0, 0.8, n_items)
    z = quality[item] + 0.5 * np.einsum("rd,rd->r", a[user], b[item]) + rng.normal(0, 0.8, n_rows)
    cuts = np.quantile(z, np.cumsum(_RATING_SHARES[dataset])[:-1])
    rating = 1 + np.searchsorted(cuts, z)
    year_item = rng.integers(2010 if dataset == "modcloth" else 1999, 2019, n_items)
    year = year_item[item]
    days = rng.integers(0, 365, n_rows)
    date = pd.to_datetime(year.astype(str), format="%Y") + pd.to_timedelta(days + 365 * rng.integers(0, 2, n_rows), "D")
    split = rng.choice(3, size=n_rows, p=[0.8, 0.1, 0.1])
    cats = {
        "modcloth": ["Dresses", "Tops", "Bottoms", "Outerwear"],
        "electronics": [
            "Portable Audio & Video",
            "Computers & Accessories",
            "Camera & Photo",
            "Headphones",
            "Accessories & Supplies",
            "Home Audio",
            "Television & Video",
            "Car Electronics & GPS",
            "Security & Surveillance",
            "Wearable Technology",
        ],
    }[dataset]
    category = np.array(cats)[rng.integers(0, len(cats), n_items)][item]
    brands = np.array([f"Brand{k:03d}" for k in range(max(5, n_items // 20))], dtype=object)
    brand = brands[rng.integers(0, len(brands), n_items)][item]
    if dataset == "modcloth":
        brand = np.where(rng.random(n_rows) < 0.7, None, brand)  # most ModCloth rows have no brand
        user_size = rng.integers(0, 39, n_users)
        size = np.clip(user_size[user] + rng.integers(-2, 3, n_rows), 0, 38)
        # Items run small/large (learnable per item); fits better when rated higher.
        runs = rng.normal(0, 1.5, n_items)
        p_ok = 1 / (1 + np.exp(-(0.5 * (rating - 3) + 0.5 - np.abs(runs[item]))))
        ok = rng.random(n_rows) < p_ok
        misfit = np.array(["Slightly small", "Slightly large", "Very small", "Very large"], dtype=object)
        fit = np.where(ok, "Just right", misfit[rng.choice(4, size=n_rows, p=[0.35, 0.35, 0.15, 0.15])]).astype(object)
        fit[rng.random(n_rows) < 0.1] = None
        user_attr = np.where(rng.random(n_users) < 0.8, "Small", "Large")[user]
        model_attr = np.where(rng.random(n_items) < 0.42, "Small", "Small&Large")[item]
        cols = dict(
            item_id=item,
            user_id=user,
            rating=rating,
            timestamp=date.strftime("%Y-%m-%d %H:%M:%S+00:00"),
            size=size,
            fit=fit,
            user_attr=user_attr,
            model_attr=model_attr,
            category=category,
            brand=brand,
            year=year,
            split=split,
        )
    else:
        user_attr = np.where(rng.random(n_users) < 0.7, "Male", "Female")[user]
        model_attr = np.array(["Female", "Male", "Female&Male"])[rng.choice(3, size=n_items, p=[0.15, 0.45, 0.4])][item]
        cols = dict(
            item_id=item,
            user_id=user,
            rating=rating,
            timestamp=date.strftime("%Y-%m-%d"),
            model_attr=model_attr,
            category=category,
            brand=brand,
            year=year,
            user_attr=user_attr,
            split=split,
        )
    df = pd.DataFrame(cols)
    assert tuple(df.columns) == DATASETS[dataset][1]
    return df


def write_standin(dataset: str, directory: Path, n_rows: int | None = None, seed: int = 0) -> Path:
    """Write (once; atomically) ``df_<dataset>_STANDIN_n<rows>_seed<seed>.csv`` under ``directory``."""
    n = REAL_SIZES[dataset][0] if n_rows is None else n_rows
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"df_{dataset}_STANDIN_n{n}_seed{seed}.csv"
    if path.is_file():
        return path
    df = generate_standin(dataset, n, seed)
    return atomic_write(path, lambda fh: df.to_csv(fh, index=False), newline="")


def load_standin(dataset: str, seed: int = 0, *, data_dir=None, cache_dir=None, n_rows: int | None = None, **options):
    """The ``<dataset>-standin`` scenario: a generated file through the real pipeline.

    The file goes to ``<cache_dir>/standin/`` (default cache dir when ``cache_dir`` is None);
    ``data_dir`` is unused (nothing is read from the real data locations).
    """
    from jaxfair.scenarios.cache import default_cache_dir
    from jaxfair.scenarios.marketbias import load_marketbias

    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    path = write_standin(dataset, root / "standin", n_rows, seed)
    sc = load_marketbias(
        dataset, seed, cache_dir=cache_dir, path=path, name=f"{dataset}-standin", is_standin=True, **options
    )
    sc.options["n_rows"] = REAL_SIZES[dataset][0] if n_rows is None else n_rows
    return sc
