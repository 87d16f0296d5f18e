"""The engine: serving kernel → executors → group sums → results (see docs/development.md).

* :mod:`jaxfair.engine.slate` — the one slate value (:class:`Slate`) and its resolution;
* :mod:`jaxfair.engine.planning` — chunk sizes and pruning rules (speed only, never bits);
* :mod:`jaxfair.engine.executors` — dense executor, the block accumulator, ``map_user_chunks``
  and :func:`group_sums`, the one place that picks an executor;
* :mod:`jaxfair.engine.pruned` — the pruned-tiles executor (the mesh one is :mod:`jaxfair.sharding`);
* :mod:`jaxfair.engine.results` — :class:`GroupSums`, :class:`Evaluation`, :class:`GroupReport`;
* :mod:`jaxfair.engine.provider` — provider exposure fairness;
* :mod:`jaxfair.engine.api` — ``evaluate``, ``label_means``, ``group_utility_from_label_means``.
"""
