"""``simulate``: one compiled ``lax.scan`` over periods, vectorised over P fixed α (SPEC §8).

Per period t and slot i: the slot's occupant (a newcomer when the previous one churned, or
at t = 0) gets one session, is served, its satisfaction is updated and it returns next
period with probability ρ(s). The P fixed α run as P populations side by side in the same
scan, and every random draw is keyed by (seed, period, slot, user) (:mod:`jaxfair.dynamics.rng`)
— never by α or policy — so populations differ only through what α did (common random
numbers). Utilities come from one table of every α on every bank session
(:func:`jaxfair.dynamics.serving.session_utilities`), so a period costs a gather, two hashes
and the group sums per (α, slot).

:func:`simulate_members` runs M preference matrices (the members of a preference set) as
M × P populations of the same scan: the table then holds the K label sums of every α on
every session (:class:`~jaxfair.dynamics.serving.LabelSumTable`, one serving pass shared by
every member) and each population contracts them with its member's α*(g) as it gathers
(:func:`~jaxfair.dynamics.serving.weigh_labels`), so no member builds a table of its own.
The contraction and the re-tuning choice run per population exactly as for one member
alone, so a member's trajectories have the same bits alone or with others (tested).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.dynamics import rng
from jaxfair.dynamics.policies import Fixed, Policy
from jaxfair.dynamics.population import (
    Bank,
    acquisition_cdf,
    bank_sample,
    check_acquisition,
    make_bank,
    newcomers,
    return_uniform,
    session_index,
)
from jaxfair.dynamics.result import DynamicsResult
from jaxfair.dynamics.retention import Retention, return_probability, satisfaction
from jaxfair.dynamics.serving import LabelSumTable, session_utilities, weigh_labels
from jaxfair.engine.kernels import _tree  # the package's one pairwise tree
from jaxfair.engine.slate import as_slate
from jaxfair.named_prefs import prefs_record
from jaxfair.validation import check_alphas, check_prefs

__all__ = ["DEFAULT_MEMORY_BUDGET", "bank_for", "simulate", "simulate_members"]

#: Bytes allowed for one chunk's table ``[U·B, C, P_chunk]`` float32 (C = 1 utility or K label sums).
DEFAULT_MEMORY_BUDGET = 256 * 2**20
# Cap on populations · slots (the scan's per-period [N, Q] state and temporaries).
_MAX_STATE = 2**23
# Cap on members · slots · grid α of a re-tuning unit (its choice holds [M, N, A] float32 values).
_MAX_PICK = 2**29
_BANK_STREAM = 0x5EED


@dataclasses.dataclass(frozen=True)
class _Spec:
    """Static (compile-time) description of one scan segment."""

    n_slots: int
    n_periods: int
    n_groups: int
    n_sessions: int
    choose: Callable | None
    every: int
    record: bool


def _period(spec: _Spec, consts, carry, t):
    # Layout [N, Q]: slots major, populations minor. Under common random numbers most
    # populations hold the same occupant with the same session in a slot, so the table
    # gather reads one contiguous row of the [U·B, C, A] table per slot (cache friendly).
    # Population q belongs to member owner[q], whose weights [G, C] turn the table's C
    # channels into utility (C = 1, weight 1: the table is the utility itself).
    table, weights, owner, user_group, members, gstart, gcount, cdf, params, seed = consts
    user, arrival, s, new, row = carry
    base = rng.slot_hash(seed, t, spec.n_slots)[:, None]  # [N, 1]
    _, nu = newcomers(base[:, 0], cdf, members, gstart, gcount)
    user = jnp.where(new, nu[:, None], user)
    arrival = jnp.where(new, t, arrival)
    sess = user * spec.n_sessions + session_index(base, arrival, spec.n_sessions)  # [N, Q] bank rows
    group = user_group[user]  # [N, Q]
    onehot = jax.nn.one_hot(group, spec.n_groups, dtype=jnp.float32)  # [N, Q, G]
    if spec.choose is not None:

        def choose(xs):  # one member's population (a re-tuning unit has one per member)
            rows, g, w = xs  # [N], [N], [G, C]
            vals = weigh_labels(table[rows], w[g])  # [N, A]: every grid α on this period's sessions
            oh = jax.nn.one_hot(g, spec.n_groups, dtype=jnp.float32)
            counts = jnp.sum(oh, axis=0)
            # [G, N] @ [N, A]; the barrier keeps the transpose out of the dot, which XLA would
            # otherwise fold in as a dot contracting vals' leading axis (2x slower, measured).
            sums = jax.lax.optimization_barrier(jnp.matmul(oh.T, vals, precision=jax.lax.Precision.HIGHEST)).T
            mu = jnp.where(counts > 0, sums / jnp.maximum(counts, 1.0), jnp.nan)
            return jnp.asarray(spec.choose(mu, counts), jnp.int32)

        pick = jax.vmap(choose)  # members side by side: [M, N, A] values at once (bounded by the caller)
        row = jax.lax.cond(t % spec.every == 0, lambda _: pick((sess.T, group.T, weights)), lambda _: row, None)
    u = weigh_labels(table[sess, :, row[None, :]][..., None], weights[owner[None, :], group])[..., 0]  # [N, Q]
    s = satisfaction(s, u, new, params[4])
    returns = return_uniform(base, arrival) < return_probability(s, params)
    # float32 group sums as a pairwise tree of elementwise adds over the slots (padded to a power
    # of two): a reduce or a dot would let XLA pick the order from the shapes, so a population's
    # sums would change bits with the number of populations beside it (measured at 10,000 slots).
    contrib = u[:, :, None] * onehot  # [N, Q, G]
    sums = _tree(jnp.pad(contrib, ((0, _pow2(spec.n_slots) - spec.n_slots), (0, 0), (0, 0))))  # [Q, G]
    counts = jnp.sum(onehot, axis=0).astype(jnp.int32)
    churn = jnp.sum(onehot * (~returns)[..., None], axis=0).astype(jnp.int32)
    out = (sums, counts, churn, row) + ((sess.T,) if spec.record else ())
    return (user, arrival, s, ~returns, row), out


@functools.partial(jax.jit, static_argnames=("spec",))
def _segment(carry, t0, consts, spec: _Spec):
    """``spec.n_periods`` periods from ``t0``: ``(carry, per-period outputs)``."""
    return jax.lax.scan(functools.partial(_period, spec, consts), carry, t0 + jnp.arange(spec.n_periods))


@functools.partial(jax.jit, static_argnames=("n_slots", "n_groups"))
def _final_counts(carry, t, consts, n_slots, n_groups):
    """Group counts ``[Q, G]`` of the occupants entering period ``t`` (after the last churn)."""
    _, _, _, user_group, members, gstart, gcount, cdf, _, seed = consts
    user, _, _, new, _ = carry
    g_new, _ = newcomers(rng.slot_hash(seed, t, n_slots), cdf, members, gstart, gcount)
    g = jnp.where(new, g_new[:, None], user_group[user])
    return jnp.sum(jax.nn.one_hot(g, n_groups, dtype=jnp.int32), axis=0)


def _pow2(n: int) -> int:
    return 1 << max(0, (int(n) - 1).bit_length())


def _check_int(name: str, value, lo: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < lo:
        raise ValueError(f"{name}: expected an int >= {lo}, got {value!r}")
    return int(value)


def bank_for(scenario, seed: int = 0, n_users: int | None = None, n_sessions: int | None = None) -> Bank:
    """The bank :func:`simulate` draws for ``seed`` (reuse it across calls with ``bank=``)."""
    key = jax.random.fold_in(jax.random.PRNGKey(seed), _BANK_STREAM)
    return make_bank(scenario, key, n_users, n_sessions)


def _as_policies(policies, n_labels: int) -> list[Policy]:
    if policies is None:
        raise ValueError("policies: expected α [P, K], a Policy or a list of policies, got None")
    if isinstance(policies, Policy):
        return [policies]
    if isinstance(policies, (list, tuple)) and policies and all(isinstance(p, Policy) for p in policies):
        out = list(policies)
    else:
        alphas = check_alphas(policies, n_labels, name="alphas")
        return [Fixed(a) for a in alphas]
    for p in out:
        if p.grid.shape[1] != n_labels:
            raise ValueError(
                f"policies: {p.name!r} has α with {p.grid.shape[1]} weights, the scenario has K={n_labels} labels"
            )
    return out


def simulate(
    scenario: Any,
    policies: Any,
    *,
    periods: int,
    slots: int,
    retention: Retention | None = None,
    acquisition: Sequence[float] | None = None,
    slate: Any = 1,
    position_weights: Any = None,
    gamma: float | None = None,
    seed: int = 0,
    bank: Bank | None = None,
    bank_users: int | None = None,
    sessions_per_user: int | None = None,
    record_sessions: bool = False,
    progress: bool = False,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    prefs: Any = None,
    label_sums: LabelSumTable | None = None,
) -> DynamicsResult:
    """Simulate users arriving, being served, and returning or churning over ``periods`` periods.

    Args:
      scenario: a :class:`~jaxfair.scenarios.Scenario` with ``session_bank``.
      policies: α ``[P, K]`` (P :class:`Fixed` populations at once), one policy, or a list of
        policies (:class:`Fixed`, :class:`Retune`, :class:`RetuneFair`, :class:`Custom`).
      periods: T >= 1; slots: N >= 1 user slots.
      retention: :class:`Retention` (default: ``Retention.for_scenario(scenario)``).
      acquisition: newcomer mix π ``[G]`` (default: the scenario's prevalence).
      slate: a :class:`jaxfair.Slate`, or the slate size k with ``position_weights``
        (``None`` = ``"dcg"``) and ``gamma`` (``None`` = 0.8, the decay of ``"geometric"``), SPEC §7.
      seed: every random draw (the bank, newcomers, sessions, returns) derives from it.
      bank: a prebuilt :class:`~jaxfair.dynamics.population.Bank` (default: :func:`bank_for`).
      bank_users, sessions_per_user: bank size U and B (default: the scenario's).
      record_sessions: keep the bank row of every occupant's session ``[T, Q, N]``.
      progress: a tqdm bar over periods.
      memory_budget: bytes for one chunk's utility table (P is chunked to fit).
      prefs: ``[G, K]`` true preferences for this run, in the scenario's group order (default:
        the scenario's); a member of a preference set (:mod:`jaxfair.dynamics.prefs_set`).
      label_sums: a :class:`~jaxfair.dynamics.serving.LabelSumTable` of ``bank`` (requires
        ``bank``): utilities come from its cached label sums, so several preference matrices
        share one serving pass (equal to the direct route up to float32 rounding; the route
        of :func:`simulate_members`, bit for bit).

    Returns:
      :class:`~jaxfair.dynamics.result.DynamicsResult` (float64 on the host).
    """
    members = None if prefs is None else [prefs]
    (result,) = simulate_members(
        scenario,
        policies,
        members,
        periods=periods,
        slots=slots,
        retention=retention,
        acquisition=acquisition,
        slate=slate,
        position_weights=position_weights,
        gamma=gamma,
        seed=seed,
        bank=bank,
        bank_users=bank_users,
        sessions_per_user=sessions_per_user,
        record_sessions=record_sessions,
        progress=progress,
        memory_budget=memory_budget,
        label_sums=label_sums,
    )
    return result


def simulate_members(
    scenario: Any,
    policies: Any,
    members: Any,
    *,
    periods: int,
    slots: int,
    retention: Retention | None = None,
    acquisition: Sequence[float] | None = None,
    slate: Any = 1,
    position_weights: Any = None,
    gamma: float | None = None,
    seed: int = 0,
    bank: Bank | None = None,
    bank_users: int | None = None,
    sessions_per_user: int | None = None,
    record_sessions: bool = False,
    progress: bool = False,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    label_sums: LabelSumTable | None = None,
) -> list[DynamicsResult]:
    """:func:`simulate` for M preference matrices at once, as one vectorised scan: one result per member.

    ``members``: ``[M, G, K]`` true preferences (a :class:`~jaxfair.preferences.PrefSet`'s
    ``values``), or ``None`` for the scenario's. The members share the seed, the bank and every
    random draw (common random numbers); with two or more the utilities come from
    ``label_sums`` (default: a :class:`~jaxfair.dynamics.serving.LabelSumTable` of the bank,
    built here), so the serving runs once for all of them. Member m's result has the same bits
    as ``simulate(..., prefs=members[m], label_sums=...)`` on the same table. Every other
    argument is :func:`simulate`'s; ``memory_budget`` bounds the shared table's chunk.
    """
    periods = _check_int("periods", periods, 1)
    slots = _check_int("slots", slots, 1)
    seed = _check_int("seed", seed, 0)
    if seed >= 2**32:
        raise ValueError(f"seed: expected an int < 2**32, got {seed}")
    retention = Retention.for_scenario(scenario) if retention is None else retention
    if not isinstance(retention, Retention):
        raise ValueError(f"retention: expected a Retention, got {type(retention).__name__}")
    slate = as_slate(slate, position_weights, gamma, scenario.n_candidates)  # the one resolution
    pols = _as_policies(policies, scenario.n_labels)
    g, k = scenario.n_groups, scenario.n_labels
    raw = [scenario.prefs] if members is None else members
    if isinstance(raw, (str, bytes)) or not hasattr(raw, "__len__") or len(raw) < 1:
        raise ValueError(f"members: expected [M, G, K] preference matrices (M >= 1), got {members!r}")
    prefs = np.stack([np.asarray(check_prefs(m, g, k, group_names=scenario.group_names)) for m in raw])  # [M, G, K]
    check_acquisition(acquisition, scenario)  # before the bank is drawn
    if label_sums is not None and bank is None:
        raise ValueError("label_sums: requires bank= (the LabelSumTable's bank)")
    if bank is None:
        bank = bank_for(scenario, seed, bank_users, sessions_per_user)
    pi = check_acquisition(acquisition, scenario, bank)
    if label_sums is not None and label_sums.batch is not bank.batch:
        raise ValueError("label_sums: expected the LabelSumTable of bank= (it was built on other sessions)")
    if label_sums is not None and label_sums.slate != slate:
        raise ValueError(f"label_sums: built for {label_sums.slate}, this run serves {slate}")
    if label_sums is None and len(prefs) > 1:
        label_sums = LabelSumTable(bank.batch, slate)  # one serving for every member
    ub = bank.batch.n_users
    shared = (
        jnp.asarray(bank.user_group),
        jnp.asarray(bank.members),
        jnp.asarray(bank.group_start),
        jnp.asarray(bank.group_count),
        jnp.asarray(acquisition_cdf(pi)),
        retention.params(),
        jnp.uint32(seed),
    )
    # The table's channels: the utility itself (C = 1, weight 1), or the K label sums weighted
    # by each member's α*(g).
    if label_sums is None:
        channels, weights = 1, jnp.ones((1, g, 1), jnp.float32)
    else:
        channels, weights = k, jnp.asarray(prefs, jnp.float32)

    # Units of work: chunks of the fixed α (vectorised), then each re-tuning policy alone (one
    # population per member); each unit runs its members in balanced chunks (usually one).
    n_mem = len(prefs)
    fixed = [i for i, p in enumerate(pols) if isinstance(p, Fixed)]
    cap = max(1, _MAX_STATE // slots)
    chunk = max(1, min(len(fixed) or 1, memory_budget // (4 * ub * channels), _MAX_STATE // (slots * min(n_mem, cap))))
    units = [(fixed[i : i + chunk], None) for i in range(0, len(fixed), chunk)]
    units += [([i], pols[i]) for i, p in enumerate(pols) if not isinstance(p, Fixed)]

    def member_slices(policy) -> list[slice]:
        most = cap if policy is None else max(1, min(cap, _MAX_PICK // (slots * len(policy.grid))))
        n_chunks = -(-n_mem // most)
        size = -(-n_mem // n_chunks)  # balanced: one compiled shape
        return [slice(m0, min(m0 + size, n_mem)) for m0 in range(0, n_mem, size)]

    seg = periods if not progress else max(1, -(-periods // max(1, -(-periods // 25))))
    bar = None
    if progress:
        from jaxfair.utils.progress import progress_bar as tqdm

        bar = tqdm(total=sum(len(member_slices(pol)) for _, pol in units) * periods, desc="dynamics", unit="period")
    q_all = len(pols)
    counts = np.zeros((periods, n_mem, q_all, g), np.int64)
    churn = np.zeros((periods, n_mem, q_all, g), np.int64)
    sums = np.zeros((periods, n_mem, q_all, g), np.float64)
    served = np.zeros((periods, n_mem, q_all, k), np.float64)
    final = np.zeros((n_mem, q_all, g), np.int64)
    sessions = np.zeros((periods, n_mem, q_all, slots), np.int32) if record_sessions else None
    for idx, policy in units:
        if policy is None:
            alphas = np.stack([pols[i].alpha for i in idx])
            spec_choose, every = None, 1
        else:
            alphas = policy.grid
            spec_choose, every = policy.chooser(), policy.every
        if label_sums is None:
            table = session_utilities(alphas, bank.batch, prefs[0], slate).T[:, None, :]  # [U·B, 1, A]
        else:
            table = label_sums.label_sums(alphas)  # [U·B, K, A], shared by every member
        for ms in member_slices(policy):
            m, p = ms.stop - ms.start, len(idx)
            q = m * p  # populations, member-major: q = member · p + i
            consts = (table, weights[ms], jnp.repeat(jnp.arange(m, dtype=jnp.int32), p)) + shared
            row0 = jnp.tile(jnp.arange(p, dtype=jnp.int32), m) if policy is None else jnp.zeros(m, jnp.int32)
            carry = (
                jnp.zeros((slots, q), jnp.int32),
                jnp.zeros((slots, q), jnp.int32),
                jnp.zeros((slots, q), jnp.float32),
                jnp.ones((slots, q), bool),
                row0,
            )
            for t0 in range(0, periods, seg):
                n = min(seg, periods - t0)
                spec = _Spec(slots, n, g, bank.n_sessions, spec_choose, every, bool(record_sessions))
                carry, out = _segment(carry, jnp.int32(t0), consts, spec)
                sm, c, ch, rows = (np.asarray(x).reshape((n, m, p) + x.shape[2:]) for x in out[:4])
                ts = slice(t0, t0 + n)
                sums[ts, ms, idx] = sm.astype(np.float64)
                counts[ts, ms, idx] = c
                churn[ts, ms, idx] = ch
                served[ts, ms, idx] = alphas[rows]
                if record_sessions:
                    sessions[ts, ms, idx] = np.asarray(out[4]).reshape(n, m, p, slots)
                if bar is not None:
                    bar.update(n)
            fc = np.asarray(_final_counts(carry, jnp.int32(periods), consts, slots, g))
            final[ms, idx] = fc.reshape(m, p, g)
    if bar is not None:
        bar.close()
    config = dict(
        periods=periods,
        slots=slots,
        seed=seed,
        retention=dataclasses.asdict(retention),
        acquisition=[float(x) for x in pi],
        slate=slate.to_dict(),
        bank_users=bank.n_users,
        sessions_per_user=bank.n_sessions,
        sample=bank_sample(scenario, bank),  # the real users (and logged sessions) behind the bank
        policies=[_describe(p) for p in pols],
    )
    return [
        DynamicsResult(
            names=tuple(p.name for p in pols),
            alphas=served[:, mi],
            counts=counts[:, mi],
            sums=sums[:, mi],
            churn=churn[:, mi],
            final_counts=final[mi],
            n_slots=slots,
            group_names=tuple(scenario.group_names),
            label_names=tuple(scenario.score_names),  # names α's columns: α weights the scores
            sessions=None if sessions is None else sessions[:, mi],
            config=dict(
                scenario=getattr(scenario, "name", "?"),
                prefs=prefs_record(
                    scenario.group_names, scenario.label_names, prefs[mi]
                ),  # which row went to which group
                **config,
            ),
        )
        for mi in range(n_mem)
    ]


def _describe(p: Policy) -> dict:
    d = {"name": p.name, "kind": type(p).__name__}
    if isinstance(p, Fixed):
        d["alpha"] = [float(v) for v in p.alpha]
    else:
        d.update(every=int(p.every), grid_size=int(len(p.grid)))
        if hasattr(p, "tau"):
            d["tau"] = float(p.tau)
    return d
