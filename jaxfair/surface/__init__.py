"""Utility / DER surfaces over a grid of α (``jaxfair surface``).

* :mod:`jaxfair.surface.compute` — :func:`compute_surface`: K = 2 over the (α₁, α₂) box and the
  direction w = α₁/(α₁+α₂); K ≥ 3 over a simplex grid; optionally over a preference set.
* :mod:`jaxfair.surface.sensitivity` — the set's numbers, each statement's share of members,
  where the optimum lands, the robust choice.
* :mod:`jaxfair.surface.simplex` — K ≥ 3 tables: the best α per DER level (levels from the
  grid's own DER range), marginal curves.
* :mod:`jaxfair.surface.figures` / :mod:`jaxfair.surface.simplex_figures` — the figures;
  :mod:`jaxfair.surface.output` — :func:`write_surface`.

Slates (``slate=k``, SPEC §7) are evaluated on the grid, and every slate figure's title says k,
the position weights and what a utility is; with provider groups in the batch the K = 2 figures
add provider DER and the viewer-DER × provider-DER trade-off along w, the K = 3 figure a
provider-DER panel.
"""

from typing import TYPE_CHECKING

from jaxfair.utils.lazy import lazy_package

if TYPE_CHECKING:  # for type checkers and the API docs
    from jaxfair.surface.compute import Surface, compute_surface, default_grid
    from jaxfair.surface.figures import plot_surface
    from jaxfair.surface.output import write_surface

# Imported on first use: `jaxfair --help` registers `simulate-log` (surface/cli.py) without importing JAX.
__getattr__, __dir__ = lazy_package(
    __name__,
    {
        "Surface": "jaxfair.surface.compute:Surface",
        "compute_surface": "jaxfair.surface.compute:compute_surface",
        "default_grid": "jaxfair.surface.compute:default_grid",
        "plot_surface": "jaxfair.surface.figures:plot_surface",
        "write_surface": "jaxfair.surface.output:write_surface",
        "_sample_text": "jaxfair.surface.figures:sample_text",  # its old private name
    },
)

__all__ = ["Surface", "compute_surface", "default_grid", "plot_surface", "write_surface"]
