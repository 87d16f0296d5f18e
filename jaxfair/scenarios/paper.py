"""Registers the paper's scenarios (issue #3): synthetic, movielens, modcloth, electronics + stand-ins."""
from __future__ import annotations

from jaxfair.scenarios import register
from jaxfair.scenarios.synthetic import load_synthetic

register("synthetic", load_synthetic,
         "paper: two independent make_classification problems, random forests, random 80/20 groups")
