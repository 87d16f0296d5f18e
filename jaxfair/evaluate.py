"""Grid evaluation: global utility, group utilities and DER for many α at once.

The implementation lives in :mod:`jaxfair.engine` (kernel → executor → group sums →
results); this module keeps the public names where they have always been.
"""

from __future__ import annotations

from jaxfair.engine.api import (
    evaluate,
    evaluation_from_sums,
    finish_evaluation,
    group_utility_from_label_means,
    label_means,
)
from jaxfair.engine.dispatch import group_sums
from jaxfair.engine.kernels import SlateSpec
from jaxfair.engine.planning import (
    DEFAULT_MEMORY_BUDGET,
    DEFAULT_USER_CHUNK,
    PRUNE_MIN_ALPHAS,
    PRUNE_SUPER_CHUNK,
    PRUNE_TILE,
    PRUNE_WIDTHS,
    plan_chunks,
    use_pruning,
)
from jaxfair.engine.provider import provider_metrics
from jaxfair.engine.results import Evaluation, GroupReport, GroupSums
from jaxfair.engine.slate import Slate, slate_spec_for

__all__ = [
    "DEFAULT_MEMORY_BUDGET",
    "DEFAULT_USER_CHUNK",
    "Evaluation",
    "GroupReport",
    "GroupSums",
    "PRUNE_MIN_ALPHAS",
    "PRUNE_SUPER_CHUNK",
    "PRUNE_TILE",
    "PRUNE_WIDTHS",
    "Slate",
    "evaluate",
    "evaluation_from_sums",
    "finish_evaluation",
    "group_sums",
    "group_utility_from_label_means",
    "label_means",
    "plan_chunks",
    "provider_metrics",
    "resolve_slate",
    "use_pruning",
]


def resolve_slate(batch, slate=1, position_weights="dcg", gamma=0.8, n_item_groups=None) -> SlateSpec:
    """Validate slate arguments against a batch into a :class:`jaxfair.engine.kernels.SlateSpec`
    (:func:`jaxfair.engine.slate.slate_spec_for`, the one resolution)."""
    return slate_spec_for(batch, slate, position_weights, gamma, n_item_groups)[1]
