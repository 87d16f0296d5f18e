"""jaxfair: a JAX-accelerated simulator of multi-objective recommender serving.

Users × candidates × labels are dense arrays (:class:`Batch`); serving is the argmax of a
weighted sum Σ_k α_k f_k over retrieved candidates; the metrics are per-group utility under
the groups' true preferences α* and DER (Deviation from Equal Representation). Kernels are
jit-compiled and vectorised over α; :func:`evaluate` scores whole α grids, :func:`sweep2`
gives the exact curve for K = 2, and :mod:`jaxfair.bo` searches α with BoTorch.
"""

from typing import TYPE_CHECKING

from jaxfair.utils.lazy import lazy_package

if TYPE_CHECKING:  # for type checkers and the API docs; at run time see _EXPORTS
    from jaxfair import scenarios
    from jaxfair.engine.batch import Batch, make_batch
    from jaxfair.engine.grids import box_grid, direction_grid, simplex_grid
    from jaxfair.engine.metrics import (
        der,
        der_raw,
        group_utility,
        oracle_utility,
        retrieval_quality,
        serve,
        user_utility,
    )
    from jaxfair.engine.position import position_weights
    from jaxfair.engine.slate import Slate
    from jaxfair.engine.sweep import Sweep, sweep2
    from jaxfair.evaluate import Evaluation, GroupReport, evaluate, group_utility_from_label_means, label_means
    from jaxfair.validation import EmptyGroupWarning

# Imported on first use (``import jaxfair`` and ``jaxfair --help`` do not start JAX).
_EXPORTS = {
    "Batch": "jaxfair.engine.batch:Batch",
    "make_batch": "jaxfair.engine.batch:make_batch",
    "Evaluation": "jaxfair.evaluate:Evaluation",
    "GroupReport": "jaxfair.evaluate:GroupReport",
    "evaluate": "jaxfair.evaluate:evaluate",
    "label_means": "jaxfair.engine.api:label_means",
    "group_utility_from_label_means": "jaxfair.engine.api:group_utility_from_label_means",
    "Slate": "jaxfair.engine.slate:Slate",
    "box_grid": "jaxfair.engine.grids:box_grid",
    "direction_grid": "jaxfair.engine.grids:direction_grid",
    "simplex_grid": "jaxfair.engine.grids:simplex_grid",
    **{
        n: f"jaxfair.engine.metrics:{n}"
        for n in ("der", "der_raw", "group_utility", "oracle_utility", "retrieval_quality", "serve", "user_utility")
    },
    "position_weights": "jaxfair.engine.position:position_weights",
    "Sweep": "jaxfair.engine.sweep:Sweep",
    "sweep2": "jaxfair.engine.sweep:sweep2",
    "EmptyGroupWarning": "jaxfair.validation:EmptyGroupWarning",
    "scenarios": "jaxfair.scenarios",
}
__getattr__, __dir__ = lazy_package(__name__, _EXPORTS)

__version__ = "0.1.0"

__all__ = [
    "Batch",
    "EmptyGroupWarning",
    "Evaluation",
    "GroupReport",
    "Slate",
    "Sweep",
    "box_grid",
    "der",
    "der_raw",
    "direction_grid",
    "evaluate",
    "group_utility",
    "group_utility_from_label_means",
    "label_means",
    "make_batch",
    "oracle_utility",
    "position_weights",
    "retrieval_quality",
    "scenarios",
    "serve",
    "simplex_grid",
    "sweep2",
    "user_utility",
]
