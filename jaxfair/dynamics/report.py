"""Across-seed summaries, figures and files of a dynamics run (``jaxfair dynamics``)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from jaxfair.dynamics.result import DynamicsResult
from jaxfair.named_prefs import prefs_title
from jaxfair.utils.atomic import atomic_write, atomic_write_text
from jaxfair.utils.curves import same_as, same_curve_label, staggered_style
from jaxfair.utils.tables import markdown_table

__all__ = ["horizon_table", "plot_dynamics", "t_interval", "write_dynamics"]


def t_interval(x: np.ndarray, axis: int = 0, level: float = 0.95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and a Student-t ``level`` interval across ``axis`` (seeds): ``(mean, lo, hi)``.

    NaN entries (a group with no active user in a period has no utility) are left out, cell by
    cell: each cell's mean and interval use its own count of finite seeds; a cell with none is
    NaN and one with a single finite seed has a NaN interval. Computed explicitly rather than
    with ``np.nanmean``/``nanstd``, whose "empty slice" warnings would reach the user for what
    is an expected gap, not a fault.
    """
    from scipy import stats

    x = np.moveaxis(np.asarray(x, np.float64), axis, 0)
    finite = np.isfinite(x)
    n = finite.sum(axis=0)
    total = np.where(finite, x, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(n > 0, total / np.maximum(n, 1), np.nan)
        dev = np.where(finite, x - mean, 0.0)
        sd = np.sqrt((dev**2).sum(axis=0) / np.maximum(n - 1, 1))
        t = stats.t.ppf(0.5 + level / 2, np.maximum(n - 1, 1))
        half = np.where(n > 1, t * sd / np.sqrt(np.maximum(n, 1)), np.nan)
    return mean, mean - half, mean + half


def horizon_table(results: Sequence[DynamicsResult]) -> pd.DataFrame:
    """One row per policy: horizon utility, DER, per-group share(0), share(T) and
    amplification — mean over the seeds (one result per seed) with 95 % t-intervals."""
    frames = [r.summary_frame() for r in results]
    names = list(frames[0]["policy"])
    metrics = [c for c in frames[0].columns if c != "policy"]
    stack = np.stack([f[metrics].to_numpy(np.float64) for f in frames])  # [S, Q, M]
    mean, lo, hi = t_interval(stack, axis=0)
    out = {"policy": names, "seeds": [len(results)] * len(names)}
    for j, m in enumerate(metrics):
        out[m] = mean[:, j]
        if len(results) > 1 and (m in ("utility", "der", "worst_best_ratio") or m.startswith("amplification_")):
            out[f"{m}_lo"] = lo[:, j]
            out[f"{m}_hi"] = hi[:, j]
    return pd.DataFrame(out)


def _legend(ax, n_seeds: int) -> None:
    """The policy legend, plus what the shaded bands are (with several seeds)."""
    from matplotlib.patches import Patch

    handles, names = ax.get_legend_handles_labels()
    if n_seeds > 1:
        handles.append(Patch(color="0.6", alpha=0.35, lw=0))
        names.append(f"shaded: 95 % CI of the mean\nacross {n_seeds} seeds (Student t)")
    ax.legend(handles, names, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, frameon=False)


def plot_dynamics(results: Sequence[DynamicsResult], title: str = ""):
    """Three figures (mean over seeds; with several seeds a shaded 95 % t-interval of the mean
    across seeds, labelled in the legend): ``(share, utility, der)``.

    share: occupant share of each group over time, one panel per group, one line per policy
    (the amplification figure); utility: each group's mean utility; der: DER per period beside
    the worst/best group utility ratio. Titles carry the preference mapping. Each policy has
    its own colour, dash and staggered markers, and a policy whose curves equal an earlier
    policy's says so in the legend ("same curve as ..."), so no line hides under another.
    """
    import matplotlib.pyplot as plt

    r0 = results[0]
    t = np.arange(r0.periods)
    q_all = len(r0.names)
    prefs = r0.config.get("prefs")
    line = f"\n{prefs_title(list(prefs), [list(v.values()) for v in prefs.values()])}" if prefs else ""
    if r0.config.get("sample"):  # how many real users stand behind the curves
        line += f"\nbank: {r0.config['sample']['text']}"
    figs = []
    for what in ("share", "utility"):
        data = np.stack([r.share if what == "share" else r.group_utility for r in results])  # [S, T, Q, G]
        mean, lo, hi = t_interval(data, axis=0)
        g = len(r0.group_names)
        fig, axes = plt.subplots(1, g, figsize=(4.2 * g + 2.6, 3.6), squeeze=False)
        # A policy is the "same curve" as another only if it is in every group's panel.
        twins = same_as([mean[:, qi] for qi in range(q_all)], r0.names)
        for gi, ax in enumerate(axes[0]):
            for qi, name in enumerate(r0.names):
                style = staggered_style(qi, q_all, r0.periods)
                ax.plot(t, mean[:, qi, gi], label=same_curve_label(name, twins[qi]), **style)
                if len(results) > 1:
                    ax.fill_between(
                        t, np.clip(lo[:, qi, gi], 0, None), hi[:, qi, gi], color=style["color"], alpha=0.2, lw=0
                    )
            ax.set_title(f"{r0.group_names[gi]}")
            ax.set_xlabel("period")
            ax.set_ylabel("occupant share" if what == "share" else "mean utility")
            ax.grid(alpha=0.3)
        _legend(axes[0, -1], len(results))
        fig.suptitle(
            f"{title}: {'group share over time' if what == 'share' else 'group utility over time'}{line}",
            fontsize=10,
        )
        fig.tight_layout()
        figs.append(fig)
    # DER beside the worst/best group utility ratio: DER stays near 1 for large gaps (SPEC §9).
    fig, axes = plt.subplots(1, 2, figsize=(10.8, 3.8))
    for ax, attr, ylabel in (
        (axes[0], "der", "DER of the period's group utilities"),
        (axes[1], "worst_best_ratio", "worst / best group utility"),
    ):
        mean, lo, hi = t_interval(np.stack([getattr(r, attr) for r in results]), axis=0)  # [T, Q]
        twins = same_as([mean[:, qi] for qi in range(q_all)], r0.names)
        for qi, name in enumerate(r0.names):
            style = staggered_style(qi, q_all, r0.periods)
            ax.plot(t, mean[:, qi], label=same_curve_label(name, twins[qi]), **style)
            if len(results) > 1:
                ax.fill_between(
                    t, np.clip(lo[:, qi], 0, 1), np.clip(hi[:, qi], 0, 1), color=style["color"], alpha=0.2, lw=0
                )
        ax.set_xlabel("period")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
    _legend(axes[1], len(results))
    fig.suptitle(f"{title}: DER and worst/best group utility over time{line}", fontsize=10)
    fig.tight_layout()
    figs.append(fig)
    return tuple(figs)


def write_dynamics(
    results: Sequence[DynamicsResult], out: str | Path, title: str = "", extra: dict | None = None
) -> dict[str, Path]:
    """Write ``share.png``, ``utility.png``, ``der.png``, ``trajectories.csv`` (tidy, every seed),
    ``horizon.csv``/``horizon.md`` and ``summary.json`` to ``out``, each atomically.

    Everything is computed before the first file is written, so a run killed before this
    point leaves nothing, and a run killed during it leaves only whole files.
    """
    import matplotlib.pyplot as plt

    out = Path(out)
    table = horizon_table(results)
    frames = []
    for r in results:
        f = r.to_frame()
        f.insert(0, "seed", r.config.get("seed", 0))
        frames.append(f)
    traj = pd.concat(frames, ignore_index=True)
    figs = plot_dynamics(results, title)
    summary = dict(
        results[0].config,
        seeds=[r.config.get("seed") for r in results],
        horizon=json.loads(table.to_json(orient="records")),
        **(extra or {}),
    )
    summary.pop("seed", None)
    paths = {
        n: out / n
        for n in (
            "share.png",
            "utility.png",
            "der.png",
            "trajectories.csv",
            "horizon.csv",
            "horizon.md",
            "summary.json",
        )
    }
    out.mkdir(parents=True, exist_ok=True)
    for fig, name in zip(figs, ("share.png", "utility.png", "der.png"), strict=True):
        atomic_write(paths[name], lambda fh, fig=fig: fig.savefig(fh, format="png", dpi=120, bbox_inches="tight"), "wb")
        plt.close(fig)
    atomic_write(paths["trajectories.csv"], lambda fh: traj.to_csv(fh, index=False), newline="")
    atomic_write(paths["horizon.csv"], lambda fh: table.to_csv(fh, index=False), newline="")
    atomic_write_text(paths["horizon.md"], markdown_table(table))
    atomic_write_text(paths["summary.json"], json.dumps(summary, indent=2, default=float))
    return paths
