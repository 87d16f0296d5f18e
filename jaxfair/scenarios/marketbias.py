"""``modcloth`` and ``electronics`` (Wan et al., WSDM 2020 "marketing bias" data; paper C.3.2).

Files: ``marketbias/df_modcloth.csv`` (99,893 rows) and ``marketbias/df_electronics.csv``
(1,292,954 rows) from https://github.com/MengtingWan/marketBias (``data/``), searched as
described in :mod:`jaxfair.scenarios.datapaths`.

Protocol (decisions the paper leaves open are marked *):

1. Ids are factorised as Wan et al. do (a missing ``user_id``/``item_id`` becomes the id
   ``''``). Ratings must be integers 1..5, ``split`` in {0, 1, 2}.
2. Synthetic negatives exactly as Wan et al.'s ``get_neg_samples``: per user,
   ``neg_per_user`` (10) items drawn uniformly with replacement among all items except
   those the user rated ≥ 4.
3. *A negative's rating is the rating of a uniformly drawn observed review of the same item,
   shifted down by one (floor 1): the item's rating distribution shifted down. (The paper
   says "the rating distribution shifted down by one"; a single global distribution would
   make the negatives' labels independent of user and item — pure noise, AUC ≈ 0.5 on
   them — while the paper's AUCs of 0.87 / 0.83 need learnable labels. The paper's
   parenthetical example, "the probability of a 4 for a negative is the probability of a 3",
   reads as a shift *up*; we follow its words "shifted down".)
4. Labels (K = 2):
   * ``viewed``: *1 for an observed row, 0 for a synthetic negative.
   * ModCloth ``fit``: 1 iff ``fit == "Just right"`` (Wan et al.'s ``fit_score``). *A
     negative keeps the fit of its source review; a missing fit gets a Bernoulli draw with
     the item's "Just right" rate (global rate for an item with no fit at all).
   * Electronics ``rating``: 1 iff rating ≥ ``rating_threshold`` (4); negatives use their
     shifted rating.
5. *A random ``train_frac`` = 20 % of all rows trains the model (as for MovieLens), of which
   ``val_frac`` = 10 % is the early-stopping validation split; the other 80 % are scored
   and form the pool. (The file's ``split`` column is validated but not used.)
6. One multi-task CF model (:mod:`jaxfair.scenarios.cf_model`, Flax + Optax).
7. The flip: label and score of ``viewed`` (ModCloth) / ``rating`` (Electronics) become
   ``1 - y`` and ``1 - f``, named ``*_flipped`` — so the labels disagree. AUCs are unchanged.
8. *Groups: random 80/20 over users (``user_attr`` is not used), no Y|X shift.
9. *User covariates X (``Batch.features``): ``log1p`` of the user's number of reviews in the
   file and the mean rating they gave (d = 2).
10. Provider groups (SPEC §7, ``Batch.item_group``): the product's ``model_attr`` (the
   attribute of the model in its marketing image, as in Wan et al.), groups numbered in the
   sorted order of the values in the file — ModCloth ``Small`` (0) / ``Small&Large`` (1),
   Electronics ``Female`` (0) / ``Female&Male`` (1) / ``Male`` (2). *An item's group is the
   value on its first row in the file; a missing value is the group ``unknown``.
"""

from __future__ import annotations

import csv
import time
from pathlib import Path

import numpy as np
import pandas as pd

from jaxfair.scenarios.cf_model import CFConfig, predict_cf, train_cf
from jaxfair.scenarios.groups import random_groups
from jaxfair.scenarios.marketbias_negatives import sample_negatives, shifted_ratings, source_reviews
from jaxfair.scenarios.pool import pool_arrays
from jaxfair.utils.progress import progress_bar as tqdm

__all__ = [
    "DATASETS",
    "build_marketbias_pool",
    "flip_label",
    "load_marketbias",
    "read_marketbias",
    "sample_negatives",
    "shifted_ratings",
    "source_reviews",
]

SOURCE = "https://github.com/MengtingWan/marketBias (files data/df_modcloth.csv, data/df_electronics.csv)"
FIT_OK = "Just right"
FEATURES = ("log1p_reviews", "mean_rating")
# Changes whenever the pool's arrays change meaning or gain a field (part of the cache key).
POOL_FORMAT = "item-groups-v2"

# name → (file, columns in file order, labels, flipped label)
DATASETS = {
    "modcloth": (
        "df_modcloth.csv",
        (
            "item_id",
            "user_id",
            "rating",
            "timestamp",
            "size",
            "fit",
            "user_attr",
            "model_attr",
            "category",
            "brand",
            "year",
            "split",
        ),
        ("viewed", "fit"),
        "viewed",
    ),
    "electronics": (
        "df_electronics.csv",
        ("item_id", "user_id", "rating", "timestamp", "model_attr", "category", "brand", "year", "user_attr", "split"),
        ("viewed", "rating"),
        "rating",
    ),
}


def read_marketbias(path: Path, dataset: str) -> pd.DataFrame:
    """Read and validate one of Wan et al.'s CSVs.

    Returns:
      ``DataFrame[user, item, rating, model_attr, fit?]`` with 0-based factorised
      ``user``/``item`` (int64), ``rating`` int64 1..5, ``model_attr`` str (missing →
      ``"unknown"``) and, for ModCloth, ``fit`` float (1, 0 or NaN).
    Raises:
      ValueError: naming ``path`` and the problem: empty file, missing columns, a row with
        the wrong number of fields, a bad rating or split value.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset: expected one of {list(DATASETS)}, got {dataset!r}")
    _, columns, _, _ = DATASETS[dataset]
    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file (expected a header with columns {','.join(columns)})")
    with open(path, newline="") as fh:
        header = next(csv.reader(fh), [])
    header = [h.strip() for h in header]
    # pandas writes an unnamed index column first when saved with index=True (as Wan et al.'s files may be).
    if header and header[0] in ("", "Unnamed: 0"):
        header = header[1:]
        index_col = 0
    else:
        index_col = None
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; expected {','.join(columns)}")
    try:
        df = pd.read_csv(
            path, index_col=index_col, dtype={"user_id": str, "item_id": str}, on_bad_lines="error", low_memory=False
        )
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: malformed row ({exc})") from exc
    if len(df) == 0:
        raise ValueError(f"{path}: no data rows")
    rating = pd.to_numeric(df["rating"], errors="coerce")
    bad = ~rating.isin([1, 2, 3, 4, 5])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(
            f"{path}: rating must be an integer 1..5; data row {i + 1} has {df['rating'].iloc[i]!r} "
            f"({int(bad.sum())} bad rows)"
        )
    split = pd.to_numeric(df["split"], errors="coerce")
    bad = ~split.isin([0, 1, 2])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise ValueError(f"{path}: split must be 0, 1 or 2; data row {i + 1} has {df['split'].iloc[i]!r}")
    # Wan et al. map a missing id to '' (one shared anonymous id).
    user = pd.factorize(df["user_id"].fillna("").to_numpy())[0]
    item = pd.factorize(df["item_id"].fillna("").to_numpy())[0]
    out = pd.DataFrame(
        {
            "user": user.astype(np.int64),
            "item": item.astype(np.int64),
            "rating": rating.to_numpy(np.int64),
            "model_attr": df["model_attr"].fillna("unknown").astype(str).to_numpy(),
        }
    )
    if dataset == "modcloth":
        fit = df["fit"]
        if fit.notna().any() and not (fit == FIT_OK).any():
            raise ValueError(
                f"{path}: column fit never says {FIT_OK!r}; values seen: {sorted(fit.dropna().unique())[:8]}"
            )
        out["fit"] = np.where(fit.isna(), np.nan, (fit == FIT_OK).astype(np.float64))
    return out


def model_attr_groups(df: pd.DataFrame) -> tuple[np.ndarray, tuple[str, ...]]:
    """Provider group of every item, ``i32[n_items]``, and the group names (module docstring, step 10).

    ``df`` is :func:`read_marketbias`'s frame; an item's group is its first row's ``model_attr``,
    numbered in sorted order of the values.
    """
    n_items = int(df["item"].max()) + 1
    first = df.drop_duplicates("item", keep="first")
    names = tuple(sorted(first["model_attr"].unique()))
    group = np.zeros(n_items, np.int32)
    group[first["item"].to_numpy()] = np.searchsorted(np.array(names, dtype=object), first["model_attr"].to_numpy())
    return group, names


def flip_label(scores: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Copies of ``scores, labels [R, K]`` with label k's outcome and prediction reversed (1 − x)."""
    scores, labels = np.array(scores, copy=True), np.array(labels, copy=True)
    scores[:, k] = 1.0 - scores[:, k]
    labels[:, k] = 1.0 - labels[:, k]
    return scores, labels


def build_marketbias_pool(
    path: Path,
    dataset: str,
    seed: int,
    *,
    neg_per_user: int,
    rating_threshold: int,
    train_frac: float,
    val_frac: float,
    minority_share: float,
    cf: CFConfig,
    progress: bool = True,
):
    """Read the CSV, sample negatives, label, train the CF model, score the pool.

    Returns ``(arrays, info)`` (see :func:`jaxfair.scenarios.pool.pool_arrays`).
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    steps = tqdm(total=4, desc=dataset, unit="step", disable=not progress)
    steps.set_postfix_str("reading")
    df = read_marketbias(path, dataset)
    n_users, n_items = int(df["user"].max()) + 1, int(df["item"].max()) + 1
    u, i, r = (df[c].to_numpy() for c in ("user", "item", "rating"))
    steps.update(1)
    steps.set_postfix_str("negatives + labels")
    nu, ni = sample_negatives(u, i, r, n_users, n_items, neg_per_user, rng)
    src = source_reviews(i, ni, rng)
    nr = np.maximum(r[src] - 1, 1)
    users, items, ratings = np.r_[u, nu], np.r_[i, ni], np.r_[r, nr]
    viewed = np.r_[np.ones(len(u)), np.zeros(len(nu))]
    _, _, label_names, flipped = DATASETS[dataset]
    if dataset == "modcloth":
        fit_obs = df["fit"].to_numpy()
        known = ~np.isnan(fit_obs)
        # Item fit rate on reviews with a fit (global rate for items with none): fills missing fits.
        glob = fit_obs[known].mean() if known.any() else 0.5
        num = np.bincount(i[known], weights=fit_obs[known], minlength=n_items)
        den = np.bincount(i[known], minlength=n_items)
        p_item = np.where(den > 0, num / np.maximum(den, 1), glob)
        fit = np.r_[fit_obs, fit_obs[src]]  # a negative keeps its source review's fit
        miss = np.isnan(fit)
        fit[miss] = (rng.random(int(miss.sum())) < p_item[items[miss]]).astype(np.float64)
        second = fit
    else:
        second = (ratings >= rating_threshold).astype(np.float64)
    y = np.column_stack([viewed, second]).astype(np.float32)
    steps.update(1)

    perm = rng.permutation(len(users))
    n_model = int(round(train_frac * len(users)))
    model_rows, held = perm[:n_model], perm[n_model:]
    val = rng.random(n_model) < val_frac
    steps.set_postfix_str("training CF model")
    model, params, history = train_cf(
        users[model_rows], items[model_rows], y[model_rows], val, n_users, n_items, cf, seed, progress
    )
    steps.update(1)
    steps.set_postfix_str("scoring pool")
    scores = predict_cf(model, params, users[held], items[held])
    labels = y[held]
    scores, labels = flip_label(scores, labels, label_names.index(flipped))
    group = random_groups(n_users, minority_share, rng)
    n_rev = np.bincount(u, minlength=n_users).astype(np.float64)
    mean_rating = np.bincount(u, weights=r.astype(np.float64), minlength=n_users) / np.maximum(n_rev, 1)
    feats = np.column_stack([np.log1p(n_rev), mean_rating])
    item_group, group_names = model_attr_groups(df)
    arrays = pool_arrays(
        scores,
        labels,
        users[held],
        group,
        rng,
        user_features=feats,
        item=items[held],
        item_group=item_group[items[held]],
    )
    steps.update(1)
    steps.close()
    info = {
        "rows": int(len(df)),
        "users": n_users,
        "items": n_items,
        "negatives": int(len(nu)),
        "rows_train": int((~val).sum()),
        "rows_val": int(val.sum()),
        "rows_pool": int(len(held)),
        "rating_counts": np.bincount(r, minlength=6)[1:].tolist(),
        "cf": history,
        "item_group_names": list(group_names),
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    return arrays, info


def load_marketbias(
    dataset: str,
    seed: int = 0,
    *,
    data_dir=None,
    cache_dir=None,
    use_cache: bool = True,
    path=None,
    name: str | None = None,
    is_standin: bool = False,
    neg_per_user: int = 10,
    rating_threshold: int = 4,
    train_frac: float = 0.2,
    val_frac: float = 0.1,
    minority_share: float = 0.2,
    dim: int = 16,
    learning_rate: float = 0.01,
    l2: float = 1e-4,
    batch_size: int = 8192,
    max_epochs: int = 30,
    patience: int = 2,
    progress: bool = True,
    prefs=None,
    **sampling,
):
    """Build or load ``modcloth`` / ``electronics`` (module docstring for the protocol).

    Args:
      path: the CSV (default: ``marketbias/<file>`` searched as in :mod:`datapaths`).
      name, is_standin: set by the stand-in scenarios, which pass their generated file.
    Raises:
      FileNotFoundError: when the CSV is not found, saying where to download and put it.
    """
    from jaxfair.scenarios.cache import file_checksum, load_or_build
    from jaxfair.scenarios.datapaths import find_data_file
    from jaxfair.scenarios.pool import SAMPLING_OPTIONS, PoolScenario

    if dataset not in DATASETS:
        raise ValueError(f"dataset: expected one of {list(DATASETS)}, got {dataset!r}")
    fname, _, label_names, flipped = DATASETS[dataset]
    if not isinstance(neg_per_user, int) or neg_per_user < 1:
        raise ValueError(f"neg_per_user: expected an int >= 1, got {neg_per_user!r}")
    if rating_threshold not in (2, 3, 4, 5):
        raise ValueError(f"rating_threshold: expected 2..5, got {rating_threshold!r}")
    for nm, v in (("train_frac", train_frac), ("val_frac", val_frac)):
        if not 0.0 < v < 1.0:
            raise ValueError(f"{nm}: expected 0 < {nm} < 1, got {v!r}")
    unknown = set(sampling) - set(SAMPLING_OPTIONS)
    if unknown:
        raise ValueError(f"options: unknown option(s) {sorted(unknown)} for {dataset!r}")
    cf = CFConfig(
        dim=dim, learning_rate=learning_rate, l2=l2, batch_size=batch_size, max_epochs=max_epochs, patience=patience
    )
    path = Path(path) if path is not None else find_data_file("marketbias", fname, data_dir, source=SOURCE)
    name = name or dataset
    options = dict(
        neg_per_user=neg_per_user,
        rating_threshold=rating_threshold,
        train_frac=train_frac,
        val_frac=val_frac,
        minority_share=minority_share,
        dim=dim,
        learning_rate=learning_rate,
        l2=l2,
        batch_size=batch_size,
        max_epochs=max_epochs,
        patience=patience,
    )
    meta = {
        "scenario": name,
        "seed": seed,
        "options": options,
        "data": file_checksum([path]),
        "pool_format": POOL_FORMAT,
    }
    arrays, info, hit = load_or_build(
        meta,
        lambda: build_marketbias_pool(
            path,
            dataset,
            seed,
            neg_per_user=neg_per_user,
            rating_threshold=rating_threshold,
            train_frac=train_frac,
            val_frac=val_frac,
            minority_share=minority_share,
            cf=cf,
            progress=progress,
        ),
        cache_dir,
        use_cache,
    )
    labels = tuple(f"{n}_flipped" if n == flipped else n for n in label_names)
    what = "STAND-IN generated data with the schema of " if is_standin else ""
    return PoolScenario(
        name=name,
        label_names=labels,
        group_names=("majority", "minority"),
        arrays=arrays,
        seed=seed,
        options=dict(options, file=str(path)),
        sampling=sampling,
        info=dict(info, cache_hit=hit),
        prefs=prefs,
        is_standin=is_standin,
        feature_names=FEATURES,
        item_group_names=info.get("item_group_names"),
        description=f"{what}Wan et al. {dataset}: viewed via synthetic negatives, "
        f"{label_names[1]} label, multi-task CF (Flax), {flipped!r} flipped",
    )
