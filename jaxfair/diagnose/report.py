"""CSV/Markdown tables, ``report.md`` and ``summary.json`` of a :class:`~jaxfair.diagnose.pipeline.Diagnosis`
(its figures: :mod:`jaxfair.diagnose.figures`).

Every file is written atomically (temporary file + ``os.replace``), so an interrupted run
never leaves a half-written table that looks complete.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from jaxfair.diagnose.figures import (
    attribution_figure,
    overlap_figure,
    pair_counts_text,
    prefs_set_figure,
    sample_text,
    terms_figure,
)
from jaxfair.named_prefs import prefs_lines, prefs_record
from jaxfair.utils.alpha_names import alpha_columns as named_alpha_columns
from jaxfair.utils.alpha_names import alpha_record
from jaxfair.utils.atomic import atomic_write
from jaxfair.utils.tables import markdown_table

__all__ = [
    "alpha_columns",
    "by_label",
    "by_score",
    "calibration_lines",
    "over_set",
    "report_markdown",
    "set_label",
    "verdicts",
    "write_report",
]


def over_set(d, point: str, term: str, shown: str) -> str:
    """What follows the verdict ``shown`` on a page: how many members of the preference set give
    it, ``" — holds for 48.0 % (12/25) of the preference set"`` or ``" — robust (25/25 members)"``;
    ``""`` when the diagnosis has no preference set.

    A member gives the verdict when its own verdict for ``(point, term)`` (a row of
    :attr:`~jaxfair.diagnose.prefset.PrefSetDiagnosis.table`) equals the head of ``shown`` (the
    words before its first " (", where the numbers behind it begin). Every page that prints a
    verdict of a diagnosis over a set prints it through here, so none prints it bare.
    """
    return "" if d.prefs_set is None else f" — {set_label(d, point, term, shown)}"


def set_label(d, point: str, term: str, shown: str) -> str:
    """How many members of the diagnosis' preference set give the verdict ``shown`` for
    ``(point, term)``: :func:`~jaxfair.diagnose.prefset.robustness_label` (:func:`over_set`)."""
    from jaxfair.diagnose.prefset import robustness_label

    if d.prefs_set is None:
        raise ValueError("d: the diagnosis has no preference set")
    t = d.prefs_set.table
    sub = t[(t["point"] == point) & (t["term"] == term)]
    if sub.empty:
        raise ValueError(f"point, term: the preference set has no verdict for {point!r}, {term!r}")
    n_hold = int((sub["verdict"] == shown.split(" (")[0]).sum())
    return robustness_label(n_hold, len(sub))


def verdicts(d) -> dict:
    """Every verdict sentence of the diagnosis, by the rules of the modules that make them; with
    a preference set each carries the share of members that give it (:func:`over_set`).

    Attribution: :data:`~jaxfair.diagnose.attribution.VERDICT_RULE`. Theorem 3.1: holds
    exactly on the sample where it applies (f >= 0); "vacuous" when the bound is at or above
    the largest |term (5)| possible (:func:`~jaxfair.diagnose.bound.max_abs_term5`). Theorem
    3.3 and Lemma 2.3: ``applies`` (premises) separately from ``holds`` (by bootstrap CI); see their modules.
    """
    from jaxfair.diagnose.attribution import VERDICT_RULE

    out = {"attribution_rule": VERDICT_RULE}
    for key, name in (("given", "α given"), ("best", "utility-optimal α")):
        p = 0 if key == "given" else 1
        at, bound = d.attribution[key].verdict[1], d.points.bound.verdict(p)
        out[f"attribution_{key}"] = f"{name}: {at}{over_set(d, key, 'attribution', at)}"
        out[f"theorem31_{key}"] = f"{name}: {bound}{over_set(d, key, 'theorem31', bound)}"
    r = d.retrieval.verdict
    out["theorem33"] = f"{r}{over_set(d, 'alpha_star_g1', 'theorem33', r)}"
    out["lemma23"] = {
        row.group: f"{row.verdict}{over_set(d, 'alpha_star', f'lemma23_{row.group}', row.verdict)}"
        for row in d.lemma23.itertuples()
    }
    return out


def calibration_lines(d) -> list[str]:
    """One sentence per label: its ECE over all users and the worst group's, or why there is none
    (:data:`~jaxfair.diagnose.calibration.NOT_A_PROBABILITY`)."""
    out = []
    for label, sub in d.calibration.groupby("label", sort=False):
        if sub["ece"].isna().any():
            out.append(f"{label}: {sub['calibration'].iloc[0]}")
            continue
        every = sub[sub["group"] == "all"]["ece"]
        worst = sub.loc[sub["ece"].idxmax()]
        out.append(
            f"{label}: ECE {float(every.iloc[0]):.4f} over all users, at most {worst['ece']:.4f} ({worst['group']})"
        )
    return out


def by_label(d, prefs_row) -> dict[str, float]:
    """True preferences α*(g) ``[K]`` as ``{label: weight}``: they weight the labels."""
    return {str(n): float(v) for n, v in zip(d.scenario.label_names, prefs_row, strict=True)}


def by_score(d, alpha) -> dict[str, float]:
    """α ``[K]`` as ``{score: weight}``: every α in ``summary.json`` names the scores it weights
    (:func:`jaxfair.utils.alpha_names.alpha_record`)."""
    return alpha_record(d.scenario.score_names, alpha)


def alpha_columns(d, alpha, prefix: str = "alpha") -> dict[str, float]:
    """α ``[K]`` as CSV columns ``<prefix>_<score>`` (as ``bo``'s rows.csv; :mod:`jaxfair.utils.alpha_names`)."""
    return named_alpha_columns(d.scenario.score_names, alpha, prefix)


def _point_summary(d, p: int) -> dict:
    """:meth:`Decomposition.summary` of row p with α by label and its ``n_users`` (batch rows of
    g1 and g0) said as what they are: ``n_sessions`` and ``logged_users`` per group."""
    out = d.points.summary(p)
    names = out.pop("groups")
    rows = out.pop("n_users")
    pop = d.population
    counts = {
        "groups": names,
        "n_sessions": dict(zip(names, rows, strict=True)),
        "logged_users": None if pop.users is None else {n: pop.users[n] for n in names},
    }
    return {"alpha": by_score(d, d.points.alphas[p]), **counts, **{k: v for k, v in out.items() if k != "alpha"}}


def summary_dict(d) -> dict:
    g1, g0 = (d.group_names[g] for g in d.groups)
    return {
        "scenario": d.scenario.describe() if hasattr(d.scenario, "describe") else str(d.scenario),
        "title": d.title,
        "standin": bool(getattr(d.scenario, "is_standin", False)),
        # Sessions, not users (a pool draws sessions with replacement, a replay has several per
        # user): n_sessions, group_sessions and group_logged_users (the real users behind them).
        **d.population.summary(),
        "sample": d.sample,
        "groups": {"g1": g1, "g0": g0, "ids": list(d.groups), "why": d.pair_reason},
        "utility_optimal": {
            "alpha": by_score(d, d.alpha_best),
            "utility": d.utility_best,
            "searched": f"{d.optimum_grid_size} α on the simplex grid over all {len(d.alpha_best)} labels",
            **(
                {
                    "segment_best_alpha": by_score(d, d.alpha_segment_best),
                    "segment_best_utility": d.utility_segment_best,
                    "segment": f"α*({g0})–α*({g1}), the figures' x axis",
                }
                if d.alpha_segment_best is not None
                else {}
            ),
        },
        # Which preference row went to which group (SPEC §9): every term and verdict rests on it.
        "prefs": prefs_record(d.group_names, d.scenario.label_names, d.scenario.prefs),
        "verdicts": verdicts(d),
        "alpha_given": _point_summary(d, 0),
        "alpha_utility_optimal": _point_summary(d, 1),
        "shared_space": d.weights.summary(),
        "retrieval": d.retrieval.summary(),
        "attribution": {
            k: {kk: by_score(d, vv) if kk == "alpha" else vv for kk, vv in v.summary().items() if kk != "pipelines"}
            for k, v in d.attribution.items()
        },
        "lemma23": [
            dict(r, alpha_star=by_label(d, r["alpha_star"]), best_alpha=by_score(d, r["best_alpha"]))
            for r in d.lemma23.to_dict(orient="records")
        ],
        # NaN (no ECE: the score is not a probability) as null: json.dump would write invalid NaN
        "ece": d.calibration.astype(object).where(d.calibration.notna(), None).to_dict(orient="records"),
        "seconds": {k: round(v, 3) for k, v in d.seconds.items()},
        "notes": d.notes,
        **({"prefs_set": d.prefs_set.summary()} if d.prefs_set is not None else {}),
    }


def report_markdown(d) -> str:
    """``report.md``: the verdicts with their CIs and the rule behind each, in sentences."""
    v = verdicts(d)
    g1, g0 = (d.group_names[g] for g in d.groups)
    lines = [
        f"# Diagnosis: {d.title}",
        "",
        f"{g1} (g1) vs {g0} (g0), {sample_text(d)} ({pair_counts_text(d)}), "
        f"{d.points.level:.0%} bootstrap CIs ({d.points.n_boot} resamples"
        f"{' of the real users' if d.sample and d.sample['source_users'] else ''}).",
        "",
        "True preferences α*(g) (an input, not observed; every term below rests on them): "
        + "; ".join(line.removeprefix("prefs: ") for line in prefs_lines(d.group_names, d.scenario.prefs))
        + f" over ({', '.join(d.scenario.label_names)}).",
        f"Why this pair: {d.pair_reason}.",
        "",
    ]
    for p, (key, name) in enumerate((("given", "α given"), ("best", "utility-optimal α"))):
        row = d.points.summary(p)
        lines.append(f"## {name} {np.round(d.points.alphas[p], 3).tolist()}")
        lines.append("")
        for t in ("term4", "term5", "term6", "gap"):
            ci = row[t]["ci"]
            cis = f" [{ci[0]:+.4f}, {ci[1]:+.4f}]" if ci[0] is not None else " (no CI)"
            lines.append(f"- {t}: {row[t]['estimate']:+.4f}{cis}")
        at = d.attribution[key]
        for c, est in at.gap_shares.items():
            lo, hi = at.gap_share_ci.get(c, (np.nan, np.nan))
            cis = f" [{lo:+.4f}, {hi:+.4f}]" if np.isfinite(lo) else ""
            lines.append(f"- share of the gap, {c}: {est:+.4f}{cis}")
        set_share = over_set(d, key, "attribution", at.verdict[1])
        lines += [f"- attribution: **{at.verdict[1]}**{set_share}", f"- Theorem 3.1: {v['theorem31_' + key]}", ""]
        if key == "best":
            lines += [
                f"(Best of {d.optimum_grid_size:,} α on the simplex grid over all labels: "
                f"utility {d.utility_best:.4f}.)"
            ]
            if d.alpha_segment_best is not None:
                lines += [
                    f"Best on the segment α*({g0})–α*({g1}) (the figures' x axis): "
                    f"{np.round(d.alpha_segment_best, 3).tolist()}, utility {d.utility_segment_best:.4f}."
                ]
            lines += [""]
    lines += ["## Retrieval and calibration", "", f"- Theorem 3.3: {v['theorem33']}"]
    lines += [f"- Calibration: {line}" for line in calibration_lines(d)]
    lines += [f"- Lemma 2.3 at α*({g}): {s}" for g, s in v["lemma23"].items()]
    lines += [
        "",
        "## Rules",
        "",
        f"- Attribution: {v['attribution_rule']}",
        "- Theorem 3.3 / Lemma 2.3: 'does not apply' when a premise is not met (ε's CI not above 0, scores not "
        "calibrated within the ECE tolerance, a zero preference); otherwise 'holds' / 'violated' only when the "
        "CI backs it, else 'inconclusive'.",
        "- Theorem 3.1: 'vacuous' when the bound is at or above the largest |term (5)| possible with these prefs, "
        "slate weights and label range; 'holds' otherwise (it is exact on the sample).",
        "",
    ]
    if d.prefs_set is not None:
        ps = d.prefs_set.prefs_set
        lines += [
            "## Over the preference set",
            "",
            f"{ps.kind} set, {ps.n_members} members (member 0 = the prefs above); every member sees the same "
            "served items and the same bootstrap resamples. A verdict is robust only if every member gives it.",
            "",
        ]
        lines += [f"- {st['statement']}: **{st['label']}**" for st in d.prefs_set.statements]
        lines += ["", "![terms over the preference set](prefs_set_terms.png)", ""]
    if d.notes:
        lines += ["## Notes", ""] + [f"- {n}" for n in d.notes] + [""]
    return "\n".join(lines)


def _lemma23_table(d) -> pd.DataFrame:
    """Lemma 2.3's rows with α*(g) and the best α as columns ``alpha_star_<label>`` (α* weights the
    labels) / ``best_alpha_<score>`` (α weights the scores)."""
    rows = []
    for r in d.lemma23.to_dict(orient="records"):
        star, best = r.pop("alpha_star"), r.pop("best_alpha")
        group = r.pop("group")
        rows.append(
            {
                "group": group,
                **{f"alpha_star_{n}": v for n, v in by_label(d, star).items()},
                **alpha_columns(d, best, "best_alpha"),
                **r,
            }
        )
    return pd.DataFrame(rows)


def write_report(d, out) -> dict[str, Path]:
    """Write figures, tables and ``summary.json`` to ``out``; returns ``{name: path}``."""
    out = Path(out)
    paths = {}
    paths["terms.png"] = terms_figure(d, out / "terms.png")
    paths["overlap.png"] = overlap_figure(d, out / "overlap.png")
    paths["attribution.png"] = attribution_figure(d, out / "attribution.png")
    tables = {
        "decomposition_grid": d.grid.to_frame(),
        "decomposition_points": d.points.to_frame().assign(
            point=lambda f: np.where(f["alpha_index"] == 0, "given", "utility-optimal")
        ),
        "attribution_pipelines": pd.concat([v.pipelines.assign(point=k) for k, v in d.attribution.items()]),
        "attribution_shares": pd.concat([v.shares_frame().assign(point=k) for k, v in d.attribution.items()]),
        "calibration_ece": d.calibration,
        "lemma23": _lemma23_table(d),
    }
    for name, df in tables.items():
        paths[f"{name}.csv"] = atomic_write(out / f"{name}.csv", lambda fh, df=df: df.to_csv(fh, index=False))
        if name != "decomposition_grid":  # the grid table is long: CSV only
            paths[f"{name}.md"] = atomic_write(
                out / f"{name}.md", lambda fh, df=df: fh.write(markdown_table(df, "{:.4f}"))
            )
    if d.prefs_set is not None:
        paths["prefs_set_terms.png"] = prefs_set_figure(d, out / "prefs_set_terms.png")
        tab = d.prefs_set.table
        paths["prefs_set_terms.csv"] = atomic_write(out / "prefs_set_terms.csv", lambda fh: tab.to_csv(fh, index=False))
    summary = summary_dict(d)
    paths["report.md"] = atomic_write(out / "report.md", lambda fh: fh.write(report_markdown(d)))
    paths["summary.json"] = atomic_write(out / "summary.json", lambda fh: json.dump(summary, fh, indent=1, default=str))
    return paths
