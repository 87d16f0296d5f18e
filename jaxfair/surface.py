"""Utility/DER surfaces over the (α₁, α₂) box and along the direction of α (K = 2).

``compute_surface`` returns the tables; ``plot_surface`` draws the paper's appendix-style
figure (utility and DER heat-maps side by side) and the per-group utility along
w = α₁/(α₁+α₂); ``write_surface`` does both and saves figures, CSV tables and a summary.
Slates (``slate=k``, SPEC §7) are evaluated on the grid; with provider groups in the batch the
figures add provider DER and the viewer-DER × provider-DER trade-off along w.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import jax
import numpy as np
import pandas as pd

from jaxfair.atomic import atomic_write, atomic_write_text
from jaxfair.engine.grids import box_grid, direction_grid
from jaxfair.engine.metrics import oracle_utility, retrieval_quality
from jaxfair.engine.slate import as_slate
from jaxfair.engine.sweep import sweep2
from jaxfair.evaluate import Evaluation, evaluate
from jaxfair.named_prefs import prefs_record, prefs_title
from jaxfair.ratio import worst_best_ratio
from jaxfair.scenarios.base import Scenario
from jaxfair.validation import UnnormalisedPrefs, check_prefs

__all__ = ["Surface", "compute_surface", "plot_surface", "write_surface"]


@dataclasses.dataclass
class Surface:
    """Surface tables for one scenario and batch.

    Attributes:
      box: tidy table over the ``n × n`` box ``[0, 1]²`` (origin NaN: α = 0 is undefined).
      direction: table along w ∈ [0, 1], α = (w, 1 − w).
      summary: best-utility α, best-DER α, oracle and retrieval quality per group, sizes.
    """

    box: pd.DataFrame
    direction: pd.DataFrame
    summary: dict
    title: str
    label_names: tuple[str, ...]
    group_names: tuple[str, ...]
    n_grid: int


def compute_surface(
    scenario: Scenario,
    *,
    n_users: int = 20_000,
    n_grid: int = 101,
    seed: int = 0,
    method: str = "sweep",
    progress: bool = False,
    slate=1,
    position_weights="dcg",
    gamma: float = 0.8,
) -> Surface:
    """Evaluate the scenario on an ``n_grid × n_grid`` box of α and along the α direction.

    Args:
      scenario: a K = 2 scenario.
      n_users: users in the (single, fixed) batch; a replay of logged sessions ignores it and
        evaluates every logged session once (``summary["sample"]`` says what stands behind the numbers).
      n_grid: points per axis of the box ``[0, 1]²``; the direction table has ``4·n_grid + 1`` points.
      seed: PRNG seed of the batch.
      method: ``"sweep"`` (exact, :func:`sweep2`) or ``"grid"`` (the compiled grid kernel).
        Slates (``slate > 1``) always use the grid (:func:`sweep2` is top-1 only); the sweep
        has no provider exposure, so provider DER needs the grid at ``slate=1`` too.
      slate, position_weights, gamma: slate size k and position weights (SPEC §7; see
        :func:`jaxfair.evaluate`).
    """
    if scenario.n_labels != 2:
        raise ValueError(
            f"scenario: surfaces are drawn over (α₁, α₂) and need K = 2 labels, "
            f"got K = {scenario.n_labels} ({scenario.name})"
        )
    if method not in ("sweep", "grid"):
        raise ValueError(f"method: expected 'sweep' or 'grid', got {method!r}")
    if not isinstance(n_grid, int) or n_grid < 3:
        raise ValueError(f"n_grid: expected an int >= 3, got {n_grid!r}")
    sl = as_slate(slate, position_weights, gamma, scenario.n_candidates)  # the one slate resolution
    k, weights = sl.k, sl.weights
    prefs = check_prefs(scenario.prefs, scenario.n_groups, 2, group_names=scenario.group_names)
    if k > 1:
        method = "grid"
    slate_kw = dict(slate=sl)
    names = dict(group_names=scenario.group_names, label_names=scenario.label_names)
    t0 = time.perf_counter()
    batch = scenario.evaluation_batch(jax.random.PRNGKey(seed), n_users)
    sample = scenario.sample_size(n_users)
    t_sample = time.perf_counter() - t0
    box = box_grid(2, n_grid, 0.0, 1.0)
    direction = direction_grid(4 * n_grid + 1)
    t0 = time.perf_counter()
    if method == "sweep":
        sw = sweep2(batch, prefs, **names)
        ev_box, ev_dir = sw.evaluate(box), sw.evaluate(direction)
        n_breakpoints = int(sw.breakpoints.size)
    else:
        ev_box = evaluate(box, batch, prefs, progress=progress, **names, **slate_kw)
        ev_dir = evaluate(direction, batch, prefs, progress=progress, **names, **slate_kw)
        n_breakpoints = None
    t_eval = time.perf_counter() - t0
    box_df = _with_ratio(_with_origin(ev_box, scenario), scenario.group_names)
    dir_df = _with_ratio(ev_dir.to_frame(), scenario.group_names)
    dir_df.insert(0, "w", direction[:, 0])
    best_u, best_d = ev_dir.report(int(np.nanargmax(ev_dir.utility))), ev_dir.report(int(np.nanargmax(ev_dir.der)))
    oracle = oracle_utility(batch, prefs, **slate_kw)
    oracle_full = oracle_utility(batch, prefs, full_information=True, **slate_kw)
    provider = None
    if ev_dir.n_item_groups and np.isfinite(ev_dir.provider_der).any():
        i = int(np.nanargmax(ev_dir.provider_der))
        provider = {
            "n_item_groups": int(ev_dir.n_item_groups),
            "merit_share": ev_dir.merit_share.tolist(),
            "best_provider_der": {
                "w": float(direction[i, 0]),
                "provider_der": float(ev_dir.provider_der[i]),
                "der": float(ev_dir.der[i]),
                "utility": float(ev_dir.utility[i]),
            },
            "provider_der_at_best_utility": float(ev_dir.provider_der[int(np.nanargmax(ev_dir.utility))]),
        }
    summary = {
        "scenario": scenario.name,
        "title": scenario.title,
        # Which preference row went to which group (SPEC §9): every number below rests on it.
        "prefs": prefs_record(scenario.group_names, scenario.label_names, prefs),
        "prefs_normalised": not isinstance(prefs, UnnormalisedPrefs),
        "standin": scenario.is_standin,
        "n_users": int(batch.n_users),
        "sample": sample,
        "n_candidates": scenario.n_candidates,
        "seed": int(seed),
        "method": method,
        "n_alpha_box": int(len(box)),
        "n_breakpoints": n_breakpoints,
        "n_unserved": int(ev_box.n_unserved),
        "group_counts": ev_box.group_counts.tolist(),
        "best_utility": {
            "w": float(best_u.alpha[0]),
            "utility": best_u.overall,
            "der": best_u.der,
            "worst_best_ratio": worst_best_ratio(best_u.by_group.to_numpy()),
            "by_group": best_u.by_group.to_dict(),
        },
        "best_der": {
            "w": float(best_d.alpha[0]),
            "utility": best_d.overall,
            "der": best_d.der,
            "worst_best_ratio": worst_best_ratio(best_d.by_group.to_numpy()),
            "by_group": best_d.by_group.to_dict(),
        },
        "slate": k,
        "position_weights": weights.tolist(),
        "slate_spec": sl.to_dict(),
        "oracle_by_group": dict(zip(scenario.group_names, oracle.tolist(), strict=True)),
        "oracle_full_information_by_group": dict(zip(scenario.group_names, oracle_full.tolist(), strict=True)),
        # per-group regret at the best-utility α: own-α* oracle and full-information oracle minus μ_g
        "regret_at_best_utility_by_group": {
            g: {"own_alpha": float(o - best_u.by_group[g]), "full_information": float(f - best_u.by_group[g])}
            for g, o, f in zip(scenario.group_names, oracle, oracle_full, strict=True)
        },
        "provider": provider,
        "retrieval_quality_by_group": dict(
            zip(scenario.group_names, retrieval_quality(batch, scenario.n_groups).tolist(), strict=True)
        ),
        "seconds": {"sample": t_sample, "evaluate": t_eval},
        "scenario_options": scenario.describe()["options"],
    }
    return Surface(
        box=box_df,
        direction=dir_df,
        summary=summary,
        title=scenario.title,
        label_names=tuple(scenario.label_names),
        group_names=tuple(scenario.group_names),
        n_grid=n_grid,
    )


def _with_origin(ev: Evaluation, scenario: Scenario) -> pd.DataFrame:
    df = ev.to_frame()
    origin = {c: np.nan for c in df.columns}
    origin.update({f"alpha_{n}": 0.0 for n in scenario.label_names})
    return pd.concat([pd.DataFrame([origin]), df], ignore_index=True)


def _sample_text(summary: dict) -> str:
    """What stands behind the figures (e.g. "20,000 sessions drawn from 943 logged users")."""
    sample = summary.get("sample")
    return sample["text"] if sample else f"{summary['n_users']:,} users"


def _with_ratio(df: pd.DataFrame, group_names) -> pd.DataFrame:
    """Insert ``worst_best_ratio`` (min_g μ_g / max_g μ_g) right after the ``der`` column
    (``Evaluation.to_frame`` already carries it; the exact-sweep frames do not)."""
    if "worst_best_ratio" in df.columns:
        return df
    ratio = worst_best_ratio(df[[f"utility_{g}" for g in group_names]].to_numpy())
    df.insert(df.columns.get_loc("der") + 1, "worst_best_ratio", ratio)
    return df


def _prefs_line(surface: Surface) -> str:
    record = surface.summary["prefs"]
    return prefs_title(list(record), [list(row.values()) for row in record.values()])


def _has_provider(surface: Surface) -> bool:
    return "provider_der" in surface.direction.columns and bool(np.isfinite(surface.direction["provider_der"]).any())


def plot_surface(surface: Surface):
    """Figures: (1) utility and DER heat-maps side by side (and provider DER with provider
    groups); (2) per-group utility along w; with provider groups (3) the viewer-DER ×
    provider-DER trade-off along w (returned only then)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    l0, l1 = surface.label_names
    n = surface.n_grid
    box = surface.box.sort_values([f"alpha_{l0}", f"alpha_{l1}"])
    extent = (0.0, 1.0, 0.0, 1.0)
    provider = _has_provider(surface)
    k = int(surface.summary.get("slate", 1))
    what = f"slate of {k}, " if k > 1 else ""
    panels = [("utility", "viridis", "global utility"), ("der", "magma", "viewer DER (1 = equal utility)")]
    if provider:
        panels.append(("provider_der", "cividis", "provider DER (1 = exposure ∝ merit)"))
    fig1, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.6), constrained_layout=True)
    for ax, (col, cmap, title) in zip(axes, panels, strict=True):
        z = box[col].to_numpy().reshape(n, n)  # rows: α_{l0}, columns: α_{l1}
        im = ax.imshow(z.T, origin="lower", extent=extent, aspect="equal", cmap=cmap)
        ax.set_xlabel(f"α ({l0})")
        ax.set_ylabel(f"α ({l1})")
        ax.set_title(title)
        fig1.colorbar(im, ax=ax, shrink=0.85)
    best = surface.summary["best_utility"]
    fig1.suptitle(
        f"{surface.title}: {'utility, viewer and provider DER' if provider else 'utility and DER'} "
        f"over the α box ({what}{_sample_text(surface.summary)}; "
        "α = 0 at the origin serves nothing: left blank)\n"
        f"at the best-utility α: DER {best['der']:.3f}, worst/best group utility {best['worst_best_ratio']:.3f}; "
        f"{_prefs_line(surface)}"
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
    ax.set_title(
        f"{surface.title}: per-group utility along the direction of α"
        + (f" (slate of {k})" if k > 1 else "")
        + f"\n{_prefs_line(surface)}",
        fontsize=10,
    )
    ax2.plot(d["w"], d["der"], color="tab:red", label="viewer DER" if provider else "DER")
    # DER is quadratic in the shares and stays near 1 for large gaps: the ratio shows the gap.
    ax2.plot(d["w"], d["worst_best_ratio"], color="tab:green", ls="--", label="worst/best group utility")
    if provider:
        ax2.plot(d["w"], d["provider_der"], color="tab:purple", ls=":", label="provider DER")
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
        + f"\nbest utility: viewer DER {d['der'].iloc[iu]:.3f}, worst/best group utility "
        f"{d['worst_best_ratio'].iloc[iu]:.3f}; {_prefs_line(surface)}",
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


def write_surface(surface: Surface, out: str | Path) -> dict[str, Path]:
    """Save ``surface.png``, ``groups.png``, ``surface.csv``, ``direction.csv``, ``summary.json``
    (and ``tradeoff.png``, viewer DER × provider DER, when the batch has provider groups)."""
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    names = ["surface.png", "groups.png", "surface.csv", "direction.csv", "summary.json"]
    figs = plot_surface(surface)
    if len(figs) == 3:
        names.append("tradeoff.png")
    paths = {name: out / name for name in names}
    for fig, key in zip(figs, ("surface.png", "groups.png", "tradeoff.png")[: len(figs)], strict=True):
        atomic_write(paths[key], lambda fh, fig=fig: fig.savefig(fh, format="png", dpi=120), "wb")
        plt.close(fig)
    atomic_write_text(paths["surface.csv"], surface.box.to_csv(index=False))
    atomic_write_text(paths["direction.csv"], surface.direction.to_csv(index=False))
    atomic_write_text(paths["summary.json"], json.dumps(surface.summary, indent=2, default=float))
    return paths
