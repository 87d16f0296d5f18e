"""Fairness-aware Bayesian optimisation of the serving weights α (paper §4–5, issue #4).

* :class:`Evaluator` — the (utility, DER) black box for BoTorch / Ax, on compiled JAX.
* :func:`run_study` — the paper's protocol (paired trials, resumable, tidy rows).
* :func:`report` — Pareto frontiers, hypervolume, Wilcoxon tests, CSV/Markdown/PNG.
"""
from jaxfair.bo.evaluator import EmptyGroupError, EvalResult, Evaluator
from jaxfair.bo.methods import METHODS, MethodConfig
from jaxfair.bo.space import SearchSpace
from jaxfair.bo.study import load_rows, run_study
from jaxfair.bo.report import report  # noqa: E402  (binds the function, not the submodule)

__all__ = ["METHODS", "EmptyGroupError", "EvalResult", "Evaluator", "MethodConfig", "SearchSpace", "load_rows",
           "report", "run_study"]

