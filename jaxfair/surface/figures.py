"""Figures of a K = 2 surface: heat-maps over the α box, per-group curves along w, the provider
trade-off, and — over a preference set — bands along w and where each member's optimum lands."""

from __future__ import annotations

import numpy as np

from jaxfair.named_prefs import prefs_title
from jaxfair.preferences.prefset import point_name
from jaxfair.surface.compute import Surface
from jaxfair.utils.alpha_names import alpha_axis, alpha_column, alpha_columns

__all__ = [
    "plot_bands",
    "plot_optimum_spread",
    "plot_surface",
    "prefs_line",
    "sample_text",
    "set_line",
    "slate_line",
    "slate_title_lines",
]


def sample_text(summary: dict) -> str:
    """What stands behind the figures (e.g. "20,000 sessions drawn from 943 logged users")."""
    sample = summary.get("sample")
    return sample["text"] if sample else f"{summary['n_sessions']:,} sessions"


def slate_line(summary: dict) -> str:
    """Slates (k > 1): what is served and what a utility is, for titles; "" for top-1.

    A slate's utility is the position-weighted sum Σ_r v_r α*(g)·Y over its k items, so it runs
    up to Σ_r v_r (2.95 for 5 DCG ranks), not up to 1 as a top-1 utility: a title must say so.
    """
    k = int(summary.get("slate", 1))
    if k <= 1:
        return ""
    spec = summary.get("slate_spec") or {}
    w = [float(v) for v in summary.get("position_weights", spec.get("weights", []))]
    pw = spec.get("position_weights", "dcg")
    model = (
        {
            "dcg": "DCG 1/log2(1+r)",
            "uniform": "uniform",
            "geometric": f"geometric γ^(r−1), γ = {spec.get('gamma', 0.8):g}",
        }.get(pw, str(pw))
        if isinstance(pw, str)
        else "given"
    )
    return (
        f"slate of {k}, {model} position weights v = ({', '.join(f'{v:.3g}' for v in w)}); "
        f"utility = Σ_r v_r α*(g)·Y of the item at rank r, from 0 up to Σ v = {sum(w):.3g}"
    )


def slate_title_lines(summary: dict, *, wrap: bool = False) -> str:
    """:func:`slate_line` as the last line(s) of a title: ``"\n" + line`` for a slate, ``""`` for
    top-1. ``wrap``: break the line before "utility =" (narrow figures)."""
    line = slate_line(summary)
    if wrap:
        line = line.replace("; utility =", ";\nutility =")
    return f"\n{line}" if line else ""


def prefs_line(surface: Surface) -> str:
    record = surface.summary["prefs"]
    return prefs_title(list(record), [list(row.values()) for row in record.values()])


def set_line(summary: dict) -> str:
    """``"preference set: dirichlet (concentration 50) around the prefs, 256 members"``."""
    d = summary["prefs_set"]
    params = {k: v for k, v in d["params"].items() if k in ("concentration", "d", "path")}
    what = ", ".join(f"{k} {v}" for k, v in params.items())
    m0 = d["params"].get("member_0", "")
    # Say it when member 0 was added to (or moved within) the user's set: it is not the file's member 0.
    note = f",\nmember 0: {m0}" if "added" in m0 or "moved" in m0 else ""  # own line: titles stay narrow
    return f"preference set: {d['kind']}{f' ({what})' if what else ''}, {d['n_members']} members{note}"


def flat_line(summary: dict) -> str:
    """A flat surface's title line: what every α gives and why nothing is recommended."""
    f = summary["flat"]
    return (
        f"flat surface: every α gives utility {f['utility']:.4f}, DER {f['der']:.4f}, worst/best group utility "
        f"{f['worst_best_ratio']:.3f}; no α is recommended\n(because {f['reason']})"
    )


def _robust_w(surface: Surface) -> float | None:
    rc = surface.summary.get("robust_choice")
    return None if rc is None else float(rc["alpha"][0])


def _mpl():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _has_provider(table) -> bool:
    """Whether a surface table (``direction`` for K = 2, ``simplex`` for K = 3) has provider DER."""
    return "provider_der" in table.columns and bool(np.isfinite(table["provider_der"]).any())


def plot_surface(surface: Surface):
    """Figures: (1) utility and DER heat-maps side by side (and provider DER with provider
    groups); (2) per-group utility along w; with provider groups (3) the viewer-DER ×
    provider-DER trade-off along w (returned only then)."""
    plt = _mpl()
    l0, l1 = surface.alpha_names  # α weights the scores: its axes carry their names
    n = surface.n_grid
    box = surface.box.sort_values(alpha_columns([l0, l1]))
    extent = (0.0, 1.0, 0.0, 1.0)
    provider = _has_provider(surface.direction)
    k = int(surface.summary.get("slate", 1))
    panels = [("utility", "viridis", "global utility"), ("der", "magma", "viewer DER (1 = equal utility)")]
    if provider:
        panels.append(("provider_der", "cividis", "provider DER (1 = exposure ∝ merit)"))
    fig1, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.6), constrained_layout=True)
    for ax, (col, cmap, title) in zip(axes, panels, strict=True):
        z = box[col].to_numpy().reshape(n, n)  # rows: α_{l0}, columns: α_{l1}
        im = ax.imshow(z.T, origin="lower", extent=extent, aspect="equal", cmap=cmap)
        ax.set_xlabel(alpha_axis(l0))
        ax.set_ylabel(alpha_axis(l1))
        ax.set_title(title)
        fig1.colorbar(im, ax=ax, shrink=0.85)
        rw = _robust_w(surface)
        if rw is not None:  # the robust choice is a direction: every α on this ray serves alike
            top = max(rw, 1 - rw)
            ax.plot([0, rw / top], [0, (1 - rw) / top], color="w", ls="--", lw=1.2, label="robust choice (ray)")
            ax.legend(loc="upper right", fontsize=7, framealpha=0.6)
    best, flat = surface.summary["best_utility"], surface.summary["flat"]
    # One fact per line: a log's sample phrase ("2,000 sessions drawn from 240 logged users") on
    # the first line ran past both edges of a two-panel figure.
    at_best = (
        flat_line(surface.summary).rstrip("\n")
        if flat
        else f"at the best-utility α: DER {best['der']:.3f}, worst/best group utility {best['worst_best_ratio']:.3f}"
    )
    prefs = prefs_line(surface)
    fig1.suptitle(
        f"{surface.title}: {'utility, viewer and provider DER' if provider else 'utility and DER'} over the α box\n"
        f"{sample_text(surface.summary)}; α = 0 at the origin serves nothing: left blank\n"
        # ~11 characters of a 12-pt title per inch of figure width: the prefs go on their own line beyond
        + (f"{at_best}; {prefs}" if len(at_best) + len(prefs) + 2 <= 11 * 5.5 * len(panels) else f"{at_best}\n{prefs}")
        + slate_title_lines(surface.summary)
    )

    d = surface.direction
    # Two panels on one w axis, not a twin y axis: DER and utility have different units, and
    # curves drawn on two scales over one plot cross where nothing meets.
    fig2, (ax, ax2) = plt.subplots(
        2, 1, figsize=(8.5, 6.4), sharex=True, constrained_layout=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    for g in surface.group_names:
        ax.plot(d["w"], d[f"utility_{g}"], label=f"utility: {g}")
    ax.plot(d["w"], d["utility"], "k--", label="global utility")
    ax.set_ylabel("mean utility")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8)
    # A slate's utility is a position-weighted sum, not a probability: say its scale (as the heat-map does).
    slate = slate_title_lines(surface.summary, wrap=True)
    ax.set_title(
        f"{surface.title}: per-group utility along the direction of α\n{prefs_line(surface)}{slate}"
        + (f"\n{flat_line(surface.summary)}" if flat else ""),
        fontsize=9 if slate or flat else 10,
    )
    ax2.plot(d["w"], d["der"], color="tab:red", label="viewer DER" if provider else "DER")
    # DER is quadratic in the shares and stays near 1 for large gaps: the ratio shows the gap.
    ax2.plot(d["w"], d["worst_best_ratio"], color="tab:green", ls="--", label="worst/best group utility")
    if provider:
        ax2.plot(d["w"], d["provider_der"], color="tab:purple", ls=":", label="provider DER")
    rw = _robust_w(surface)
    if rw is not None:
        for a in (ax, ax2):
            a.axvline(rw, color="0.3", ls=":", lw=1.2, label=f"robust choice (w = {rw:.3f})" if a is ax2 else None)
    ax2.set_ylabel("DER, worst/best ratio (1 = equal)")
    ax2.set_xlabel(f"w  (α = (w, 1 − w) on ({l0}, {l1}))")
    ax2.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8)
    if not provider:
        return fig1, fig2
    fig3, ax = plt.subplots(figsize=(7.5, 5.2), constrained_layout=True)
    sc = ax.scatter(d["der"], d["provider_der"], c=d["w"], cmap="viridis", s=10)
    ax.plot(d["der"], d["provider_der"], color="0.7", lw=0.6, zorder=0)
    pareto = _pareto_mask(d["der"].to_numpy(), d["provider_der"].to_numpy())
    ax.scatter(
        d["der"][pareto],
        d["provider_der"][pareto],
        facecolors="none",
        edgecolors="tab:red",
        s=40,
        label="Pareto-optimal (viewer DER, provider DER)",
    )
    iu = int(np.nanargmax(d["utility"].to_numpy()))
    if not flat:  # a flat surface has no best α to mark
        ax.scatter(
            [d["der"].iloc[iu]],
            [d["provider_der"].iloc[iu]],
            marker="*",
            s=160,
            color="k",
            label=f"best utility (w = {d['w'].iloc[iu]:.3f})",
        )
    ax.ticklabel_format(useOffset=False)
    ax.set_xlabel("viewer DER (user groups' utility)")
    ax.set_ylabel("provider DER (exposure vs merit)")
    fig3.colorbar(sc, ax=ax, label=f"w  (α = (w, 1 − w) on ({l0}, {l1}))")
    fig3.legend(loc="outside lower center", fontsize=8, ncols=2)
    ax.set_title(
        f"{surface.title}: viewer × provider fairness along α"
        + (f" (slate of {k})" if k > 1 else "")
        + (
            f"\n{flat_line(surface.summary)}"
            if flat
            else f"\nbest utility: viewer DER {d['der'].iloc[iu]:.3f}, worst/best group utility "
            f"{d['worst_best_ratio'].iloc[iu]:.3f}"
        )
        + f"; {prefs_line(surface)}",
        fontsize=10,
    )
    return fig1, fig2, fig3


def _pareto_mask(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Points not dominated in (x, y), both maximised (NaN points never are)."""
    ok = np.isfinite(x) & np.isfinite(y)
    out = np.zeros(len(x), bool)
    for i in np.flatnonzero(ok):
        dom = ok & (x >= x[i]) & (y >= y[i]) & ((x > x[i]) | (y > y[i]))
        out[i] = not dom.any()
    return out


def plot_bands(surface: Surface):
    """Utility, DER and the worst/best ratio along w over the preference set: the min–max range
    shaded, the median as a line, the given prefs dashed, the robust choice marked."""
    plt = _mpl()
    s, t = surface.summary, surface.over_set
    qn = s["prefs_set"]["n_members"]
    w = t["w"].to_numpy()
    d = surface.direction
    l0, l1 = surface.alpha_names
    fig, (ax, ax2) = plt.subplots(
        2, 1, figsize=(9.0, 6.8), sharex=True, constrained_layout=True, gridspec_kw={"height_ratios": [3, 2]}
    )
    band = f"min–max over the preference set ({qn} members)"
    ax.fill_between(w, t["utility_min"], t["utility_max"], color="tab:blue", alpha=0.25, lw=0, label=f"utility: {band}")
    ax.plot(w, t["utility_median"], color="tab:blue", label="utility: median over the preference set")
    ax.plot(d["w"], d["utility"], color="k", ls=(0, (2, 2)), lw=0.9, label=f"utility at {point_name(s['prefs_set'])}")
    ax.set_ylabel("global utility")
    for m, color, name in (("der", "tab:red", "DER"), ("worst_best_ratio", "tab:green", "worst/best group utility")):
        ax2.fill_between(w, t[f"{m}_min"], t[f"{m}_max"], color=color, alpha=0.2, lw=0, label=f"{name}: {band}")
        ax2.plot(w, t[f"{m}_median"], color=color, label=f"{name}: median over the set")
    rc = s["robust_choice"]
    for a in (ax, ax2) if rc is not None else ():  # a flat surface has no robust choice
        a.axvline(rc["alpha"][0], color="0.3", ls=":", lw=1.2, label="robust choice" if a is ax else None)
    ax2.set_ylabel("DER, worst/best ratio (1 = equal)")
    ax2.set_xlabel(f"w  (α = (w, 1 − w) on ({l0}, {l1}))")
    for a in (ax, ax2):
        a.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8)
    if rc is None:
        verdict = flat_line(s)
    else:
        stmt = s["statements"][0]
        verdict = (
            f"{stmt['statement']}: {stmt['label']}; robust choice w = {rc['alpha'][0]:.3f} "
            f"({'' if rc['feasible'] else 'infeasible: '}q = {rc['q']:g}, τ = {rc['tau']:g})"
        )
    fig.suptitle(
        f"{surface.title}: utility and fairness along α over the preference set ({sample_text(s)})\n"
        f"{set_line(s)}; {prefs_line(surface)}\n{verdict}",
        fontsize=9,
    )
    return fig


def _hist(ax, values: np.ndarray, step: float, color: str, label: str) -> None:
    """Counts of where the members' optima land: one bar per grid point when the spread is narrow."""
    lo, hi = float(values.min()), float(values.max())
    if (hi - lo) / step <= 60:
        u, c = np.unique(np.round(values / step).astype(int), return_counts=True)
        ax.bar(u * step, c, width=0.8 * step, color=color, label=label)
        pad = max(3 * step, 0.1 * (hi - lo))
        ax.set_xlim(lo - pad, hi + pad)
    else:
        ax.hist(values, bins=40, color=color, label=label)


def plot_optimum_spread(surface: Surface):
    """Where each member's best-utility α (top) and DER-best α (bottom) lands on w."""
    plt = _mpl()
    s, o = surface.summary, surface.optima
    l0, l1 = surface.alpha_names
    step = s["grid"]["step"]
    qn = s["prefs_set"]["n_members"]
    fig, axes = plt.subplots(2, 1, figsize=(8.5, 6.4), constrained_layout=True)
    rc = s["robust_choice"]["alpha"][0]
    for ax, key, point, color, stmt in (
        (axes[0], "best_utility", s["best_utility"]["w"], "tab:blue", s["statements"][0]),
        (axes[1], "best_der", s["best_der"]["w"], "tab:red", s["statements"][1]),
    ):
        what = "best-utility" if key == "best_utility" else "DER-best"
        _hist(
            ax,
            o[alpha_column(l0, prefix=f"{key}_alpha")].to_numpy(),
            step,
            color,
            f"members' own {what} w ({qn} members)",
        )
        ax.axvline(point, color="k", ls="--", lw=1.2, label=f"{what} w at {point_name(s['prefs_set'])} ({point:.3f})")
        ax.axvline(rc, color="0.3", ls=":", lw=1.2, label=f"robust choice (w = {rc:.3f})")
        ax.set_ylabel("members")
        ax.set_title(f"{stmt['statement']}: {stmt['label']}", fontsize=9)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0, fontsize=8)
        ax.set_xlabel(f"w  (α = (w, 1 − w) on ({l0}, {l1}))")
    fig.suptitle(
        f"{surface.title}: where the optimum lands over the preference set\n{set_line(s)}; {prefs_line(surface)}",
        fontsize=10,
    )
    return fig
