"""Issue #28.6: one rule for every printed share — half-even to one decimal, never 100 % / 0 %
unless exactly so — and the pages that print shares use it."""

from __future__ import annotations

import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from jaxfair.utils.percent import percent

PCT = re.compile(r"^(?:(?P<lt><)|(?P<gt>>))?(?P<v>\d+(?:\.\d)?) %$")


def _value(text: str) -> float:
    m = PCT.match(text)
    assert m, text
    return float(m["v"])


def _half_even_tenths(x: Fraction) -> int:
    """A plain reference: 1000·x rounded half-even to an integer (Python's round on a Fraction)."""
    return round(x * 1000)


@given(st.integers(1, 100_000).flatmap(lambda d: st.tuples(st.integers(0, d), st.just(d))))
def test_counts_round_half_even_and_never_reach_the_ends(nd):
    n, d = nd
    text = percent(n, of=d)
    exact = Fraction(n, d)
    if n == d:
        assert text == "100 %"
    elif n == 0:
        assert text == "0 %"
    else:
        assert "100" not in text.split(".")[0] or text.startswith(">")
        assert text not in ("100.0 %", "0.0 %", "100 %", "0 %")
        tenths = _half_even_tenths(exact)
        if tenths >= 1000:
            assert text == ">99.9 %"
        elif tenths <= 0:
            assert text == "<0.1 %"
        else:
            assert text == f"{tenths // 10}.{tenths % 10} %"
            assert abs(_value(text) - 100 * n / d) <= 0.05 + 1e-12


@given(st.floats(0.0, 1.0, allow_nan=False))
def test_floats_agree_with_their_exact_fraction_and_are_monotone(x):
    assert percent(x) == percent(Fraction(x))
    y = np.nextafter(x, 2.0) if x < 1.0 else x
    order = {"<": -0.05, ">": 0.05}

    def key(t):
        return _value(t) + order.get(t[0], 0.0)

    assert key(percent(x)) <= key(percent(min(float(y), 1.0)))
    if 0.0 < x < 1.0:
        assert percent(x) not in ("100 %", "0 %", "100.0 %", "0.0 %")


@pytest.mark.parametrize(
    "args, want",
    [((2, 3), "66.7 %"), ((255, 256), "99.6 %"), ((2559, 2560), ">99.9 %"), ((1, 16), "6.2 %"), ((3, 16), "18.8 %")]
    + [((1, 2560), "<0.1 %"), ((0, 4), "0 %"), ((4, 4), "100 %"), ((1, 2), "50.0 %")],
)
def test_examples(args, want):
    assert percent(*args) == want


@pytest.mark.parametrize(
    "args, match",
    [((1.5,), "share"), ((-0.1,), "share"), ((float("nan"),), "share"), (("a",), "share")]
    + [((3, 2), "share"), ((1, 0), "of"), ((0.5, 4), "share"), ((True,), "share")],
)
def test_bad_inputs_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        percent(*args)


def test_the_pages_print_shares_by_the_rule():
    from jaxfair.diagnose.prefset import robustness_label
    from jaxfair.preferences.robust import holds_text

    assert robustness_label(255, 256) == "holds for 99.6 % (255/256) of the preference set"
    assert robustness_label(2, 3) == "holds for 66.7 % (2/3) of the preference set"
    assert robustness_label(256, 256) == "robust (256/256 members)"
    assert holds_text(2 / 3) == "holds for 66.7 % of the set"
    assert holds_text(2559 / 2560) == "holds for >99.9 % of the set"
    assert holds_text(1.0).startswith("robust")
