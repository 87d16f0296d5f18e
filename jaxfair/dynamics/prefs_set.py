"""Dynamics over a preference set: every member of a :class:`~jaxfair.preferences.PrefSet` simulated.

The dynamics are **not** linear in the preferences: utility drives satisfaction, satisfaction
drives who returns, and who returns decides whose sessions are served next period. So each
member is its own simulation. What *is* shared is the serving: which candidates fill a slate
does not depend on α*(g), so the position-weighted label sums of every α on every bank session
are computed once per seed (:class:`~jaxfair.dynamics.serving.LabelSumTable`, one serving pass)
and every member runs in one vectorised scan per seed
(:func:`~jaxfair.dynamics.simulate.simulate_members`), contracting the label sums with its own
α*(g) as it goes — the same bits as the member simulated alone. Every member uses the same
seeds, bank and random draws (common random numbers), so members differ only through what
their preferences did.

Why a cap (:data:`DEFAULT_SET_MEMBERS` = 16 unless the spec says ``:Q``): each member adds its
populations to the scan over ``periods × slots`` per seed and, for a re-tuning policy, a pass
over the grid at each re-tuning (unlike ``surface``/``diagnose``, where a set is nearly free);
min / median / max over 16 members already shows whether a conclusion moves with the
preferences; ``dirichlet:C:Q`` asks for more.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from jaxfair.dynamics.result import DynamicsResult
from jaxfair.dynamics.serving import LabelSumTable
from jaxfair.dynamics.simulate import bank_for, simulate_members
from jaxfair.engine.slate import as_slate

__all__ = ["DEFAULT_SET_MEMBERS", "parse_dynamics_set", "simulate_over_set"]

#: Members simulated when a ``dirichlet:C`` / ``box:D`` spec gives no ``:Q`` (or a file holds more).
DEFAULT_SET_MEMBERS = 16


def parse_dynamics_set(spec: str, scenario, *, max_members: int = DEFAULT_SET_MEMBERS, seed: int = 0):
    """A :class:`~jaxfair.preferences.PrefSet` for ``dynamics --prefs-set SPEC`` around the scenario's prefs.

    ``dirichlet:C`` / ``box:D`` without ``:Q`` get ``max_members`` members; a ``file:`` set keeps
    its first ``max_members`` members. Either way member 0 is the scenario's prefs
    (:meth:`~jaxfair.preferences.PrefSet.with_point`: moved first, or added when the file does
    not hold them). Group and label names are bound by name.
    """
    from jaxfair.preferences import PrefSet

    if isinstance(max_members, bool) or not isinstance(max_members, (int, np.integer)) or max_members < 2:
        raise ValueError(f"--set-members: expected an integer >= 2, got {max_members!r}")
    text = str(spec).strip()
    kind, _, rest = text.partition(":")
    if kind in ("dirichlet", "box") and rest and ":" not in rest:
        text = f"{text}:{int(max_members)}"  # the dynamics' default size (module docstring)
    point = np.asarray(scenario.prefs, np.float64)
    ps = PrefSet.parse(
        text,
        point,
        seed=seed,
        group_names=list(scenario.group_names),
        label_names=list(scenario.label_names),
        origin=getattr(scenario, "prefs_origin", None) or "the given prefs",
    )
    if tuple(ps.group_names) != tuple(scenario.group_names) or tuple(ps.label_names) != tuple(scenario.label_names):
        raise ValueError(
            f"--prefs-set: the set's groups {list(ps.group_names)} / labels {list(ps.label_names)} do not match "
            f"the scenario's {list(scenario.group_names)} / {list(scenario.label_names)}"
        )
    if kind == "file" and ps.n_members > max_members:
        ps = PrefSet(
            ps.values[:max_members],
            ps.group_names,
            ps.label_names,
            ps.kind,
            dict(
                ps.params,
                members_used=int(max_members),
                members_in_file=ps.n_members - int(bool(ps.params.get("point_added"))),
            ),
        )
    return ps


def simulate_over_set(
    scenario: Any,
    policies: Any,
    prefs_set: Any,
    *,
    seeds: Sequence[int] = (0,),
    slate: Any = 1,
    bank_users: int | None = None,
    sessions_per_user: int | None = None,
    progress: bool = False,
    **kwargs: Any,
) -> list[list[DynamicsResult]]:
    """Every member of ``prefs_set`` under every seed: ``runs[q][s]``, one vectorised scan per seed.

    Args:
      scenario, policies: as for :func:`~jaxfair.dynamics.simulate`.
      prefs_set: a :class:`~jaxfair.preferences.PrefSet` ``[Q, G, K]`` over the scenario's
        groups and labels (same names, same order).
      seeds: simulation seeds; each seed draws one bank shared by every member.
      slate, bank_users, sessions_per_user, **kwargs: passed to
        :func:`~jaxfair.dynamics.simulate.simulate_members` (``periods``, ``slots``,
        ``retention``, ``acquisition``, ...).
      progress: a bar over periods per seed.
    """
    from jaxfair.preferences import PrefSet

    if not isinstance(prefs_set, PrefSet):
        raise ValueError(f"prefs_set: expected a PrefSet, got {type(prefs_set).__name__}")
    if tuple(prefs_set.group_names) != tuple(scenario.group_names):
        raise ValueError(
            f"prefs_set: groups {list(prefs_set.group_names)}, expected the scenario's {list(scenario.group_names)}"
        )
    if tuple(prefs_set.label_names) != tuple(scenario.label_names):
        raise ValueError(
            f"prefs_set: labels {list(prefs_set.label_names)}, expected the scenario's {list(scenario.label_names)}"
        )
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds: expected at least one seed")
    slate = as_slate(slate, None, None, scenario.n_candidates)
    per_seed = []
    for seed in seeds:
        bank = bank_for(scenario, seed, bank_users, sessions_per_user)
        table = LabelSumTable(bank.batch, slate)  # serving once per seed, shared by every member
        per_seed.append(
            simulate_members(
                scenario,
                policies,
                prefs_set.values,
                slate=slate,
                seed=seed,
                bank=bank,
                label_sums=table,
                progress=progress,
                **kwargs,
            )
        )
    return [[runs[q] for runs in per_seed] for q in range(prefs_set.n_members)]
