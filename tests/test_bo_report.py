"""The report of a study from hand-made rows (no study run): what its figures and tables say."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jaxfair.bo.report import report


def _rows(same=("random", "fair-ehvi"), trials=2, n_init=3, iterations=3) -> pd.DataFrame:
    """Exact (utility, DER) rows of three methods; the methods in ``same`` find identical values."""
    out = []
    for t in range(trials):
        rng = np.random.default_rng(t)
        init = rng.random((n_init, 2))
        shared = rng.random((iterations, 2))
        for m in ("ei", "fair-ehvi", "random"):
            bo = shared if m in same else np.random.default_rng([t, len(m)]).random((iterations, 2))
            for e, (u, d) in enumerate(np.vstack([init, bo])):
                it = max(0, e - n_init + 1)
                out.append(
                    dict(
                        scenario="hand",
                        method=m,
                        trial=t,
                        eval=e,
                        iteration=it,
                        phase="init" if it == 0 else "bo",
                        utility_exact=0.5 + 0.3 * u,
                        der_exact=0.9 + 0.1 * d,
                        alpha_a=u,
                        alpha_b=1 - u,
                        group_utility_exact_g0=0.5 + 0.3 * u,
                        group_utility_exact_g1=0.4 + 0.3 * u * d,
                    )
                )
    return pd.DataFrame(out)


@pytest.fixture
def legends(monkeypatch):
    """Legend texts of every figure the report saves, by file name."""
    from matplotlib.figure import Figure

    seen: dict[str, list[str]] = {}
    real = Figure.savefig

    def savefig(fig, path, *a, **k):
        texts = [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        texts += [t.get_text() for leg in fig.legends for t in leg.get_texts()]
        seen[getattr(path, "name", str(path))] = texts
        return real(fig, path, *a, **k)

    monkeypatch.setattr(Figure, "savefig", savefig)
    return seen


def test_hypervolume_names_a_method_hidden_under_another(tmp_path, legends):
    """fair-ehvi found exactly random's values: its mean line lies on random's, so the legend
    says so (as the dynamics figures do) and the two get their own dash and markers."""
    report(_rows(), tmp_path)
    texts = legends["hypervolume_hand.png"]
    assert "random: mean of 2 trials (same curve as fair-ehvi)" in texts, texts
    assert "ei: mean of 2 trials" in texts and "fair-ehvi: mean of 2 trials" in texts, texts
    report(_rows(same=()), tmp_path / "b")
    assert not any("same curve" in t for t in legends["hypervolume_hand.png"])


def test_same_as_is_relative_to_tiny_hypervolumes(tmp_path, legends):
    rows = _rows(same=())
    rows["der_exact"] = 0.999999 + 1e-6 * (rows["der_exact"] - 0.9) / 0.1  # hypervolumes ~1e-7
    report(rows, tmp_path)
    assert not any("same curve" in t for t in legends["hypervolume_hand.png"])


def test_summary_says_what_each_column_is(tmp_path):
    """median_final_utility (the last α) sat beside the recommended α's value with nothing to
    tell them apart: summary.md and report.md (a note of report.html) say which is which."""
    res = report(_rows(), tmp_path)
    md = (tmp_path / "summary.md").read_text()
    table, _, legend = md.partition("## What the columns are")
    assert "median_final_utility" in table and legend, md
    assert "`median_final_utility`" in legend and "evaluated **last**" in legend
    assert "**single α each trial recommends**" in legend and "differs from `median_final_*`" in legend
    assert "`median_hv`" in legend and "`median_scalarised`" in legend
    assert (tmp_path / "report.md").read_text().startswith("# What the numbers are")
    assert res["legend"] == legend.strip().splitlines()
    # The summary CSV (what report.html's table shows) keeps its columns.
    assert list(pd.read_csv(tmp_path / "summary.csv").columns) == list(res["summary"].columns)


def test_exact_values_are_worded_per_mode():
    from jaxfair.bo.legend import exact_values_text

    assert exact_values_text({"exact_users": 5000}) == "5,000 held-out users"
    replay = {"exact_users": 5000, "exact_batch": "logged sessions, each once"}
    assert exact_values_text(replay) == "every logged session once (a replay has no held-out users)"
    assert exact_values_text(replay, sessions="1,886 logged sessions of 943 users") == (
        "every logged session once (1,886 logged sessions of 943 users; a replay has no held-out users)"
    )
    assert exact_values_text({"exact_users": 10, "horizon": 5}).endswith("over 5 periods of retention dynamics")


def test_bo_lines_say_the_mode_and_the_recommended_ratio(capsys):
    """`jaxfair bo`'s closing lines: the header names what the exact values are on (a replay
    has no held-out users), and the recommended line carries worst/best like the last line."""
    from jaxfair.bo.cli import _print_outcomes
    from jaxfair.ratio import worst_best_ratio

    rows = _rows()
    _print_outcomes(rows, worst_best_ratio, "every logged session once (a replay has no held-out users)")
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("exact values on every logged session once (a replay has no held-out users)")
    assert "held-out users," not in out[0]
    rec = [line for line in out if "recommended (" in line]
    assert len(rec) == 3 and all("worst/best group utility" in line for line in rec), out
