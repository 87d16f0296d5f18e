"""How every share is printed as a percentage: :func:`percent`.

The rule (one place, so a page never reads more robust or more certain than it is):

* exactly 1 → ``"100 %"``, exactly 0 → ``"0 %"`` (no decimal: only these are whole);
* otherwise the exact value of 100 × share, rounded **half-even** to one decimal
  (``2/3`` → ``"66.7 %"``, ``1/16`` → ``"6.2 %"``, ``255/256`` → ``"99.6 %"``);
* a share below 1 that would round to 100.0 prints ``">99.9 %"`` (``2559/2560``), and a share
  above 0 that would round to 0.0 prints ``"<0.1 %"`` — never 100 % or 0 % unless exactly so.

A count ``n`` of ``d`` is rounded from the exact fraction (:class:`fractions.Fraction`), a float
from its exact binary value (also a Fraction), so no floating-point step moves a tie.
"""

from __future__ import annotations

import math
from fractions import Fraction
from numbers import Integral, Real

__all__ = ["percent"]


def percent(share: Real, of: int | None = None) -> str:
    """A share as ``"66.7 %"`` by the module's rule.

    Args:
      share: a share in [0, 1] (a float or a :class:`~fractions.Fraction`), or, with ``of``, a
        count ``n`` (an integer, 0 ≤ n ≤ of).
      of: the denominator of a count (a positive integer), or None.

    Raises:
      ValueError: a share outside [0, 1] or not finite; a count that is not an integer in [0, of].
    """
    if of is not None:
        if isinstance(of, bool) or not isinstance(of, Integral) or of <= 0:
            raise ValueError(f"of: expected a positive integer denominator, got {of!r}")
        if isinstance(share, bool) or not isinstance(share, Integral) or not 0 <= share <= of:
            raise ValueError(f"share: expected a count in [0, {of}] with of={of}, got {share!r}")
        exact = Fraction(int(share), int(of))
    else:
        if isinstance(share, bool) or not isinstance(share, Real):
            raise ValueError(f"share: expected a number in [0, 1], got {share!r}")
        if isinstance(share, Fraction):
            exact = share
        else:
            value = float(share)
            if not math.isfinite(value):
                raise ValueError(f"share: expected a number in [0, 1], got {share!r}")
            exact = Fraction(value)  # the float's exact binary value
        if not 0 <= exact <= 1:
            raise ValueError(f"share: expected a number in [0, 1], got {share!r}")
    if exact == 1:
        return "100 %"
    if exact == 0:
        return "0 %"
    tenths = exact * 1000  # 100 × share in tenths of a percent, still exact
    whole, rest = divmod(tenths.numerator, tenths.denominator)
    rest = Fraction(rest, tenths.denominator)
    if rest > Fraction(1, 2) or (rest == Fraction(1, 2) and whole % 2):  # half-even
        whole += 1
    if whole >= 1000:
        return ">99.9 %"
    if whole <= 0:
        return "<0.1 %"
    return f"{whole // 10}.{whole % 10} %"
