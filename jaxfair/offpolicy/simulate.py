"""Impression logs drawn from a full-information batch under a declared D₀, with their truth (SPEC §10).

Every session is served once by the logging policy — Dirichlet: its own weights α_n ~ D₀ through the
engine's serving kernel (vmapped over sessions, each with its α_n); epsilon: with probability E a
uniformly ordered slate of retrieved candidates, else the engine's top-k of the centre — and keeps its
labels only on the shown rows. The full labels stay aside in :class:`LogTruth`, so the exact group
utilities of any α grid (``truth``) and what the randomised logging itself served (``logging_value``)
are known.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.engine.batch import Batch
from jaxfair.engine.kernels import slate_serve_kernel
from jaxfair.engine.slate import Slate, as_slate
from jaxfair.offpolicy.log import ImpressionLog
from jaxfair.offpolicy.policy import LoggingPolicy

__all__ = ["DEFAULT_SESSIONS", "LogTruth", "simulate_log"]

#: Sessions drawn from a scenario when ``n_sessions`` is not given.
DEFAULT_SESSIONS = 10_000


@dataclasses.dataclass(frozen=True, eq=False)
class LogTruth:
    """The full-information sessions behind a simulated log.

    Attributes:
      batch: the S sessions with every candidate's labels (same order as the log's sessions).
      policy: the D₀ that served the log; slate: its :class:`~jaxfair.engine.slate.Slate`.
      prefs: default preferences ``[G, K]`` (the scenario's) or None; group_names, label_names.
    """

    batch: Batch
    policy: LoggingPolicy
    slate: Slate
    prefs: np.ndarray | None
    group_names: tuple[str, ...]
    label_names: tuple[str, ...]

    def _prefs(self, prefs: Any) -> np.ndarray:
        from jaxfair.named_prefs import bind_prefs
        from jaxfair.validation import check_prefs

        if prefs is None:
            if self.prefs is None:
                raise ValueError("prefs: required (the truth was built from a batch without preferences)")
            prefs = self.prefs
        if isinstance(prefs, dict):
            prefs = bind_prefs(prefs, self.group_names)
        return check_prefs(prefs, len(self.group_names), len(self.label_names), group_names=self.group_names)

    def label_means(self, alphas: Any) -> np.ndarray:
        """Exact ``L [P, G, K]`` on the full-information sessions (:func:`jaxfair.label_means`)."""
        from jaxfair.engine.api import label_means

        return label_means(alphas, self.batch, slate=self.slate, n_groups=len(self.group_names))

    def truth(self, alphas: Any, prefs: Any = None) -> np.ndarray:
        """Exact group utilities ``μ [P, G]`` of ``alphas`` (default prefs: the scenario's)."""
        from jaxfair.engine.results import group_utility_from_label_means

        return group_utility_from_label_means(self.label_means(alphas), self._prefs(prefs))

    def logging_value(self, prefs: Any = None, *, mc: int = 4096) -> np.ndarray:
        """The expected group utility ``[G]`` the randomised logging itself serves:
        mean over g's sessions of Σ_r v_r Σ_j p₀(j at r) α*(g)·Y[n, j] (exact where the propensities are;
        Monte Carlo with ``mc`` draws otherwise)."""
        from jaxfair.offpolicy.propensity import propensities

        p_arr = self._prefs(prefs)
        props = propensities(self.batch, self.policy, slate=self.slate.k, mc=mc)
        p = props.p.reshape(props.p.shape[:2] + (self.slate.k,))
        group = np.asarray(self.batch.group)
        value = np.einsum("nmk,nk->nm", np.asarray(self.batch.labels, np.float64), p_arr[group])  # [S, m]
        per_session = np.einsum("nmr,nm,r->n", p, value, self.slate.weights)
        g = len(self.group_names)
        counts = np.bincount(group, minlength=g)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.bincount(group, weights=per_session, minlength=g) / counts


def _serve_each(alphas: jnp.ndarray, scores: jnp.ndarray, mask: jnp.ndarray, k: int) -> np.ndarray:
    """``int32 [S, k]``: session n served with its own weights ``alphas[n]`` by the engine's slate kernel."""
    one = jax.jit(jax.vmap(lambda a, s, m: slate_serve_kernel(a[None], s[None], m[None], k)[0, 0]))
    return np.asarray(one(alphas, scores, mask))


def _resolve_source(scenario_or_batch: Any, n_sessions: Any, key) -> tuple[Batch, Any, tuple, tuple]:
    """``(batch, prefs or None, group_names, label_names)``."""
    if isinstance(scenario_or_batch, Batch):
        b = scenario_or_batch
        if n_sessions is not None and int(n_sessions) != b.n_users:
            raise ValueError(f"n_sessions: the batch has {b.n_users} sessions, got n_sessions={n_sessions!r}")
        g = int(np.asarray(b.group).max()) + 1
        return b, None, tuple(f"group {i}" for i in range(max(g, 2))), tuple(f"label{i}" for i in range(b.n_labels))
    if not hasattr(scenario_or_batch, "evaluation_batch"):
        raise ValueError(f"scenario_or_batch: expected a Scenario or a Batch, got {type(scenario_or_batch).__name__}")
    n = DEFAULT_SESSIONS if n_sessions is None else n_sessions
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n_sessions: expected an int >= 1, got {n_sessions!r}")
    sc = scenario_or_batch
    b = sc.evaluation_batch(key, int(n)).replace(features=None, item_group=None)
    return b, np.asarray(sc.prefs, np.float64), tuple(sc.group_names), tuple(sc.label_names)


def simulate_log(
    scenario_or_batch: Any,
    policy: LoggingPolicy,
    *,
    n_sessions: int | None = None,
    slate: int = 1,
    position_weights: Any = None,
    seed: int = 0,
    prefs: Any = None,
) -> tuple[ImpressionLog, LogTruth]:
    """Draw an impression log under ``policy`` (module docstring) and keep its truth.

    Args:
      scenario_or_batch: a :class:`~jaxfair.scenarios.base.Scenario` (``n_sessions`` sessions from its
        ``evaluation_batch``, default :data:`DEFAULT_SESSIONS`; a replay scenario gives its logged sessions)
        or a full-information :class:`~jaxfair.engine.batch.Batch` (every session).
      policy: the declared D₀ (K must match the scores).
      slate, position_weights: slate size k and its position weights v (SPEC §7; default ``"dcg"``).
      seed: seed of the scenario's draw and of the logging's randomisation.
      prefs: preferences ``[G, K]`` (or ``{group: row}``) of the truth (default: the scenario's).
    Returns:
      ``(log, truth)``: an :class:`~jaxfair.offpolicy.log.ImpressionLog` with the declared D₀ and no
      propensity column, one user per session; and :class:`LogTruth`.
    """
    if not isinstance(policy, LoggingPolicy):
        raise ValueError(f"policy: expected a LoggingPolicy, got {type(policy).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected an int >= 0, got {seed!r}")
    k_data, k_alpha, k_explore = jax.random.split(jax.random.PRNGKey(int(seed)), 3)
    batch, default_prefs, group_names, label_names = _resolve_source(scenario_or_batch, n_sessions, k_data)
    if policy.n_labels != batch.n_labels:
        raise ValueError(f"policy: has K={policy.n_labels} weights, the scores have K={batch.n_labels}")
    sl = as_slate(slate, position_weights, None, batch.n_candidates)
    s, m, _ = batch.shape
    k = sl.k
    scores, mask = batch.scores, batch.mask
    if policy.kind == "dirichlet":
        shown = _serve_each(policy.sample(k_alpha, s), scores, mask, k)
    else:
        top = np.asarray(slate_serve_kernel(jnp.asarray(policy.center[None], jnp.float32), scores, mask, k))[0]
        rng = np.random.default_rng(np.asarray(jax.random.key_data(k_explore)).ravel().tolist())
        explore = rng.random(s) < policy.strength
        priority = np.where(np.asarray(mask), rng.random((s, m)), np.inf)  # uniform order of retrieved ones
        order = np.argsort(priority, axis=1)[:, :k]
        n_ret = np.asarray(mask).sum(axis=1)
        uniform = np.where(np.arange(k)[None, :] < np.minimum(n_ret, k)[:, None], order, -1)
        shown = np.where(explore[:, None], uniform, top)
    shown = shown.astype(np.int32)
    observed = np.zeros((s, m), bool)
    rows, pos = np.nonzero(shown >= 0)
    observed[rows, shown[rows, pos]] = True
    labels = np.where(observed[..., None], np.asarray(batch.labels), 0.0).astype(np.float32)
    log_batch = Batch(scores=scores, labels=jnp.asarray(labels), mask=mask, group=batch.group)
    info = {"simulated": True, "seed": int(seed), "logging": str(policy), "sessions": s}
    log = ImpressionLog(
        log_batch,
        shown,
        observed,
        np.arange(s, dtype=np.int64),
        logging=policy,
        group_names=group_names,
        label_names=label_names,
        position_weights=sl.weights,
        info=info,
    )
    truth_prefs = default_prefs if prefs is None else prefs
    truth = LogTruth(batch, policy, sl, None, group_names, label_names)
    if truth_prefs is not None:
        truth = dataclasses.replace(truth, prefs=truth._prefs(truth_prefs))
    return log, truth
