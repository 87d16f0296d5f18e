"""Diagnosis (paper §2–3, appendix B): *why* a group is served worse.

* :mod:`~jaxfair.diagnose.weights` — the shared feature space S_X (eq. 3) as importance
  weights from a cross-fitted group-propensity model (or exact densities), with overlap
  diagnostics.
* :mod:`~jaxfair.diagnose.decompose` — the gap split into terms (4)–(6), vectorised over α in
  one compiled kernel, with stratified bootstrap CIs.
* :mod:`~jaxfair.diagnose.decomposition` — its result, :class:`Decomposition`, and its tables.
* :mod:`~jaxfair.diagnose.bound` — Theorem 3.1's bound on term (5), at α and at the scale of α
  minimising it, split into its three parts.
* :mod:`~jaxfair.diagnose.retrieval` — retrieval quality Q_m (Def. 3.2) and Theorem 3.3
  (``applies`` — its premises — separately from ``holds``).
* :mod:`~jaxfair.diagnose.attribution` — 2³ oracle pipelines, Shapley shares with bootstrap
  CIs, and the verdict rule (a component is blamed only when the CIs back it).
* :mod:`~jaxfair.diagnose.calibration` — reliability / ECE per group, the calibration
  premise, ``lemma23_check``.
* :mod:`~jaxfair.diagnose.population` — sessions and the real users behind them, per group
  (what every count in the outputs is).
* :mod:`~jaxfair.diagnose.pairs` — several pairs of groups in one run (``--groups all|pairs``)
  and their overview (``pairs.csv``, ``summary.json``, ``report.md``).
* :mod:`~jaxfair.diagnose.figures` — the figures; :mod:`~jaxfair.diagnose.report` — tables,
  ``report.md`` and ``summary.json``; ``cli`` the command.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from jaxfair.utils.lazy import lazy_package

if TYPE_CHECKING:  # for type checkers and the API docs
    from jaxfair.diagnose.bound import Theorem31Bound
    from jaxfair.diagnose.decompose import decompose, decompose_all
    from jaxfair.diagnose.decomposition import Decomposition
    from jaxfair.diagnose.weights import OverlapWarning, SharedSpaceWeights, shared_space_weights

# Imported on first use: `jaxfair --help` registers `diagnose` without importing JAX.
__getattr__, __dir__ = lazy_package(
    __name__,
    {
        "Theorem31Bound": "jaxfair.diagnose.bound:Theorem31Bound",
        "Decomposition": "jaxfair.diagnose.decomposition:Decomposition",
        "decompose": "jaxfair.diagnose.decompose:decompose",
        "decompose_all": "jaxfair.diagnose.decompose:decompose_all",
        "OverlapWarning": "jaxfair.diagnose.weights:OverlapWarning",
        "SharedSpaceWeights": "jaxfair.diagnose.weights:SharedSpaceWeights",
        "shared_space_weights": "jaxfair.diagnose.weights:shared_space_weights",
    },
)

__all__ = [
    "Decomposition",
    "OverlapWarning",
    "SharedSpaceWeights",
    "Theorem31Bound",
    "decompose",
    "decompose_all",
    "shared_space_weights",
]
