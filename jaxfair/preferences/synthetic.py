"""Served sessions whose answer is known: the check of :func:`~jaxfair.preferences.estimate`.

Each group's users get sessions; each session's served item has K independent 0/1 labels
(``y_k ~ Bernoulli(label_rate_k)``) and the user is satisfied with probability
``σ(intercept + strength · α*(g) · y)`` — exactly the model the estimator fits, so the true
α*(g) is what it should recover (a ``user_sd`` > 0 adds a per-user random intercept, which the
logistic model does not contain: sessions of a user are then correlated, as in real logs).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["served_sessions"]


def served_sessions(
    prefs,
    *,
    users_per_group: int | Sequence[int] = 500,
    sessions_per_user: float = 20.0,
    label_rate: float | Sequence[float] = 0.5,
    intercept: float = -1.0,
    strength: float = 2.0,
    user_sd: float = 0.0,
    group_names: Sequence[str] | None = None,
    label_names: Sequence[str] | None = None,
    seed: int = 0,
):
    """A DataFrame of served sessions: ``user, group, <labels…>, satisfied`` (one row per session).

    Args:
        prefs: ``[G, K]`` true preferences α*(g) (rows on the simplex).
        users_per_group: users in each group (one number, or G of them).
        sessions_per_user: mean sessions per user (1 + Poisson(mean - 1), so every user has one).
        label_rate: P(y_k = 1), one number or K of them.
        intercept, strength: ``a`` and ``b`` in P(z=1|y) = σ(a + b · α*(g)·y).
        user_sd: standard deviation of a per-user random intercept (0: none).
        group_names, label_names: column values / names (default ``g0…`` and ``label0…``).
        seed: the generator's seed.
    """
    import pandas as pd

    from jaxfair.preferences.prefset import PrefSet

    ps = PrefSet.explicit([prefs], group_names=group_names, label_names=label_names)  # validates the rows
    alpha = ps.values[0]
    g, k = alpha.shape
    n_users = np.broadcast_to(np.asarray(users_per_group, dtype=np.int64), (g,))
    rate = np.broadcast_to(np.asarray(label_rate, dtype=np.float64), (k,))
    if (n_users < 1).any() or sessions_per_user < 1 or not ((rate > 0) & (rate < 1)).all():
        raise ValueError(
            f"served_sessions: users_per_group >= 1, sessions_per_user >= 1 and 0 < label_rate < 1 required, got "
            f"{n_users.tolist()}, {sessions_per_user}, {rate.tolist()}"
        )
    rng = np.random.default_rng(seed)
    user_group = np.repeat(np.arange(g), n_users)
    per_user = 1 + rng.poisson(sessions_per_user - 1.0, size=len(user_group))
    sess_user = np.repeat(np.arange(len(user_group)), per_user)
    sess_group = user_group[sess_user]
    y = (rng.random((len(sess_user), k)) < rate).astype(np.float64)
    effect = rng.normal(0.0, user_sd, size=len(user_group))[sess_user] if user_sd > 0 else 0.0
    logit = intercept + strength * np.einsum("nk,nk->n", y, alpha[sess_group]) + effect
    z = (rng.random(len(sess_user)) < 1.0 / (1.0 + np.exp(-logit))).astype(np.int64)
    df = pd.DataFrame(y.astype(np.int64), columns=list(ps.label_names))
    df.insert(0, "group", np.asarray(ps.group_names, dtype=object)[sess_group])
    df.insert(0, "user", sess_user)
    df["satisfied"] = z
    return df
