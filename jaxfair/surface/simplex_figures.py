"""Figures of a K ≥ 3 surface: ternary heat-maps (K = 3) and, for K ≥ 4, the utility–DER
frontier with the best α per DER level and the per-label marginal curves."""

from __future__ import annotations

import numpy as np

from jaxfair.preferences.prefset import point_name
from jaxfair.surface.compute import Surface
from jaxfair.surface.figures import (
    _has_provider,
    _mpl,
    flat_line,
    prefs_line,
    sample_text,
    set_line,
    slate_title_lines,
)
from jaxfair.surface.sensitivity import alpha_text
from jaxfair.utils.alpha_names import alpha_axis, alpha_columns

__all__ = ["plot_frontier", "plot_marginals", "plot_simplex", "plot_simplex_set"]

_H = np.sqrt(3.0) / 2.0


def _xy(alphas) -> tuple[np.ndarray, np.ndarray]:
    """Ternary coordinates: label 0 at (0, 0), label 1 at (1, 0), label 2 at (½, √3/2)."""
    a = np.asarray(alphas, np.float64).reshape(-1, 3)
    a = a / a.sum(axis=1, keepdims=True)
    return a[:, 1] + 0.5 * a[:, 2], _H * a[:, 2]


# Where each α_k is read: α_k = t is a line parallel to the edge opposite corner k; its value
# is written where that line meets the next edge going round the triangle (label k's edge).
_TICKS = (0.2, 0.4, 0.6, 0.8)


def _triangle(ax, labels) -> None:
    """Outline, light lines every 0.2 of each α_k, tick values on the edges (each edge measures
    one α_k, in that label's colour, named along the edge) and the corners named (α_k = 1 there)."""
    ax.plot([0, 1, 0.5, 0], [0, 0, _H, 0], color="k", lw=1)
    for t in _TICKS:
        for k in range(3):  # the line α_k = t, between the two edges that meet away from corner k
            ends = []
            for j in range(3):
                if j != k:
                    e = np.zeros(3)
                    e[k], e[j] = t, 1 - t
                    ends.append(e)
            x, y = _xy(np.array(ends))
            ax.plot(x, y, color="w", lw=0.5, alpha=0.5)
    for k in range(3):
        _edge_ticks(ax, k, labels[k])
    for name, (x, y, va) in zip(labels, ((0, -0.1, "top"), (1, -0.1, "top"), (0.5, _H + 0.03, "bottom")), strict=True):
        ax.text(x, y, f"{name}\n(α = 1)" if va == "top" else f"{name} (α = 1)", ha="center", va=va, fontsize=8)
    ax.set_xlim(-0.2, 1.2)
    ax.set_ylim(-0.22, _H + 0.1)
    ax.set_aspect("equal")
    ax.axis("off")


# Per α_k: the edge carrying its ticks (the corner k' it runs towards, with α_k + α_k' = 1 on
# it), the tick's outward offset and the text alignment; the edge's name sits at its middle.
_EDGES = {
    1: (0, (0.0, -0.035), "center", "top", 0.0),  # α_1 on the bottom edge (corner 0 → corner 1)
    2: (1, (0.035, 0.0), "left", "center", -60.0),  # α_2 on the right edge (corner 1 → corner 2)
    0: (2, (-0.035, 0.0), "right", "center", 60.0),  # α_0 on the left edge (corner 2 → corner 0)
}


def _edge_ticks(ax, k: int, name: str) -> None:
    other, (dx, dy), ha, va, rot = _EDGES[k]
    color = f"C{k}"
    for t in _TICKS:
        a = np.zeros(3)
        a[k], a[other] = t, 1.0 - t
        x, y = _xy(a[None])
        ax.plot([x[0], x[0] + dx / 2], [y[0], y[0] + dy / 2], color=color, lw=0.8)
        ax.text(x[0] + dx, y[0] + dy, f"{t:g}", ha=ha, va=va, fontsize=6.5, color=color)
    a = np.zeros(3)
    a[k], a[other] = 0.5, 0.5
    x, y = _xy(a[None])
    ax.text(
        x[0] + 3.6 * dx,
        y[0] + 3.6 * dy,
        # Rotated text reads along the edge; the arrow points the way α_k grows (to corner k).
        f"{alpha_axis(name)} →" if k == 1 else f"← {alpha_axis(name)}",
        ha="center",
        va="center",
        rotation=rot,
        fontsize=7,
        color=color,
    )


def _heat(fig, ax, alphas, z, cmap, title, labels):
    import matplotlib.tri as mtri

    x, y = _xy(alphas)
    im = ax.tripcolor(mtri.Triangulation(x, y), np.asarray(z, np.float64), shading="gouraud", cmap=cmap)
    _triangle(ax, labels)
    ax.set_title(title, fontsize=10)
    fig.colorbar(im, ax=ax, shrink=0.7, pad=0.02)


def _mark(ax, alpha, marker, color, size=180):
    x, y = _xy(np.asarray(alpha)[None])
    return ax.scatter(x, y, marker=marker, s=size, color=color, edgecolors="k", linewidths=1, zorder=5)


def _alpha_of(record: dict, labels) -> np.ndarray:
    return np.array([record["alpha"][n] for n in labels])


def _decimals(a: float, b: float, least: int = 4, most: int = 8) -> int:
    """Fewest decimals (>= ``least``) that print ``a`` and ``b`` differently (DER 0.9998 vs
    0.9999 both read "1.000" at 3)."""
    for d in range(least, most + 1):
        if f"{a:.{d}f}" != f"{b:.{d}f}":
            return d
    return least


def plot_simplex(surface: Surface):
    """K = 3: utility, DER and worst/best group utility over the simplex (and provider DER with
    provider groups, as the K = 2 surface), best α's marked; a slate's title says k, the
    position weights and what a utility is."""
    plt = _mpl()
    s, t, labels = surface.summary, surface.simplex, surface.alpha_names
    alphas = t[alpha_columns(labels)].to_numpy()
    provider = _has_provider(t)
    panels = [
        ("utility", "viridis", "global utility"),
        ("der", "magma", "viewer DER (1 = equal utility)" if provider else "DER (1 = equal utility)"),
        ("worst_best_ratio", "cividis", "worst/best group utility"),
    ]
    if provider:
        panels.append(("provider_der", "plasma", "provider DER (1 = exposure ∝ merit)"))
        fig, axes = plt.subplots(2, 2, figsize=(13.5, 11.0), layout="constrained")
        axes = axes.ravel()
    else:
        fig, axes = plt.subplots(1, 3, figsize=(16, 5.8), layout="constrained")
    bu, bd = s["best_utility"], s["best_der"]
    for ax, (col, cmap, title) in zip(axes, panels, strict=True):
        _heat(fig, ax, alphas, t[col], cmap, title, labels)
        if s["flat"] is None:  # a flat surface has no best α to mark
            hu = _mark(ax, _alpha_of(bu, labels), "*", "w", 260)
            hd = _mark(ax, _alpha_of(bd, labels), "D", "tab:red", 80)
    if s["flat"] is not None:
        fig.text(0.5, 0.0, flat_line(s), ha="center", va="bottom", fontsize=9)
        fig.suptitle(
            f"{surface.title}: utility and fairness over the simplex of α ({sample_text(s)}; "
            f"{s['grid']['n_alpha']:,} α, step {s['grid']['step']:.3g})\n{prefs_line(surface)}{slate_title_lines(s)}",
            fontsize=11,
        )
        return fig
    # Enough decimals to tell the two α's DER (and ratio) apart: 0.9998 vs 0.9999, not 1.000 twice.
    dd = _decimals(bu["der"], bd["der"])
    dr = _decimals(bu["worst_best_ratio"], bd["worst_best_ratio"], least=3)
    prov = {}
    if provider:
        iu, idd = int(np.nanargmax(t["utility"])), int(np.nanargmax(t["der"]))  # the marked α's rows
        pv = t["provider_der"].to_numpy()
        dp = _decimals(pv[iu], pv[idd])
        prov = {"u": f", provider DER {pv[iu]:.{dp}f}", "d": f", provider DER {pv[idd]:.{dp}f}"}
    fig.legend(
        [hu, hd],
        [
            f"best utility α = {alpha_text(_alpha_of(bu, labels), labels)}: utility {bu['utility']:.4f}, "
            f"DER {bu['der']:.{dd}f}, worst/best {bu['worst_best_ratio']:.{dr}f}{prov.get('u', '')}",
            f"DER-best α = {alpha_text(_alpha_of(bd, labels), labels)}: utility {bd['utility']:.4f}, "
            f"DER {bd['der']:.{dd}f}, worst/best {bd['worst_best_ratio']:.{dr}f}{prov.get('d', '')}",
        ],
        loc="outside lower center",
        fontsize=9,
        ncols=1,
    )
    fig.suptitle(
        f"{surface.title}: utility and fairness over the simplex of α ({sample_text(s)}; "
        f"{s['grid']['n_alpha']:,} α, step {s['grid']['step']:.3g})\n{prefs_line(surface)}{slate_title_lines(s)}",
        fontsize=11,
    )
    return fig


def plot_simplex_set(surface: Surface):
    """K = 3 over a preference set: median utility and robust DER over the simplex, with where
    each member's optimum lands (circles sized by the number of members) and the robust choice."""
    plt = _mpl()
    s, t, o, labels = surface.summary, surface.over_set, surface.optima, surface.alpha_names
    alphas = t[alpha_columns(labels)].to_numpy()
    qn = s["prefs_set"]["n_members"]
    fig, axes = plt.subplots(1, 2, figsize=(12.5, 6.2), layout="constrained")
    rc = s["robust_choice"]
    handles = []
    for ax, col, cmap, title, key in (
        (axes[0], "utility_median", "viridis", "median utility over the preference set", "best_utility"),
        (axes[1], "robust_der", "magma", "robust DER (min over the preference set)", "best_der"),
    ):
        _heat(fig, ax, alphas, t[col], cmap, title, labels)
        pts = o[alpha_columns(labels, prefix=f"{key}_alpha")].to_numpy()
        u, c = np.unique(pts.round(9), axis=0, return_counts=True)
        x, y = _xy(u)
        what = "best-utility" if key == "best_utility" else "DER-best"
        # One marker per meaning: the members' best-utility α (cyan circles) and their DER-best
        # α (green squares) are different points, so they never share a legend symbol.
        marker, edge = ("o", "tab:cyan") if key == "best_utility" else ("s", "tab:green")
        h1 = ax.scatter(
            x, y, s=20 + 200 * c / c.max(), marker=marker, facecolors="none", edgecolors=edge, linewidths=1.5, zorder=4
        )
        h2 = _mark(ax, _alpha_of(s[key], labels), "*" if key == "best_utility" else "D", "k", 160)
        h3 = _mark(ax, rc["alpha"], "X", "tab:orange", 140)
        stmt = s["statements"][0 if key == "best_utility" else 1]
        ax.text(
            0.5, -0.17, f"{what} α at {point_name(s['prefs_set'])}: {stmt['label']}", ha="center", va="top", fontsize=8
        )
        handles += [
            (h1, f"members' own {what} α (size: how many of {qn})"),
            (h2, f"{what} α at {point_name(s['prefs_set'])}"),
        ]
    handles.append(
        (
            h3,
            f"robust choice α = {alpha_text(rc['alpha'], labels)} (q = {rc['q']:g}, τ = {rc['tau']:g}"
            + ("" if rc["feasible"] else "; infeasible: highest robust DER")
            + ")",
        )
    )
    fig.legend([h for h, _ in handles], [n for _, n in handles], loc="outside lower center", fontsize=8, ncols=2)
    fig.suptitle(
        f"{surface.title}: over the preference set ({sample_text(s)})\n{set_line(s)}; {prefs_line(surface)}"
        + slate_title_lines(s),
        fontsize=10,
    )
    return fig


def plot_frontier(surface: Surface):
    """K ≥ 4: every grid α as (DER, utility), the best-utility α per DER level numbered and listed."""
    plt = _mpl()
    s, t, f, labels = surface.summary, surface.simplex, surface.frontier, surface.alpha_names
    fig, (ax, tax) = plt.subplots(1, 2, figsize=(12.5, 6.2), layout="constrained", width_ratios=[2.2, 1])
    tax.axis("off")
    ax.scatter(t["der"], t["utility"], s=6, color="0.7", label=f"grid α ({len(t):,}, step {s['grid']['step']:.3g})")
    ax.plot(f["der"], f["utility"], color="tab:red", lw=1, zorder=3)
    # Consecutive levels that choose the same α are one point ("no floor … DER ≥ 0.99").
    acols = alpha_columns(labels)
    runs: list[list] = []
    for r in f.itertuples(index=False):
        level = {"none": "no floor", "max": "DER-best"}.get(r.der_level, f"DER ≥ {r.der_level}")
        a = np.array([getattr(r, c) for c in acols])
        if runs and np.array_equal(runs[-1][0], a):
            runs[-1][2] = level
        else:
            runs.append([a, level, level, r])
    lines = []
    for i, (a, first, last, r) in enumerate(runs, start=1):
        ax.scatter([r.der], [r.utility], color="tab:red", s=30, zorder=4)
        ax.annotate(str(i), (r.der, r.utility), textcoords="offset points", xytext=(4, 4), fontsize=8)
        level = first if first == last else f"{first} … {last}"
        lines.append(f"{i}: {level}:\n   α = {alpha_text(a, labels)}\n   utility {r.utility:.4f}, DER {r.der:.5f}")
    _zoom(ax, t, f, runs)
    ax.set_xlabel("DER (1 = equal utility)")
    ax.set_ylabel("global utility")
    ax.ticklabel_format(useOffset=False)  # DER near 1: full tick values, not an offset
    ax.legend(loc="lower left", fontsize=8)
    fl = s.get("frontier_levels")
    if fl:  # how the levels were chosen: from this grid's own DER range
        rule = (
            f"DER levels: {len(fl['levels'])} evenly spaced between the best-utility α's DER "
            f"{fl['der_at_best_utility']:.5f} and the largest DER {fl['der_max']:.5f}\n"
            f"(grid DER range {fl['der_min']:.5f} … {fl['der_max']:.5f}; lower floors choose the best-utility α)"
            if fl["kind"] == "grid range"
            else fl["rule"]
        )
        ax.set_title(rule, fontsize=8)
    tax.text(0.0, 1.0, "\n".join(lines), fontsize=8, va="top", ha="left", family="monospace", transform=tax.transAxes)
    fig.suptitle(
        f"{surface.title}: the best-utility α per DER level (K = {len(labels)}; {sample_text(s)})\n"
        f"{prefs_line(surface)}{slate_title_lines(s)}",
        fontsize=10,
    )
    return fig


def _zoom(ax, t, f, runs) -> None:
    """An inset on the frontier when it spans under a quarter of the grid's DER range (the
    levels crowd into a corner of the scatter, their numbers on top of each other)."""
    der = t["der"].to_numpy(np.float64)
    span_g = float(np.nanmax(der) - np.nanmin(der))
    lo, hi = float(f["der"].min()), float(f["der"].max())
    if not span_g or hi - lo >= 0.25 * span_g or len(runs) < 3:
        return
    ulo, uhi = float(f["utility"].min()), float(f["utility"].max())
    pad_x, pad_u = 0.08 * (hi - lo), 0.08 * max(uhi - ulo, 1e-12)
    ins = ax.inset_axes([0.04, 0.5, 0.46, 0.44])
    ins.scatter(t["der"], t["utility"], s=6, color="0.7")
    ins.plot(f["der"], f["utility"], color="tab:red", lw=1, zorder=3)
    for i, (_a, _first, _last, r) in enumerate(runs, start=1):
        ins.scatter([r.der], [r.utility], color="tab:red", s=24, zorder=4)
        ins.annotate(str(i), (r.der, r.utility), textcoords="offset points", xytext=(4, 3), fontsize=7)
    ins.set_xlim(lo - pad_x, hi + pad_x)
    ins.set_ylim(ulo - pad_u, uhi + pad_u)
    ins.ticklabel_format(useOffset=False)
    ins.tick_params(labelsize=6)
    ins.set_title("zoom on the frontier", fontsize=7)
    ax.indicate_inset_zoom(ins, edgecolor="0.4")


def plot_marginals(surface: Surface):
    """K ≥ 4: per score, the largest utility over the grid with α_k fixed, as α_k goes 0 → 1."""
    plt = _mpl()
    s, m = surface.summary, surface.marginals
    fig, ax = plt.subplots(figsize=(8.5, 5.2), layout="constrained")
    for name, part in m.groupby("score", sort=False):
        ax.plot(part["alpha"], part["max_utility"], marker="o", ms=3, label=alpha_axis(name))
    if s["flat"] is None:
        ax.axhline(s["best_utility"]["utility"], color="k", ls="--", lw=1, label="best utility over the grid")
    ax.set_xlabel("α_k, the weight of one score (the other weights free, Σα = 1)")
    ax.set_ylabel("largest global utility over the grid")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8)
    # A figure title (not the axes'): constrained layout fits it to the figure with the legend.
    fig.suptitle(
        f"{surface.title}: per-score marginal curves ({sample_text(s)})\n{prefs_line(surface)}"
        + slate_title_lines(s, wrap=True),
        fontsize=10,
    )
    return fig
