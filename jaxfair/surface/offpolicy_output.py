"""Write an impression log's off-policy surface and say what it found (``jaxfair surface`` on a log)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from jaxfair.surface.offpolicy import OffPolicySurface
from jaxfair.surface.offpolicy_figures import (
    plot_offpolicy_direction,
    plot_offpolicy_simplex,
    plot_offpolicy_simplex_set,
)
from jaxfair.utils.alpha_names import alpha_text
from jaxfair.utils.atomic import atomic_write, atomic_write_text
from jaxfair.utils.percent import percent

__all__ = ["offpolicy_lines", "write_offpolicy_surface"]


def write_offpolicy_surface(surface: OffPolicySurface, out: str | Path) -> dict[str, Path]:
    """Save into ``out``: K = 2 ``groups.png`` and ``direction.csv``; K = 3 ``simplex.png`` and
    ``simplex.csv``; K ≥ 4 ``simplex.csv`` only; with a preference set ``over_set.csv`` (and K = 3
    ``simplex_set.png``); and
    ``summary.json``. Returns ``{file name: path}``."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    figs = {}
    if surface.n_labels == 2:
        figs["groups.png"] = plot_offpolicy_direction(surface)
    elif surface.n_labels == 3:
        figs["simplex.png"] = plot_offpolicy_simplex(surface)
        if surface.over_set is not None:
            figs["simplex_set.png"] = plot_offpolicy_simplex_set(surface)
    for name, fig in figs.items():
        paths[name] = out / name
        atomic_write(paths[name], lambda fh, fig=fig: fig.savefig(fh, format="png", dpi=120), "wb")
        plt.close(fig)
    tables = {
        "direction.csv" if surface.n_labels == 2 else "simplex.csv": surface.table,
        "over_set.csv": surface.over_set,
    }
    for name, table in tables.items():
        if table is not None:
            paths[name] = out / name
            atomic_write_text(paths[name], table.to_csv(index=False))
    paths["summary.json"] = out / "summary.json"
    atomic_write_text(paths["summary.json"], json.dumps(surface.summary, indent=2, default=_json))
    return paths


def _json(x):
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return float(x)


def _ci(rec: dict, digits: int = 4) -> str:
    lo, hi = rec.get("ci_low"), rec.get("ci_high")
    ci = "" if lo is None else f" [{lo:.{digits}f}, {hi:.{digits}f}]"
    return f"{rec['estimate']:.{digits}f}{ci}"


def offpolicy_lines(surface: OffPolicySurface) -> list[str]:
    """What ``jaxfair surface`` prints for an impression log: estimator, logging, the identified
    share and why the rest is not, the best identified α with its CIs (or why there is none)."""
    s = surface.summary
    est = s["estimator"] + (" (default)" if s["estimator_chosen"] == "default" else "")
    clip = "none" if s["clip"] is None else f"{s['clip']:g}"
    lines = [
        f"{surface.title}: {s['sample']['text']}; estimator: {est}; logging: {s['logging']['text']}; "
        f"clip: {clip}; {100 * s['level']:.0f} % CIs by bootstrap over users ({s['n_boot']} resamples)"
    ]
    prop = s.get("propensity") or {}
    if prop.get("method") == "monte-carlo":  # its noise is not in the bootstrap CIs: say how large it is
        lines.append(
            f"  propensities: Monte Carlo over {prop.get('mc'):,} draws of the logging (common to every session), "
            f"largest standard error {prop.get('max_se', float('nan')):.2g} (not in the CIs; --mc to shrink it)"
        )
    om = s.get("outcome_model")
    if om:  # DM/DR: which Ŷ per label, and the calibration it rests on (ECE on shown rows)
        ece, model, method = om.get("ece") or {}, om.get("ece_model") or {}, om.get("method") or {}
        per = ", ".join(
            f"{k} {method.get(k, om.get('kind'))} (ECE {v:.3f}"
            + (f" → {model[k]:.3f} out of fold)" if k in model and method.get(k) not in (None, "scores") else ")")
            for k, v in ece.items()
        )
        lines.append(
            f"  outcome model: per label the scores where calibrated (ECE on shown rows <= {om.get('ece_max')}), else "
            f"a calibration fitted on shown rows, cross-fitted by user ({om.get('folds')} folds): {per}"
        )
    ni = s["not_identified"]
    why = "; ".join(
        f"{g}: {r['not_identified']} not identified ({r['ess_below_min']} with ESS < {s['thresholds']['min_ess']:g}"
        + (f", {r['support_deficient']} support-deficient" if "support_deficient" in r else "")
        + ")"
        for g, r in ni["by_group"].items()
    )
    n_ok = ni["n_alpha"] - ni["n_not_identified"]
    lines.append(f"  identified: {percent(n_ok, ni['n_alpha'])} of {ni['n_alpha']} α (every group); {why}")
    if not any("support_deficient" in r for r in ni["by_group"].values()):
        lines.append(
            "  support deficiency not checked: a propensity column gives only the shown items' propensities "
            "(--logging D0 as well lets jaxfair compute every candidate's and check it)"
        )
    if s["estimator"] == "dm":
        lines.append(
            "  DM: the CIs resample users with the outcome model held fixed, so they leave out its error "
            "(DR does not rest on it; see docs/impressions.md)"
        )
    b = s["best_utility"]
    if b is None:
        lines.append(f"  no recommendation: {s['best_utility_note']}")
    else:
        where = (
            f"w={b['w']:.3f}"
            if s["n_labels"] == 2
            else "α=" + alpha_text(list(b["alpha"].values()), list(b["alpha"]), 3)
        )
        groups = ", ".join(f"{g} {_ci(r)}" for g, r in b["by_group"].items())
        lines.append(
            f"  best identified utility {_ci(b['utility'])} at {where} (DER {_ci(b['der'])}, worst/best "
            f"{_ci(b['worst_best_ratio'], 3)}); by group: {groups}"
        )
        if b.get("at_edge"):
            lines.append(
                "  it lies at the edge of the identified region (a grid neighbour is not identified): the best α "
                "may be beyond it, where this log cannot tell"
            )
        tie = b.get("indistinguishable")
        if tie and tie["n"] > 1:
            span = f" (w {tie['w_range'][0]:.3f} to {tie['w_range'][1]:.3f})" if "w_range" in tie else ""
            lines.append(
                f"  the log cannot tell this best from {tie['n'] - 1} other identified α{span}: their paired "
                f"{100 * s['level']:g} % bootstrap CIs of the utility difference include 0"
            )
        elif tie:
            lines.append(
                f"  the best is ahead of every other identified α (paired {100 * s['level']:g} % bootstrap CIs of the "
                "utility difference exclude 0)"
            )
    if s.get("slate", 1) > 1:
        lines.append(f"  slate of {s['slate']}: {s['slate_assumption']}")
    if s.get("over_set"):
        bm = s["over_set"]["best_median_utility"]
        if bm is not None:
            lines.append(
                f"  over the preference set ({s['prefs_set']['kind']}, {s['prefs_set']['n_members']} members; min / "
                f"median / max, not a CI): utility {bm['utility_min']:.4f} / {bm['utility_median']:.4f} / "
                f"{bm['utility_max']:.4f}, DER {bm['der_min']:.4f} / {bm['der_median']:.4f} / {bm['der_max']:.4f} "
                "at the best identified median"
            )
    return lines
