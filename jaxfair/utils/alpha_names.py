"""How α's components are named in every table, summary and figure: by the **scores** it weights.

α weights the scores f (an item's serving score is α·f), while the true preferences α*(g) weight
the labels Y (a user's utility is α*(g)·Y). The two have K components each and are easily
confused, so: α's columns, record keys and axes carry the *score* names, α*(g)'s the *label*
names. :attr:`jaxfair.scenarios.base.Scenario.score_names` gives the score names: a log's are
its ``--scores`` columns (``f_click``); a built-in scenario's score k is its model's prediction
of label k and carries that label's name (``watched``), so its names do not change.

* :func:`alpha_names_for` — the names themselves: the score names, else (a result given none) the label names;
* :func:`alpha_column` / :func:`alpha_columns` — ``alpha_<score>`` CSV columns;
* :func:`alpha_record` — ``{score: weight}`` for ``summary.json``;
* :func:`alpha_axis` — ``"α (f_click)"`` for figure axes;
* :func:`alpha_text` — ``"(f_click 0.72, f_like 0.28)"`` in sentences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["alpha_axis", "alpha_column", "alpha_columns", "alpha_names_for", "alpha_record", "alpha_text"]


def alpha_names_for(score_names: Sequence[str], label_names: Sequence[str]) -> tuple[str, ...]:
    """What α's columns and axes are named by: the scores it weights, or the label names where a result was
    given no score names (a built-in scenario's score k carries label k's name anyway)."""
    return tuple(str(n) for n in score_names) or tuple(str(n) for n in label_names)


def alpha_column(score: str, prefix: str = "alpha") -> str:
    """``"alpha_f_click"``: the column of α's weight on the score ``score``."""
    return f"{prefix}_{score}"


def alpha_columns(score_names: Sequence[str], alpha: Any = None, prefix: str = "alpha") -> Any:
    """α's ``[K]`` weights as ``{alpha_<score>: weight}``; without ``alpha``, the K column names."""
    names = [alpha_column(str(n), prefix) for n in score_names]
    if alpha is None:
        return names
    a = np.asarray(alpha, np.float64)
    if a.shape != (len(names),):
        raise ValueError(f"alpha: expected {len(names)} weights (one per score {list(score_names)}), got {a.shape}")
    return {c: float(v) for c, v in zip(names, a, strict=True)}


def alpha_record(score_names: Sequence[str], alpha: Any) -> dict[str, float]:
    """α's ``[K]`` weights as ``{score: weight}`` (every α in a ``summary.json`` names its scores)."""
    a = np.asarray(alpha, np.float64)
    if a.shape != (len(score_names),):
        raise ValueError(
            f"alpha: expected {len(score_names)} weights (one per score {list(score_names)}), got {a.shape}"
        )
    return {str(n): float(v) for n, v in zip(score_names, a, strict=True)}


def alpha_axis(score: str) -> str:
    """``"α (f_click)"``: a figure axis along α's weight on ``score``."""
    return f"α ({score})"


def alpha_text(alpha: Any, score_names: Sequence[str], digits: int = 2) -> str:
    """``"(f_click 0.72, f_like 0.28)"``: α in a sentence."""
    a = np.asarray(alpha, np.float64)
    return "(" + ", ".join(f"{n} {x:.{digits}f}" for n, x in zip(score_names, a, strict=True)) + ")"
