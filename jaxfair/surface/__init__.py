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

from __future__ import annotations

from jaxfair.surface.compute import Surface, compute_surface, default_grid
from jaxfair.surface.figures import plot_surface
from jaxfair.surface.figures import sample_text as _sample_text  # noqa: F401 - its old private name
from jaxfair.surface.output import write_surface

__all__ = ["Surface", "compute_surface", "default_grid", "plot_surface", "write_surface"]
