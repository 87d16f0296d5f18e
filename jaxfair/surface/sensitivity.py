"""How a surface's conclusions move over a preference set (SPEC §9): the set's numbers at the
point's chosen α, each statement with the share of members for which it holds, where each
member's optimum lands, and the robust choice.

A statement is **robust** only when it holds for every member; otherwise it says "holds for
X % of the set". "α is the most useful" holds for a member when that member's own optimum is
within one grid step of α (in every coordinate): a finer grid is a stricter test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from jaxfair.preferences.over_set import SetEvaluation
from jaxfair.preferences.robust import holds_text, robust_alpha, share_near
from jaxfair.utils.alpha_names import alpha_columns, alpha_record
from jaxfair.utils.alpha_names import alpha_text as named_alpha_text

__all__ = ["alpha_text", "analyse_set", "flat_set_part"]


def alpha_text(alpha, score_names, *, w_axis: bool = False) -> str:
    """``"w = 0.412"`` on the K = 2 direction, else ``"(f_click 0.72, f_like 0.28, f_share 0.00)"``
    (:func:`jaxfair.utils.alpha_names.alpha_text`)."""
    a = np.asarray(alpha, np.float64)
    if w_axis:
        return f"(w = {a[0]:.3f})"
    return named_alpha_text(a, score_names)


def _statement(text: str, share: float, why: str) -> dict:
    return {"statement": text, "share": share, "label": holds_text(share), "robust": share >= 1.0, "test": why}


def analyse_set(
    res: SetEvaluation,
    *,
    best_utility: int,
    best_der: int,
    step: float,
    q: float = 0.1,
    tau: float = 0.9,
    w_axis: bool = False,
) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """The set's part of a surface summary, the per-α table over the set and the per-member optima.

    Args:
      res: the grid evaluated over the set (the same grid rows as the point evaluation).
      best_utility, best_der: the rows of the point's best-utility and DER-best α.
      step: the grid spacing (one grid step, per coordinate).
      q, tau: the robust choice (:func:`jaxfair.preferences.robust_alpha`).
      w_axis: the grid is the K = 2 direction (α = (w, 1 − w)): α is printed as w.
    Returns:
      ``(summary part, over_set [P rows], optima [Q rows])``.
    """
    labels = res.alpha_names  # α's components are named by the scores they weight
    qn = res.n_members
    a = res.alphas
    iu_q, id_q = res.best_utility_index(), res.best_der_index()
    txt = lambda i: alpha_text(a[i], labels, w_axis=w_axis)  # noqa: E731 - a local shorthand
    statements = [
        _statement(
            f"α = {txt(best_utility)} is the most useful",
            share_near(a, iu_q, best_utility, step),
            f"the member's own best-utility α is within one grid step ({step:.4g}) of it",
        ),
        _statement(
            f"the DER-best α is {txt(best_der)}",
            share_near(a, id_q, best_der, step),
            f"the member's own DER-best α is within one grid step ({step:.4g}) of it",
        ),
    ]
    if best_der != best_utility:
        fairer = float(np.mean(res.der[:, best_der] > res.der[:, best_utility]))
        statements.append(
            _statement(
                f"α = {txt(best_der)} (DER-best) is fairer than α = {txt(best_utility)} (best utility)",
                fairer,
                "the member's DER is higher at the first than at the second",
            )
        )
    choice = robust_alpha(res, q=q, tau=tau)

    def at(i: int) -> dict:
        return {
            "alpha": alpha_record(labels, a[i]),
            **{
                f"{m}_{s}": float(v[i])
                for m in ("utility", "der", "worst_best_ratio")
                for s, v in res.summary(m).items()
            },
        }

    spread = {}
    for key, idx in (("best_utility", iu_q), ("best_der", id_q)):
        lo, hi = a[idx].min(axis=0), a[idx].max(axis=0)
        spread[key] = {
            "min": dict(zip(labels, lo.tolist(), strict=True)),
            "max": dict(zip(labels, hi.tolist(), strict=True)),
            "distinct_alphas": int(len(np.unique(idx))),
        }
    part = {
        "prefs_set": res.prefset.describe(),
        "over_set_note": f"min / median / max over the preference set ({qn} members): a spread over assumed "
        "preferences, not a confidence interval",
        "over_set_at_best_utility": at(best_utility),
        "over_set_at_best_der": at(best_der),
        "statements": statements,
        "optimum_spread": spread,
        "robust_choice": choice.to_dict() | {"over_set": at(choice.index)},
    }
    over_set = res.to_frame()
    if w_axis:
        over_set.insert(0, "w", a[:, 0])
    optima = pd.DataFrame({"member": np.arange(qn)})
    for key, idx in (("best_utility", iu_q), ("best_der", id_q)):
        for i, c in enumerate(alpha_columns(labels, prefix=f"{key}_alpha")):
            optima[c] = a[idx, i]
        optima[f"{key}_utility"] = res.utility[np.arange(qn), idx]
        optima[f"{key}_der"] = res.der[np.arange(qn), idx]
    return part, over_set, optima


def flat_set_part(res: SetEvaluation) -> dict:
    """The set's part of a flat surface's summary: the set and its spread, no statement about a
    best α and no robust choice (every α serves alike; the members differ only in how they value it)."""
    return {
        "prefs_set": res.prefset.describe(),
        "over_set_note": f"min / median / max over the preference set ({res.n_members} members): a spread over "
        "assumed preferences, not a confidence interval",
        "over_set_flat": {
            # Whether every member is flat too (always, when no session has a choice; the
            # numbers below are then every α's) or only the given prefs are (then they are α 0's).
            "every_member_flat": bool(np.all(np.nan_to_num(np.ptp(res.group_utility, axis=1), nan=np.inf) <= 1e-12)),
            **{
                f"{m}_{s}": float(v[0])
                for m in ("utility", "der", "worst_best_ratio")
                for s, v in res.summary(m).items()
            },
        },
        "statements": [],
        "robust_choice": None,
    }
