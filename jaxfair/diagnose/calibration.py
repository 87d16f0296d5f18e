"""Calibration per group (the premise of the paper's Lemma 2.3) and a user-facing Lemma 2.3 check.

* :func:`reliability_table` — for each label k and group: the retrieved candidates binned by
  f_k in ``n_bins`` equal-width bins of [0, 1], mean score vs observed rate, and the expected
  calibration error ``ECE = Σ_b (n_b / n) |mean Y − mean f|``. Calibration means "a score of p
  comes true with probability p", so it is only defined for a score that *is* a probability:
  a label with any retrieved score outside [0, 1] (a logit, a rating, a raw margin) gets no
  ECE (NaN) and the sentence :data:`NOT_A_PROBABILITY` instead of a number that would look
  like a (huge) miscalibration.
* :func:`lemma23_check` — is α ∝ α*(g) the utility maximiser on this batch? For each group's
  α*(g), every user of the batch is valued with α*(g) (Y | X does not depend on the group, so
  the whole batch estimates that population's utility) and α*(g) is compared with the best α
  on a grid of directions.
* :func:`calibration_premise` — are the scores calibrated enough for the lemma (and Theorem
  3.3, which assumes it) to apply? Calibration cannot be proven from a sample; the premise is
  judged met when every label's ECE, over all users and within every group, is at most
  :data:`CALIBRATION_TOLERANCE` (0.02: the toy's scores, calibrated by construction, stay
  below 0.01 at a few thousand users). It is not met, with that reason, when some label's
  scores are not probabilities (calibration not measured).

Lemma 2.3's premises: calibrated scores, α* > 0 (every entry positive) and every item
retrievable. The first two are checked (``applies``); retrievability is a property of the
retrieval model that a batch cannot show and is not checked. Where the premises are met,
``holds`` says whether the bootstrap backs α*(g) as the maximiser: the best α on the grid
(chosen on the full batch) is compared with α*(g) on the same resamples, and ``holds`` is
True when the CI of the shortfall contains 0, False when it excludes 0 (some α is better),
None when the lemma does not apply or there is no bootstrap.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pandas as pd

from jaxfair.engine.batch import Batch
from jaxfair.engine.kernels import served_value
from jaxfair.utils.percent import percent
from jaxfair.validation import check_batch_prefs

__all__ = [
    "CALIBRATION_TOLERANCE",
    "NOT_A_PROBABILITY",
    "calibration_premise",
    "expected_calibration_error",
    "lemma23_check",
    "reliability_table",
]

#: Largest ECE (any label, all users or any group) at which scores count as calibrated.
CALIBRATION_TOLERANCE = 0.02
#: What the ECE table says instead of a number for a label whose scores leave [0, 1].
NOT_A_PROBABILITY = "not a probability: calibration not measured"


def reliability_table(
    batch: Batch, label_names: Sequence[str] | None = None, group_names: Sequence[str] | None = None, n_bins: int = 10
) -> pd.DataFrame:
    """Reliability table over retrieved candidates, one row per (label, group, bin).

    Columns: ``label, group, bin, lo, hi, n, mean_score, mean_label, n_outside``. Scores
    outside [0, 1] fall in the first / last bin and are counted in ``n_outside`` (such a label's
    scores are not probabilities: :func:`expected_calibration_error` gives it no ECE). Groups
    include ``"all"``.
    """
    if not isinstance(batch, Batch):
        raise ValueError(f"batch: expected a jaxfair.Batch, got {type(batch).__name__}")
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins: expected an int >= 1, got {n_bins!r}")
    k = batch.n_labels
    label_names = list(label_names) if label_names is not None else [f"label{i}" for i in range(k)]
    if len(label_names) != k:
        raise ValueError(f"label_names: expected {k} names, got {len(label_names)}")
    mask = np.asarray(batch.mask)
    f = np.asarray(batch.scores, np.float64)[mask]  # [R, K]
    y = np.asarray(batch.labels, np.float64)[mask]
    g = np.broadcast_to(np.asarray(batch.group)[:, None], mask.shape)[mask]
    n_groups = int(g.max()) + 1 if len(g) else 0
    group_names = list(group_names) if group_names is not None else [f"group {i}" for i in range(n_groups)]
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    rows = []
    for kk, lname in enumerate(label_names):
        b = np.clip(np.searchsorted(edges, f[:, kk], side="right") - 1, 0, n_bins - 1)
        for gid, gname in [(None, "all")] + [(i, group_names[i]) for i in range(min(n_groups, len(group_names)))]:
            sel = np.ones(len(g), bool) if gid is None else g == gid
            cnt = np.bincount(b[sel], minlength=n_bins)
            sf = np.bincount(b[sel], weights=f[sel, kk], minlength=n_bins)
            sy = np.bincount(b[sel], weights=y[sel, kk], minlength=n_bins)
            outside = np.bincount(b[sel], weights=(f[sel, kk] < 0) | (f[sel, kk] > 1), minlength=n_bins)
            with np.errstate(invalid="ignore", divide="ignore"):
                for i in range(n_bins):
                    rows.append(
                        {
                            "label": lname,
                            "group": gname,
                            "bin": i,
                            "lo": edges[i],
                            "hi": edges[i + 1],
                            "n": int(cnt[i]),
                            "mean_score": sf[i] / cnt[i] if cnt[i] else np.nan,
                            "mean_label": sy[i] / cnt[i] if cnt[i] else np.nan,
                            "n_outside": int(outside[i]),
                        }
                    )
    return pd.DataFrame(rows)


def expected_calibration_error(table: pd.DataFrame) -> pd.DataFrame:
    """ECE per (label, group) from :func:`reliability_table`: ``label, group, n, ece, calibration``.

    ``calibration`` is ``"measured"``, or — for a label with any score outside [0, 1] among all
    users' retrieved candidates — :data:`NOT_A_PROBABILITY` with the share outside, and ``ece``
    is then NaN for every group of that label (its scores are not probabilities whatever the
    group). A table without ``n_outside`` (made by hand) is taken as all inside [0, 1].
    """
    t = table[table["n"] > 0]
    outside = t["n_outside"] if "n_outside" in t else pd.Series(0, index=t.index)
    overall = t.assign(n_outside=outside).groupby("label", sort=False)[["n", "n_outside"]].sum()
    out = []
    for (lab, grp), sub in t.groupby(["label", "group"], sort=False):
        n = sub["n"].sum()
        n_all, n_out = overall.loc[lab, "n"], overall.loc[lab, "n_outside"]
        if n_out:
            ece = float("nan")
            calibration = f"{NOT_A_PROBABILITY} ({percent(int(n_out), of=int(n_all))} of {lab}'s scores outside [0, 1])"
        else:
            ece = float(np.sum(sub["n"] / n * np.abs(sub["mean_label"] - sub["mean_score"])))
            calibration = "measured"
        out.append({"label": lab, "group": grp, "n": int(n), "ece": ece, "calibration": calibration})
    return pd.DataFrame(out)


def _direction_grid(k: int, n_grid: int, rng: np.random.Generator, extra: np.ndarray) -> np.ndarray:
    if k == 1:
        grid = np.ones((1, 1))
    elif k == 2:
        w = np.linspace(0.0, 1.0, n_grid)
        grid = np.stack([w, 1.0 - w], axis=1)
    else:
        grid = np.vstack([np.eye(k), rng.dirichlet(np.ones(k), size=n_grid)])
    return np.vstack([extra, grid])


def calibration_premise(
    batch: Batch, tol: float = CALIBRATION_TOLERANCE, table: pd.DataFrame | None = None
) -> tuple[bool, str]:
    """``(met, why)``: every label's ECE (all users and each group) is at most ``tol``.

    ``table``: an :func:`expected_calibration_error` table to reuse (default: computed here).
    """
    if not tol >= 0:
        raise ValueError(f"tol: expected a number >= 0, got {tol!r}")
    ece = expected_calibration_error(reliability_table(batch)) if table is None else table
    if len(ece) == 0:
        return False, "no retrieved candidates to judge calibration on"
    unmeasured = ece[ece["ece"].isna()]
    if len(unmeasured):  # an ECE of a logit is not a miscalibration: the premise is undefined, say why
        labels = ", ".join(dict.fromkeys(str(lab) for lab in unmeasured["label"]))
        return False, f"{NOT_A_PROBABILITY} ({labels}: scores outside [0, 1])"
    worst = ece.loc[ece["ece"].idxmax()]
    if worst["ece"] <= tol:
        return True, f"calibrated: max ECE {worst['ece']:.4f} <= {tol}"
    return False, f"not calibrated: ECE {worst['ece']:.4f} > {tol} ({worst['label']}, {worst['group']})"


def lemma23_check(
    batch: Batch,
    prefs: Any,
    *,
    group_names: Sequence[str] | None = None,
    n_grid: int = 101,
    seed: int = 0,
    n_boot: int = 0,
    key: Any = None,
    clusters: Any = None,
    level: float = 0.95,
    ece_tol: float = CALIBRATION_TOLERANCE,
    ece_table: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Lemma 2.3 on a batch: utility at α = α*(g) vs the best α on a grid, per group's α*(g).

    The grid: ``n_grid`` points (w, 1 − w) for K = 2; the K unit vectors plus ``n_grid``
    Dirichlet(1) directions for K > 2 (seeded). Returns one row per group: ``utility_at_alpha_star``,
    ``best_utility``, ``best_alpha`` (normalised to sum 1), ``shortfall`` (best − at α*, >= 0 up to
    the grid), ``relative_shortfall`` and ``direction_l1`` (L1 distance between the best α and
    α*(g), both normalised to sum 1); ``applies`` / ``premise`` (calibration within ``ece_tol``
    and α*(g) > 0, see the module docstring), ``shortfall_ci_low`` / ``shortfall_ci_high``
    (bootstrap with ``n_boot`` resamples of users within groups, or of ``clusters``, as in
    :func:`~jaxfair.diagnose.decompose.decompose`), ``holds`` and a ``verdict`` sentence.
    ``ece_table``: an :func:`expected_calibration_error` table (with label and group names) to
    judge the calibration premise on (default: computed from the batch, generic names).
    """
    from jaxfair.diagnose.decompose import bootstrap_counts, check_clusters

    prefs_np = check_batch_prefs(batch, prefs)
    if isinstance(n_grid, bool) or not isinstance(n_grid, (int, np.integer)) or n_grid < 2:
        raise ValueError(f"n_grid: expected an int >= 2, got {n_grid!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot: expected an int >= 0, got {n_boot!r}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level: expected 0 < level < 1, got {level!r}")
    group = np.asarray(batch.group)
    clusters = check_clusters(clusters, group)
    n_groups, k = prefs_np.shape
    names = list(group_names) if group_names is not None else [f"group {g}" for g in range(n_groups)]
    calibrated, why = calibration_premise(batch, ece_tol, ece_table)
    counts = None
    if n_boot:
        counts = np.asarray(
            bootstrap_counts(jax.random.PRNGKey(0) if key is None else key, group, int(n_boot), clusters), np.float64
        )
    rng = np.random.default_rng(seed)
    q = (1 - level) / 2
    rows = []
    for g in range(n_groups):
        star = prefs_np[g]
        if not np.any(star > 0):
            raise ValueError(f"prefs: row {g} is all zero; α ∝ α*(g) would serve nothing")
        grid = _direction_grid(k, int(n_grid), rng, (star / star.sum())[None])
        value = jnp.einsum("nmk,k->nm", batch.labels, jnp.asarray(star, jnp.float32))
        per_user = np.asarray(served_value(jnp.asarray(grid, jnp.float32), batch, value), np.float64)  # [N, P]
        u = per_user.mean(0)
        best = int(np.argmax(u))
        b = grid[best] / grid[best].sum()
        positive = bool(np.all(star > 0))
        applies = calibrated and positive
        premise = "; ".join(
            [
                why,
                "α*(g) > 0" if positive else "α*(g) has a zero entry (the lemma needs α* > 0)",
                "retrievability not checked",
            ]
        )
        lo = hi = np.nan
        if counts is not None:
            diff = counts @ (per_user[:, best] - per_user[:, 0]) / counts.sum(1)  # [B] shortfall per resample
            lo, hi = (float(x) for x in np.quantile(diff, [q, 1 - q]))
        if not applies:
            holds, verdict = None, "does not apply (" + (why if not calibrated else "α*(g) not > 0") + ")"
        elif counts is None:
            holds, verdict = None, "not checked (no bootstrap CI: n_boot = 0)"
        elif best == 0 or lo <= 0:
            holds, verdict = True, f"holds (shortfall CI [{lo:+.4f}, {hi:+.4f}] contains 0)"
        else:
            holds, verdict = False, f"violated (shortfall CI [{lo:+.4f}, {hi:+.4f}] excludes 0)"
        rows.append(
            {
                "group": names[g],
                "alpha_star": (star / star.sum()).round(6).tolist(),
                "utility_at_alpha_star": float(u[0]),
                "best_utility": float(u[best]),
                "best_alpha": b.round(6).tolist(),
                "shortfall": float(u[best] - u[0]),
                "shortfall_ci_low": lo,
                "shortfall_ci_high": hi,
                "relative_shortfall": float((u[best] - u[0]) / u[best]) if u[best] > 0 else 0.0,
                "direction_l1": float(np.abs(b - star / star.sum()).sum()),
                "applies": applies,
                "premise": premise,
                "holds": holds,
                "verdict": verdict,
            }
        )
    return pd.DataFrame(rows)
