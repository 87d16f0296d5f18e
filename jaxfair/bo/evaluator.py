"""The black box BoTorch sees: ``Evaluator(X [b, d]) -> Y [b, M]`` = (global utility, DER[, provider DER]).

Each call is a simulated online test: it draws a fresh batch of users from the scenario
with a key from an explicit stream and evaluates every row of ``X`` on that same batch in
one compiled JAX call (:func:`jaxfair.evaluate.evaluate`, the engine's one route). ``exact`` evaluates on a
large held-out batch drawn once from a separate key — the noise-free value for reporting.

Objectives (``objectives=``): ``("utility", "der")`` (default, M = 2, the paper's study) or
``("utility", "der", "provider_der")`` (M = 3): the provider DER of SPEC §7 (exposure of each
provider group ∝ its merit) of a slate of ``slate`` items under ``position_weights``, computed
by :func:`jaxfair.evaluate.evaluate` too. A batch whose provider DER is undefined (a provider
group with zero merit) is redrawn like a batch with an empty user group; NaN never reaches a GP.

Robust objectives (SPEC §9, :mod:`jaxfair.bo.objectives`): with ``prefs_set=`` a
:class:`~jaxfair.preferences.PrefSet`, ``("utility_q10", "der_min")`` are the 10 % quantile of
global utility and the minimum DER over the set's Q preference matrices, from the same kernel
pass (the label means ``[P, G, K]`` with the Q matrices applied after it).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import torch

from jaxfair.bo.objectives import (
    DEFAULT_OBJECTIVES,
    OBJECTIVES,
    is_robust,
    parse_objectives,
    robust_columns,
    set_values,
)
from jaxfair.bo.space import SearchSpace
from jaxfair.engine import kernels
from jaxfair.engine.slate import as_slate
from jaxfair.validation import check_prefs

__all__ = [
    "EvalResult",
    "Evaluator",
    "EmptyGroupError",
    "OBJECTIVES",
    "UndefinedProviderDERError",
    "der_np",
    "parse_objectives",
]

_DEFAULT_OBJECTIVES = DEFAULT_OBJECTIVES

# Stream ids folded into the evaluator's root key: online tests and the held-out batch
# never share random numbers.
_ONLINE, _EXACT = 0, 1


class EmptyGroupError(ValueError):
    """A sampled batch left a group without users (its mean, hence DER, is undefined)."""


class UndefinedProviderDERError(ValueError):
    """Provider DER is undefined on the batches drawn (a provider group with zero merit, SPEC §7)."""


def der_np(mu: np.ndarray) -> np.ndarray:
    """DER ``[...]`` of group means ``mu [..., G]`` in float64 (SPEC §1; the kernel's formula)."""
    return np.asarray(kernels.der_kernel(np.asarray(mu, dtype=np.float64), np), dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """One evaluation of b weight vectors (float64 NumPy).

    Attributes:
      alphas ``[b, K]``; utility ``[b]``; der ``[b]``; group_utility ``[b, G]``;
      group_counts ``[G]``; n_unserved (users with no retrieved candidate);
      resamples (batches redrawn because a group was empty or provider DER undefined);
      objectives: the column names of :attr:`Y`; provider_der ``[b]``, exposure_share
      ``[b, H]``, merit_share ``[H]``: None unless computed (``provider_der`` objective);
      set_utility, set_der ``[Q, b]``: global utility and DER under each member of the
      evaluator's preference set, and robust ``{name: [b]}`` the robust objectives
      (``utility_q{q}``, ``der_min``) — None without ``prefs_set``; x_evaluated ``[b, d]``: the
      inputs actually evaluated when the evaluator moved a proposal (an impression log keeps the
      search inside its identified region, :mod:`jaxfair.bo.offpolicy`), else None, and note says why.
    """

    alphas: np.ndarray
    utility: np.ndarray
    der: np.ndarray
    group_utility: np.ndarray
    group_counts: np.ndarray
    n_unserved: int
    resamples: int = 0
    objectives: tuple[str, ...] = _DEFAULT_OBJECTIVES
    provider_der: np.ndarray | None = None
    exposure_share: np.ndarray | None = None
    merit_share: np.ndarray | None = None
    set_utility: np.ndarray | None = None
    set_der: np.ndarray | None = None
    robust: dict | None = None
    x_evaluated: torch.Tensor | None = None
    note: str = ""

    def value(self, objective: str) -> np.ndarray:
        """``[b]`` float64: the named objective (a point one or a robust one)."""
        if self.robust is not None and objective in self.robust:
            return np.asarray(self.robust[objective], dtype=np.float64)
        return np.asarray(getattr(self, objective), dtype=np.float64)

    @property
    def Y(self) -> torch.Tensor:
        """``[b, M]`` float64 torch: the objectives' values, in order (default (utility, DER))."""
        cols = [self.value(o) for o in self.objectives]
        return torch.from_numpy(np.stack(cols, axis=-1).astype(np.float64))


class Evaluator:
    """Fast (utility, DER) black box for BoTorch / Ax.

    Args:
      scenario: a :class:`jaxfair.scenarios.Scenario` (or a registered name, loaded with seed 0).
      users: users per online evaluation (the noise level; default 2000).
      seed: root of the key stream (online tests) and of the held-out batch.
      space: ``"direction"`` (default) or ``"box"``; see :mod:`jaxfair.bo.space`.
      zero: what ``space="box"`` does with ``X = 0``: ``"raise"`` (default) or ``"uniform"``.
      exact_users: size of the held-out batch used by :meth:`exact` (default 100,000).
      max_resamples: redraws allowed when a batch leaves a group empty before raising
        :class:`EmptyGroupError` (default 10; 0 = raise at once).
      horizon: T periods: (utility, DER) become the long-run horizon summaries of each α over T
        periods of retention dynamics on ``users`` slots (:mod:`jaxfair.dynamics.blackbox`);
        default None: one session.
      mesh: a ``jax.sharding.Mesh`` to shard each batch's users over
        (:func:`jaxfair.engine.sharding.user_mesh`); default: all devices when there are several.
        Results are bit-identical either way.
      objectives: ``("utility", "der")`` (default), ``("utility", "der", "provider_der")``
        (needs a scenario with provider groups) or a robust pair such as ``("utility_q10", "der_min")``
        (needs ``prefs_set``; :mod:`jaxfair.bo.objectives`); a comma-separated string works too.
      prefs_set: a :class:`~jaxfair.preferences.PrefSet` ``[Q, G, K]`` bound to the scenario's
        groups and labels by name; every result then also holds each α's utility and DER under
        every member (``set_utility``/``set_der``). Not with ``horizon=`` (retention dynamics are
        not linear in the preferences).
      slate: a :class:`jaxfair.Slate`, or k items served per session (SPEC §7; default 1, the
        paper's top-1).
      position_weights: ``"dcg"`` (default), ``"geometric"``, ``"uniform"`` or a vector ``[k]``.
      gamma: γ of ``"geometric"`` weights (default 0.8).

    Attributes:
      dim: d, the input dimension; bounds: ``[2, d]`` float64 torch; n_labels K; n_groups G.

    Calling ``evaluator(X)`` with ``X [b, d]`` float64 torch returns ``Y [b, M]`` float64 torch
    and advances the internal key stream; ``evaluator(X, key=k)`` uses the JAX key ``k``
    instead (the study does this, so that results depend only on the seed).
    """

    def __init__(
        self,
        scenario: Any,
        *,
        users: int = 2000,
        seed: int = 0,
        space: str = "direction",
        zero: str = "raise",
        exact_users: int = 100_000,
        max_resamples: int = 10,
        mesh: Any = None,
        objectives: Any = _DEFAULT_OBJECTIVES,
        slate: int = 1,
        position_weights: Any = "dcg",
        gamma: float = 0.8,
        horizon: int | None = None,
        prefs_set: Any = None,
    ):
        if isinstance(scenario, str):
            from jaxfair import scenarios

            scenario = scenarios.load(scenario)
        for name in ("prefs", "sample", "n_labels", "n_groups"):
            if not hasattr(scenario, name):
                raise ValueError(
                    f"scenario: expected a jaxfair Scenario (missing {name!r}), got {type(scenario).__name__}"
                )
        for name, value, lo in (
            ("users", users, 1),
            ("exact_users", exact_users, 1),
            ("max_resamples", max_resamples, 0),
        ):
            if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < lo:
                raise ValueError(f"{name}: expected an int >= {lo}, got {value!r}")
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed: expected a non-negative int, got {seed!r}")
        self.objectives = parse_objectives(objectives)
        # The one slate resolution (jaxfair.engine.slate): a Slate or k + weights + gamma.
        self.slate_value = as_slate(slate, position_weights, gamma, getattr(scenario, "n_candidates", None))
        if "provider_der" in self.objectives and getattr(scenario, "n_item_groups", 0) < 2:
            raise ValueError(
                f"objectives: 'provider_der' needs a scenario with provider (item) groups; "
                f"{getattr(scenario, 'name', '?')!r} has none"
            )
        self.slate = self.slate_value.k
        self.position_weights = self.slate_value.position_weights
        self.gamma = self.slate_value.gamma
        self.scenario = scenario
        self.users = int(users)
        self.exact_users = int(exact_users)
        self.max_resamples = int(max_resamples)
        self.seed = int(seed)
        if mesh is not None:
            from jaxfair.engine.sharding import check_mesh

            check_mesh(mesh)
        self.mesh = mesh
        self.space = SearchSpace(scenario.n_labels, space, zero)
        self.prefs = check_prefs(scenario.prefs, scenario.n_groups, scenario.n_labels, group_names=scenario.group_names)
        self._prefs32 = jnp.asarray(self.prefs, dtype=jnp.float32)
        self.prefs_set = None if prefs_set is None else _bind_prefs_set(prefs_set, scenario)
        if is_robust(self.objectives) and self.prefs_set is None:
            raise ValueError(
                f"prefs_set: objectives {','.join(self.objectives)} are taken over a preference set; pass "
                "prefs_set=PrefSet(...) (CLI: --prefs-set dirichlet:C[:Q])"
            )
        if self.prefs_set is not None and horizon is not None:
            raise ValueError("prefs_set: not available with horizon= (retention dynamics are not linear in the prefs)")
        root = jax.random.PRNGKey(self.seed)
        self._online_key = jax.random.fold_in(root, _ONLINE)
        self._exact_key = jax.random.fold_in(root, _EXACT)
        self._calls = 0
        self._exact_batch = None
        self.horizon = None
        if horizon is not None:
            from jaxfair.dynamics.blackbox import HorizonBlackBox

            if "provider_der" in self.objectives:
                raise ValueError(
                    "objectives: 'provider_der' is a one-session measure; with horizon= use ('utility', 'der')"
                )
            self.horizon = HorizonBlackBox(scenario, horizon, slots=self.users, seed=self.seed, slate=self.slate_value)

    # --- public attributes -------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.space.dim

    @property
    def bounds(self) -> torch.Tensor:
        return self.space.bounds

    @property
    def n_labels(self) -> int:
        return int(self.scenario.n_labels)

    @property
    def n_groups(self) -> int:
        return int(self.scenario.n_groups)

    def key_for(self, *path: int) -> jax.Array:
        """The online-stream key at ``path`` (e.g. ``(trial, evaluation)``), fold-in by fold-in."""
        key = self._online_key
        for p in path:
            key = jax.random.fold_in(key, int(p))
        return key

    # --- evaluation ----------------------------------------------------------------------
    def __call__(self, X: torch.Tensor, key: jax.Array | None = None) -> torch.Tensor:
        """``X [b, d]`` float64 torch → ``Y [b, 2]`` float64 torch on a fresh user batch."""
        return self.evaluate(X, key=key).Y.to(device=X.device if isinstance(X, torch.Tensor) else "cpu")

    def evaluate(self, X: Any, key: jax.Array | None = None) -> EvalResult:
        """Like ``__call__`` but returns the full :class:`EvalResult` (group utilities, …)."""
        alphas = self.space.to_alpha(X)
        if key is None:
            key = jax.random.fold_in(self._online_key, self._calls)
            self._calls += 1
        if self.horizon is not None:
            return self._evaluate_horizon(alphas, key, self.users)
        for attempt in range(self.max_resamples + 1):
            # Attempt 0 uses the key itself so that a study's stream does not depend on
            # max_resamples; redraws fold in the attempt number.
            k = key if attempt == 0 else jax.random.fold_in(key, 2**31 - attempt)
            batch = self.scenario.sample(k, self.users)
            res = self._evaluate_batch(alphas, batch, chunk=None)
            if np.all(res.group_counts > 0) and self._provider_ok(res) and self._robust_ok(res):
                return dataclasses.replace(res, resamples=attempt)
        if np.all(res.group_counts > 0):
            raise UndefinedProviderDERError(
                f"users: {self.max_resamples + 1} batches of {self.users} users all left provider DER undefined "
                f"({self._provider_problem(res)}); increase users (or max_resamples)"
            )
        empty = [self._group_name(g) for g in np.flatnonzero(res.group_counts == 0)]
        raise EmptyGroupError(
            f"users: {self.max_resamples + 1} batches of {self.users} users all left group(s) {empty} empty, "
            "so DER is undefined; increase users (or max_resamples)"
        )

    def exact(self, X: Any, chunk: int = 8) -> EvalResult:
        """Noise-free value: ``X [b, d]`` evaluated on the fixed held-out batch (``exact_users``)."""
        alphas = self.space.to_alpha(X)
        if self.horizon is not None:
            return self._evaluate_horizon(alphas, self._exact_key, self.exact_users)
        if self._exact_batch is None:
            self._exact_batch = self.scenario.evaluation_batch(self._exact_key, self.exact_users)
        res = self._evaluate_batch(alphas, self._exact_batch, chunk=chunk)
        if not np.all(res.group_counts > 0):
            empty = [self._group_name(g) for g in np.flatnonzero(res.group_counts == 0)]
            raise EmptyGroupError(f"exact_users: the exact-value batch has no sessions of group(s) {empty}")
        if not self._provider_ok(res):
            raise UndefinedProviderDERError(
                f"exact_users: provider DER is undefined on the exact-value batch ({self._provider_problem(res)})"
            )
        return res

    def exact_Y(self, X: Any) -> torch.Tensor:
        """``[b, 2]`` float64 torch of :meth:`exact`."""
        return self.exact(X).Y

    def _evaluate_horizon(self, alphas: np.ndarray, key, slots: int) -> EvalResult:
        bb = self.horizon
        bb.slots = slots
        utility, der, mu, counts = bb.evaluate(alphas, key)
        if not np.all(counts > 0):
            empty = [self._group_name(g) for g in np.flatnonzero(counts == 0)]
            raise EmptyGroupError(f"users: group(s) {empty} had no sessions over the horizon; DER is undefined")
        return EvalResult(alphas=alphas, utility=utility, der=der, group_utility=mu, group_counts=counts, n_unserved=0)

    def _group_name(self, g: int) -> str:
        names = getattr(self.scenario, "group_names", None)
        return str(names[g]) if names is not None and g < len(names) else str(g)

    def _robust_ok(self, res: EvalResult) -> bool:
        # A finite batch (every group present) gives finite set values; checked so NaN never reaches a GP.
        return res.robust is None or all(bool(np.all(np.isfinite(v))) for v in res.robust.values())

    def _provider_ok(self, res: EvalResult) -> bool:
        return res.provider_der is None or bool(np.all(np.isfinite(res.provider_der)))

    def _provider_problem(self, res: EvalResult) -> str:
        names = getattr(self.scenario, "item_group_names", ())
        if res.merit_share is not None:
            zero = [str(names[h]) if h < len(names) else str(h) for h in np.flatnonzero(~(res.merit_share > 0))]
            if zero:
                return f"provider group(s) {zero} have zero merit"
        return "no exposure at all"

    def _evaluate_batch(self, alphas: np.ndarray, batch, chunk: int | None) -> EvalResult:
        """Every objective through the engine's :func:`jaxfair.evaluate.evaluate` (one route)."""
        import warnings

        from jaxfair.engine.api import evaluate

        provider = "provider_der" in self.objectives
        h = int(self.scenario.n_item_groups) if provider else None
        if not provider and batch.item_group is not None:
            batch = batch.replace(item_group=None)  # exposure is not an objective: do not compute it
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # empty groups: handled (resampled / raised) by the caller
            ev = evaluate(
                alphas,
                batch,
                self.prefs,
                slate=self.slate_value,
                n_item_groups=h,
                chunk_size=chunk,
                mesh=self.mesh,
                return_label_means=self.prefs_set is not None,  # the set's members apply to these
            )
        counts = np.asarray(ev.group_counts, dtype=np.float64)
        robust = {}
        if self.prefs_set is not None:
            # The same kernel pass: the set's Q matrices applied to this batch's label means.
            set_u, set_d = set_values(np.asarray(ev.label_means, np.float64), counts, self.prefs_set.values)
            robust = dict(set_utility=set_u, set_der=set_d, robust=robust_columns(self.objectives, set_u, set_d))
        return EvalResult(
            alphas=alphas,
            utility=np.asarray(ev.utility, np.float64),
            der=np.asarray(ev.der, np.float64),
            group_utility=np.asarray(ev.group_utility, np.float64),
            group_counts=counts,
            n_unserved=int(ev.n_unserved),
            objectives=self.objectives,
            provider_der=np.asarray(ev.provider_der, np.float64) if provider else None,
            exposure_share=np.asarray(ev.exposure_share, np.float64) if provider else None,
            merit_share=np.asarray(ev.merit_share, np.float64) if provider else None,
            **robust,
        )

    def __repr__(self) -> str:
        if self.prefs_set is not None:
            extra_set = f", prefs_set={self.prefs_set.kind}:{self.prefs_set.n_members} members"
        else:
            extra_set = ""
        extra = (
            extra_set
            if self.objectives == _DEFAULT_OBJECTIVES and self.slate == 1
            else f", objectives={','.join(self.objectives)!r}, slate={self.slate}{extra_set}"
        )
        return (
            f"Evaluator({getattr(self.scenario, 'name', '?')!r}, users={self.users}, space={self.space.kind!r}, "
            f"dim={self.dim}, seed={self.seed}{extra})"
        )


def _bind_prefs_set(prefs_set: Any, scenario: Any):
    """``prefs_set`` with its groups and labels in the scenario's order, bound by name (SPEC §9)."""
    from jaxfair.preferences import PrefSet

    if not isinstance(prefs_set, PrefSet):
        raise ValueError(f"prefs_set: expected a jaxfair.preferences.PrefSet, got {type(prefs_set).__name__}")
    groups = tuple(str(g) for g in getattr(scenario, "group_names", ()) or ())
    labels = tuple(str(k) for k in getattr(scenario, "label_names", ()) or ())
    shape = (int(scenario.n_groups), int(scenario.n_labels))
    if prefs_set.values.shape[1:] != shape:
        raise ValueError(
            f"prefs_set: holds [G, K] = {list(prefs_set.values.shape[1:])} matrices, the scenario has {list(shape)}"
        )
    order = []
    for what, want, have in (("groups", groups, prefs_set.group_names), ("labels", labels, prefs_set.label_names)):
        if not want or tuple(want) == tuple(have):
            order.append(np.arange(len(have)))
            continue
        if sorted(want) != sorted(have):
            raise ValueError(
                f"prefs_set: its {what} {list(have)} are not the scenario's {list(want)}; build the set with "
                f"{what[:-1]}_names= the scenario's names (preferences bind by name)"
            )
        order.append(np.array([list(have).index(n) for n in want]))
    gi, li = order
    if np.array_equal(gi, np.arange(len(gi))) and np.array_equal(li, np.arange(len(li))):
        return prefs_set
    values = prefs_set.values[:, gi][:, :, li]
    return PrefSet(
        values, groups or prefs_set.group_names, labels or prefs_set.label_names, prefs_set.kind, prefs_set.params
    )
