"""``synthetic`` (paper appendix C.3.3): two independent ``make_classification`` problems.

Protocol (decisions the paper leaves open are marked *):

* Label k ∈ {y1, y2} comes from its own ``sklearn.datasets.make_classification`` problem
  (``n_samples`` rows, seeds ``seed*2+k``); row i of the scenario pairs row i of both
  problems, so the two labels are independent.
* *``class_sep=2.0`` (sklearn default 1.0; other parameters default): with the default
  the forests reach AUC ≈ 0.975, the paper reports 0.995 / 0.996; 2.0 gives ≈ 0.995.
* *A random 20 % of rows (``train_frac``) trains one random forest (300 trees, default
  parameters) per label; the other 80 % are scored and form the pool (as for MovieLens).
* *"A user is m random rows": held-out rows are dealt at random into pseudo-users of
  ``rows_per_user`` rows (default 100), and each sampled session draws m of them afresh.
  Groups are assigned to pseudo-users at random, exactly ``minority_share`` (20 %) minority;
  groups are independent of X, so the models are fair per group by construction.
* *User covariates X (``Batch.features``, d = 2): the mean, over the pseudo-user's pool rows,
  of the first feature of each of the two ``make_classification`` problems. Option
  ``group_covariate_corr`` c ∈ [0, 1) (default 0: random groups as above) puts in the minority
  the pseudo-users with the largest ``c · z + √(1 − c²) · ε`` (z the standardised first
  covariate, ε ~ N(0, 1)), so p(x | G) differs between groups. Rows are dealt at random, so
  Y | X depends on X only weakly here: terms (4) and (6) of the decomposition stay small.
* *Provider groups (SPEC §7, ``Batch.item_group``): rows are not items, so each pool row gets
  a random provider group, the minority provider (group 1) with probability
  ``provider_share`` (default 0.2), drawn at load time from its own stream
  (``default_rng([seed, 13])``) — the pool, its cache entry and every other number are
  unchanged. Scores are equally good for both providers (no built-in provider bias).
"""

from __future__ import annotations

import time

import numpy as np

from jaxfair.scenarios.cache import load_or_build
from jaxfair.scenarios.groups import random_groups
from jaxfair.scenarios.pool import SAMPLING_OPTIONS, PoolScenario, pool_arrays
from jaxfair.scenarios.rf import fit_predict_forest
from jaxfair.utils.progress import progress_bar as tqdm

__all__ = ["build_synthetic_pool", "load_synthetic"]

LABELS = ("y1", "y2")
GROUPS = ("majority", "minority")
FEATURES = ("mean_x0_problem_y1", "mean_x0_problem_y2")
# Changes whenever the pool's arrays change meaning or gain a field (part of the cache key).
POOL_FORMAT = "user-features-v1"


def _check(n_samples, n_trees, train_frac, rows_per_user, minority_share, class_sep, group_covariate_corr=0.0):
    if (
        isinstance(group_covariate_corr, bool)
        or not isinstance(group_covariate_corr, (int, float))
        or not 0.0 <= group_covariate_corr < 1.0
    ):
        raise ValueError(f"group_covariate_corr: expected 0 <= c < 1, got {group_covariate_corr!r}")
    if not isinstance(n_samples, int) or n_samples < 100:
        raise ValueError(f"n_samples: expected an int >= 100, got {n_samples!r}")
    if not isinstance(n_trees, int) or n_trees < 1:
        raise ValueError(f"n_trees: expected an int >= 1, got {n_trees!r}")
    if not 0.0 < train_frac < 1.0:
        raise ValueError(f"train_frac: expected 0 < train_frac < 1, got {train_frac!r}")
    if not isinstance(rows_per_user, int) or rows_per_user < 1:
        raise ValueError(f"rows_per_user: expected an int >= 1, got {rows_per_user!r}")
    if not 0.0 < minority_share < 1.0:
        raise ValueError(f"minority_share: expected 0 < share < 1, got {minority_share!r}")
    if not class_sep > 0:
        raise ValueError(f"class_sep: expected > 0, got {class_sep!r}")


def build_synthetic_pool(
    seed: int,
    n_samples: int,
    n_trees: int,
    train_frac: float,
    rows_per_user: int,
    minority_share: float,
    class_sep: float,
    group_covariate_corr: float = 0.0,
    n_jobs: int = -1,
):
    """Build the pool arrays (see :func:`pool.pool_arrays`) and build info."""
    from sklearn.datasets import make_classification

    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    perm = rng.permutation(n_samples)
    n_train = int(round(train_frac * n_samples))
    train, held = perm[:n_train], perm[n_train:]
    scores = np.zeros((len(held), 2), np.float32)
    labels = np.zeros((len(held), 2), np.float32)
    row_cov = np.zeros((len(held), 2))
    for k in tqdm(range(2), desc="synthetic: random forests", unit="label"):
        x, y = make_classification(n_samples=n_samples, class_sep=class_sep, random_state=seed * 2 + k)
        row_cov[:, k] = x[held, 0]
        scores[:, k] = fit_predict_forest(
            x[train], y[train], x[held], n_trees=n_trees, seed=seed * 2 + k, n_jobs=n_jobs
        )
        labels[:, k] = y[held]
    n_users = max(1, len(held) // rows_per_user)
    user = rng.permutation(len(held)) % n_users
    n_rows = np.bincount(user, minlength=n_users)
    feats = np.stack([np.bincount(user, weights=row_cov[:, k], minlength=n_users) for k in range(2)], 1)
    feats /= np.maximum(n_rows, 1)[:, None]
    if group_covariate_corr == 0:
        group = random_groups(n_users, minority_share, rng)
    else:
        z = (feats[:, 0] - feats[:, 0].mean()) / max(feats[:, 0].std(), 1e-12)
        t = group_covariate_corr * z + np.sqrt(1 - group_covariate_corr**2) * rng.standard_normal(n_users)
        group = np.zeros(n_users, np.int32)
        group[np.argsort(-t, kind="stable")[: int(round(minority_share * n_users))]] = 1
    arrays = pool_arrays(scores, labels, user, group, rng, user_features=feats)
    info = {
        "rows_train": int(n_train),
        "rows_pool": int(len(held)),
        "build_seconds": round(time.perf_counter() - t0, 2),
    }
    return arrays, info


def load_synthetic(
    seed: int = 0,
    *,
    cache_dir=None,
    data_dir=None,
    use_cache: bool = True,
    n_samples: int = 25_000,
    n_trees: int = 300,
    train_frac: float = 0.2,
    rows_per_user: int = 100,
    minority_share: float = 0.2,
    class_sep: float = 2.0,
    group_covariate_corr: float = 0.0,
    n_jobs: int = -1,
    prefs=None,
    provider_share: float = 0.2,
    **sampling,
) -> PoolScenario:
    """Build or load the ``synthetic`` scenario (module docstring). ``data_dir`` is unused."""
    _check(n_samples, n_trees, train_frac, rows_per_user, minority_share, class_sep, group_covariate_corr)
    unknown = set(sampling) - set(SAMPLING_OPTIONS)
    if unknown:
        raise ValueError(f"options: unknown option(s) {sorted(unknown)} for 'synthetic'")
    if (
        isinstance(provider_share, bool)
        or not isinstance(provider_share, (int, float))
        or not 0.0 < provider_share < 1.0
    ):
        raise ValueError(f"provider_share: expected 0 < share < 1, got {provider_share!r}")
    options = dict(
        n_samples=n_samples,
        n_trees=n_trees,
        train_frac=train_frac,
        rows_per_user=rows_per_user,
        minority_share=minority_share,
        class_sep=class_sep,
    )
    if group_covariate_corr:  # only when set, so the default's options (and describe) read as before
        options["group_covariate_corr"] = group_covariate_corr
    meta = {"scenario": "synthetic", "seed": seed, "options": options, "data": None, "pool_format": POOL_FORMAT}
    arrays, info, hit = load_or_build(
        meta, lambda: build_synthetic_pool(seed, n_jobs=n_jobs, **options), cache_dir, use_cache
    )
    n_rows = len(arrays["scores"])
    provider = np.random.default_rng([seed, 13]).random(n_rows) < provider_share
    arrays = dict(arrays, item=np.arange(n_rows, dtype=np.int64), item_group=provider.astype(np.int32))
    return PoolScenario(
        name="synthetic",
        label_names=LABELS,
        group_names=GROUPS,
        arrays=arrays,
        seed=seed,
        options=dict(options, provider_share=provider_share),
        sampling=sampling,
        info=dict(info, cache_hit=hit),
        prefs=prefs,
        feature_names=FEATURES,
        item_group_names=("majority-provider", "minority-provider"),
        description="two independent make_classification problems, one random forest per label",
    )
