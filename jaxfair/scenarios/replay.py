"""The logged sessions served as they were: :class:`ReplayScenario` (``from_frame(..., replay=True)``).

Replay evaluates exactly the logged sessions, once each (:meth:`ReplayScenario.evaluation_batch`);
:meth:`ReplayScenario.sample` draws whole logged sessions with replacement (a BO study's noisy
online tests) and :meth:`ReplayScenario.session_bank` each user's own sessions for
:mod:`jaxfair.dynamics`. The table's checks and the assembly live in :mod:`jaxfair.scenarios.logs`.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxfair.engine.batch import Batch
from jaxfair.scenarios.base import Scenario

__all__ = ["ReplayScenario", "ReplaySessionWarning", "session_layout"]


def session_layout(user: np.ndarray, session: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each data row's session ``i64[R]`` (sessions in (user, session) order) and its position
    ``i64[R]`` within the session (logged order): the layout of :class:`ReplayScenario`'s arrays."""
    keys = pd.DataFrame({"u": user, "s": session})
    sid = keys.groupby(["u", "s"], sort=True).ngroup().to_numpy()
    pos = pd.Series(np.arange(len(sid))).groupby(sid).cumcount().to_numpy()
    return sid, pos


class ReplaySessionWarning(UserWarning):
    """A replay without a session column serves each user's rows as one session."""


@partial(jax.jit, static_argnames=("n_users",))
def _draw_sessions(key, scores, labels, mask, group, features, item_group, *, n_users):
    s = jax.random.randint(key, (n_users,), 0, scores.shape[0])
    return (
        scores[s],
        labels[s],
        mask[s],
        group[s],
        None if features is None else features[s],
        None if item_group is None else item_group[s],
    )


class ReplayScenario(Scenario):
    """The logged sessions, served as they were (built by :func:`from_frame` with ``replay=True``).

    Sessions are padded to m = the longest session: ``scores``/``labels f32[S, m, K]``,
    ``mask bool[S, m]`` (the logged retrieval flag; padding is never retrieved), ``group i32[S]``
    and, with covariates, ``features f32[S, d]``. Candidates keep their logged order, so serving
    ties go to the one logged first.
    """

    def __init__(
        self,
        *,
        name,
        label_names,
        group_names,
        prefs,
        seed,
        scores,
        labels,
        mask,
        user,
        session,
        user_group,
        user_features,
        feature_names,
        options,
        info,
        item_group=None,
        item_group_names=None,
    ):
        self.name = name
        self.label_names = tuple(label_names)
        self.group_names = tuple(group_names)
        self.feature_names = tuple(feature_names)
        self.seed = seed
        self.prefs = prefs
        sid, pos = session_layout(user, session)
        n_sessions, m = int(sid.max()) + 1, int(pos.max()) + 1
        # Where each data row landed (an impression log maps its shown/position columns with it).
        self.row_session, self.row_position = sid, pos
        k = scores.shape[1]
        sc = np.zeros((n_sessions, m, k), np.float32)
        lb = np.zeros((n_sessions, m, k), np.float32)
        mk = np.zeros((n_sessions, m), bool)
        sc[sid, pos], lb[sid, pos], mk[sid, pos] = scores, labels, mask
        session_user = np.zeros(n_sessions, np.int64)
        session_user[sid] = user
        self.arrays = {"scores": sc, "labels": lb, "mask": mk, "group": user_group[session_user].astype(np.int32)}
        self.session_user = session_user  # [S] logged user of each session (for session_bank)
        if user_features is not None:
            self.arrays["features"] = np.asarray(user_features, np.float32)[session_user]
        if item_group is not None:  # padding gets provider 0; it is never retrieved
            ig = np.zeros((n_sessions, m), np.int32)
            ig[sid, pos] = item_group
            self.arrays["item_group"] = ig
            self.item_group_names = tuple(item_group_names)
        self._dev = {n: jnp.asarray(a) for n, a in self.arrays.items()}
        self.n_candidates = m
        self.options = dict(options)
        self.info = dict(info, sessions=n_sessions, max_candidates=m)
        self.prevalence = np.bincount(self.arrays["group"], minlength=len(self.group_names)) / n_sessions

    @property
    def n_sessions(self) -> int:
        return int(self.arrays["mask"].shape[0])

    def sessions(self) -> Batch:
        """Every logged session once, in (user, session) order: the exact replay."""
        d = self._dev
        return Batch(
            scores=d["scores"],
            labels=d["labels"],
            mask=d["mask"],
            group=d["group"],
            features=d.get("features"),
            item_group=d.get("item_group"),
        )

    fixed_sessions = True

    def evaluation_batch(self, key, n_users: int) -> Batch:
        """Every logged session once (:meth:`sessions`): replay evaluates the logged sessions, so
        ``key`` and ``n_users`` are ignored."""
        return self.sessions()

    @property
    def n_logged_users(self) -> int:
        return int(len(np.unique(self.session_user)))

    def sample_size(self, n_users: int | None = None) -> dict:
        """The logged sessions, once each (:meth:`Scenario.sample_size`; ``n_users`` is ignored)."""
        s, u = self.n_sessions, self.n_logged_users
        return {
            "sessions": s,
            "source_users": u,
            "resampled": False,
            "text": f"{s:,} logged sessions of {u:,} users, each once",
        }

    def sample(self, key, n_users: int) -> Batch:
        """``n_users`` logged sessions drawn uniformly with replacement, each exactly as logged.

        A resample of the logs (a BO study's noisy online test); the replay itself is
        :meth:`sessions` / :meth:`evaluation_batch`."""
        if not isinstance(n_users, (int, np.integer)) or isinstance(n_users, bool) or n_users < 1:
            raise ValueError(f"n_users: expected an int >= 1, got {n_users!r}")
        d = self._dev
        scores, labels, mask, group, feats, igroup = _draw_sessions(
            key,
            d["scores"],
            d["labels"],
            d["mask"],
            d["group"],
            d.get("features"),
            d.get("item_group"),
            n_users=int(n_users),
        )
        return Batch(scores=scores, labels=labels, mask=mask, group=group, features=feats, item_group=igroup)

    def session_bank(self, key, n_users: int | None = None, n_sessions: int = 64) -> tuple[Batch, np.ndarray]:
        """Logged users with ``n_sessions`` sessions each, drawn uniformly **with replacement**
        from that user's own logged sessions, each served as logged (:mod:`jaxfair.dynamics`).

        ``n_users``: None (default) takes every logged user; fewer takes a random subset.
        Returns ``(batch [U·B sessions, user-major], user_group i32[U])``.
        """
        for nm, v in (("n_users", n_users), ("n_sessions", n_sessions)):
            if v is not None and (not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1):
                raise ValueError(f"{nm}: expected an int >= 1, got {v!r}")
        k_users, k_sessions = jax.random.split(key)
        order = np.argsort(self.session_user, kind="stable")  # sessions grouped by user
        logged, first, count = np.unique(self.session_user[order], return_index=True, return_counts=True)
        pick = np.arange(len(logged))
        if n_users is not None and n_users < len(logged):
            pick = np.sort(np.asarray(jax.random.choice(k_users, len(logged), (int(n_users),), replace=False)))
        b = int(n_sessions)
        r = np.asarray(jax.random.uniform(k_sessions, (len(pick), b)), np.float64)
        within = np.minimum((r * count[pick, None]).astype(np.int64), count[pick, None] - 1)
        sessions = order[first[pick, None] + within].reshape(-1)  # [U·B]
        d = self._dev
        idx = jnp.asarray(sessions)
        batch = Batch(
            scores=d["scores"][idx],
            labels=d["labels"][idx],
            mask=d["mask"][idx],
            group=d["group"][idx],
            features=None if "features" not in d else d["features"][idx],
            item_group=None if "item_group" not in d else d["item_group"][idx],
        )
        return batch, self.arrays["group"][order[first[pick]]].astype(np.int32)

    def auc_table(self) -> pd.DataFrame:
        """AUC per label over the retrieved logged rows, for All and each group."""
        from jaxfair.auc import auc_table

        mask = self.arrays["mask"]
        rows_group = np.broadcast_to(self.arrays["group"][:, None], mask.shape)[mask]
        table = auc_table(
            self.arrays["scores"][mask], self.arrays["labels"][mask], rows_group, self.label_names, self.group_names
        )
        table["prevalence"] = [1.0] + [float(p) for p in self.prevalence]
        return table

    def describe(self) -> dict:
        out = super().describe()
        out.update(
            {
                "title": self.title,
                "sessions": self.n_sessions,
                "build": self.info,
                "label_rates": {
                    n: round(float(self.arrays["labels"][..., k][self.arrays["mask"]].mean()), 4)
                    for k, n in enumerate(self.label_names)
                },
            }
        )
        return out
