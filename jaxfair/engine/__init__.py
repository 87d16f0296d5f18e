"""The engine: serving kernel → executors → group sums → results (see docs/development.md).

* :mod:`jaxfair.engine.batch` — the data model (:class:`Batch`, ``make_batch``);
* :mod:`jaxfair.engine.kernels` — the jit kernels (serving network, block sums of a payload);
* :mod:`jaxfair.engine.position`, :mod:`jaxfair.engine.grids` — position weights, α grids;
* :mod:`jaxfair.engine.prune` — exact candidate pruning (dominance rules);
* :mod:`jaxfair.engine.slate` — the one slate value (:class:`Slate`) and its resolution;
* :mod:`jaxfair.engine.planning` — chunk sizes and pruning rules (speed only, never bits);
* :mod:`jaxfair.engine.executors` — the dense executor, the block accumulator, ``map_user_chunks``;
* :mod:`jaxfair.engine.dispatch` — ``group_sums``, the one place that picks an executor;
* :mod:`jaxfair.engine.pruned` — the pruned-tiles executor; :mod:`jaxfair.engine.sharding` the mesh one;
* :mod:`jaxfair.engine.results` — :class:`GroupSums`, :class:`Evaluation`, :class:`GroupReport`;
* :mod:`jaxfair.engine.provider` — provider exposure fairness;
* :mod:`jaxfair.engine.api` — ``evaluate``, ``label_means``, ``group_utility_from_label_means``;
* :mod:`jaxfair.engine.metrics` — per-α public metrics; :mod:`jaxfair.engine.sweep` — exact K = 2.
"""
