"""Line figures where curves may coincide: which curve equals an earlier one, and line styles
that keep every curve visible (own colour, dash and markers at staggered points).

Used by the dynamics figures (one curve per policy) and the BO hypervolume figure (one mean
curve per method): two policies or methods with identical values would otherwise draw one
line over the other, and the legend would name a curve nobody can see.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["MARKERS", "same_as", "same_curve_label", "staggered_style"]

MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*")


def same_as(curves: Sequence[np.ndarray], names: Sequence[str], atol: float = 1e-9) -> list[str | None]:
    """For each curve, the name of the first earlier curve with the same values, or None.

    Args:
      curves: one array per curve (any shape; curves of different shapes never match); NaN
        matches NaN.
      names: one name per curve.
      atol: the largest absolute difference still "the same" (rtol 0).
    """
    if len(curves) != len(names):
        raise ValueError(f"names: expected one name per curve ({len(curves)}), got {len(names)}")
    arrays = [np.asarray(c, np.float64) for c in curves]
    out: list[str | None] = []
    for i, a in enumerate(arrays):
        twin = next(
            (
                names[j]
                for j in range(i)
                if arrays[j].shape == a.shape and np.allclose(a, arrays[j], rtol=0, atol=atol, equal_nan=True)
            ),
            None,
        )
        out.append(twin)
    return out


def same_curve_label(name: str, twin: str | None) -> str:
    """The legend entry: ``name``, or ``"name (same curve as twin)"``."""
    return name if twin is None else f"{name} (same curve as {twin})"


def staggered_style(i: int, n_curves: int, length: int, color=None) -> dict:
    """Matplotlib ``plot`` keywords of curve ``i`` of ``n_curves`` over ``length`` points: a
    colour (``color``, default the tab10 colour i), dash and marker of its own, markers at
    points staggered by ``i`` so that a curve lying on another shows its markers between. A
    curve too short to stagger (fewer than ~8 points per curve) marks every point instead, the
    earlier curves with larger markers, so coinciding markers nest rather than cover each other."""
    import matplotlib.pyplot as plt

    step = max(1, length // 8)
    staggered = step >= n_curves  # the offsets (i·step) // n are then distinct
    return dict(
        color=plt.get_cmap("tab10")(i % 10) if color is None else color,
        ls=("-", "--", "-.", ":")[i % 4],
        marker=MARKERS[i % len(MARKERS)],
        markevery=(min(max(length - 1, 0), (i * step) // max(1, n_curves)), step) if staggered else None,
        ms=4 if staggered else 4 + 2.5 * (n_curves - 1 - i),
        lw=1.5,
    )
