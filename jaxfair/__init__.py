"""jaxfair: a JAX-accelerated simulator of multi-objective recommender serving.

Users × candidates × labels are dense arrays (:class:`Batch`); serving is the argmax of a
weighted sum Σ_k α_k f_k over retrieved candidates; the metrics are per-group utility under
the groups' true preferences α* and DER (Deviation from Equal Representation). Kernels are
jit-compiled and vectorised over α; :func:`evaluate` scores whole α grids, :func:`sweep2`
gives the exact curve for K = 2, and :mod:`jaxfair.bo` searches α with BoTorch.
"""
from jaxfair.batch import Batch, make_batch
from jaxfair.evaluate import Evaluation, GroupReport, evaluate
from jaxfair.grids import box_grid, direction_grid, simplex_grid
from jaxfair.metrics import der, der_raw, group_utility, oracle_utility, retrieval_quality, serve, user_utility
from jaxfair.position import position_weights
from jaxfair.sweep import Sweep, sweep2
from jaxfair.validation import EmptyGroupWarning
from jaxfair import scenarios

__version__ = "0.1.0"

__all__ = [
    "Batch", "EmptyGroupWarning", "Evaluation", "GroupReport", "Sweep", "box_grid", "der", "der_raw",
    "direction_grid", "evaluate", "group_utility", "make_batch", "oracle_utility", "position_weights", "retrieval_quality",
    "scenarios", "serve", "simplex_grid", "sweep2", "user_utility",
]
