"""The outcome model Ŷ of DM and DR (SPEC §10).

The scores themselves when they are calibrated probabilities of the labels (every score in [0, 1] and
the ECE on shown rows <= ``ece_max``, 10 equal bins as :mod:`jaxfair.diagnose.calibration`); otherwise,
per label, an isotonic regression of the shown rows' label on their score (monotone in the score,
which is what a calibration of a ranking score can assume), cross-fitted by user: the sessions of one
fold of logged users are predicted by the fit on the other folds' shown rows, so no session's own
outcome enters its prediction.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

__all__ = ["OutcomeModel", "fit_outcome_model", "shown_ece"]


@dataclasses.dataclass(frozen=True, eq=False)
class OutcomeModel:
    """Predicted outcomes Ŷ of every candidate.

    Attributes:
      predictions: float32 ``[S, m, K]``.
      info: ``{"kind": "scores" | "calibrated" | "given", "method", "ece": {label: ECE of the scores on
        shown rows}, "ece_model": {label: out-of-fold ECE of Ŷ}, "folds": n}``.
    """

    predictions: np.ndarray
    info: dict


def shown_ece(values: np.ndarray, labels: np.ndarray, n_bins: int = 10) -> float:
    """ECE of ``values [R]`` against ``labels [R]`` (``n_bins`` equal-width bins over [0, 1], as
    :func:`jaxfair.diagnose.calibration.reliability_table`); NaN when a value is outside [0, 1] (not a
    probability) or there are no rows."""
    f = np.asarray(values, np.float64)
    y = np.asarray(labels, np.float64)
    if f.size == 0 or np.any((f < 0) | (f > 1)):
        return float("nan")
    b = np.clip((f * n_bins).astype(np.int64), 0, n_bins - 1)
    cnt = np.bincount(b, minlength=n_bins)
    gap = np.abs(np.bincount(b, weights=y, minlength=n_bins) - np.bincount(b, weights=f, minlength=n_bins))
    return float(gap.sum() / cnt.sum())


def _user_folds(user_index: tuple[np.ndarray, int], folds: int, key: Any) -> np.ndarray:
    """Fold of each session ``[S]``: logged users (``ImpressionLog.user_index``) dealt to ``folds`` folds in a
    random order."""
    import jax

    inv, n_users = user_index
    seed = int(jax.random.randint(key, (), 0, 2**31 - 1))
    order = np.random.default_rng(seed).permutation(n_users)
    fold_of_user = np.empty(n_users, np.int64)
    fold_of_user[order] = np.arange(n_users) % folds
    return fold_of_user[inv]


def fit_outcome_model(log: Any, *, folds: int = 5, ece_max: float = 0.02, key: Any = None) -> OutcomeModel:
    """Fit Ŷ on the shown rows of ``log`` (see the module docstring).

    Args:
      log: an :class:`~jaxfair.offpolicy.log.ImpressionLog`.
      folds: cross-fitting folds over logged users (at most the number of users, at least 2).
      ece_max: largest ECE of a label's scores on shown rows at which they are used as they are.
      key: PRNG key of the fold assignment (default ``PRNGKey(0)``).
    Returns:
      :class:`OutcomeModel` (``predictions`` float32 ``[S, m, K]``).
    """
    import jax
    from sklearn.isotonic import IsotonicRegression

    from jaxfair.offpolicy.log import ImpressionLog

    if not isinstance(log, ImpressionLog):
        raise ValueError(f"log: expected an ImpressionLog, got {type(log).__name__}")
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 2:
        raise ValueError(f"folds: expected an int >= 2, got {folds!r}")
    if isinstance(ece_max, bool) or not isinstance(ece_max, (int, float)) or not ece_max >= 0:
        raise ValueError(f"ece_max: expected a number >= 0, got {ece_max!r}")
    key = jax.random.PRNGKey(0) if key is None else key
    scores = np.asarray(log.batch.scores)  # float32: only a calibrated label's slice is taken to float64
    labels = np.asarray(log.batch.labels)
    mask = np.asarray(log.batch.mask)
    obs = log.observed
    s, m, n_lab = scores.shape
    n_users = log.n_users
    folds = int(min(folds, n_users))
    fold = None
    pred = np.array(scores, np.float32)  # labels whose scores are used keep them; 0 where not retrieved
    if not mask.all():
        pred[~mask] = 0.0
    ece, ece_model, method = {}, {}, {}
    for kk, name in enumerate(log.label_names):
        sk = scores[..., kk]
        f_shown, y_shown = sk[obs].astype(np.float64), labels[..., kk][obs].astype(np.float64)
        in01 = bool(np.min(sk, where=mask, initial=0.0) >= 0 and np.max(sk, where=mask, initial=1.0) <= 1)
        ece[name] = shown_ece(f_shown, y_shown) if in01 else float("nan")
        if in01 and ece[name] <= ece_max:
            method[name] = "scores"
            ece_model[name] = ece[name]
            continue
        if folds < 2:
            raise ValueError(
                f"log: the scores of {name!r} are not calibrated (ECE {ece[name]:.3g}) and a calibration "
                f"cross-fitted by user needs at least 2 logged users, got {n_users}"
            )
        method[name] = "isotonic"
        if fold is None:
            fold = _user_folds(log.user_index, folds, key)
        pk = np.zeros((s, m), np.float64)
        for f in range(folds):
            train = obs & (fold != f)[:, None]
            iso = IsotonicRegression(out_of_bounds="clip")
            if not train.any():
                raise ValueError(f"log: fold {f} of {folds} leaves no shown rows to calibrate {name!r} on")
            iso.fit(sk[train].astype(np.float64), labels[..., kk][train].astype(np.float64))
            rows = fold == f
            pk[rows] = iso.predict(sk[rows].astype(np.float64).ravel()).reshape(-1, m)
        ece_model[name] = shown_ece(pk[obs], y_shown)
        pred[..., kk] = np.where(mask, pk, 0.0)
    kind = "scores" if all(v == "scores" for v in method.values()) else "calibrated"
    info = {"kind": kind, "method": method, "ece": ece, "ece_model": ece_model, "folds": folds, "ece_max": ece_max}
    return OutcomeModel(pred, info)
