"""Write a surface: figures, CSV tables and ``summary.json`` (which ones depend on K and on a preference set)."""

from __future__ import annotations

import json
from pathlib import Path

from jaxfair.surface.compute import Surface
from jaxfair.surface.figures import plot_bands, plot_optimum_spread, plot_surface
from jaxfair.surface.simplex_figures import plot_frontier, plot_marginals, plot_simplex, plot_simplex_set
from jaxfair.utils.atomic import atomic_write, atomic_write_text

__all__ = ["write_surface"]


def _figures(surface: Surface) -> dict:
    # A flat surface has no per-member optima and no frontier (nothing is best): their figures are not drawn.
    if surface.n_labels == 2:
        figs = dict(zip(("surface.png", "groups.png", "tradeoff.png"), plot_surface(surface), strict=False))
        if surface.over_set is not None:
            figs["bands.png"] = plot_bands(surface)
        if surface.optima is not None:
            figs["optimum_spread.png"] = plot_optimum_spread(surface)
        return figs
    if surface.n_labels == 3:
        figs = {"simplex.png": plot_simplex(surface)}
        if surface.optima is not None:
            figs["simplex_set.png"] = plot_simplex_set(surface)
        return figs
    figs = {"frontier.png": plot_frontier(surface)} if surface.frontier is not None else {}
    return figs | {"marginals.png": plot_marginals(surface)}


def write_surface(surface: Surface, out: str | Path) -> dict[str, Path]:
    """Save the figures, tables and ``summary.json`` into ``out``; returns ``{file name: path}``.

    K = 2: ``surface.png``, ``groups.png``, ``surface.csv``, ``direction.csv`` (and
    ``tradeoff.png``, viewer DER × provider DER, when the batch has provider groups).
    K = 3: ``simplex.png`` (ternary heat-maps), ``simplex.csv``, ``frontier.csv``, ``marginals.csv``.
    K ≥ 4: ``frontier.png`` and ``frontier.csv`` (the best α per DER level), ``marginals.png``
    and ``marginals.csv``, ``simplex.csv``.
    With a preference set also ``over_set.csv`` (per α, min / median / max over the set),
    ``optima.csv`` (per member, where its optimum lands) and the figures ``bands.png`` and
    ``optimum_spread.png`` (K = 2) or ``simplex_set.png`` (K = 3).
    """
    import matplotlib.pyplot as plt

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, fig in _figures(surface).items():
        paths[name] = out / name
        atomic_write(paths[name], lambda fh, fig=fig: fig.savefig(fh, format="png", dpi=120), "wb")
        plt.close(fig)
    tables = {
        "surface.csv": surface.box,
        "direction.csv": surface.direction,
        "simplex.csv": surface.simplex,
        "frontier.csv": surface.frontier,
        "marginals.csv": surface.marginals,
        "over_set.csv": surface.over_set,
        "optima.csv": surface.optima,
    }
    for name, table in tables.items():
        if table is not None:
            paths[name] = out / name
            atomic_write_text(paths[name], table.to_csv(index=False))
    paths["summary.json"] = out / "summary.json"
    atomic_write_text(paths["summary.json"], json.dumps(surface.summary, indent=2, default=float))
    return paths
