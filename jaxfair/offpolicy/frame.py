"""An impression log in the CLI's long format (one row per session and candidate): what
:meth:`jaxfair.offpolicy.log.ImpressionLog.to_frame` writes and the CLI reads back."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["log_frame"]


def log_frame(log: Any, propensity: Any = None):
    """The log in the CLI's long format: one row per (session, candidate), columns ``session, user, group,
    candidate, retrieved, score_<label>…, label_<label>…`` (NaN where not shown), ``shown`` (top-1: 0/1) or
    ``position`` (slates: 1..k, 0 = not shown), and ``propensity`` of the shown rows (NaN elsewhere).

    ``propensity``: a :class:`~jaxfair.offpolicy.propensity.Propensities` or ``[S, k]`` at the shown items;
    default: the log's column, else the declared D₀'s propensities, else no column.
    """
    import pandas as pd

    from jaxfair.offpolicy.propensity import Propensities, propensities

    s, m, n_lab = log.batch.shape
    k = log.slate_k
    if propensity is None:
        if log.propensity is not None:
            propensity = log.propensity
        elif log.logging is not None:
            propensity = propensities(log, log.logging)
    if isinstance(propensity, Propensities):
        propensity = propensity.at_shown(log.shown)
    position = np.zeros((s, m), np.int64)
    rows, pos = np.nonzero(log.shown >= 0)
    position[rows, log.shown[rows, pos]] = pos + 1
    cols: dict[str, Any] = {
        "session": np.repeat(np.arange(s), m),
        "user": np.repeat(log.user, m),
        "group": np.asarray(log.group_names, dtype=object)[np.repeat(np.asarray(log.batch.group), m)],
        "candidate": np.tile(np.arange(m), s),
        "retrieved": np.asarray(log.batch.mask).ravel().astype(np.int64),
    }
    scores = np.asarray(log.batch.scores, np.float64).reshape(s * m, n_lab)
    labels = np.asarray(log.batch.labels, np.float64).reshape(s * m, n_lab)
    obs = log.observed.ravel()
    for i, name in enumerate(log.label_names):
        cols[f"score_{name}"] = scores[:, i]
    for i, name in enumerate(log.label_names):
        cols[f"label_{name}"] = np.where(obs, labels[:, i], np.nan)
    if k == 1:
        cols["shown"] = (position.ravel() > 0).astype(np.int64)
    else:
        cols["position"] = position.ravel()
    if propensity is not None:
        p = np.asarray(propensity, np.float64).reshape(s, k)
        col = np.full((s, m), np.nan)
        col[rows, log.shown[rows, pos]] = p[rows, pos]
        cols["propensity"] = col.ravel()
    return pd.DataFrame(cols)
