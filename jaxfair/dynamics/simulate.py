"""``simulate``: one compiled ``lax.scan`` over periods, vectorised over P fixed α (SPEC §8).

Per period t and slot i: the slot's occupant (a newcomer when the previous one churned, or
at t = 0) gets one session, is served, its satisfaction is updated and it returns next
period with probability ρ(s). The P fixed α run as P populations side by side in the same
scan, and every random draw is keyed by (seed, period, slot, user) (:mod:`jaxfair.dynamics.rng`)
— never by α or policy — so populations differ only through what α did (common random
numbers). Utilities come from one table of every α on every bank session
(:func:`jaxfair.dynamics.serving.session_utilities`), so a period costs a gather, two hashes
and the group sums per (α, slot).
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
from jaxfair.dynamics.serving import LabelSumTable, session_utilities
from jaxfair.engine.slate import as_slate
from jaxfair.named_prefs import prefs_record
from jaxfair.validation import check_alphas, check_prefs

__all__ = ["DEFAULT_MEMORY_BUDGET", "bank_for", "simulate"]

#: Bytes allowed for one chunk's utility table ``[P_chunk, U·B]`` float32.
DEFAULT_MEMORY_BUDGET = 256 * 2**20
# Cap on P_chunk · slots (the scan's per-period [P, N] state and temporaries).
_MAX_STATE = 2**23
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
    # gather reads one contiguous row of the [U·B, A] table per slot (cache friendly).
    table, user_group, members, gstart, gcount, cdf, params, seed, grid_rows = consts
    user, arrival, s, new, row = carry
    base = rng.slot_hash(seed, t, spec.n_slots)[:, None]  # [N, 1]
    _, nu = newcomers(base[:, 0], cdf, members, gstart, gcount)
    user = jnp.where(new, nu[:, None], user)
    arrival = jnp.where(new, t, arrival)
    sess = user * spec.n_sessions + session_index(base, arrival, spec.n_sessions)  # [N, Q] bank rows
    onehot = jax.nn.one_hot(user_group[user], spec.n_groups, dtype=jnp.float32)  # [N, Q, G]
    if spec.choose is not None:

        def pick(_):
            vals = table[sess[:, 0][:, None], grid_rows[None, :]]  # [N, A]: every grid α on this period's sessions
            counts = jnp.sum(onehot[:, 0], axis=0)
            sums = jnp.einsum("na,ng->ag", vals, onehot[:, 0], precision=jax.lax.Precision.HIGHEST)
            mu = jnp.where(counts > 0, sums / jnp.maximum(counts, 1.0), jnp.nan)
            return grid_rows[spec.choose(mu, counts)][None]

        row = jax.lax.cond(t % spec.every == 0, pick, lambda _: row, None)
    u = table[sess, row[None, :]]  # [N, Q]
    s = satisfaction(s, u, new, params[4])
    returns = return_uniform(base, arrival) < return_probability(s, params)
    # float32 group sums (the exact block tree of jaxfair.evaluate: 8x slower in isolation, measured).
    sums = jnp.sum(u[:, :, None] * onehot, axis=0)  # [Q, G]
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
    _, user_group, members, gstart, gcount, cdf, _, seed, _ = consts
    user, _, _, new, _ = carry
    g_new, _ = newcomers(rng.slot_hash(seed, t, n_slots), cdf, members, gstart, gcount)
    g = jnp.where(new, g_new[:, None], user_group[user])
    return jnp.sum(jax.nn.one_hot(g, n_groups, dtype=jnp.int32), axis=0)


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
        share one serving pass (equal to the direct route up to float32 rounding).

    Returns:
      :class:`~jaxfair.dynamics.result.DynamicsResult` (float64 on the host).
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
    check_acquisition(acquisition, scenario)  # before the bank is drawn
    if bank is None:
        bank = bank_for(scenario, seed, bank_users, sessions_per_user)
    pi = check_acquisition(acquisition, scenario, bank)
    g = scenario.n_groups
    prefs = scenario.prefs if prefs is None else prefs
    prefs = np.asarray(check_prefs(prefs, g, scenario.n_labels, group_names=scenario.group_names))
    if label_sums is not None and label_sums.batch is not bank.batch:
        raise ValueError("label_sums: expected the LabelSumTable of bank= (it was built on other sessions)")
    if label_sums is not None and label_sums.slate != slate:
        raise ValueError(f"label_sums: built for {label_sums.slate}, this run serves {slate}")
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

    # Units of work: chunks of the fixed α (vectorised), then each re-tuning policy alone.
    fixed = [i for i, p in enumerate(pols) if isinstance(p, Fixed)]
    chunk = max(1, min(len(fixed) or 1, memory_budget // (4 * ub), _MAX_STATE // slots))
    units = [(fixed[i : i + chunk], None) for i in range(0, len(fixed), chunk)]
    units += [([i], pols[i]) for i, p in enumerate(pols) if not isinstance(p, Fixed)]

    seg = periods if not progress else max(1, -(-periods // max(1, -(-periods // 25))))
    bar = None
    if progress:
        from jaxfair.utils.progress import progress_bar as tqdm

        bar = tqdm(total=len(units) * periods, desc="dynamics", unit="period")
    q_all = len(pols)
    k = scenario.n_labels
    counts = np.zeros((periods, q_all, g), np.int64)
    churn = np.zeros((periods, q_all, g), np.int64)
    sums = np.zeros((periods, q_all, g), np.float64)
    served = np.zeros((periods, q_all, k), np.float64)
    final = np.zeros((q_all, g), np.int64)
    sessions = np.zeros((periods, q_all, slots), np.int32) if record_sessions else None
    for idx, policy in units:
        if policy is None:
            alphas = np.stack([pols[i].alpha for i in idx])
            grid_rows = jnp.arange(len(idx), dtype=jnp.int32)
            spec_choose, every = None, 1
        else:
            alphas = policy.grid
            grid_rows = jnp.arange(len(alphas), dtype=jnp.int32)
            spec_choose, every = policy.chooser(), policy.every
        if label_sums is None:
            table = session_utilities(alphas, bank.batch, prefs, slate).T  # [U·B, A]
        else:
            table = label_sums.utilities(alphas, prefs).T
        consts = (table,) + shared + (grid_rows,)
        q = len(idx)
        row0 = jnp.arange(q, dtype=jnp.int32) if policy is None else jnp.zeros(1, jnp.int32)
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
            sm, c, ch, rows = (np.asarray(x) for x in out[:4])
            ts = slice(t0, t0 + n)
            sums[ts, idx] = sm.astype(np.float64)
            counts[ts, idx] = c
            churn[ts, idx] = ch
            served[ts, idx] = alphas[rows]
            if record_sessions:
                sessions[ts, idx] = np.asarray(out[4])
            if bar is not None:
                bar.update(n)
        final[idx] = np.asarray(_final_counts(carry, jnp.int32(periods), consts, slots, g))
    if bar is not None:
        bar.close()
    return DynamicsResult(
        names=tuple(p.name for p in pols),
        alphas=served,
        counts=counts,
        sums=sums,
        churn=churn,
        final_counts=final,
        n_slots=slots,
        group_names=tuple(scenario.group_names),
        label_names=tuple(scenario.score_names),  # names α's columns: α weights the scores
        sessions=sessions,
        config=dict(
            scenario=getattr(scenario, "name", "?"),
            prefs=prefs_record(scenario.group_names, scenario.label_names, prefs),  # which row went to which group
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
        ),
    )


def _describe(p: Policy) -> dict:
    d = {"name": p.name, "kind": type(p).__name__}
    if isinstance(p, Fixed):
        d["alpha"] = [float(v) for v in p.alpha]
    else:
        d.update(every=int(p.every), grid_size=int(len(p.grid)))
        if hasattr(p, "tau"):
            d["tau"] = float(p.tau)
    return d
