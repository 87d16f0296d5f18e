"""``report``: the tables (CSV + Markdown), figures (PNG) and notes of a study directory.

The statistics are defined in :mod:`jaxfair.bo.statistics` (what each number is), the figures
drawn in :mod:`jaxfair.bo.figures`; this module reads the study, writes the files and says
what is unfinished.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pandas as pd

from jaxfair.bo.figures import study_figures
from jaxfair.bo.legend import exact_values_text, recommendation_lines, region_text, summary_legend
from jaxfair.bo.rows import load_rows
from jaxfair.bo.statistics import (
    completeness,
    hypervolume_trace,
    mean_frontier,
    method_recommendations,
    objective_columns,
    partial_notes,
    recommended_alpha,
    summary_table,
    trial_metrics,
    wilcoxon_table,
)
from jaxfair.named_prefs import prefs_title
from jaxfair.utils.atomic import atomic_write_text
from jaxfair.utils.tables import markdown_table as to_markdown

__all__ = [
    "report",
    "trial_metrics",
    "hypervolume_trace",
    "mean_frontier",
    "recommended_alpha",
    "wilcoxon_table",
    "to_markdown",
]


def _write_table(df: pd.DataFrame, path_stem: Path) -> list[Path]:
    csv, md = path_stem.with_suffix(".csv"), path_stem.with_suffix(".md")
    for p, text in ((csv, df.to_csv(index=False)), (md, to_markdown(df))):
        atomic_write_text(p, text)
    return [csv, md]


def report(results: Any, out: str | os.PathLike | None = None, *, figures: bool = True) -> dict[str, Any]:
    """Tables (CSV + Markdown) and figures (PNG) of a study.

    Args:
      results: a study directory (from :func:`jaxfair.bo.run_study`) or its rows DataFrame.
      out: output directory (default ``<results>/report``; required for a DataFrame).
      figures: also draw the PNG figures.
    Returns:
      dict with DataFrames ``metrics``, ``summary``, ``wilcoxon``, ``hypervolume``,
      ``frontier``, ``paths`` (files written), ``partial`` (some planned trial is unfinished
      or missing), ``notes`` (what is unfinished; empty when complete) and ``legend`` (Markdown
      bullets saying what each summary column is, also below the table in ``summary.md`` and in
      ``report.md``, which ``report.html`` shows as a note), ``recommended_alpha`` (per method
      the α it recommends with its exact utility and DER:
      :func:`~jaxfair.bo.statistics.method_recommendations`, also ``recommended_alpha.csv``)
      and ``recommendation`` (the same in Markdown bullets, at the top of ``summary.md`` and
      ``report.md``).
    """
    titles = {}
    prefs = {}  # scenario → "prefs: group=(w,w) ...", the preference rows every number rests on
    config = None
    if isinstance(results, pd.DataFrame):
        rows = results
        if out is None:
            raise ValueError("out: required when results is a DataFrame")
    else:
        rows = load_rows(results)
        out = Path(results) / "report" if out is None else out
        cfg = Path(results) / "study.json"
        if cfg.exists():
            import json

            c = json.loads(cfg.read_text())
            titles[c["scenario"]] = c["scenario"]
            if "prefs" in c and len(c.get("group_names", [])) == len(c["prefs"]):
                prefs[c["scenario"]] = prefs_title(c["group_names"], c["prefs"])
            if isinstance(c.get("prefs_set"), dict):  # robust objectives: the set they are taken over
                ps = c["prefs_set"]
                prefs[c["scenario"]] = (
                    prefs.get(c["scenario"], "")
                    + f"; preference set: {ps.get('kind')} ("
                    + ", ".join(f"{k} {v}" for k, v in ps.get("params", {}).items() if k not in ("member_0", "point"))
                    + ")"
                ).lstrip("; ")
            config = c
    required = {"scenario", "method", "trial", "eval", "iteration", "phase", "utility_exact", "der_exact"}
    missing = sorted(required - set(rows.columns))
    if missing:
        raise ValueError(f"results: missing columns {missing}")
    if rows[objective_columns(rows)].isna().any().any():
        raise ValueError(f"results: NaN in {'/'.join(objective_columns(rows))}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    hv = hypervolume_trace(rows)
    metrics = trial_metrics(rows)
    front = mean_frontier(rows)
    status, missing = completeness(rows, config)
    metrics = metrics.merge(
        status[["scenario", "method", "trial", "evaluations", "finished"]],
        on=["scenario", "method", "trial"],
        how="left",
    )
    summary = summary_table(metrics)
    if prefs:
        summary["prefs"] = [prefs.get(sc, "") for sc in summary["scenario"]]
    # What utility / DER mean in this table: the point values, or the robust ones over a set.
    summary.insert(2, "objectives", ", ".join(c[: -len("_exact")] for c in objective_columns(rows)))
    three = len(objective_columns(rows)) == 3
    unfinished = (~metrics["finished"]).groupby([metrics["scenario"], metrics["method"]]).sum()
    summary["unfinished_trials"] = [
        int(unfinished.get((sc, m), 0)) for sc, m in zip(summary["scenario"], summary["method"], strict=True)
    ]
    wil = wilcoxon_table(
        metrics,
        columns=("mean_der", "final_der", "hv", "final_utility")
        + (("mean_provider_der", "final_provider_der") if three else ()),
    )
    if len(wil):
        cut = set(
            zip(metrics.loc[~metrics["finished"], "scenario"], metrics.loc[~metrics["finished"], "trial"], strict=True)
        )
        wil["n_unfinished"] = [
            sum((sc, t) in cut for t in metrics.loc[metrics["scenario"] == sc, "trial"].unique())
            for sc in wil["scenario"]
        ]
    notes = partial_notes(status, missing)
    legend = "\n".join(summary_legend(summary.columns, config, recommended=three)) + "\n"
    # Which α each method recommends, with its exact utility and DER: what a reader would deploy.
    chosen = method_recommendations(rows)
    offpolicy = bool(config and config.get("offpolicy"))  # an impression log: its values are estimates
    recommendation = (
        f"{'Estimated values' if offpolicy else 'Exact values'} on {exact_values_text(config)}.\n\n"
        + "\n".join(recommendation_lines(chosen, "estimated" if offpolicy else "exact"))
        + "\n"
    )
    paths: list[Path] = []
    paths += _write_table(summary, out / "summary")
    paths += _write_table(chosen, out / "recommended_alpha")
    # The table alone puts median_final_utility beside the recommended α's value with nothing to
    # tell them apart: summary.md says what each column is, report.md (a note of report.html) too.
    atomic_write_text(
        out / "summary.md",
        to_markdown(summary)
        + "\n\n## Recommended α per method\n\n"
        + recommendation
        + "\n## What the columns are\n\n"
        + legend,
    )
    paths.append(out / "report.md")
    atomic_write_text(
        paths[-1], "# Recommended α per method\n\n" + recommendation + "\n# What the numbers are\n\n" + legend
    )
    paths += _write_table(wil, out / "wilcoxon")
    paths += _write_table(metrics, out / "trials")
    hv_it = hv.groupby(["scenario", "method", "eval", "iteration"])["hv"].agg(["mean", "std", "median"]).reset_index()
    paths += _write_table(hv_it, out / "hypervolume")
    paths += _write_table(front, out / "frontier")
    rec = None
    if three:
        rec_trials, rec = recommended_alpha(rows)
        paths += _write_table(rec_trials, out / "recommended_trials")
        paths += _write_table(rec, out / "recommended")
    if figures:
        if offpolicy:  # the axes say "(exact)": on a log that is the log's point estimate
            off = config["offpolicy"]
            est = off.get("estimator", "dr")
            where = region_text(off.get("identified_region", {}))
            say = f"'exact' = off-policy {est} point estimates on the whole log; searched in {where}"
            titles = {sc: f"{say}\n{titles.get(sc, sc)}" for sc in rows["scenario"].unique()}
        paths += study_figures(rows, hv, front, metrics, out, titles, prefs)
    notes_path = out / "notes.md"
    if notes:
        atomic_write_text(notes_path, "# This study is unfinished\n\n" + "".join(f"* {n}\n" for n in notes))
        paths.append(notes_path)
    elif notes_path.exists():
        notes_path.unlink()  # left by a report of the study before it finished
    out_dict = dict(
        metrics=metrics,
        summary=summary,
        wilcoxon=wil,
        hypervolume=hv,
        frontier=front,
        paths=paths,
        partial=bool(notes),
        notes=notes,
        legend=legend.splitlines(),
        recommended_alpha=chosen,
        recommendation=recommendation.splitlines(),
    )
    if rec is not None:
        out_dict["recommended"] = rec
    return out_dict
