"""Who stands behind a diagnosis's numbers: sessions per group and the real users they come from.

The diagnosis works on *sessions* (batch rows), which are not always users:

* pool scenarios (your logs without ``--replay``, ``movielens``, ``synthetic``, ...) draw
  ``--users`` sessions **with replacement** from the pool's users: 20,000 sessions may come
  from 943 users, and one user's sessions share their covariates;
* a replay evaluates every logged session once: a user with two logged sessions counts twice;
* generated scenarios (``toy``) simulate a new user for every session: there a session *is*
  a (simulated) user, and no real users stand behind the sample
  (:meth:`~jaxfair.scenarios.base.Scenario.sample_size` says ``source_users`` None — the same
  fact that makes ``terms.png``'s title read "20,000 users" rather than "20,000 sessions
  drawn from 943 logged users").

Counting sessions as users overstates the evidence (the CIs resample the real users, not the
sessions), so every figure, table and summary says which it counts: :class:`Population`
holds the sessions and the real users per group, and the phrases the outputs use.
"""

from __future__ import annotations

import dataclasses

import numpy as np

__all__ = ["Population", "population"]


@dataclasses.dataclass(frozen=True)
class Population:
    """Sessions and real users per group of a diagnosed sample.

    Attributes:
      sessions: ``{group name: sessions}`` for every group with sessions in the sample.
      users: ``{group name: distinct real users behind those sessions}``; None when every
        session is one simulated user (generated scenarios) or the users are not known.
      user_noun: what the real users are ("logged users", "pool users"), or "simulated users".
      simulated: True when each session is a simulated user (``users`` is then None).
      resampled: True when the sessions are drawn with replacement from the users (a pool),
        False when each is used once (a replay, or simulated users).
    """

    sessions: dict[str, int]
    users: dict[str, int] | None
    user_noun: str
    simulated: bool
    resampled: bool = False

    @property
    def unit(self) -> str:
        """What one row of the sample is, in the plural: ``"sessions"`` or ``"simulated users"``."""
        return self.user_noun if self.simulated else "sessions"

    def count_text(self, group: str) -> str:
        """``"4,020 sessions of 191 logged users"``, ``"1,200 simulated users"`` or ``"4,020 sessions"``."""
        n = f"{self.sessions[group]:,} {self.unit}"
        if self.users is None:
            return n
        return f"{n} of {self.users[group]:,} {self.user_noun}"

    def group_text(self, group: str) -> str:
        """``"tech: 4,020 sessions of 191 logged users"``."""
        return f"{group}: {self.count_text(group)}"

    def pair_text(self, names) -> str:
        """The groups ``names`` joined: ``"tech: 4,020 sessions of 191 logged users; other: …"``."""
        return "; ".join(self.group_text(n) for n in names)

    def summary(self) -> dict:
        """``summary.json``'s counts: ``n_sessions``, ``group_sessions``, ``group_logged_users``, ``sessions_are``."""
        if self.simulated:
            what = f"each session is one {self.user_noun[:-1]} (a generated scenario: no logged users)"
        elif self.users is None:
            what = "sessions (the real users behind them are not known)"
        elif self.resampled:
            what = f"sessions drawn with replacement from the {self.user_noun}: one user may stand behind several"
        else:
            what = f"every logged session once: one of the {self.user_noun} may have several"
        return {
            "n_sessions": int(sum(self.sessions.values())),
            "group_sessions": dict(self.sessions),
            "group_logged_users": None if self.users is None else dict(self.users),
            "user_noun": self.user_noun,
            "sessions_are": what,
        }


def population(scenario, group, clusters, group_names) -> Population:
    """Count sessions and real users per group.

    Args:
      scenario: the diagnosed scenario (its ``sample_size`` says whether real users stand behind
        the sessions; a pool's ``user_noun`` names them).
      group: int ``[N]`` group of each session.
      clusters: int ``[N]`` real user of each session (the pool user, or the logged user of a
        replayed session), or None (each session independent).
      group_names: the scenario's group names.
    """
    group = np.asarray(group)
    present = [g for g in range(len(group_names)) if np.any(group == g)]
    sessions = {str(group_names[g]): int(np.sum(group == g)) for g in present}
    size = scenario.sample_size(len(group)) if hasattr(scenario, "sample_size") else {"source_users": None}
    if clusters is None:
        simulated = size.get("source_users") is None
        return Population(sessions, None, "simulated users" if simulated else "users", simulated)
    clusters = np.asarray(clusters)
    if clusters.shape != group.shape:
        raise ValueError(f"clusters: expected one user per session, shape {group.shape}, got {clusters.shape}")
    users = {str(group_names[g]): int(len(np.unique(clusters[group == g]))) for g in present}
    noun = getattr(scenario, "user_noun", None) or (
        "logged users" if getattr(scenario, "fixed_sessions", False) else "users"
    )
    return Population(sessions, users, noun, False, bool(size.get("resampled", False)))
