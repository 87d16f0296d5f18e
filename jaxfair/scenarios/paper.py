"""Registers the paper's scenarios (issue #3): synthetic, movielens, modcloth, electronics + stand-ins."""

from __future__ import annotations

from functools import partial

from jaxfair.scenarios.marketbias import load_marketbias
from jaxfair.scenarios.movielens import load_movielens
from jaxfair.scenarios.registry import register
from jaxfair.scenarios.standin import load_standin
from jaxfair.scenarios.synthetic import load_synthetic

register(
    "synthetic",
    load_synthetic,
    "paper: two independent make_classification problems, random forests, random 80/20 groups",
    reads_files=False,
)
register(
    "movielens",
    load_movielens,
    "paper: MovieLens 100K, watched/liked, random forests on rolling-genre features, scrambled 80/20 groups",
    reads_files=True,
)
register(
    "modcloth",
    partial(load_marketbias, "modcloth"),
    "paper: ModCloth (Wan et al.), viewed (flipped)/fit, multi-task CF in Flax — needs marketbias/df_modcloth.csv",
    reads_files=True,
)
register(
    "electronics",
    partial(load_marketbias, "electronics"),
    "paper: Electronics (Wan et al.), viewed/rating (flipped), multi-task CF in Flax — needs "
    "marketbias/df_electronics.csv",
    reads_files=True,
)
register(
    "modcloth-standin",
    partial(load_standin, "modcloth"),
    "STAND-IN: generated file with the ModCloth schema through the real modcloth pipeline (not the real data)",
    reads_files=False,
)
register(
    "electronics-standin",
    partial(load_standin, "electronics"),
    "STAND-IN: generated file with the Electronics schema through the real electronics pipeline (not the real data)",
    reads_files=False,
)
