"""What the numbers of a study's report are, in words: the exact values behind them and each
column of ``summary`` (and ``recommended``), for ``summary.md``, ``report.md`` and the CLI.

Two different "values of a method" sit side by side in a study's output and differ on purpose:
``median_final_*`` is the median over trials of the exact value at the α each trial evaluated
**last**; ``recommended``'s ``*_exact_median`` (and ``jaxfair bo``'s "recommended" line) is the
median over trials of the exact value of the **one α each trial recommends** (its BO evaluation
with the best normalised sum). Random search's last α is a random draw, so the two can be far apart.
"""

from __future__ import annotations

from collections.abc import Iterable

from jaxfair.utils.percent import percent

__all__ = ["exact_values_text", "recommendation_lines", "summary_legend"]


def region_text(region: dict) -> str:
    """An impression log's identified region (``study.json``'s ``identified_region``) in words:
    ``"w in [0.185, 0.815]"`` (K = 2, its intervals) or ``"41.6 % of the 231-point simplex grid"``."""
    if region.get("w_intervals"):
        return "w in " + " ∪ ".join(f"[{a:.3f}, {b:.3f}]" for a, b in region["w_intervals"])
    if "identified_share" in region:
        grid = f"{region['grid']}-point " if "grid" in region else ""
        return f"{percent(region['identified_share'])} of the {grid}simplex grid"
    return "its identified region"


def exact_values_text(config: dict | None, *, sessions: str | None = None) -> str:
    """What an exact (``*_exact``) value is evaluated on, from ``study.json``'s ``config``: what
    was drawn from what.

    Args:
      config: the study's configuration (None: unknown, e.g. a report of a bare DataFrame). Its
        ``exact_sample`` (:meth:`~jaxfair.scenarios.base.Scenario.sample_size` of the exact batch,
        recorded since issue #28) says whether real users stand behind the sessions.
      sessions: for a replay, the logged sessions in words (e.g. "1,886 logged sessions of 943
        users"), when the caller knows them (``study.json`` does not record the count).
    Returns:
      ``"100,000 held-out users"`` where each session is a newly generated user (toy, synthetic);
      ``"100,000 sessions drawn from 943 logged users (a draw of its own, apart from the online
      tests' draws)"`` where the sessions are resampled from real users (a pool, a log: the same
      users as the online tests, so not held out); ``"every logged session once (1,886 logged
      sessions of 943 users; a replay has no held-out users)"``; plus the horizon of a
      ``--horizon`` study.
    """
    if not config:
        return "the study's fixed exact-value batch"
    n = int(config.get("exact_users", 100_000))
    sample = config.get("exact_sample")
    if config.get("offpolicy"):  # an impression log: the log's own best answer, not the truth
        off = config["offpolicy"]
        return (
            f"the whole impression log (off-policy {off.get('estimator', 'dr')} point estimates, logging "
            f"{off.get('logging', '?')}; every evaluated α identified: the search stayed inside the identified "
            f"region, {region_text(off.get('identified_region', {}))}"
            + (f"; slates of {config['slate']}, {off['slate_assumption']}" if off.get("slate_assumption") else "")
            + ")"
        )
    if config.get("exact_batch"):  # a replay: every logged session, once each
        text = f"every logged session once ({f'{sessions}; ' if sessions else ''}a replay has no held-out users)"
    elif isinstance(sample, dict) and sample.get("source_users") is not None:
        text = f"{sample['text']} (a draw of its own, apart from the online tests' draws)"
    elif isinstance(config.get("data"), dict) and sample is None:  # a log's study written before exact_sample
        text = f"{n:,} sessions drawn from the logged users (a draw of its own, apart from the online tests' draws)"
    else:
        text = f"{n:,} held-out users"
    if config.get("horizon"):
        text += f", each α's long-run value over {int(config['horizon'])} periods of retention dynamics"
    return text


_METRICS = {
    "der": "DER",
    "worst_best_ratio": "worst/best group utility ratio (min_g μ_g / max_g μ_g, under the point prefs)",
    "utility": "global utility",
    "provider_der": "provider DER",
}


def summary_legend(columns: Iterable[str], config: dict | None = None, *, recommended: bool = False) -> list[str]:
    """One Markdown bullet per kind of ``summary`` column present in ``columns`` (and the
    ``recommended`` table when it is written), saying what the number is.

    Every value is an exact value (:func:`exact_values_text`); in a robust study the utility and
    DER columns are the robust objectives (the ``objectives`` column says which).
    """
    cols = set(columns)
    exact = exact_values_text(config)
    kind = (
        "off-policy point estimates (the log's best answer, not noise-free: they carry its sampling error; "
        "`jaxfair surface` on the log gives their CIs)"
        if config and config.get("offpolicy")
        else "exact (noise-free) values"
    )
    out = [
        f"All values are {kind} on {exact}; each is a median (or mean, sd) over the method's trials, "
        "one value per trial."
    ]
    finals = [m for m in _METRICS if f"median_final_{m}" in cols]
    if finals:
        names = ", ".join(f"`median_final_{m}`" for m in finals)
        out.append(
            f"{names}: the median over trials of the exact value at the α each trial evaluated **last** "
            "(its last evaluation, not its best: random search's last α is a random draw)."
        )
    means = [m for m in _METRICS if f"median_mean_{m}" in cols]
    if means:
        names = ", ".join(f"`median_mean_{m}`" for m in means)
        out.append(f"{names}: the median over trials of the mean exact value over the trial's BO iterations.")
    if {"median_hv", "mean_hv", "sd_hv"} & cols:
        out.append(
            "`median_hv`, `mean_hv`, `sd_hv`: the hypervolume of all the trial's exact evaluations (its "
            "best-so-far front after the last evaluation) w.r.t. the trial's reference point; median, mean "
            "and sd over trials."
        )
    if "median_scalarised" in cols:
        out.append(
            "`median_scalarised`: the median over trials of the best sum of min–max normalised objectives "
            "among the trial's BO evaluations (the score of the α the trial recommends)."
        )
    rec = (
        "`recommended.csv`'s `*_exact_median` columns"
        if recommended
        else '`jaxfair bo`\'s "recommended" line (and `recommended.csv` in a three-objective study)'
    )
    out.append(
        f"Not to be confused with {rec}: the median over trials of the exact value of the **single α each "
        "trial recommends**, its BO evaluation with the best normalised sum — usually not its last α, so "
        "it differs from `median_final_*`."
    )
    for col, text in (
        ("trials", "`trials`: how many trials of the method the row summarises."),
        ("objectives", "`objectives`: what the utility and DER columns are (robust objectives over a set)."),
        (
            "unfinished_trials",
            "`unfinished_trials`: trials cut short; their final values are from their last evaluation so far.",
        ),
        ("prefs", "`prefs`: the true preferences every value is computed under (which row went to which group)."),
    ):
        if col in cols:
            out.append(text)
    return [f"* {line}" for line in out]


def recommendation_lines(rec, value_word: str = "exact") -> list[str]:
    """One Markdown bullet per (scenario, method) of
    :func:`~jaxfair.bo.statistics.method_recommendations`: the α the method recommends, its
    exact utility and DER (what they are evaluated on is said once beside them:
    :func:`exact_values_text`), where it comes from, and how far the trials' recommendations spread.
    ``value_word`` names those values (an impression log's are estimates, not exact: "estimated").
    """
    acols = [c for c in rec.columns if c.startswith("alpha_") and f"{c}_min" in rec.columns]  # not the ranges
    several = rec["scenario"].nunique() > 1
    out = []
    for r in rec.to_dict(orient="records"):
        alpha = ", ".join(f"{c.removeprefix('alpha_')} {r[c]:.3f}" for c in acols)
        spread = ", ".join(f"{c.removeprefix('alpha_')} {r[c + '_min']:.3f}–{r[c + '_max']:.3f}" for c in acols)
        where = f"{r['scenario']}, " if several else ""
        n = int(r["trials"])
        which = (
            "its one trial's recommendation"
            if n == 1
            else f"trial {r['trial']}'s recommendation, the median of its {n} trials' by the normalised sum"
            f"{' (the lower of the middle two)' if n % 2 == 0 else ''}; over the trials α spans {spread}"
        )
        out.append(
            f"* {where}**{r['method']}** recommends α = ({alpha}): {value_word} utility {r['utility_exact']:.4f}, "
            f"DER {r['der_exact']:.4f} — {which}."
        )
    return out
