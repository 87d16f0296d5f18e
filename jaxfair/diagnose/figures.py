"""Figures of a :class:`~jaxfair.diagnose.pipeline.Diagnosis`: the terms along α, the S_X overlap,
the component attribution and the spread over a preference set.

Every PNG is written atomically (temporary file + ``os.replace``), so an interrupted run never
leaves a half-written figure.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from jaxfair.named_prefs import prefs_title
from jaxfair.utils.atomic import atomic_write
from jaxfair.utils.percent import percent

__all__ = [
    "attribution_figure",
    "overlap_figure",
    "pair_counts_text",
    "place_marker_labels",
    "prefs_set_figure",
    "sample_text",
    "terms_figure",
]

TERM_LABELS = {
    "term4": "(4) g1's covariates vs S_X",
    "term5": "(5) same users, different preferences",
    "term6": "(6) S_X vs g0's covariates",
}
TERM_COLORS = {"term4": "tab:blue", "term5": "tab:orange", "term6": "tab:green"}


def _savefig(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    atomic_write(path, lambda fh: fig.savefig(fh, format="png", dpi=110, bbox_inches="tight"), "wb")
    plt.close(fig)
    return path


def _x_axis(d):
    a = d.grid.alphas
    if a.shape[1] == 2:
        return a[:, 0], "w = α_0 share (α = (w, 1 − w))"
    return np.linspace(0, 1, len(a)), "t along α*(g0) → α*(g1)"


def place_marker_labels(ax, items, *, y: float = 1.01, fontsize: float = 8) -> list:
    """Text labels above ``ax`` at data x positions that never overlap.

    ``items``: ``[(x, text), ...]``. Each label sits just above the axes (``y`` in axes
    fraction); a label whose box would intersect an already placed one moves up a row until
    it is clear. Returns the Text objects (their boxes: ``get_window_extent(renderer)``).
    """
    fig = ax.figure
    renderer = fig.canvas.get_renderer()
    placed: list = []
    for x, text in items:
        row = 0
        while True:
            t = ax.annotate(
                text,
                (x, y),
                xycoords=("data", "axes fraction"),
                xytext=(0, 1 + 11 * row),
                textcoords="offset points",
                fontsize=fontsize,
                ha="center",
                va="bottom",
                annotation_clip=False,
            )
            box = t.get_window_extent(renderer)
            if not any(box.overlaps(o.get_window_extent(renderer)) for o in placed):
                break
            t.remove()
            row += 1
        placed.append(t)
    return placed


def _alpha_markers(d) -> list[tuple[float | None, str, str]]:
    """``(x, label, linestyle)`` of the α given and the utility-optimal α on the figure's x axis.

    K > 2: the x axis is the segment α*(g0) → α*(g1); an α whose direction is not on it gets
    ``x = None`` (no marker: the nearest point would show values of another α).
    """
    out = []
    g = d.grid.alphas / d.grid.alphas.sum(1, keepdims=True)
    marks = [(d.alpha_given, "α given", "-."), (d.alpha_best, "utility-optimal α", "--")]
    seg = getattr(d, "alpha_segment_best", None)
    if seg is not None and not np.allclose(seg / seg.sum(), d.alpha_best / d.alpha_best.sum()):
        marks.append((seg, "best on the segment", ":"))
    for a, name, ls in marks:
        a = a / a.sum()
        if a.shape[0] == 2:
            out.append((float(a[0]), name, ls))
            continue
        start, step = g[0], g[-1] - g[0]
        t = float(np.clip(np.dot(a - start, step) / max(np.dot(step, step), 1e-300), 0.0, 1.0))
        on = np.abs(start + t * step - a).sum() <= 1e-6
        out.append((t if on else None, name if on else f"{name} {np.round(a, 3).tolist()}: off this segment", ls))
    return out


def terms_figure(d, path: Path, *, return_figure: bool = False):
    """Three panels along the α direction.

    Top: terms (4)/(5)/(6) as diverging stacked bars at each grid point (positive terms stacked
    up from 0, negative ones down — never areas stacked across a sign change) with the gap and
    its CI. Middle: each term with its CI. Bottom: Theorem 3.1 — |term (5)|, the bound at the
    best scale (unique) and at the scale as given, and the bound's three parts: a line where
    the split is unique, a band (range over the scales that minimise the bound) where it is not.
    ``return_figure``: return ``(fig, marker labels)`` instead of saving (for tests).
    """
    import matplotlib.pyplot as plt

    x, xlabel = _x_axis(d)
    dec = d.grid
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(9, 12), sharex=True)
    fig.subplots_adjust(hspace=0.35)
    width = 0.8 * (np.min(np.diff(x)) if len(x) > 1 else 1.0)
    pos = np.zeros(len(x))
    neg = np.zeros(len(x))
    for i, t in enumerate(("term4", "term5", "term6")):
        v = dec.terms[:, i]
        base = np.where(v >= 0, pos, neg)
        ax1.bar(x, v, width, bottom=base, color=TERM_COLORS[t], alpha=0.75, label=TERM_LABELS[t], linewidth=0)
        pos, neg = np.where(v >= 0, pos + v, pos), np.where(v < 0, neg + v, neg)
    ax1.plot(x, dec.terms[:, 3], color="k", lw=1.5, marker=".", ms=3, label="gap E1[U1] − E0[U0] (= sum of bars)")
    if np.isfinite(dec.ci[:, 3]).all():
        # The band sits behind the bars (it would grey them) and its edges are drawn on top:
        # bars drawn over the band would hide its lower edge where the terms add up above it.
        ci = f"gap {dec.level:.0%} CI"
        ax1.fill_between(
            x, dec.ci[:, 3, 0], dec.ci[:, 3, 1], color="k", alpha=0.12, lw=0, zorder=0.5, label=f"{ci} (band)"
        )
        for i, edge in enumerate(dec.ci[:, 3].T):
            ax1.plot(x, edge, color="k", ls="--", lw=1.0, zorder=3, label=None if i else f"{ci} edges, over the bars")
    ax1.axhline(0, color="grey", lw=0.5)
    ax1.set_ylabel("utility gap")
    g1, g0 = (d.group_names[g] for g in d.groups)
    ax1.set_title(
        f"{d.title}: gap {g1} (g1) − {g0} (g0) on {sample_text(d)}\n{pair_counts_text(d)}\n"
        f"terms as diverging stacked bars (+ up, − down); {_prefs_line(d)}",
        fontsize=10,
        pad=30,
    )
    for i, t in enumerate(("term4", "term5", "term6")):
        ax2.plot(x, dec.terms[:, i], color=TERM_COLORS[t], label=TERM_LABELS[t])
        if np.isfinite(dec.ci[:, i]).all():
            ax2.fill_between(x, dec.ci[:, i, 0], dec.ci[:, i, 1], color=TERM_COLORS[t], alpha=0.2)
    ax2.axhline(0, color="grey", lw=0.5)
    ax2.set_ylabel(f"term ({dec.level:.0%} bootstrap CI)")
    # Theorem 3.1: |term 5| against its bound at the best scale; parts as lines or ranges, not stacked.
    b = dec.bound
    if b.applies:
        rng = b.parts_range
        ax3.plot(x, b.optimal, color="k", lw=2, label="bound at the best scale (total: unique)")
        ax3.plot(x, b.given, color="k", ls=":", label="bound at α as given (scale 1)")
        flat = ~b.split_unique
        ax3.plot(x, b.optimal_parts[:, 0], color="tab:purple", lw=1.5, label="model residuals × |Δα*| (unique)")
        for i, part, col in ((1, "misspecification of g0", "tab:olive"), (2, "misspecification of g1", "tab:cyan")):
            # Unique split: a line; flat bound: the part's range over the minimising scales, drawn
            # as a vertical bar at each such grid point (and shaded between neighbouring ones).
            ax3.plot(
                x,
                np.where(flat, np.nan, b.optimal_parts[:, i]),
                color=col,
                lw=1.5,
                marker=".",
                ms=3,
                label=f"{part}: line where the split is unique",
            )
            ax3.fill_between(x, rng[:, i, 0], rng[:, i, 1], where=flat, color=col, alpha=0.3, lw=0)
            ax3.vlines(
                x[flat],
                rng[flat, i, 0],
                rng[flat, i, 1],
                color=col,
                lw=1.5,
                label=f"{part}: range over the minimising scales (split not unique)",
            )
        ax3.set_title(
            "Theorem 3.1 at the best scale of α: parts are lines where one scale minimises the bound,\n"
            "bands (range over all minimising scales) where the bound is flat and the split arbitrary",
            fontsize=9,
        )
    else:
        ax3.set_title("Theorem 3.1 does not apply: some scores are negative (it needs f >= 0)", fontsize=9)
    ax3.plot(x, np.abs(dec.terms[:, 1]), color=TERM_COLORS["term5"], lw=2, label="|term (5)|")
    if b.applies and np.isfinite(b.term5_max) and (np.any(b.vacuous) or np.any(d.points.bound.vacuous)):
        # "Vacuous" says the bound is at or above anything |term (5)| could be: show that ceiling.
        ax3.plot(
            x,
            np.full(len(x), b.term5_max),
            color="tab:red",
            ls="--",
            lw=1.5,
            label=f"largest |term (5)| possible ({b.term5_max:.4f}): a bound above it is vacuous",
        )
    ax3.set_ylabel("Theorem 3.1 bound and |term (5)|")
    ax3.set_xlabel(xlabel)
    markers = _alpha_markers(d)
    for ax in (ax1, ax2, ax3):
        for xv, _, ls in markers:
            if xv is not None:
                ax.axvline(xv, color="grey", ls=ls, lw=1)
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    labels = place_marker_labels(ax1, [(xv, name) for xv, name, _ in markers if xv is not None])
    off = [name for xv, name, _ in markers if xv is None]
    if off:
        ax3.annotate("; ".join(off) + " (not marked)", (0, -0.22), xycoords="axes fraction", fontsize=8)
    if return_figure:
        return fig, labels
    return _savefig(fig, path)


def overlap_figure(d, path: Path, *, return_figure: bool = False):
    """Histogram of S_X weights per group (log x), with the overlap diagnostics; counts are
    sessions (or simulated users), each group's legend entry names the real users behind them.
    ``return_figure``: return the figure instead of saving it (for tests)."""
    import matplotlib.pyplot as plt

    w = d.weights
    fig, ax = plt.subplots(figsize=(7, 4))
    grp, groups = w.weights, d.group
    pos = grp[grp > 0]
    lo_edge = max(pos.min(), 1e-4) if len(pos) else 1e-4
    bins = np.logspace(np.log10(lo_edge), np.log10(max(pos.max(), lo_edge * 1.01)), 50) if len(pos) else 10
    for g, col in zip(d.groups, ("tab:blue", "tab:orange"), strict=True):
        v = grp[(groups == g)]
        # Outlines, not filled bars: neither group hides the other. Weights below the first bin
        # edge (zeros included) are counted in the first bin instead of silently dropped.
        name = d.group_names[g]
        ax.hist(
            np.maximum(v, lo_edge),
            bins=bins,
            histtype="step",
            lw=1.5,
            color=col,
            label=d.population.group_text(name),
        )
    ax.set_xscale("log")
    _readable_log_ticks(ax, lo_edge, max(pos.max(), lo_edge * 1.01) if len(pos) else 1.0)
    ax.set_xlabel(
        f"S_X weight h(x) (mean 1 over both groups; first bin holds every weight < {lo_edge:.2g}, zeros included)",
        fontsize=9,
    )
    unit = d.population.unit
    ax.set_ylabel(unit)
    g1, g0 = (d.group_names[g] for g in d.groups)
    ax.set_title(
        f"{d.title}: shared space S_X of {g1} (g1) and {g0} (g0) on {sample_text(d)}\n"
        f"overlap {w.overlap:.3f}, ESS {w.ess:,.0f} {unit} ({percent(float(w.ess_fraction))}), negligible "
        f"{percent(float(w.negligible_share))} of {unit}\n{_prefs_line(d)}",
        fontsize=9,
    )
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    if return_figure:
        return fig
    return _savefig(fig, path)


def _readable_log_ticks(ax, lo: float, hi: float) -> None:
    """Log-x ticks that can be read whatever the range: decades when it spans one or more,
    else ~5 plain numbers (a range like 0.92–1.04 gets 0.92, 0.95, 0.98, 1.01, 1.04 —
    matplotlib's default would print minor ticks as overlapping 9.2×10⁻¹ …)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

    if hi / lo >= 10:
        return  # decades: matplotlib's default log ticks are readable
    ticks = np.geomspace(lo, hi, 5)
    step = 10.0 ** np.floor(np.log10(max(np.min(np.diff(ticks)), 1e-300)))
    ticks = np.unique(np.round(ticks / step) * step)
    digits = max(0, int(-np.log10(step)))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.{digits}f}"))


def attribution_figure(d, path: Path, *, return_figure: bool = False):
    """Shapley shares of the gap (and of the utility loss) with bootstrap CIs, at the α given and
    the utility-optimal α; the verdict of each under its panel's legend (outside the bars).
    ``return_figure``: return the figure instead of saving it (for tests)."""
    import matplotlib.pyplot as plt

    comps = ("retrieval", "scoring", "serving", "residual")
    # Constrained layout keeps the (three-line) suptitle, the panel titles and the legends below
    # the panels apart; fixed margins let the suptitle run into the panel titles.
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
    width = 0.38
    xs = np.arange(len(comps))
    for j, (name, lab) in enumerate((("given", "α given"), ("best", "utility-optimal α"))):
        at = d.attribution[name]
        for ax, keys, shares, cis in (
            (axes[0], comps, at.gap_shares, at.gap_share_ci),
            (axes[1], comps[:3], at.loss_shares, at.loss_share_ci),
        ):
            est = np.array([shares[c] for c in keys])
            ci = np.array([cis.get(c, (np.nan, np.nan)) for c in keys])
            err = np.abs(np.stack([est - ci[:, 0], ci[:, 1] - est])) if np.isfinite(ci).all() else None
            if ax is axes[0]:
                gci = "" if not np.isfinite(at.gap_ci[0]) else f" [{at.gap_ci[0]:+.4f}, {at.gap_ci[1]:+.4f}]"
                label = f"{lab} {np.round(at.alpha, 3).tolist()}: gap {at.gap:+.4f}{gci}\n  → {at.verdict[1]}"
            else:
                label = lab
            ax.bar(
                xs[: len(keys)] + (j - 0.5) * width,
                est,
                width,
                yerr=err,
                capsize=3,
                label=label,
                color=("tab:blue", "tab:orange")[j],
                alpha=0.8,
            )
    for ax, title in zip(
        axes,
        (
            f"share of the gap (Shapley; + residual), {d.attribution['given'].level:.0%} CI",
            "share of the utility loss vs full oracle",
        ),
        strict=True,
    ):
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), borderaxespad=0, frameon=False)
    axes[0].set_xticks(xs, comps)
    axes[1].set_xticks(xs[:3], comps[:3])
    g1, g0 = (d.group_names[g] for g in d.groups)
    fig.suptitle(
        f"{d.title}: component attribution (oracle retrieval / scoring / serving), {g1} (g1) vs {g0} (g0)\n"
        f"on {sample_text(d)}: {pair_counts_text(d)}\n{_prefs_line(d)}",
        fontsize=10,
    )
    if return_figure:
        return fig
    return _savefig(fig, path)


def sample_text(d) -> str:
    """What the sample is: ``"20,000 sessions drawn from 943 logged users"`` (as
    :meth:`~jaxfair.scenarios.base.Scenario.sample_size` says), or ``"2,000 simulated users"``
    where each session is a generated user (its ``source_users`` is None)."""
    if d.population.simulated:
        return f"{d.n_users:,} {d.population.unit}"
    return d.sample["text"] if d.sample else f"{d.n_users:,} sessions"


def pair_counts_text(d) -> str:
    """``"tech: 4,020 sessions of 191 logged users; other: …"`` for g1 and g0."""
    return d.population.pair_text([d.group_names[g] for g in d.groups])


def _prefs_line(d) -> str:
    """``prefs: a=(0.8,0.2) b=(0.2,0.8)``: the preference rows every term rests on (SPEC §9)."""
    return prefs_title(d.group_names, d.scenario.prefs)


def prefs_set_figure(d, path: Path, *, return_figure: bool = False):
    """Spread of each term over the preference set at the two marked α: one strip (every member a
    dot) per term with a box of its quartiles, member 0 (the point) as a black diamond, and each
    term's verdict robustness in the tick label."""
    import matplotlib.pyplot as plt

    ps = d.prefs_set
    tab = ps.table
    labels = {s["point"] + "/" + s["term"]: s["label"] for s in ps.statements}
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    rng = np.random.default_rng(0)
    for ax, (point, name) in zip(axes, (("given", "α given"), ("best", "utility-optimal α")), strict=True):
        alpha = np.round(d.points.alphas[0 if point == "given" else 1], 3).tolist()
        ticks = []
        for i, t in enumerate(("term4", "term5", "term6", "gap")):
            sub = tab[(tab["point"] == point) & (tab["term"] == t)].sort_values("member")
            v = sub["estimate"].to_numpy()
            col = TERM_COLORS.get(t, "k")
            ax.boxplot([v], positions=[i], widths=0.5, showfliers=False, medianprops={"color": col})
            ax.scatter(i + rng.uniform(-0.18, 0.18, len(v)), v, s=8, color=col, alpha=0.5, lw=0)
            ax.scatter(
                [i], [v[0]], marker="D", s=36, color="k", zorder=3, label="member 0 (the prefs)" if i == 0 else None
            )
            lab = labels.get(f"{point}/{t}", "")
            verdict = sub["verdict"].iloc[0]
            short = (
                "robust"
                if lab.startswith("robust")
                else lab.replace(" of the preference set", "").replace("holds for ", "")
            )
            ticks.append(f"{t}\n{verdict}\n{short}")
        ax.axhline(0, color="grey", lw=0.5)
        ax.set_xticks(range(4), ticks, fontsize=8)
        ax.set_title(f"{name} {alpha}", fontsize=10)
    axes[0].set_ylabel("estimate (each dot: one member)")
    axes[0].legend(fontsize=8, loc="best")
    g1, g0 = (d.group_names[g] for g in d.groups)
    fig.suptitle(
        f"{d.title}: terms over the preference set ({ps.prefs_set.kind}, {ps.prefs_set.n_members} members), "
        f"{g1} (g1) vs {g0} (g0)\nspread over the set, not a CI; tick: member 0's verdict and the share of members "
        "giving it",
        fontsize=9,
    )
    fig.tight_layout()
    if return_figure:
        return fig
    return _savefig(fig, path)
