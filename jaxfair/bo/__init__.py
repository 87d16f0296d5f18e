"""Fairness-aware Bayesian optimisation of the serving weights α (paper §4–5, issue #4).

* :class:`Evaluator` — the (utility, DER) black box for BoTorch / Ax, on compiled JAX.
* :func:`run_study` — the paper's protocol (paired trials, resumable, tidy rows).
* :func:`report` — Pareto frontiers, hypervolume, Wilcoxon tests, CSV/Markdown/PNG.
"""

from typing import TYPE_CHECKING

from jaxfair.utils.lazy import lazy_package

if TYPE_CHECKING:  # for type checkers and the API docs
    from jaxfair.bo.evaluator import EmptyGroupError, EvalResult, Evaluator
    from jaxfair.bo.methods import METHODS, MethodConfig
    from jaxfair.bo.report import report
    from jaxfair.bo.space import SearchSpace
    from jaxfair.bo.study import load_rows, run_study

# Imported on first use: `jaxfair --help` registers `bo` without importing torch/BoTorch.
__getattr__, __dir__ = lazy_package(
    __name__,
    {
        "EmptyGroupError": "jaxfair.bo.evaluator:EmptyGroupError",
        "EvalResult": "jaxfair.bo.evaluator:EvalResult",
        "Evaluator": "jaxfair.bo.evaluator:Evaluator",
        "METHODS": "jaxfair.bo.methods:METHODS",
        "MethodConfig": "jaxfair.bo.methods:MethodConfig",
        "SearchSpace": "jaxfair.bo.space:SearchSpace",
        "load_rows": "jaxfair.bo.study:load_rows",
        "run_study": "jaxfair.bo.study:run_study",
        "report": "jaxfair.bo.report:report",  # the function, not the submodule
    },
)

__all__ = [
    "METHODS",
    "EmptyGroupError",
    "EvalResult",
    "Evaluator",
    "MethodConfig",
    "SearchSpace",
    "load_rows",
    "report",
    "run_study",
]
