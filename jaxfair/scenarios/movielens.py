"""``movielens`` (paper appendix C.3.1) on MovieLens 100K (``ml-100k/u.data``, ``u.item``).

Protocol (decisions the paper leaves open are marked *; defaults tuned so that the AUC
table lands within ±0.03 of the paper's table 2 per group — see docs/readme_scenarios.md):

1. ``watched``: every observed rating is a positive. *Synthetic negatives: per user,
   ``neg_ratio`` = 5 × (the user's number of ratings) movies drawn uniformly without
   replacement among the movies the user did not rate (fewer if not enough exist). *A
   negative is placed in the user's timeline at the time of one of the user's watches
   drawn at random, so it gets the user features of that moment.
2. ``liked``: rating ≥ 3 for watched movies. For negatives it is imputed by a random forest
   (``n_trees`` trees, default parameters) trained on *all* watched rows (features below →
   rating ≥ 3), applied to the negatives. *``impute="rate"`` (default): 1 when the forest's
   probability is above the quantile that gives negatives the watched rows' like rate
   (82.5 %), so liked is not more or less frequent among unwatched movies;
   ``"threshold"``: probability ≥ ``impute_threshold`` (0.5 gives 96 % liked and a liked AUC
   of only ~0.70–0.80); ``"sample"``: a Bernoulli draw.
3. Features (38 columns): user = mean genre one-hot of the user's last ``window`` = 25
   watches, item = the movie's genre one-hot (19 genres incl. "unknown"). *For a watched
   row the window ends at and includes the watch itself (``include_current=True``: a
   pandas rolling mean over the watch sequence, as the paper's "2 documentaries and 1
   action movie in a rolling window of 3" example reads); a negative's window is the last
   ``window`` watches strictly before its time. (Excluding the current watch gives a
   watched AUC of ~0.68–0.70, far below the paper's 0.78.) ``id_features=True`` appends
   raw user and item ids (watched AUC ~0.84: too high; off by default).
4. Groups: ``groups="random"`` (default, the paper): gender is scrambled — users go to random
   80/20 groups (``minority_share``, exact count), so there is no Y|X shift across groups.
   ``groups="gender"``: the real gender from ``u.user`` (group 0 "male" = majority, group 1
   "female"; prevalences as in the file, 71/29), for :mod:`jaxfair.diagnose`.
5. A random ``train_frac`` = 20 % of all rows (positives and negatives) trains one random
   forest (``n_trees`` = 300, default parameters) per label; the other 80 % are scored and
   form the pool. A pool user's session is m of their rows drawn at random.
6. User covariates X (``Batch.features``, never the gender): the user's genre profile (mean
   genre one-hot over all their watches, 19 columns) and, when ``u.user`` is present, age / 50
   and the occupation one-hot (21 columns, ``u.user``'s occupations in sorted order).
7. Provider groups (SPEC §7, ``Batch.item_group``) by popularity: *head* (group 0) = the
   ``head_share`` = 20 % most-rated movies in ``u.data`` (rating count, ties by lower item id;
   ``round(head_share · n_items)`` movies of the ``n_items`` in ``u.item``), *tail* (group 1)
   = the rest, including movies nobody rated. The pool stores each row's movie id and the
   groups are computed at load time, so ``head_share`` is not part of the cache key.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd

from jaxfair.scenarios.cache import file_checksum, load_or_build
from jaxfair.scenarios.datapaths import resolve_dataset_dir
from jaxfair.scenarios.groups import random_groups
from jaxfair.scenarios.pool import SAMPLING_OPTIONS, PoolScenario, pool_arrays
from jaxfair.scenarios.rf import fit_forest
from jaxfair.utils.progress import progress_bar as tqdm

__all__ = [
    "build_movielens_pool",
    "gender_groups",
    "popularity_groups",
    "load_movielens",
    "read_ml100k",
    "read_users",
    "user_covariates",
    "user_item_features",
]

LABELS = ("watched", "liked")
GROUPS = ("majority", "minority")
GENDER_GROUPS = ("male", "female")
GROUPINGS = ("random", "gender")
N_GENRES = 19
SOURCE = "https://grouplens.org/datasets/movielens/100k/ (ml-100k.zip: u.data, u.item, u.user)"
# Changes whenever the pool's arrays change meaning or gain a field (part of the cache key).
POOL_FORMAT = "item-ids-v2"
ITEM_GROUPS = ("head", "tail")


def read_ml100k(directory: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """Ratings ``DataFrame[user, item, rating, ts]`` (0-based ids) and genres ``f32[n_items, 19]``.

    Raises:
      ValueError: naming the file and the problem for a malformed or empty file.
    """
    udata, uitem = directory / "u.data", directory / "u.item"
    for f in (udata, uitem):
        if f.stat().st_size == 0:
            raise ValueError(f"{f}: empty file")
    try:
        r = pd.read_csv(udata, sep="\t", header=None, names=["user", "item", "rating", "ts"])
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{udata}: empty file") from exc
    if r.shape[1] != 4 or r.isna().any().any() or len(r) == 0:
        raise ValueError(f"{udata}: expected 4 tab-separated integer columns (user, item, rating, ts) on every row")
    if not all(np.issubdtype(t, np.integer) for t in r.dtypes):
        raise ValueError(
            f"{udata}: non-integer values in columns {[c for c in r if not np.issubdtype(r[c].dtype, np.integer)]}"
        )
    if not r["rating"].between(1, 5).all():
        raise ValueError(f"{udata}: ratings must be in 1..5, got {sorted(r['rating'].unique().tolist())[:10]}")
    try:
        it = pd.read_csv(uitem, sep="|", header=None, encoding="latin-1")
    except pd.errors.EmptyDataError as exc:
        raise ValueError(f"{uitem}: empty file") from exc
    if it.shape[1] != 5 + N_GENRES:
        raise ValueError(
            f"{uitem}: expected {5 + N_GENRES} '|'-separated columns (id, title, dates, url, 19 genre flags), "
            f"got {it.shape[1]}"
        )
    flags = it.iloc[:, 5:]
    if flags.isna().any().any() or not flags.isin([0, 1]).all().all():
        raise ValueError(f"{uitem}: genre flags must be 0/1 on every row")
    ids = it.iloc[:, 0].to_numpy()
    n_items = int(ids.max())
    genres = np.zeros((n_items, N_GENRES), np.float32)
    genres[ids - 1] = flags.to_numpy(np.float32)
    if r["item"].max() > n_items or r["item"].min() < 1 or r["user"].min() < 1:
        raise ValueError(f"{udata}: item ids must be in 1..{n_items} (from {uitem}) and user ids >= 1")
    r = r.assign(user=r["user"] - 1, item=r["item"] - 1)
    return r, genres


def read_users(path: Path) -> pd.DataFrame:
    """``u.user`` as ``DataFrame[user (0-based), age, gender ('M'/'F'), occupation]``, sorted by user.

    Raises:
      ValueError: naming the file for a malformed row, a gender other than M/F or a bad age.
    """
    if path.stat().st_size == 0:
        raise ValueError(f"{path}: empty file")
    try:
        u = pd.read_csv(
            path,
            sep="|",
            header=None,
            names=["user", "age", "gender", "occupation", "zip"],
            encoding="latin-1",
            dtype={"zip": str},
        )
    except pd.errors.ParserError as exc:
        raise ValueError(f"{path}: malformed row ({exc})") from exc
    if u[["user", "age", "gender", "occupation"]].isna().any().any() or len(u) == 0:
        raise ValueError(f"{path}: expected 5 '|'-separated columns (id, age, gender, occupation, zip) on every row")
    if not u["gender"].isin(["M", "F"]).all():
        raise ValueError(f"{path}: gender must be M or F, got {sorted(set(u['gender']) - {'M', 'F'})[:5]}")
    if not (np.issubdtype(u["age"].dtype, np.integer) and np.issubdtype(u["user"].dtype, np.integer)):
        raise ValueError(f"{path}: user id and age must be integers")
    u = u.assign(user=u["user"] - 1).sort_values("user").reset_index(drop=True)
    return u[["user", "age", "gender", "occupation"]]


def user_covariates(
    ratings: pd.DataFrame, genres: np.ndarray, n_users: int, users: pd.DataFrame | None
) -> tuple[np.ndarray, tuple[str, ...]]:
    """User covariates ``f32[n_users, d]`` and their names (module docstring, step 6).

    The gender is never among them. Users absent from ``users`` get age 0 and no occupation.
    """
    counts = np.bincount(ratings["user"], minlength=n_users).astype(np.float64)
    prof = np.zeros((n_users, N_GENRES))
    np.add.at(prof, ratings["user"].to_numpy(), genres[ratings["item"].to_numpy()])
    prof /= np.maximum(counts, 1)[:, None]
    names = [f"genre{g}" for g in range(N_GENRES)]
    cols = [prof]
    if users is not None:
        occ = sorted(users["occupation"].unique())
        age = np.zeros((n_users, 1))
        onehot = np.zeros((n_users, len(occ)))
        ok = users["user"].to_numpy() < n_users
        uid = users["user"].to_numpy()[ok]
        age[uid, 0] = users["age"].to_numpy()[ok] / 50.0
        onehot[uid, np.searchsorted(occ, users["occupation"].to_numpy()[ok])] = 1.0
        cols += [age, onehot]
        names += ["age/50"] + [f"occupation={o}" for o in occ]
    return np.hstack(cols).astype(np.float32), tuple(names)


def popularity_groups(ratings: pd.DataFrame, n_items: int, head_share: float = 0.2) -> np.ndarray:
    """Provider group of every movie, ``i32[n_items]``: 0 = head, 1 = tail (module docstring, step 7).

    Head = the ``round(head_share · n_items)`` movies with the most ratings in ``ratings``
    (0-based ``item`` column), ties broken by the lower item id.
    """
    if isinstance(head_share, bool) or not isinstance(head_share, (int, float)) or not 0.0 < head_share < 1.0:
        raise ValueError(f"head_share: expected 0 < share < 1, got {head_share!r}")
    counts = np.bincount(np.asarray(ratings["item"], np.int64), minlength=n_items)[:n_items]
    order = np.lexsort((np.arange(n_items), -counts))  # most ratings first, then lower id
    n_head = int(round(head_share * n_items))
    if not 1 <= n_head < n_items:
        raise ValueError(f"head_share: {head_share!r} of {n_items} movies leaves the head or the tail empty")
    group = np.ones(n_items, np.int32)
    group[order[:n_head]] = 0
    return group


def gender_groups(users: pd.DataFrame, n_users: int, path: Path) -> np.ndarray:
    """``i32[n_users]``: 0 = male, 1 = female (``u.user``); every rating user must be listed."""
    g = np.full(n_users, -1, np.int64)
    uid = users["user"].to_numpy()
    ok = uid < n_users
    g[uid[ok]] = (users["gender"].to_numpy()[ok] == "F").astype(np.int64)
    if np.any(g < 0):
        raise ValueError(f"{path}: no gender for user id(s) {(np.flatnonzero(g < 0)[:5] + 1).tolist()} of u.data")
    return g.astype(np.int32)


def sample_negatives(ratings: pd.DataFrame, n_items: int, neg_ratio: float, rng: np.random.Generator) -> pd.DataFrame:
    """Per user, ``round(neg_ratio * n_u)`` unrated movies (uniform, without replacement).

    Each negative copies the timestamp of one of the user's ratings drawn at random.
    Returns ``DataFrame[user, item, ts]``.
    """
    out = []
    for u, grp in ratings.groupby("user", sort=True):
        rated = np.zeros(n_items, bool)
        rated[grp["item"].to_numpy()] = True
        pool = np.flatnonzero(~rated)
        k = min(len(pool), int(round(neg_ratio * len(grp))))
        items = rng.choice(pool, size=k, replace=False)
        ts = grp["ts"].to_numpy()[rng.integers(0, len(grp), size=k)]
        out.append(pd.DataFrame({"user": u, "item": items, "ts": ts}))
    return pd.concat(out, ignore_index=True)


def user_item_features(
    ratings: pd.DataFrame,
    rows: pd.DataFrame,
    genres: np.ndarray,
    window: int,
    id_features: bool = False,
    include_current: bool = False,
) -> np.ndarray:
    """Features ``f32[R, 38]`` of ``rows[user, item, ts]``: user rolling genre mean ‖ item genres.

    The user part is the mean genre one-hot of the user's last ``window`` watches with a
    timestamp strictly before the row's (ties: earlier in file order count as before for no
    row — only strictly earlier times), zeros when there is none.
    """
    feats = np.zeros((len(rows), 2 * N_GENRES), np.float32)
    feats[:, N_GENRES:] = genres[rows["item"].to_numpy()]
    rows_by_user = rows.groupby("user").indices
    for u, grp in ratings.groupby("user", sort=True):
        idx = rows_by_user.get(u)
        if idx is None:
            continue
        order = np.argsort(grp["ts"].to_numpy(), kind="stable")
        ts = grp["ts"].to_numpy()[order]
        g = genres[grp["item"].to_numpy()[order]]
        csum = np.vstack([np.zeros((1, N_GENRES), np.float32), np.cumsum(g, axis=0)])
        # Number of watches strictly before each row's time, then the last `window` of them.
        # include_current: a watch's own movie counts in its window (a pandas rolling mean over
        # the watch sequence, as in the paper's example); ties in time count as before.
        n_before = np.searchsorted(ts, rows["ts"].to_numpy()[idx], side="right" if include_current else "left")
        lo = np.maximum(n_before - window, 0)
        cnt = (n_before - lo)[:, None]
        feats[idx, :N_GENRES] = np.where(cnt > 0, (csum[n_before] - csum[lo]) / np.maximum(cnt, 1), 0.0)
    if id_features:
        ids = rows[["user", "item"]].to_numpy(np.float32)
        feats = np.hstack([feats, ids])
    return feats


def build_movielens_pool(
    directory: Path,
    seed: int,
    *,
    neg_ratio: float,
    window: int,
    id_features: bool,
    include_current: bool,
    n_trees: int,
    train_frac: float,
    minority_share: float,
    impute: str,
    impute_threshold: float,
    groups: str = "random",
    n_jobs: int = -1,
):
    """Build the pool arrays (see :func:`pool.pool_arrays`, with ``user_features``) and build info."""
    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    steps = tqdm(total=5, desc="movielens", unit="step")
    ratings, genres = read_ml100k(directory)
    steps.set_postfix_str("negatives + features")
    neg = sample_negatives(ratings, len(genres), neg_ratio, rng)
    x_pos = user_item_features(ratings, ratings, genres, window, id_features, include_current)
    x_neg = user_item_features(ratings, neg, genres, window, id_features, False)
    steps.update(1)

    steps.set_postfix_str("imputing liked for negatives (forest on watched rows)")
    liked_pos = (ratings["rating"].to_numpy() >= 3).astype(np.float32)
    imputer = fit_forest(x_pos, liked_pos, n_trees=n_trees, seed=seed + 1, n_jobs=n_jobs)
    p_neg = imputer.predict_proba(x_neg)[:, list(imputer.classes_).index(1)]
    if impute == "threshold":
        liked_neg = (p_neg >= impute_threshold).astype(np.float32)
    elif impute == "rate":
        # Threshold at the quantile that gives negatives the watched rows' like rate.
        liked_neg = (p_neg >= np.quantile(p_neg, 1.0 - liked_pos.mean())).astype(np.float32)
    else:
        liked_neg = (rng.random(len(p_neg)) < p_neg).astype(np.float32)
    del imputer
    steps.update(1)

    x = np.vstack([x_pos, x_neg])
    y = np.column_stack([np.r_[np.ones(len(x_pos)), np.zeros(len(x_neg))], np.r_[liked_pos, liked_neg]]).astype(
        np.float32
    )
    user = np.r_[ratings["user"].to_numpy(), neg["user"].to_numpy()]
    item = np.r_[ratings["item"].to_numpy(), neg["item"].to_numpy()]
    perm = rng.permutation(len(x))
    n_train = int(round(train_frac * len(x)))
    train, held = perm[:n_train], perm[n_train:]
    scores = np.zeros((len(held), 2), np.float32)
    for k, name in enumerate(LABELS):
        steps.set_postfix_str(f"forest for {name}")
        rf = fit_forest(x[train], y[train, k], n_trees=n_trees, seed=seed + 2 + k, n_jobs=n_jobs)
        scores[:, k] = rf.predict_proba(x[held])[:, list(rf.classes_).index(1)]
        del rf
        steps.update(1)
    n_users = int(ratings["user"].max()) + 1
    user_file = directory / "u.user"
    users = read_users(user_file) if user_file.is_file() else None
    if groups == "gender":
        if users is None:
            raise ValueError(f"groups: 'gender' needs {user_file} (from {SOURCE})")
        group = gender_groups(users, n_users, user_file)
    else:
        group = random_groups(n_users, minority_share, rng)
    feats, _ = user_covariates(ratings, genres, n_users, users)
    arrays = pool_arrays(scores, y[held], user[held], group, rng, user_features=feats, item=item[held])
    steps.update(1)
    steps.close()
    info = {
        "ratings": int(len(ratings)),
        "negatives": int(len(neg)),
        "rows_train": int(n_train),
        "rows_pool": int(len(held)),
        "liked_rate_watched": round(float(liked_pos.mean()), 4),
        "liked_rate_negatives": round(float(liked_neg.mean()), 4),
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    return arrays, info


def load_movielens(
    seed: int = 0,
    *,
    data_dir=None,
    cache_dir=None,
    use_cache: bool = True,
    neg_ratio: float = 5.0,
    window: int = 25,
    id_features: bool = False,
    include_current: bool = True,
    n_trees: int = 300,
    train_frac: float = 0.2,
    minority_share: float = 0.2,
    impute: str = "rate",
    impute_threshold: float = 0.5,
    groups: str = "random",
    n_jobs: int = -1,
    prefs=None,
    head_share: float = 0.2,
    **sampling,
) -> PoolScenario:
    """Build or load the ``movielens`` scenario (module docstring for the protocol).

    ``groups``: ``"random"`` (scrambled 80/20, the paper's default) or ``"gender"`` (real
    groups from ``u.user``; ``minority_share`` is then unused). ``head_share``: share of the
    most-rated movies in the head provider group (step 7; default 0.2, SPEC §7).
    """
    if groups not in GROUPINGS:
        raise ValueError(f"groups: expected one of {list(GROUPINGS)}, got {groups!r}")
    if not neg_ratio > 0:
        raise ValueError(f"neg_ratio: expected > 0, got {neg_ratio!r}")
    if not isinstance(window, int) or window < 1:
        raise ValueError(f"window: expected an int >= 1, got {window!r}")
    if not isinstance(n_trees, int) or n_trees < 1:
        raise ValueError(f"n_trees: expected an int >= 1, got {n_trees!r}")
    if not 0.0 < train_frac < 1.0:
        raise ValueError(f"train_frac: expected 0 < train_frac < 1, got {train_frac!r}")
    if impute not in ("threshold", "rate", "sample"):
        raise ValueError(f"impute: expected 'threshold', 'rate' or 'sample', got {impute!r}")
    if not 0.0 < impute_threshold < 1.0:
        raise ValueError(f"impute_threshold: expected 0 < t < 1, got {impute_threshold!r}")
    unknown = set(sampling) - set(SAMPLING_OPTIONS)
    if unknown:
        raise ValueError(f"options: unknown option(s) {sorted(unknown)} for 'movielens'")
    if isinstance(head_share, bool) or not isinstance(head_share, (int, float)) or not 0.0 < head_share < 1.0:
        raise ValueError(f"head_share: expected 0 < share < 1, got {head_share!r}")
    required = ["u.data", "u.item"] + (["u.user"] if groups == "gender" else [])
    directory = resolve_dataset_dir("ml-100k", required, data_dir, source=SOURCE)
    options = dict(
        neg_ratio=neg_ratio,
        window=window,
        id_features=bool(id_features),
        include_current=bool(include_current),
        n_trees=n_trees,
        train_frac=train_frac,
        minority_share=minority_share,
        impute=impute,
        impute_threshold=impute_threshold,
        groups=groups,
    )
    files = [directory / f for f in ("u.data", "u.item", "u.user") if (directory / f).is_file()]
    meta = {
        "scenario": "movielens",
        "seed": seed,
        "options": options,
        "data": file_checksum(files),
        "pool_format": POOL_FORMAT,
    }
    arrays, info, hit = load_or_build(
        meta, lambda: build_movielens_pool(directory, seed, n_jobs=n_jobs, **options), cache_dir, use_cache
    )
    ratings, genres = read_ml100k(directory)
    arrays = dict(arrays, item_group=popularity_groups(ratings, len(genres), head_share)[arrays["item"]])
    users = read_users(directory / "u.user") if (directory / "u.user").is_file() else None
    _, feature_names = user_covariates(pd.DataFrame({"user": [0], "item": [0]}), np.zeros((1, N_GENRES)), 1, users)
    return PoolScenario(
        name="movielens",
        label_names=LABELS,
        group_names=GENDER_GROUPS if groups == "gender" else GROUPS,
        arrays=arrays,
        seed=seed,
        options=dict(options, data_dir=str(directory), head_share=head_share),
        sampling=sampling,
        info=dict(info, cache_hit=hit),
        prefs=prefs,
        feature_names=feature_names,
        item_group_names=ITEM_GROUPS,
        description="MovieLens 100K: watched (ratings + synthetic negatives), liked (rating >= 3, "
        "imputed for negatives); random forests on rolling-genre features",
    )
