"""A scenario backed by a held-out pool of scored (user, item) rows: the paper's four datasets.

The pool holds R rows sorted by user: ``scores f32[R, K]`` (model predictions),
``labels f32[R, K]`` (outcomes), and per pool user ``offsets i64[U]``, ``counts i64[U]``
(the user's rows are ``offsets[u] : offsets[u] + counts[u]``) and ``user_group i32[U]``;
optionally ``user_features f32[U, d]``, user-level covariates X (never the group id), which
``sample`` gathers into ``Batch.features``, and ``item i64[R]`` (the row's item id) with
``item_group i32[R]`` (its provider group, SPEC §7), which ``sample`` gathers into
``Batch.item_group``.

``sample(key, N)`` draws N users uniformly (with replacement) and, per user, a retrieval of
m candidates among that user's rows:

* ``retrieval="default"`` (the paper): m distinct rows uniformly at random; a user with
  fewer than m rows gets all of them and the rest of the session is masked out.
* ``retrieval="single-label"`` (paper §3.2, Theorem 3.3): M = ``retrieval_pool`` > m distinct
  random rows, of which the top m by the score of label ``retrieval_label`` only are kept
  — retrieval optimised for one outcome.

Distinct rows are drawn with Floyd's algorithm (m steps per user, each comparing against
the ≤ m rows chosen so far), so the draw is exact, jit-compiled and O(N·m²), independent of
how many rows a user has.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxfair.engine.batch import Batch, check_features
from jaxfair.named_prefs import bind_prefs
from jaxfair.scenarios.base import Scenario

__all__ = ["PoolScenario", "SAMPLING_OPTIONS", "check_sampling_options", "default_prefs", "pool_arrays"]

# Options that change only how sessions are drawn, never the pool (not part of cache keys).
SAMPLING_OPTIONS = ("n_candidates", "retrieval", "retrieval_label", "retrieval_pool")


def default_prefs() -> np.ndarray:
    """Majority (group 0) weights label 0, minority weights label 1: (0.8, 0.2) / (0.2, 0.8)."""
    return np.array([[0.8, 0.2], [0.2, 0.8]])


def pool_arrays(
    scores: np.ndarray,
    labels: np.ndarray,
    user: np.ndarray,
    user_group: np.ndarray,
    rng: np.random.Generator,
    user_features: np.ndarray | None = None,
    item: np.ndarray | None = None,
    item_group: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Sort rows by user (random order within a user) and build the pool arrays.

    Args:
      scores, labels: ``[R, K]``; user: ``[R]`` user index in ``0..U-1``; user_group: ``[U]``.
      rng: shuffles rows within each user, so candidate positions carry no information
        (ties in serving go to the lowest index).
      user_features: optional ``[U, d]`` real, finite user covariates X indexed like
        ``user_group`` (row u = user u; the group id must not be among them).
      item: optional ``[R]`` item id of each row; item_group: optional ``[R]`` provider group
        (ints >= 0) of each row (requires ``item``; both are reordered with the rows).
    Returns:
      dict with ``scores``, ``labels`` (float32 ``[R', K]``), ``offsets``, ``counts`` (int64
      ``[U']``), ``user_group`` (int32 ``[U']``) and, when given, ``user_features`` (float32
      ``[U', d]``), ``item`` (int64 ``[R']``) and ``item_group`` (int32 ``[R']``), keeping only users
      with ≥ 1 row.
    """
    scores = np.asarray(scores, np.float32)
    labels = np.asarray(labels, np.float32)
    user = np.asarray(user, np.int64)
    order = np.lexsort((rng.random(len(user)), user))
    user = user[order]
    uniq, first, counts = np.unique(user, return_index=True, return_counts=True)
    out = {
        "scores": scores[order],
        "labels": labels[order],
        "offsets": first.astype(np.int64),
        "counts": counts.astype(np.int64),
        "user_group": np.asarray(user_group, np.int32)[uniq],
    }
    if user_features is not None:
        out["user_features"] = check_features(user_features, len(np.asarray(user_group)), "user_features")[uniq]
    if item is not None:
        out["item"] = np.asarray(item, np.int64)[order]
    if item_group is not None:
        if item is None:
            raise ValueError("item_group: needs item (the row's item id) as well")
        ig = np.asarray(item_group)
        if ig.shape != user.shape or (ig.size and ig.min() < 0):
            raise ValueError(f"item_group: expected ints >= 0 of shape {user.shape}, got shape {ig.shape}")
        out["item_group"] = ig.astype(np.int32)[order]
    return out


def _floyd(key, counts, size):
    """Per user, ``size`` distinct indices in ``[0, counts)`` (Floyd's algorithm), ``[N, size]``.

    Users with ``counts < size`` get ``0..size-1`` with ``valid = idx < counts``.
    """
    n = counts.shape[0]
    u = jax.random.uniform(key, (n, size))

    def step(t, chosen):
        j = counts - size + t  # draw from [0, j]
        r = jnp.minimum(jnp.floor(u[:, t] * (j + 1)).astype(counts.dtype), j)
        seen = jnp.any((chosen == r[:, None]) & (jnp.arange(size)[None, :] < t), axis=1)
        return chosen.at[:, t].set(jnp.where(seen, j, r))

    chosen = jax.lax.fori_loop(0, size, step, jnp.zeros((n, size), counts.dtype))
    small = counts < size
    ar = jnp.broadcast_to(jnp.arange(size, dtype=counts.dtype), (n, size))
    idx = jnp.where(small[:, None], ar, chosen)
    valid = idx < counts[:, None]
    return jnp.where(valid, idx, 0), valid


@partial(jax.jit, static_argnames=("n_users", "m", "pool_size", "retrieval_label"))
def _sample_pool(
    key,
    scores,
    labels,
    offsets,
    counts,
    user_group,
    user_features,
    item_group,
    *,
    n_users,
    m,
    pool_size,
    retrieval_label,
):
    k_u, k_r = jax.random.split(key)
    u = jax.random.randint(k_u, (n_users,), 0, offsets.shape[0])
    idx, valid = _floyd(k_r, counts[u], pool_size)
    rows = offsets[u][:, None] + idx  # [N, M]
    if retrieval_label is not None:
        # Retrieval by one label's score only: keep the top m of the M drawn rows.
        key_score = jnp.where(valid, scores[rows, retrieval_label], -jnp.inf)
        _, top = jax.lax.top_k(key_score, m)
        rows = jnp.take_along_axis(rows, top, axis=1)
        valid = jnp.take_along_axis(valid, top, axis=1)
    feats = None if user_features is None else user_features[u]
    igroup = None if item_group is None else item_group[rows]
    return scores[rows], labels[rows], valid, user_group[u], feats, u, igroup


@partial(jax.jit, static_argnames=("n_sessions", "m", "pool_size", "retrieval_label"))
def _sessions_of_users(
    key, scores, labels, offsets, counts, user_group, users, *, n_sessions, m, pool_size, retrieval_label
):
    """``n_sessions`` sessions of each given pool user (``users [U]``), user-major: the draw of
    :func:`_sample_pool` with the users fixed instead of drawn."""
    u = jnp.repeat(users, n_sessions)
    idx, valid = _floyd(key, counts[u], pool_size)
    rows = offsets[u][:, None] + idx
    if retrieval_label is not None:
        key_score = jnp.where(valid, scores[rows, retrieval_label], -jnp.inf)
        _, top = jax.lax.top_k(key_score, m)
        rows = jnp.take_along_axis(rows, top, axis=1)
        valid = jnp.take_along_axis(valid, top, axis=1)
    return scores[rows], labels[rows], valid, user_group[u]


def check_sampling_options(
    label_names, n_candidates=20, retrieval="default", retrieval_label=0, retrieval_pool=100
) -> dict:
    """Validate the sampling options; returns them normalised (``retrieval_label`` as an index)."""
    if not isinstance(n_candidates, (int, np.integer)) or isinstance(n_candidates, bool) or n_candidates < 1:
        raise ValueError(f"n_candidates: expected an int >= 1, got {n_candidates!r}")
    if retrieval not in ("default", "single-label"):
        raise ValueError(f"retrieval: expected 'default' or 'single-label', got {retrieval!r}")
    if isinstance(retrieval_label, str):
        if retrieval_label not in label_names:
            raise ValueError(
                f"retrieval_label: expected one of {list(label_names)} or an index, got {retrieval_label!r}"
            )
        retrieval_label = list(label_names).index(retrieval_label)
    if not isinstance(retrieval_label, (int, np.integer)) or not 0 <= retrieval_label < len(label_names):
        raise ValueError(
            f"retrieval_label: expected an index in [0, {len(label_names)}) or a label name, got {retrieval_label!r}"
        )
    if not isinstance(retrieval_pool, (int, np.integer)) or retrieval_pool <= n_candidates:
        if retrieval == "single-label":
            raise ValueError(f"retrieval_pool: expected an int > n_candidates ({n_candidates}), got {retrieval_pool!r}")
    return dict(
        n_candidates=int(n_candidates),
        retrieval=retrieval,
        retrieval_label=int(retrieval_label),
        retrieval_pool=int(retrieval_pool),
    )


class PoolScenario(Scenario):
    """A scenario sampling sessions from a pool of scored rows (see the module docstring).

    Args:
      name, label_names, group_names: as in :class:`Scenario`.
      arrays: the pool (:func:`pool_arrays`).
      options: build options (recorded by ``describe``); sampling options are separate.
      sampling: ``n_candidates``, ``retrieval``, ``retrieval_label``, ``retrieval_pool``.
      info: build information (sizes, label rates, timings, cache hit) for ``describe``.
      feature_names: names of the ``d`` columns of ``arrays["user_features"]`` (default
        ``x0, x1, ...``); ignored when the pool has no user features.
      item_group_names: names of the H provider groups of ``arrays["item_group"]`` (default
        ``provider0, ...``); ignored when the pool has none.
    """

    def __init__(
        self,
        *,
        name: str,
        label_names,
        group_names,
        arrays: dict[str, np.ndarray],
        seed: int,
        options: dict,
        sampling: dict,
        info: dict | None = None,
        prefs: Any = None,
        is_standin: bool = False,
        description: str = "",
        feature_names=None,
        item_group_names=None,
    ):
        self.name = name
        self.label_names = tuple(label_names)
        self.group_names = tuple(group_names)
        self.seed = seed
        self.is_standin = is_standin
        self.description = description
        self.sampling = check_sampling_options(self.label_names, **sampling)
        self.n_candidates = self.sampling["n_candidates"]
        self.options = dict(options, **self.sampling)
        self.info = dict(info or {})
        for k in ("scores", "labels", "offsets", "counts", "user_group"):
            if k not in arrays:
                raise ValueError(f"arrays: missing {k!r}")
        r, k = arrays["scores"].shape
        if arrays["labels"].shape != (r, k) or k != len(self.label_names):
            raise ValueError(
                f"arrays: scores {arrays['scores'].shape} / labels {arrays['labels'].shape} do not "
                f"match K={len(self.label_names)} labels"
            )
        if "user_features" in arrays:
            uf = check_features(arrays["user_features"], len(arrays["user_group"]), 'arrays["user_features"]')
            arrays = dict(arrays, user_features=uf)
            d = uf.shape[1]
            names = tuple(f"x{i}" for i in range(d)) if feature_names is None else tuple(feature_names)
            if len(names) != d:
                raise ValueError(f"feature_names: expected {d} names (columns of user_features), got {len(names)}")
            self.feature_names = names
        else:
            self.feature_names = ()
        if "item_group" in arrays:
            ig = np.asarray(arrays["item_group"])
            if ig.shape != (r,) or (ig.size and ig.min() < 0):
                raise ValueError(f"arrays: item_group must be ints >= 0 of shape ({r},), got shape {ig.shape}")
            h = int(ig.max()) + 1 if ig.size else 0
            names = (
                tuple(f"provider{i}" for i in range(max(h, 2))) if item_group_names is None else tuple(item_group_names)
            )
            if len(names) < h:
                raise ValueError(f"item_group_names: expected >= {h} names (one per provider group), got {len(names)}")
            self.item_group_names = names
        self.arrays = arrays
        self._dev = {n: jnp.asarray(a) for n, a in arrays.items()}
        ug = arrays["user_group"]
        self.prevalence = np.bincount(ug, minlength=len(self.group_names)) / len(ug)
        self.prefs = bind_prefs(default_prefs() if prefs is None else prefs, self.group_names, self.n_labels)

    #: What the pool's users are, in :meth:`sample_size` (``from_frame`` sets "logged users").
    user_noun: str = "pool users"

    def sample_size(self, n_users: int) -> dict:
        """``n_users`` sessions drawn with replacement from the pool's real users (:meth:`Scenario.sample_size`)."""
        n, u = int(n_users), self.n_pool_users
        return {
            "sessions": n,
            "source_users": u,
            "resampled": True,
            "text": f"{n:,} sessions drawn from {u:,} {self.user_noun}",
        }

    @property
    def n_pool_users(self) -> int:
        return int(len(self.arrays["counts"]))

    @property
    def n_pool_rows(self) -> int:
        return int(self.arrays["scores"].shape[0])

    def sample(self, key, n_users: int) -> Batch:
        """``n_users`` users × m candidates: scores/labels ``f32[N, m, K]``, mask ``bool[N, m]``, group ``i32[N]``,
        features ``f32[N, d]`` (the sampled users' ``user_features``; None if the pool has none)."""
        return self.sample_with_users(key, n_users)[0]

    def sample_with_users(self, key, n_users: int) -> tuple[Batch, np.ndarray]:
        """:meth:`sample` and the pool user of each session, ``i64[N]`` (rows of ``arrays["counts"]``).

        Sessions of the same pool user share covariates and are not independent: the
        diagnosis bootstraps pool users, not sessions.
        """
        if not isinstance(n_users, (int, np.integer)) or isinstance(n_users, bool) or n_users < 1:
            raise ValueError(f"n_users: expected an int >= 1, got {n_users!r}")
        s = self.sampling
        single = s["retrieval"] == "single-label"
        d = self._dev
        scores, labels, mask, group, feats, users, igroup = _sample_pool(
            key,
            d["scores"],
            d["labels"],
            d["offsets"],
            d["counts"],
            d["user_group"],
            d.get("user_features"),
            d.get("item_group"),
            n_users=int(n_users),
            m=s["n_candidates"],
            pool_size=s["retrieval_pool"] if single else s["n_candidates"],
            retrieval_label=s["retrieval_label"] if single else None,
        )
        return (
            Batch(scores=scores, labels=labels, mask=mask, group=group, features=feats, item_group=igroup),
            np.asarray(users, np.int64),
        )

    def session_bank(self, key, n_users: int | None = None, n_sessions: int = 64) -> tuple[Batch, np.ndarray]:
        """Pool users with ``n_sessions`` sessions each, drawn from the user's own rows as
        :meth:`sample` draws a session (:mod:`jaxfair.dynamics`).

        ``n_users``: None (default) takes every pool user; fewer takes a random subset
        (without replacement). Returns ``(batch [U·B sessions, user-major], user_group i32[U])``
        with ``features`` the users' covariates when the pool has them.
        """
        for nm, v in (("n_users", n_users), ("n_sessions", n_sessions)):
            if v is not None and (not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1):
                raise ValueError(f"{nm}: expected an int >= 1, got {v!r}")
        k_users, k_sessions = jax.random.split(key)
        n_pool = self.n_pool_users
        if n_users is None or n_users >= n_pool:
            users = np.arange(n_pool)
        else:
            users = np.sort(np.asarray(jax.random.choice(k_users, n_pool, (int(n_users),), replace=False)))
        s = self.sampling
        single = s["retrieval"] == "single-label"
        d = self._dev
        scores, labels, mask, group = _sessions_of_users(
            k_sessions,
            d["scores"],
            d["labels"],
            d["offsets"],
            d["counts"],
            d["user_group"],
            jnp.asarray(users, jnp.int32),
            n_sessions=int(n_sessions),
            m=s["n_candidates"],
            pool_size=s["retrieval_pool"] if single else s["n_candidates"],
            retrieval_label=s["retrieval_label"] if single else None,
        )
        feats = None
        if "user_features" in d:
            feats = jnp.repeat(d["user_features"][jnp.asarray(users)], int(n_sessions), axis=0)
        return (
            Batch(scores=scores, labels=labels, mask=mask, group=group, features=feats),
            self.arrays["user_group"][users].astype(np.int32),
        )

    def row_groups(self) -> np.ndarray:
        """Group of every pool row, ``i32[R]``."""
        return np.repeat(self.arrays["user_group"], self.arrays["counts"])

    def auc_table(self) -> pd.DataFrame:
        """AUC per label on every held-out pool row, for All and each group (paper tables 1–4).

        ``prevalence`` is the share of pool users in each group; ``n_rows`` counts rows.
        """
        from jaxfair.auc import auc_table

        table = auc_table(
            self.arrays["scores"], self.arrays["labels"], self.row_groups(), self.label_names, self.group_names
        )
        table["prevalence"] = [1.0] + [float(p) for p in self.prevalence]
        return table

    def describe(self) -> dict:
        out = super().describe()
        labels = self.arrays["labels"]
        out.update(
            {
                "title": self.title,
                "description": self.description,
                "pool_users": self.n_pool_users,
                "pool_rows": self.n_pool_rows,
                "rows_per_user": {
                    "min": int(self.arrays["counts"].min()),
                    "median": float(np.median(self.arrays["counts"])),
                    "max": int(self.arrays["counts"].max()),
                },
                "label_rates": {n: round(float(labels[:, k].mean()), 4) for k, n in enumerate(self.label_names)},
                "build": self.info,
            }
        )
        return out
