"""Who the users are: a bank of persistent users with their sessions, and how newcomers arrive.

The dynamics draw users from a **bank** (:meth:`jaxfair.scenarios.Scenario.session_bank`): U
users, each with B sessions drawn from the scenario the way ``sample`` draws one (toy: fresh
candidates around the user's covariates; pool scenarios: the user's own rows; replay logs:
the user's logged sessions, with replacement). A user's session in a period is one of its B
sessions, drawn uniformly with replacement by a key of (seed, period, slot, user); a
newcomer of group g is a uniformly random bank user of group g.
"""

from __future__ import annotations

import dataclasses

import jax.numpy as jnp
import numpy as np

from jaxfair.dynamics import rng
from jaxfair.engine.batch import Batch

__all__ = [
    "Bank",
    "acquisition_cdf",
    "bank_sample",
    "check_acquisition",
    "make_bank",
    "newcomers",
    "return_uniform",
    "session_index",
]


@dataclasses.dataclass(frozen=True)
class Bank:
    """U users × B sessions (user-major ``batch``) and the per-group member lists.

    Attributes:
      batch: ``U·B`` sessions; row ``u·B + b`` is session b of user u.
      user_group: int32 ``[U]``; n_sessions: B.
      members: int32 ``[U]`` users sorted by group; group_start, group_count: int32 ``[G]``.
    """

    batch: Batch
    user_group: np.ndarray
    n_sessions: int
    members: np.ndarray
    group_start: np.ndarray
    group_count: np.ndarray

    @property
    def n_users(self) -> int:
        return int(self.user_group.shape[0])


def make_bank(scenario, key, n_users: int | None = None, n_sessions: int | None = None) -> Bank:
    """Draw the bank from ``scenario.session_bank`` (defaults: the scenario's own)."""
    kwargs = {} if n_sessions is None else {"n_sessions": n_sessions}
    batch, user_group = scenario.session_bank(key, n_users, **kwargs)
    user_group = np.asarray(user_group, np.int32)
    u = user_group.shape[0]
    b = batch.n_users // u
    if b > 2**16:
        raise ValueError(f"n_sessions: expected at most 65536 sessions per user, got {b}")
    g = scenario.n_groups
    members = np.argsort(user_group, kind="stable").astype(np.int32)
    count = np.bincount(user_group, minlength=g).astype(np.int32)
    start = np.concatenate([[0], np.cumsum(count)[:-1]]).astype(np.int32)
    return Bank(batch=batch, user_group=user_group, n_sessions=b, members=members, group_start=start, group_count=count)


def bank_sample(scenario, bank: Bank) -> dict:
    """What stands behind a run's bank (the dynamics' ``sample``, as ``summary["sample"]`` of a
    surface): how many real users and logged sessions the bank's users and sessions come from.

    Returns ``{"bank_users": U, "sessions_per_user": B, "source_users": real users or None
    (generated users), "logged_sessions": logged sessions (replay) or None, "resampled": True,
    "text": a phrase for titles}``. Every bank session is drawn with replacement, hence
    ``resampled``.
    """
    u, b = bank.n_users, bank.n_sessions
    # sample_size's "source_users" is the scenario's own count of the real users behind it
    # (None for generated users); a replay also names its logged sessions.
    size = scenario.sample_size(u)
    source = size.get("source_users")
    replay = bool(getattr(scenario, "fixed_sessions", False))
    logged = int(size["sessions"]) if replay else None
    who = None if source is None else f"all {source:,}" if u == source else f"{u:,} of {source:,}"
    if source is None:
        text = f"{u:,} generated users, {b} sessions each"
    elif replay:
        text = (
            f"{who} logged users ({logged:,} logged sessions), {b} sessions each drawn with replacement "
            "from the user's own logged sessions"
        )
    else:
        noun = getattr(scenario, "user_noun", "pool users")
        text = f"{who} {noun}, {b} sessions each drawn from the user's own rows"
    return {
        "bank_users": u,
        "sessions_per_user": b,
        "source_users": None if source is None else int(source),
        "logged_sessions": logged,
        "resampled": True,
        "text": text,
    }


def check_acquisition(acquisition, scenario, bank: Bank | None = None) -> np.ndarray:
    """The acquisition mix π ``[G]`` (default: the scenario's prevalence), validated (and,
    given a bank, every group with newcomers must have bank users)."""
    g = scenario.n_groups
    if acquisition is None:
        pi = np.asarray(scenario.prevalence, np.float64)
    else:
        try:
            pi = np.asarray(acquisition, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"acquisition: expected {g} probabilities, got {acquisition!r}") from None
        if pi.shape != (g,):
            raise ValueError(f"acquisition: expected {g} probabilities (one per group), got shape {pi.shape}")
        if not np.all(np.isfinite(pi)) or np.any(pi < 0) or abs(pi.sum() - 1.0) > 1e-6:
            raise ValueError(f"acquisition: expected a distribution (>= 0, summing to 1), got {pi.tolist()}")
    if bank is None:
        return pi
    missing = [i for i in range(g) if pi[i] > 0 and bank.group_count[i] == 0]
    if missing:
        raise ValueError(f"acquisition: group(s) {missing} have newcomers but no user in the bank")
    return pi


def acquisition_cdf(pi: np.ndarray) -> np.ndarray:
    """float32 cumulative thresholds ``[G-1]`` (computed once, shared by JAX and NumPy)."""
    return np.cumsum(pi)[:-1].astype(np.float32)


def newcomers(base, cdf, members, group_start, group_count, xp=jnp):
    """Group and bank user of the newcomer each slot would get this period: two int32 ``[N]``.

    ``base`` is :func:`jaxfair.dynamics.rng.slot_hash`; the draw depends on (seed, period,
    slot) only, so it is the same for every α and policy.
    """
    v = rng.to_uniform(rng.stream(base, rng.NEW_GROUP, xp), xp)
    group = xp.sum((v[:, None] >= xp.asarray(cdf)[None, :]).astype(xp.int32), axis=1).astype(xp.int32)
    w = rng.to_uniform(rng.stream(base, rng.NEW_USER, xp), xp)
    n_g = xp.asarray(group_count)[group]
    pos = xp.minimum(xp.floor(w * n_g.astype(xp.float32)).astype(xp.int32), xp.maximum(n_g - 1, 0))
    return group, xp.asarray(members)[xp.asarray(group_start)[group] + pos].astype(xp.int32)


def session_index(base, arrival, n_sessions: int, xp=jnp):
    """Which of its B bank sessions each occupant (identified by its arrival period) gets.

    ``(h >> 16) · B >> 16``: a multiply-shift (an integer ``%`` cost ~40 % of a period on
    CPU); uniform up to a relative bias below B / 2^16 (B <= 2^16).
    """
    h = rng.user_hash(base, rng.SESSION, arrival, xp)
    return (((h >> 16) * xp.uint32(n_sessions)) >> 16).astype(xp.int32)


def return_uniform(base, arrival, xp=jnp):
    """The uniform each occupant's return is decided by (returns when below ρ(s))."""
    return rng.to_uniform(rng.user_hash(base, rng.RETURN, arrival, xp), xp)
