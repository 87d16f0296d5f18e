"""The price of robustness: a point-prefs study and a robust study on the same evaluations (SPEC §9).

Two Fair EHVI studies share the seed, so trial t of both starts from the same initial design and
evaluation e draws the same users (the protocol's common random numbers): one optimises
(utility, DER) under the point preferences, the other the robust pair (e.g. the 10 % quantile of
utility and the minimum DER over a :class:`~jaxfair.preferences.PrefSet`). Each trial's
recommended α (its BO evaluation with the best sum of min–max normalised objectives, in the
space that study optimised: :func:`jaxfair.bo.statistics.recommended_alpha`) is then evaluated
*both ways* on the held-out batch:

* point: global utility, DER and the worst/best group utility ratio under the point prefs;
* over the set: the utility quantile, the minimum DER, and the share of members under which
  the α's DER reaches the robust α's minimum DER less ``der_tolerance`` (is the point-optimal α
  fair for every plausible preference, to the level the robust α guarantees? DER differences
  smaller than the tolerance are not told apart: near DER = 1 they are noise of the held-out batch).

**Price of robustness** (per trial) = point utility of the point study's α − point utility of
the robust study's α: what the point-prefs world gives up to be fair for every member.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from jaxfair.bo.evaluator import Evaluator
from jaxfair.bo.objectives import parse_objectives, quantile_of
from jaxfair.bo.statistics import recommended_alpha
from jaxfair.bo.study import run_study
from jaxfair.ratio import worst_best_ratio
from jaxfair.utils.alpha_names import alpha_columns
from jaxfair.utils.percent import percent

__all__ = ["price_of_robustness"]


def price_of_robustness(
    scenario: Any,
    prefs_set: Any,
    out: str | os.PathLike,
    *,
    robust_objectives: Any = ("utility_q10", "der_min"),
    method: str = "fair-ehvi",
    trials: int = 3,
    iterations: int = 8,
    n_init: int = 5,
    users_per_eval: int = 2000,
    exact_users: int = 100_000,
    seed: int = 0,
    method_options: dict | None = None,
    progress: bool = False,
    der_tolerance: float = 0.005,
) -> dict[str, Any]:
    """Run the paired point / robust studies under ``out/point`` and ``out/robust`` (resumable) and
    compare their recommended α both ways.

    Args:
      scenario: a Scenario (or registered name, loaded with seed 0); prefs_set: a PrefSet or a spec
        (``dirichlet:C[:Q]``, ``box:D[:Q]``, ``file:PATH``) built around the scenario's prefs.
      robust_objectives: the robust study's pair (first utility-like, second DER-like).
      method, trials, iterations, n_init, users_per_eval, exact_users, seed, method_options,
        progress: as in :func:`jaxfair.bo.run_study` (the same for both studies).
      der_tolerance: DER margin below the robust α's minimum DER still counted as reaching it.
    Returns:
      dict: ``alphas`` (one row per study × trial: the recommended α and its values both ways),
      ``trials`` (per trial: price of robustness, robust DER gain), ``summary`` (medians and
      ranges over trials), ``prefs_set`` (the set's description) and ``paths``.
    """
    if isinstance(scenario, str):
        from jaxfair import scenarios

        scenario = scenarios.load(scenario)
    robust_objectives = parse_objectives(robust_objectives)
    q = quantile_of(robust_objectives[0])
    q = 10 if q is None else q  # the quantile reported for both α (10 % when the robust study uses utility)
    prefs_set = _as_set(prefs_set, scenario)  # built once: both studies and the comparison use one set
    common = dict(
        trials=trials,
        iterations=iterations,
        n_init=n_init,
        users_per_eval=users_per_eval,
        exact_users=exact_users,
        seed=seed,
        progress=progress,
        method_options={method: dict(method_options)} if method_options else None,
    )
    out = Path(out)
    studies = {
        "point": run_study(scenario, [method], out=out / "point", **common),
        "robust": run_study(
            scenario, [method], out=out / "robust", objectives=robust_objectives, prefs_set=prefs_set, **common
        ),
    }
    # One evaluator for both ways: the point values and every member's values from one kernel pass.
    ev = Evaluator(scenario, users=users_per_eval, seed=seed, exact_users=exact_users, prefs_set=prefs_set)
    xcols = [f"x{i}" for i in range(ev.dim)]
    recs = []
    for study, rows in studies.items():
        per, _ = recommended_alpha(rows)
        chosen = per[["scenario", "method", "trial", "eval"]].merge(rows, on=["scenario", "method", "trial", "eval"])
        ex = ev.exact(torch.tensor(chosen[xcols].to_numpy(np.float64)))
        for i, r in enumerate(chosen.itertuples()):
            recs.append(
                dict(
                    study=study,
                    trial=int(r.trial),
                    eval=int(r.eval),
                    **alpha_columns(scenario.score_names, ex.alphas[i]),
                    utility=float(ex.utility[i]),
                    der=float(ex.der[i]),
                    worst_best_ratio=float(worst_best_ratio(ex.group_utility[i : i + 1])[0]),
                    **{f"utility_q{q}": float(np.quantile(ex.set_utility[:, i], q / 100.0))},
                    der_min=float(ex.set_der[:, i].min()),
                    der_median_over_set=float(np.median(ex.set_der[:, i])),
                    _set_der=ex.set_der[:, i],
                )
            )
    alphas = pd.DataFrame(recs)
    per_trial = []
    for t, g in alphas.groupby("trial"):
        p, r = g[g["study"] == "point"].iloc[0], g[g["study"] == "robust"].iloc[0]
        per_trial.append(
            dict(
                trial=int(t),
                price_of_robustness=float(p["utility"] - r["utility"]),
                relative_price=float((p["utility"] - r["utility"]) / p["utility"]),
                der_min_gain=float(r["der_min"] - p["der_min"]),
                point_alpha_der_min=float(p["der_min"]),
                robust_alpha_der_min=float(r["der_min"]),
                # Is the point-optimal α as fair as the robust α guarantees, for every member?
                point_alpha_share_reaching_robust_der_min=float(np.mean(p["_set_der"] >= r["der_min"] - der_tolerance)),
            )
        )
    per_trial = pd.DataFrame(per_trial)
    alphas = alphas.drop(columns="_set_der")
    summary = {
        "trials": int(len(per_trial)),
        "iterations": iterations,
        "method": method,
        "robust_objectives": list(robust_objectives),
        "set_members": int(ev.prefs_set.n_members),
        "der_tolerance": der_tolerance,
        "note": "per-trial values; with this few trials the median and range describe them, not a population",
    }
    for c in per_trial.columns.drop("trial"):
        v = per_trial[c]
        summary[c] = {"median": float(v.median()), "min": float(v.min()), "max": float(v.max())}
    share = per_trial["point_alpha_share_reaching_robust_der_min"]
    summary["point_alpha_robustly_fair"] = (
        f"robust: in every trial the point α reaches the robust α's minimum DER (less {der_tolerance}) under "
        "every member"
        if bool((share == 1.0).all())
        else f"holds for {percent(float(share.median()))} of the set's members (median over trials): the point α "
        f"falls more than {der_tolerance} below the robust α's minimum DER under the rest"
    )
    paths = []
    out.mkdir(parents=True, exist_ok=True)
    for name, df in (("alphas", alphas), ("trials", per_trial)):
        p = out / f"price_of_robustness_{name}.csv"
        df.to_csv(p, index=False)
        paths.append(p)
    return dict(alphas=alphas, trials=per_trial, summary=summary, prefs_set=ev.prefs_set.describe(), paths=paths)


def _as_set(prefs_set: Any, scenario: Any):
    if isinstance(prefs_set, str):
        from jaxfair.preferences import PrefSet

        return PrefSet.for_scenario(prefs_set, scenario, name="prefs_set")
    return prefs_set
