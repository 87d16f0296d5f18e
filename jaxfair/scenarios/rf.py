"""The paper's scorer for synthetic and MovieLens: a scikit-learn random forest, default parameters."""

from __future__ import annotations

import numpy as np

__all__ = ["fit_forest", "fit_predict_forest"]


def fit_forest(x: np.ndarray, y: np.ndarray, *, n_trees: int, seed: int, n_jobs: int = -1):
    """``RandomForestClassifier(n_estimators=n_trees)`` (otherwise default) fitted on ``x [R, D]``, ``y [R]``."""
    from sklearn.ensemble import RandomForestClassifier

    y = np.asarray(y)
    if np.unique(y).size < 2:
        raise ValueError(f"y: a forest needs both classes in its training rows, got only {np.unique(y).tolist()}")
    return RandomForestClassifier(n_estimators=n_trees, random_state=seed, n_jobs=n_jobs).fit(x, y)


def fit_predict_forest(x_train, y_train, x_pred, *, n_trees: int, seed: int, n_jobs: int = -1) -> np.ndarray:
    """P(y = 1 | x) for ``x_pred [R', D]``, float32 ``[R']``."""
    rf = fit_forest(x_train, y_train, n_trees=n_trees, seed=seed, n_jobs=n_jobs)
    return rf.predict_proba(x_pred)[:, list(rf.classes_).index(1)].astype(np.float32)
