"""Several pairs of groups in one run: ``--groups all[:NAME]`` and ``--groups pairs``.

* :func:`against_reference` — every other group against one reference g1 (SPEC §6; default:
  the best-served group at the α given): G − 1 pairs.
* :func:`every_pair` — every unordered pair of groups, G(G − 1)/2 pairs; in each, g1 is the
  better-served of the two at the α given (the reference of the two-group case, SPEC §6).

Each pair is a full diagnosis of its own (its own S_X, bootstrap and verdicts) written to
``OUT/<g1>-vs-<g0>/``; :func:`write_pairs_overview` adds, at the top of ``OUT``, ``pairs.csv``
(terms with CIs and the attribution verdict per pair and α), ``summary.json`` (every pair's
key numbers and verdicts, the sample, the preference mapping) and ``report.md`` (the same in
sentences), which the top ``report.html`` shows with every pair's figures and tables.

No pair against the pooled "rest" of the groups is offered (:data:`POOLED_REST`): term (5)
values the *same* users with g0's true preferences α*(g0), and a pooled group has no single
α* — each member keeps their own group's — so U₀, terms (4)–(6) and Theorem 3.1's Δα* are
undefined for it (a mixture of the members' α* would be a new quantity, not the paper's).
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd

from jaxfair.diagnose.figures import sample_text
from jaxfair.diagnose.report import alpha_columns, by_score, over_set, set_label, verdicts
from jaxfair.named_prefs import prefs_lines, prefs_record
from jaxfair.utils.atomic import atomic_write

__all__ = ["POOLED_REST", "against_reference", "every_pair", "pair_folder", "write_pairs_overview"]

#: Why no group is compared with the pooled rest (help, summary.json, docs).
POOLED_REST = (
    "no pair against the pooled rest: term (5) values the same users with g0's true preferences α*(g0), and "
    "a pooled group has no single α* (each member keeps their own group's), so terms (4)-(6) and Theorem "
    "3.1 need one α* per group"
)

#: What each multi-pair form compares, in words (summary.json, report.md).
MODES = {
    "all": "every other group against one reference g1 (--groups all[:NAME])",
    "pairs": "every unordered pair of groups, g1 the better-served of the two at the α given (--groups pairs)",
}


def pair_folder(d) -> str:
    """``"tech-vs-other"``: the subfolder of ``OUT`` that holds the pair's report."""
    g1, g0 = (d.group_names[g] for g in d.groups)
    return f"{g1}-vs-{g0}"


def against_reference(diagnose, scenario, reference, common) -> list:
    """``--groups all[:NAME]``: every other group (with sessions) against one reference g1.

    ``diagnose``: :func:`~jaxfair.diagnose.pipeline.diagnose_scenario` (passed in, so the CLI's
    tests can stand in for it); ``reference``: a group id or None (the best-served group at the
    α given); ``common``: its keyword arguments.
    """
    names = scenario.group_names
    if reference is None:  # the default pair: g1 = best served (the reference), g0 = worst served
        first = diagnose(scenario, groups=None, **common)
        reference, why = first.groups[0], first.pair_reason.split(";")[0].split(": ", 1)[1]
    else:
        why = "chosen by the user"
        other = next(g for g in range(len(names)) if g != reference)
        first = diagnose(scenario, groups=(reference, other), **common)
    runs = []
    for g in range(len(names)):
        if g == reference or not np.any(first.group == g):
            continue
        d = first if first.groups == (reference, g) else diagnose(scenario, groups=(reference, g), **common)
        d.pair_reason = f"g1 = {names[reference]}: the reference ({why}); g0 = {names[g]}: every other group in turn"
        runs.append(d)
    return runs


def every_pair(diagnose, scenario, common) -> list:
    """``--groups pairs``: every unordered pair of groups with sessions, G(G − 1)/2 diagnoses.

    In each pair g1 is the better-served of the two at the α given (ties: the lower id), as in
    the two-group default. Pairs come in the order of the group ids.
    """
    names = scenario.group_names
    first = diagnose(scenario, groups=None, **common)  # also gives every group's utility at α
    mu = first.group_utility
    present = [g for g in range(len(names)) if names[g] in mu]
    a = np.round(first.alpha_given / first.alpha_given.sum(), 3).tolist()
    runs = []
    for p, q in itertools.combinations(present, 2):
        g1, g0 = (p, q) if mu[names[p]] >= mu[names[q]] else (q, p)
        d = first if first.groups == (g1, g0) else diagnose(scenario, groups=(g1, g0), **common)
        d.pair_reason = (
            f"g1 = {names[g1]}: the better-served of the two at α = {a} (utility {mu[names[g1]]:.4f}); "
            f"g0 = {names[g0]} ({mu[names[g0]]:.4f}); every unordered pair in turn"
        )
        runs.append(d)
    return runs


def _pairs_table(runs) -> pd.DataFrame:
    """One row per (pair, α, term) with estimate, CI and the attribution verdict."""
    rows = []
    for d in runs:
        g1, g0 = (d.group_names[g] for g in d.groups)
        for p, (point, key) in enumerate((("given", "given"), ("utility-optimal", "best"))):
            row = d.points.summary(p)
            for t in ("term4", "term5", "term6", "gap"):
                lo, hi = row[t]["ci"]
                rows.append(
                    dict(
                        g1=g1,
                        g0=g0,
                        point=point,
                        **alpha_columns(d, d.points.alphas[p]),
                        term=t,
                        estimate=row[t]["estimate"],
                        ci_low=np.nan if lo is None else lo,
                        ci_high=np.nan if hi is None else hi,
                        attribution=d.attribution[key].verdict[1],
                        **(
                            {"attribution_over_set": set_label(d, key, "attribution", d.attribution[key].verdict[1])}
                            if d.prefs_set is not None
                            else {}
                        ),
                    )
                )
    return pd.DataFrame(rows)


def _pair_record(d) -> dict:
    """One pair's key numbers for the overview: counts, the gap and terms with CIs, every verdict."""
    g1, g0 = (d.group_names[g] for g in d.groups)
    pop = d.population
    out = {
        "g1": g1,
        "g0": g0,
        "folder": pair_folder(d),
        "why": d.pair_reason,
        "n_sessions": {n: pop.sessions[n] for n in (g1, g0)},
        "logged_users": {n: pop.users[n] for n in (g1, g0)} if pop.users is not None else None,
    }
    for p, key in enumerate(("alpha_given", "alpha_utility_optimal")):
        row = d.points.summary(p)
        out[key] = {"alpha": by_score(d, d.points.alphas[p])} | {t: row[t] for t in ("term4", "term5", "term6", "gap")}
    out["verdicts"] = {k: v for k, v in verdicts(d).items() if k != "attribution_rule"}
    return out


def _markdown(runs, mode: str) -> str:
    """``report.md`` of the run: the sample, the preferences and each pair's terms and verdicts."""
    d0 = runs[0]
    lines = [
        f"# Diagnosis of {len(runs)} pair{'s' if len(runs) != 1 else ''} of groups: {d0.title}",
        "",
        f"{MODES[mode].capitalize()}; {sample_text(d0)}; {d0.points.level:.0%} bootstrap CIs "
        f"({d0.points.n_boot} resamples). Each pair has its own S_X, figures and tables in its folder.",
        "",
        "True preferences α*(g) (an input, not observed): "
        + "; ".join(line.removeprefix("prefs: ") for line in prefs_lines(d0.group_names, d0.scenario.prefs))
        + f" over ({', '.join(d0.scenario.label_names)}).",
        f"Not offered: {POOLED_REST}.",
        "",
    ]
    if d0.prefs_set is not None:
        ps = d0.prefs_set.prefs_set
        lines += [
            f"Over a preference set ({ps.kind}, {ps.n_members} members): each verdict below says how many members "
            "give it ('robust' only when every member does); the pair's folder has every statement.",
            "",
        ]
    for d in runs:
        g1, g0 = (d.group_names[g] for g in d.groups)
        v = verdicts(d)
        lines += [
            f"## {g1} (g1) vs {g0} (g0)",
            "",
            f"Folder `{pair_folder(d)}/`. Why this pair: {d.pair_reason}.",
            f"Sessions: {d.population.pair_text([g1, g0])}.",
            "",
        ]
        for p, key in enumerate(("given", "best")):
            row = d.points.summary(p)
            terms = ", ".join(
                f"{t} {row[t]['estimate']:+.4f}"
                + (f" [{row[t]['ci'][0]:+.4f}, {row[t]['ci'][1]:+.4f}]" if row[t]["ci"][0] is not None else "")
                for t in ("term4", "term5", "term6", "gap")
            )
            name = "α given" if p == 0 else "utility-optimal α"
            at = d.attribution[key].verdict[1]
            lines += [
                f"- {name} {np.round(d.points.alphas[p], 3).tolist()}: {terms}",
                f"  - attribution: **{at}**{over_set(d, key, 'attribution', at)}",
                f"  - Theorem 3.1: {v['theorem31_' + key].split(': ', 1)[1]}",
            ]
        lines += [f"- Theorem 3.3: {v['theorem33']}", ""]
    return "\n".join(lines)


def write_pairs_overview(runs, out, mode: str) -> dict[str, Path]:
    """``pairs.csv``, ``summary.json`` and ``report.md`` at the top of ``out`` (module docstring)."""
    if mode not in MODES:
        raise ValueError(f"mode: expected one of {sorted(MODES)}, got {mode!r}")
    if not runs:
        raise ValueError("runs: no pair was diagnosed (fewer than two groups have sessions)")
    out = Path(out)
    d0 = runs[0]
    summary = {
        "title": d0.title,
        "groups_mode": mode,
        "compares": MODES[mode],
        "not_offered": POOLED_REST,
        "scenario": d0.scenario.describe() if hasattr(d0.scenario, "describe") else str(d0.scenario),
        "sample": d0.sample,
        **d0.population.summary(),
        "prefs": prefs_record(d0.group_names, d0.scenario.label_names, d0.scenario.prefs),
        "group_utility_at_alpha_given": d0.group_utility,
        "pairs": [_pair_record(d) for d in runs],
    }
    if d0.prefs_set is not None:  # each pair's verdicts carry their share of it
        summary["prefs_set"] = d0.prefs_set.prefs_set.describe()
    table = _pairs_table(runs)
    return {
        "pairs.csv": atomic_write(out / "pairs.csv", lambda fh: table.to_csv(fh, index=False)),
        "report.md": atomic_write(out / "report.md", lambda fh: fh.write(_markdown(runs, mode))),
        "summary.json": atomic_write(
            out / "summary.json", lambda fh: json.dump(summary, fh, indent=1, ensure_ascii=False, default=str)
        ),
    }
