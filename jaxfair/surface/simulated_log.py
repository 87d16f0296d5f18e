"""``jaxfair simulate-log``: an impression log drawn from a full-information scenario, with its truth.

:func:`jaxfair.offpolicy.simulate_log` serves every session with weights α_n ~ D₀ and keeps the
outcomes of the shown item(s) only; the full labels stay aside, so the exact group utilities
over a grid of α (``truth.csv``) are known. The summary answers the question a platform asks
before it logs — how much to randomise: the utility the randomisation costs (exact: the global
utility of serving the logging's centre a deterministically minus what the randomised logging
served; the gap from the logging to the best α is reported beside it) against the CI width that
this many sessions give at the recommended α (the off-policy surface of the drawn log).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from jaxfair.engine.grids import direction_grid, simplex_grid
from jaxfair.engine.kernels import der_kernel
from jaxfair.named_prefs import prefs_record
from jaxfair.offpolicy import simulate_log
from jaxfair.ratio import worst_best_ratio
from jaxfair.surface.compute import default_grid
from jaxfair.surface.offpolicy import SLATE_ASSUMPTION, compute_offpolicy_surface
from jaxfair.utils.alpha_names import alpha_columns, alpha_record
from jaxfair.utils.atomic import atomic_write_text
from jaxfair.utils.outdir import final_path

__all__ = ["SimulatedLog", "simulate_log_outputs", "write_simulated_log"]


@dataclasses.dataclass
class SimulatedLog:
    """``frame``: the log in the CLI's long format; ``truth``: exact metrics per α; ``summary``."""

    frame: pd.DataFrame
    truth: pd.DataFrame
    summary: dict
    log: Any = None


def truth_table(truth: Any, alphas: np.ndarray, prefs: np.ndarray, group_names, score_names) -> pd.DataFrame:
    """Exact per-group utility, global utility (population-weighted), DER and the worst/best
    ratio over ``alphas [P, K]`` from the full-information sessions of a simulated log; α's
    columns named by ``score_names`` (:mod:`jaxfair.utils.alpha_names`)."""
    mu = np.asarray(truth.truth(alphas, prefs), np.float64)  # [P, G]
    counts = np.bincount(np.asarray(truth.batch.group), minlength=len(group_names)).astype(np.float64)
    cols: dict = {}
    if len(score_names) == 2:
        cols["w"] = alphas[:, 0]
    cols |= dict(zip(alpha_columns(score_names), alphas.T, strict=True))
    cols |= {f"utility_{g}": mu[:, i] for i, g in enumerate(group_names)}
    cols["global_utility"] = mu @ (counts / counts.sum())
    cols["der"] = np.asarray(der_kernel(mu, np), np.float64)
    cols["worst_best_ratio"] = worst_best_ratio(mu)
    return pd.DataFrame(cols)


def simulate_log_outputs(
    scenario: Any,
    policy: Any,
    *,
    n_sessions: int | None = None,
    slate: int = 1,
    position_weights: Any = None,
    seed: int = 0,
    n_grid: int | None = None,
    n_boot: int = 200,
    estimator: str = "dr",
    min_ess: float = 30.0,
    p_min: float = 1e-3,
    progress: bool = False,
) -> SimulatedLog:
    """Draw the log, its truth over a grid and the "how much to randomise" answer (module docstring)."""
    from jaxfair.scenarios.impressions import ImpressionScenario  # the log read back as the CLI would

    log, truth = simulate_log(
        scenario, policy, n_sessions=n_sessions, slate=slate, position_weights=position_weights, seed=seed
    )
    prefs = np.asarray(scenario.prefs, np.float64)
    k_labels = scenario.n_labels
    n_grid = default_grid(k_labels) if n_grid is None else int(n_grid)
    grid = np.asarray(direction_grid(n_grid) if k_labels == 2 else simplex_grid(k_labels, n_grid), np.float64)
    # α is named by the log's score columns (score_<label>), as when log.csv is read back.
    frame = log.to_frame()
    scores = tuple(c for c in frame.columns if c.startswith("score_"))
    table = truth_table(truth, grid, prefs, scenario.group_names, scores)
    counts = np.bincount(np.asarray(truth.batch.group), minlength=scenario.n_groups).astype(np.float64)
    served = np.asarray(truth.logging_value(prefs), np.float64)  # [G] what the randomised logging served
    served_global = float(served @ (counts / counts.sum()))
    i_best = int(np.nanargmax(table["global_utility"].to_numpy()))
    best = table.iloc[i_best]
    center = np.asarray(policy.center, np.float64)[None]  # what the platform serves when it does not randomise
    center_global = float(truth_table(truth, center, prefs, scenario.group_names, scores)["global_utility"][0])
    cost = center_global - served_global
    sim = ImpressionScenario.from_log(
        log,
        name=f"{scenario.name}-log",
        prefs=scenario.prefs,
        seed=seed,
        options={"simulated_from": scenario.name},
        score_names=scores,
    )
    surf = compute_offpolicy_surface(
        sim, n_grid=n_grid, seed=seed, estimator=estimator, n_boot=n_boot, min_ess=min_ess, p_min=p_min,
        progress=progress,
    )  # fmt: skip
    rec = surf.summary["best_utility"]
    summary = {
        "scenario": scenario.name,
        "prefs": prefs_record(scenario.group_names, scenario.label_names, prefs),
        "logging": policy.describe(),
        "n_sessions": int(log.n_sessions),
        "n_users": int(log.n_users),
        "slate": int(log.slate_k),
        "seed": int(seed),
        "grid": {"n": n_grid, "n_alpha": int(len(grid)), "kind": "direction" if k_labels == 2 else "simplex"},
        "truth_best": _point(best, scores, scenario.group_names),
        "logging_served": {
            "global_utility": served_global,
            **dict(zip(scenario.group_names, served.tolist(), strict=True)),
        },
        "center_served": {"alpha": center[0].tolist(), "global_utility": center_global},
        "randomisation_cost": cost,
        "randomisation_cost_means": "global utility of serving the centre a of D0 deterministically minus that of "
        "the randomised logging (exact, full labels)",
        "gap_logging_to_best": float(best["global_utility"]) - served_global,
        "estimate": {
            "estimator": surf.summary["estimator"],
            "n_boot": int(n_boot),
            "identified_share": surf.summary["identified_share"],
            "recommended": rec,
        },
        "read_back": read_back_command(frame, scenario, policy, log.slate_k, log.position_weights),
    }
    if rec is not None:
        j = _row_of(table, rec, scores)
        summary["estimate"]["truth_at_recommended"] = float(table["global_utility"].iloc[j])
        u = rec["utility"]
        summary["estimate"]["ci_width"] = float(u["ci_high"] - u["ci_low"])
        summary["estimate"]["covers_truth"] = bool(u["ci_low"] <= table["global_utility"].iloc[j] <= u["ci_high"])
    summary["answer"] = _answer(summary, rec, table, k_labels)
    return SimulatedLog(frame=frame, truth=table, summary=summary, log=log)


def _point(row, scores, groups) -> dict:
    rec = {"w": float(row["w"])} if "w" in row.index else {}
    rec["alpha"] = alpha_record(scores, row[alpha_columns(scores)].to_numpy(np.float64))
    rec |= {c: float(row[c]) for c in ("global_utility", "der", "worst_best_ratio")}
    rec["by_group"] = {g: float(row[f"utility_{g}"]) for g in groups}
    return rec


def _row_of(table: pd.DataFrame, rec: dict, scores) -> int:
    a = np.array([rec["alpha"][n] for n in scores])
    grid = table[alpha_columns(scores)].to_numpy()
    return int(np.argmin(np.abs(grid - a).sum(axis=1)))


def _answer(summary: dict, rec: dict | None, table: pd.DataFrame, k_labels: int) -> str:
    tb, d0 = summary["truth_best"], summary["logging"]["spec"]
    where = (
        (lambda r: f"w={r['w']:.3f}")
        if k_labels == 2
        else (lambda r: "α=(" + ", ".join(f"{v:.2f}" for v in r["alpha"].values()) + ")")
    )
    a = ", ".join(f"{v:g}" for v in summary["center_served"]["alpha"])
    head = (
        f"randomising as {d0} costs {summary['randomisation_cost']:.4f} global utility (exact: serving its centre "
        f"({a}) gives {summary['center_served']['global_utility']:.4f}, the randomised logging "
        f"{summary['logging_served']['global_utility']:.4f}; the best {where(tb)} gives {tb['global_utility']:.4f})"
    )
    n = summary["n_sessions"]
    if rec is None:
        return head + f"; with {n:,} sessions no α is identified for every group: randomise more or log longer"
    u = rec["utility"]
    if summary["slate"] > 1:  # the slate estimate rests on an assumption: say it with the number
        head += f"; slates of {summary['slate']}, estimated by {SLATE_ASSUMPTION}"
    return (
        head + f"; with {n:,} sessions the {summary['estimate']['estimator'].upper()} {100 * 0.95:.0f} % CI at the "
        f"recommended {where(rec)} is {u['ci_high'] - u['ci_low']:.4f} wide ([{u['ci_low']:.4f}, {u['ci_high']:.4f}]; "
        f"the truth there {summary['estimate']['truth_at_recommended']:.4f}, "
        f"{'inside' if summary['estimate']['covers_truth'] else 'OUTSIDE'} the CI)"
    )


def read_back_command(frame: pd.DataFrame, scenario: Any, policy: Any, slate_k: int, weights: Any = None) -> str:
    """The ``jaxfair surface`` command that reads ``DIR/log.csv`` back (``DIR`` left as a placeholder)."""
    labels = list(scenario.label_names)
    score_cols = [c for c in frame.columns if c.startswith("score_")]
    label_cols = [c for c in frame.columns if c.startswith("label_")]
    if len(score_cols) != len(labels) or len(label_cols) != len(labels):
        score_cols, label_cols = [f"score_{n}" for n in labels], [f"label_{n}" for n in labels]
    which = "--shown shown"
    if slate_k > 1:  # the slate's position weights, stated (the estimate's utility is weighted by them)
        which = "--position position --position-weights " + ",".join(f"{v:.6g}" for v in np.asarray(weights))
    prefs = ";".join(
        f"{g}=" + ",".join(f"{v:g}" for v in row)
        for g, row in zip(scenario.group_names, np.asarray(scenario.prefs), strict=True)
    )
    return (
        f"jaxfair surface --data DIR/log.csv --scores {','.join(score_cols)} --labels {','.join(label_cols)} "
        f"--user user --group group --session session --candidate candidate --retrieved retrieved {which} "
        f"--logging '{policy}' --prefs '{prefs}'"
    )


def write_simulated_log(res: SimulatedLog, out: str | Path) -> dict[str, Path]:
    """``log.csv``, ``truth.csv`` and ``summary.json`` into ``out``; returns ``{name: path}``."""
    import json

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"log.csv": out / "log.csv", "truth.csv": out / "truth.csv", "summary.json": out / "summary.json"}
    atomic_write_text(paths["log.csv"], res.frame.to_csv(index=False))
    atomic_write_text(paths["truth.csv"], res.truth.to_csv(index=False))
    # The command names where the log will be once the staged folder is in place (utils.outdir).
    summary = dict(res.summary, read_back=res.summary["read_back"].replace("DIR/", f"{final_path(out)}/"))
    atomic_write_text(paths["summary.json"], json.dumps(summary, indent=2, default=float))
    return paths
