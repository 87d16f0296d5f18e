"""Figures of an impression log's off-policy surface (:mod:`jaxfair.surface.offpolicy`).

What the log cannot tell is drawn as such: a not-identified α has no point estimate, so curves
break there (no line across it) and the region is hatched; CIs are bands; the title names the
estimator, the logging policy, the sessions and the CI's level and resampling; a slate's figure
states the independent-position assumption beside it.
"""

from __future__ import annotations

import numpy as np
from matplotlib.ticker import FuncFormatter, LogLocator

from jaxfair.surface.figures import _mpl, prefs_line
from jaxfair.surface.offpolicy import OffPolicySurface
from jaxfair.surface.simplex_figures import _mark, _triangle, _xy
from jaxfair.utils.alpha_names import alpha_columns
from jaxfair.utils.percent import percent

__all__ = ["plot_offpolicy_direction", "plot_offpolicy_simplex", "plot_offpolicy_simplex_set"]

_HATCH = dict(hatch="///", facecolor="none", edgecolor="0.55", linewidth=0.0)


def _title(surface: OffPolicySurface, what: str) -> str:
    s = surface.summary
    est = s["estimator"].upper() + (" (default)" if s.get("estimator_chosen") == "default" else "")
    clip = "" if s.get("clip") is None else f", weights clipped at {s['clip']:g}"
    lines = [
        f"{surface.title}: {what} — off-policy {est}{clip}",
        f"logging: {s['logging']['text']}; {s['sample']['text']}",
        f"{100 * s['level']:.0f} % CIs (bootstrap over users, {s['n_boot']} resamples); identified for every group: "
        f"{percent(s['grid']['n_alpha'] - s['not_identified']['n_not_identified'], s['grid']['n_alpha'])} of "
        f"{s['grid']['n_alpha']} α",
        prefs_line(surface),
    ]
    if s.get("slate", 1) > 1:
        v = s["position_weights"]
        lines.append(
            f"slate of {s['slate']}, position weights v = ({', '.join(f'{x:.3g}' for x in v)}): utility = Σ_r v_r "
            f"α*(g)·Y, up to {sum(v):.3g}"
        )
        lines.append(s["slate_assumption"])
    return "\n".join(lines)


def _tie_text(best: dict) -> str:
    """How far "best" is backed: the identified α the log cannot tell from it (paired bootstrap)."""
    tie = best.get("indistinguishable")
    if not tie:
        return ""
    if tie["n"] <= 1:
        return "; ahead of every other identified α" + (
            "; at the edge of the identified region" if best.get("at_edge") else ""
        )
    span = f", w {tie['w_range'][0]:.2f} to {tie['w_range'][1]:.2f}" if "w_range" in tie else ""
    edge = "; at the edge of the identified region" if best.get("at_edge") else ""
    return f";\nthe log cannot tell it from {tie['n'] - 1} other identified α{span}{edge}"


def _runs(bad: np.ndarray) -> list[tuple[int, int]]:
    """``[(start, end)]`` index runs where ``bad`` is True (inclusive)."""
    runs, start = [], None
    for i, b in enumerate(bad):
        if b and start is None:
            start = i
        if not b and start is not None:
            runs.append((start, i - 1))
            start = None
    if start is not None:
        runs.append((start, len(bad) - 1))
    return runs


def _hatch_w(ax, w: np.ndarray, bad: np.ndarray):
    step = (w[1] - w[0]) if len(w) > 1 else 1.0
    handle = None
    for a, b in _runs(bad):
        handle = ax.axvspan(w[a] - step / 2, w[b] + step / 2, **_HATCH)
    return handle


def _band(ax, w, t, col: str, color, label: str):
    ax.fill_between(w, t[f"{col}_ci_low"], t[f"{col}_ci_high"], color=color, alpha=0.2, linewidth=0)
    (line,) = ax.plot(w, t[col], color=color, lw=1.6, label=label)
    return line


def plot_offpolicy_direction(surface: OffPolicySurface):
    """K = 2: along w, (a) each group's utility, (b) global utility, (c) DER and the worst/best
    ratio, each with its CI band, and (d) each group's ESS against the threshold; the
    not-identified region hatched in every panel, the best identified w marked."""
    plt = _mpl()
    t, s, groups = surface.table, surface.summary, surface.group_names
    w = t["w"].to_numpy(np.float64)
    bad = ~t["identified"].to_numpy(bool)
    fig, axes = plt.subplots(2, 2, figsize=(13, 9.2), layout="constrained", sharex=True)
    (a, b), (c, d) = axes
    lines = [_band(a, w, t, f"utility_{g}", f"C{i}", f"{g}") for i, g in enumerate(groups)]
    a.set_ylabel("group utility (estimate, CI band)")
    _band(b, w, t, "global_utility", "k", "global utility")
    set_line = None
    if surface.over_set is not None:  # how the estimate moves over the preference set (not a CI)
        o = surface.over_set
        (set_line,) = b.plot(w, o["utility_min"], color="tab:blue", ls="--", lw=1)
        b.plot(w, o["utility_max"], color="tab:blue", ls="--", lw=1)
    b.set_ylabel("global utility (population-weighted)")
    _band(c, w, t, "der", "tab:purple", "DER")
    _band(c, w, t, "worst_best_ratio", "tab:olive", "worst/best group utility")
    c.set_ylabel("DER  /  worst/best ratio")
    c.legend(fontsize=8, loc="lower left")
    for i, g in enumerate(groups):
        d.plot(w, np.maximum(t[f"ess_{g}"].to_numpy(np.float64), 1e-1), color=f"C{i}", lw=1.4, label=f"ESS {g}")
    d.axhline(s["thresholds"]["min_ess"], color="k", ls=":", lw=1, label=f"min ESS {s['thresholds']['min_ess']:g}")
    d.set_yscale("log")
    d.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    d.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    d.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: ""))
    d.set_ylabel("effective sample size (ESS)")
    d.legend(fontsize=8, loc="best")
    hatch = None
    for ax in axes.ravel():
        hatch = _hatch_w(ax, w, bad) or hatch
        ax.grid(alpha=0.3)
    for ax in (c, d):
        ax.set_xlabel(f"w  (α = (w, 1 − w) on ({', '.join(surface.alpha_names)}))")
    handles, names = list(lines), list(groups)
    best = s["best_utility"]
    if best is not None:
        for ax in axes.ravel():
            ax.axvline(best["w"], color="tab:red", ls="--", lw=1)
        handles.append(plt.Line2D([], [], color="tab:red", ls="--"))
        u = best["utility"]
        names.append(
            f"best identified w = {best['w']:.3f}: utility {u['estimate']:.4f} "
            f"[{u.get('ci_low', np.nan):.4f}, {u.get('ci_high', np.nan):.4f}]" + _tie_text(best)
        )
    if set_line is not None:  # in the figure's legend: inside the panel it would cover the band
        ps = s.get("prefs_set") or {}
        handles.append(set_line)
        names.append(
            f"global utility: min / max over the preference set\n({ps.get('kind', '?')}, "
            f"{ps.get('n_members', '?')} members; point estimates, not a CI)"
        )
    if hatch is not None:
        handles.append(hatch)
        names.append(
            "not identified for every group (no global estimate; a group's curve breaks where it is not\n"
            "identified): ESS below the threshold or support-deficient"
        )
    fig.legend(handles, names, fontsize=8.5, loc="outside lower center", ncols=2)
    if best is None:
        a.text(0.5, 0.5, "no α is identified for every group:\nnothing is recommended", transform=a.transAxes,
               ha="center", va="center", fontsize=10, color="tab:red")  # fmt: skip
    fig.suptitle(_title(surface, "utility and fairness along w"), fontsize=10)
    return fig


def _simplex_cells(surface: OffPolicySurface, table):
    """The simplex grid of ``table`` (``[P]`` rows of α): its triangulation, the identified α and the
    cells with a not-identified corner (no estimate there)."""
    import matplotlib.tri as mtri

    names = surface.alpha_names
    x, y = _xy(table[alpha_columns(names)].to_numpy(np.float64))
    tri = mtri.Triangulation(x, y)
    ok = table["identified"].to_numpy(bool)
    return tri, x, y, ok, ~ok[tri.triangles].all(axis=1)


def _estimate_panel(fig, ax, cells, z, cmap: str, title: str, names):
    """One simplex panel of an estimate ``z [P]``: identified cells coloured, the others hatched; returns
    ``(colour mapping or None, hatch artist or None)``."""
    import matplotlib.tri as mtri
    from matplotlib.collections import PolyCollection

    tri, x, y, ok, tri_bad = cells
    fine = np.isfinite(z) & ok
    im = hatch = None
    if fine.any():
        filled = np.where(fine, z, np.nanmean(z[fine]))
        sub = mtri.Triangulation(x, y, tri.triangles, mask=tri_bad)
        im = ax.tripcolor(sub, filled, shading="gouraud", cmap=cmap, vmin=z[fine].min(), vmax=z[fine].max())
        # An identified α that is no corner of a coloured cell would vanish under the hatching: a dot in its colour.
        orphan = fine.copy()
        orphan[tri.triangles[~tri_bad].ravel()] = False
        if orphan.any():
            ax.scatter(x[orphan], y[orphan], c=z[orphan], cmap=cmap, norm=im.norm, s=14, edgecolors="0.3",
                       linewidths=0.4, zorder=4)  # fmt: skip
    verts = np.stack([x[tri.triangles], y[tri.triangles]], axis=-1)[tri_bad]
    if len(verts):
        hatch = ax.add_collection(PolyCollection(verts, **_HATCH))
    _triangle(ax, names)
    ax.set_title(title, fontsize=10)
    if im is not None:
        fig.colorbar(im, ax=ax, shrink=0.7, pad=0.02)
    return im, hatch


_HATCH_TEXT = (
    "not identified (no estimate): ESS below the threshold or support-deficient; "
    "dots: identified α with no identified cell around them"
)


def plot_offpolicy_simplex(surface: OffPolicySurface):
    """K = 3: global utility, DER and the smallest group ESS over the simplex; not-identified
    cells hatched (no colour: no estimate there), the best identified α marked."""
    plt = _mpl()
    t, s, names = surface.table, surface.summary, surface.alpha_names
    cells = _simplex_cells(surface, t)
    tri = cells[0]
    ess_min = np.min(np.stack([t[f"ess_{g}"].to_numpy(np.float64) for g in surface.group_names]), axis=0)
    fig, axes = plt.subplots(1, 3, figsize=(16, 6.2), layout="constrained")
    best = s["best_utility"]
    hatch = None
    for ax, col, cmap, title in (
        (axes[0], "global_utility", "viridis", "global utility (identified cells)"),
        (axes[1], "der", "magma", "DER (identified cells)"),
    ):
        _, h = _estimate_panel(fig, ax, cells, t[col].to_numpy(np.float64), cmap, title, names)
        hatch = h or hatch
    ax = axes[2]
    z = np.log10(np.maximum(ess_min, 1e-1))
    im = ax.tripcolor(tri, z, shading="gouraud", cmap="cividis")
    level = np.log10(s["thresholds"]["min_ess"])
    if z.min() < level < z.max():
        ax.tricontour(tri, z, levels=[level], colors="tab:red", linewidths=1)
    _triangle(ax, names)
    ax.set_title("smallest group ESS (log10), every cell", fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.7, pad=0.02)
    handles, labels = [], []
    if best is not None:
        for ax in axes:
            mark = _mark(ax, np.array([best["alpha"][n] for n in names]), "*", "w", 240)
        u = best["utility"]
        handles.append(mark)
        labels.append(
            f"best identified α: utility {u['estimate']:.4f} [{u.get('ci_low', np.nan):.4f}, "
            f"{u.get('ci_high', np.nan):.4f}], DER {best['der']['estimate']:.4f}" + _tie_text(best)
        )
    if hatch is not None:
        handles.append(hatch)
        labels.append(_HATCH_TEXT.replace("threshold", "threshold (red line)"))
    if handles:
        fig.legend(handles, labels, loc="outside lower center", fontsize=9, ncols=1)
    fig.suptitle(_title(surface, "utility and fairness over the simplex of α"), fontsize=10)
    return fig


def plot_offpolicy_simplex_set(surface: OffPolicySurface):
    """K = 3 over a preference set: the median global utility and the smallest DER over the set's members at
    every identified α (the point estimates, not CIs), not-identified cells hatched, the α with the best
    median marked."""
    plt = _mpl()
    o, s, names = surface.over_set, surface.summary, surface.alpha_names
    cells = _simplex_cells(surface, o)
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 6.2), layout="constrained")
    hatch = None
    q = s["prefs_set"]["n_members"]
    for ax, col, cmap, title in (
        (axes[0], "utility_median", "viridis", f"median global utility over the {q} members (identified cells)"),
        (axes[1], "der_min", "magma", f"smallest DER over the {q} members (identified cells)"),
    ):
        _, h = _estimate_panel(fig, ax, cells, o[col].to_numpy(np.float64), cmap, title, names)
        hatch = h or hatch
    handles, labels = [], []
    at = (s.get("over_set") or {}).get("best_median_utility")
    if at is not None:
        for ax in axes:
            mark = _mark(ax, np.array([at[c] for c in alpha_columns(names)]), "*", "w", 240)
        handles.append(mark)
        labels.append(
            f"best identified median utility: {at['utility_median']:.4f} (min {at['utility_min']:.4f}, max "
            f"{at['utility_max']:.4f} over the set); DER min {at['der_min']:.4f} — point estimates, not CIs"
        )
    if hatch is not None:
        handles.append(hatch)
        labels.append(_HATCH_TEXT)
    if handles:
        fig.legend(handles, labels, loc="outside lower center", fontsize=9, ncols=1)
    fig.suptitle(_title(surface, "over the preference set, on the simplex of α"), fontsize=10)
    return fig
