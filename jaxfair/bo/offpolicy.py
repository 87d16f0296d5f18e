"""The BO black box on an impression log (SPEC §10): objectives are off-policy estimates.

An impression log cannot be sampled with every label, so an online test on it is what a log can
give: the off-policy estimate on a **resample of its logged users** (one bootstrap replicate of
:func:`jaxfair.offpolicy.estimate`, users resampled within groups), and the exact value is the
point estimate on the whole log.

A not-identified α is never handed to the GP as a number. The search is kept **inside the
identified region**: the region is computed once on a grid (K = 2: 201 directions; K ≥ 3: a
simplex grid), and a proposal at which the log does not identify every group is replaced by the
nearest identified grid α before it is evaluated; the study then records (and fits its GP on)
the α actually evaluated, with a note saying from where it was moved. A log that identifies no
α at all is refused. Over a preference set the robust objectives weight the same estimated label
means by every member. A slate log is optimised as it was logged: slates of its k with its position
weights, estimated with the independent-position estimator (SPEC §10), whose assumption the study records.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np
import torch

from jaxfair.bo.evaluator import EvalResult, Evaluator, der_np
from jaxfair.bo.objectives import parse_objectives, robust_columns, set_values
from jaxfair.engine.grids import direction_grid, simplex_grid
from jaxfair.offpolicy import estimate, fit_outcome_model
from jaxfair.surface.offpolicy import impression_log
from jaxfair.utils.percent import percent

__all__ = ["OffPolicyEvaluator", "identified_intervals"]


def identified_intervals(w: np.ndarray, ok: np.ndarray) -> list[list[float]]:
    """``[[w_lo, w_hi], ...]``: the runs of identified directions along a K = 2 grid ``w``."""
    out, start = [], None
    for i, good in enumerate(ok):
        if good and start is None:
            start = i
        if (not good or i == len(ok) - 1) and start is not None:
            end = i if good else i - 1
            out.append([float(w[start]), float(w[end])])
            start = None
    return out


class OffPolicyEvaluator(Evaluator):
    """:class:`~jaxfair.bo.evaluator.Evaluator` on an impression log (module docstring).

    Args:
      scenario: an :class:`~jaxfair.scenarios.impressions.ImpressionScenario`.
      seed, space: as for :class:`Evaluator` (``users`` and ``exact_users`` do not apply: a
        resample has as many users as the log, and the exact value is the whole log).
      estimator, clip, min_ess, p_min, mc: :func:`jaxfair.offpolicy.estimate`.
      objectives, prefs_set: as for :class:`Evaluator` — (utility, DER) or, over a preference set, the robust
        pairs (``utility_q10``, ``der_min``): the set's members weight the same off-policy label means
        (SPEC §9: every estimator is linear in α*(g)), so a set costs no second estimate.
    """

    def __init__(
        self,
        scenario: Any,
        *,
        seed: int = 0,
        space: str = "direction",
        estimator: str = "dr",
        clip: float | None = None,
        min_ess: float = 30.0,
        p_min: float = 1e-3,
        mc: int = 4096,
        objectives: Any = ("utility", "der"),
        prefs_set: Any = None,
        **ignored: Any,
    ):
        if ignored.get("horizon") is not None:
            raise ValueError("horizon: not available on an impression log (retention needs every outcome)")
        if "provider_der" in parse_objectives(objectives):
            raise ValueError("objectives: provider_der needs provider exposure, which an impression log does not hold")
        log = impression_log(scenario, mc=mc, seed=seed)
        k = log.slate_k  # the log's own slates: serving as it was logged (top-1: k = 1)
        if ignored.get("slate", 1) not in (1, k):
            raise ValueError(f"slate: the log holds slates of k = {k}, got slate={ignored['slate']}")
        super().__init__(
            scenario,
            seed=seed,
            space=space,
            objectives=objectives,
            prefs_set=prefs_set,
            slate=k,
            position_weights=tuple(float(v) for v in log.position_weights) if k > 1 else "dcg",
        )
        self.log = log
        self.options = dict(estimator=estimator, clip=clip, min_ess=min_ess, p_min=p_min, mc=mc)
        self.outcome_model = (
            fit_outcome_model(self.log, key=jax.random.PRNGKey(seed)) if estimator in ("dm", "dr") else None
        )
        k = scenario.n_labels
        self.region_grid = np.asarray(direction_grid(201) if k == 2 else simplex_grid(k, 21), np.float64)
        est = self._estimate(self.region_grid, n_boot=0, key=jax.random.PRNGKey(seed))
        self.region_ok = np.asarray(est.identified, bool).all(axis=1)
        if not self.region_ok.any():
            raise ValueError(
                f"scenario: the impression log identifies no α for every group ({est.reasons[0]} ...); a study "
                "would have nothing to search (see `jaxfair surface` on the same log)"
            )

    def _estimate(self, alphas: np.ndarray, *, n_boot: int, key) -> Any:
        return estimate(
            alphas,
            self.log,
            estimator=self.options["estimator"],
            clip=self.options["clip"],
            n_boot=n_boot,
            key=key,
            min_ess=self.options["min_ess"],
            p_min=self.options["p_min"],
            mc=self.options["mc"],
            outcome_model=self.outcome_model,
        )

    def region(self) -> dict:
        """The identified region, JSON-ready: its share of the grid and, for K = 2, its w intervals."""
        rec = {"grid": int(len(self.region_grid)), "identified_share": float(self.region_ok.mean())}
        if self.n_labels == 2:
            rec["w_intervals"] = identified_intervals(self.region_grid[:, 0], self.region_ok)
        return rec

    def _inside(self, X: Any) -> tuple[np.ndarray, torch.Tensor | None, str]:
        """α of ``X``, each not-identified row moved to the nearest identified grid α."""
        alphas = self.space.to_alpha(X)
        est = self._estimate(alphas, n_boot=0, key=jax.random.PRNGKey(0))
        bad = ~np.asarray(est.identified, bool).all(axis=1)
        if not bad.any():
            return alphas, None, ""
        good = self.region_grid[self.region_ok]
        unit = alphas / alphas.sum(axis=1, keepdims=True)
        moved = alphas.copy()
        for i in np.flatnonzero(bad):
            moved[i] = good[int(np.argmin(np.abs(good - unit[i]).sum(axis=1)))]
        x = torch.as_tensor(self.space.from_alpha(moved), dtype=torch.float64)
        note = "; ".join(
            f"α ({', '.join(f'{a:.3f}' for a in unit[i])}) not identified, evaluated at the nearest identified "
            f"({', '.join(f'{a:.3f}' for a in moved[i])})"
            for i in np.flatnonzero(bad)
        )
        return moved, x, note

    def _result(self, alphas: np.ndarray, label_means: np.ndarray, est: Any, x, note: str) -> EvalResult:
        mu = np.einsum("pgk,gk->pg", np.asarray(label_means, np.float64), self.prefs)
        counts = np.asarray(est.group_sessions, np.float64)
        robust = {}
        if self.prefs_set is not None:  # the set's members applied to the same label means
            set_u, set_d = set_values(np.asarray(label_means, np.float64), counts, self.prefs_set.values)
            robust = dict(set_utility=set_u, set_der=set_d, robust=robust_columns(self.objectives, set_u, set_d))
        res = EvalResult(
            alphas=alphas,
            utility=mu @ (counts / counts.sum()),
            der=der_np(mu),
            group_utility=mu,
            group_counts=counts,
            n_unserved=0,
            objectives=self.objectives,
            **robust,
        )
        if not np.all(np.isfinite(res.Y.numpy())) or not self._robust_ok(res):
            raise ValueError(f"X: non-finite off-policy estimate at α {alphas.tolist()}")  # never into a GP
        return dataclasses.replace(res, x_evaluated=x, note=note)

    def evaluate(self, X: Any, key: jax.Array | None = None) -> EvalResult:
        """An online test on the log: the estimate on one resample of the logged users (one bootstrap replicate)."""
        alphas, x, note = self._inside(X)
        if key is None:
            key = jax.random.fold_in(self._online_key, self._calls)
            self._calls += 1
        est = self._estimate(alphas, n_boot=1, key=key)
        return self._result(alphas, np.asarray(est.label_means_boot)[0], est, x, note)

    def exact(self, X: Any, chunk: int = 8) -> EvalResult:
        """The point estimate on the whole log (the log's best answer; not the truth, which it cannot give)."""
        alphas, x, note = self._inside(X)
        est = self._estimate(alphas, n_boot=0, key=self._exact_key)
        return self._result(alphas, est.label_means, est, x, note)

    def __repr__(self) -> str:
        return (
            f"OffPolicyEvaluator({self.scenario.name!r}, estimator={self.options['estimator']!r}, "
            f"identified {percent(int(self.region_ok.sum()), int(self.region_ok.size))} of the grid, seed={self.seed})"
        )
