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
    assert "\n# What the numbers are\n" in (tmp_path / "report.md").read_text()  # after the recommended α's
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


def test_each_methods_recommended_alpha_is_stated_with_its_exact_values(tmp_path, capsys):
    """Issue #28.7: summary.md, report.md and the consoles name the α each method recommends."""
    from jaxfair.bo.cli import _print_outcomes
    from jaxfair.bo.report import report
    from jaxfair.bo.statistics import method_recommendations
    from jaxfair.ratio import worst_best_ratio

    rows = _rows(same=(), trials=3)
    rec = method_recommendations(rows).set_index("method")
    # a plain reference: per trial the BO row with the best min-max normalised sum, then the median trial
    u, d = rows["utility_exact"], rows["der_exact"]
    score = (u - u.min()) / (u.max() - u.min()) + (d - d.min()) / (d.max() - d.min())
    bo = rows.assign(score=score)[rows["iteration"] > 0]
    for m, g in bo.groupby("method"):
        best = g.loc[g.groupby("trial")["score"].idxmax()].sort_values("score")
        pick = best.iloc[1]  # the median of 3
        r = rec.loc[m]
        assert (r["trial"], r["eval"], r["trials"]) == (pick["trial"], pick["eval"], 3)
        assert r["alpha_a"] == pick["alpha_a"] and r["utility_exact"] == pick["utility_exact"]
        assert r["der_exact"] == pick["der_exact"]
        assert (r["alpha_a_min"], r["alpha_a_max"]) == (best["alpha_a"].min(), best["alpha_a"].max())
    res = report(rows, tmp_path, figures=False)
    for name in ("summary.md", "report.md"):
        text = (tmp_path / name).read_text()
        assert "Recommended α per method" in text
        for m in ("ei", "fair-ehvi", "random"):
            r = rec.loc[m]
            line = next(ln for ln in text.splitlines() if ln.startswith(f"* **{m}** recommends α = "))
            assert f"a {r['alpha_a']:.3f}, b {r['alpha_b']:.3f}" in line
            assert f"exact utility {r['utility_exact']:.4f}, DER {r['der_exact']:.4f}" in line
    assert (tmp_path / "recommended_alpha.csv").is_file()
    assert sum(line.startswith("* **") for line in res["recommendation"]) == 3
    _print_outcomes(rows, worst_best_ratio, "5,000 held-out users")
    out = capsys.readouterr().out
    assert out.count(" recommends α = (a ") == 3


def test_exact_values_on_a_log_count_what_was_drawn_from_what(tmp_path, capsys):
    """Issue #28.8: "100,000 held-out users" on a 943-user log. A pool or a log's exact batch is
    sessions resampled from the same real users as the online tests: say so, with both counts."""
    import json

    from test_diagnose_outputs import _log

    from jaxfair import scenarios
    from jaxfair.bo.legend import exact_values_text, summary_legend
    from jaxfair.bo.study import run_study

    df = _log(30)
    kw = dict(user="user", group="group", scores=["f_liked", "f_loved"], labels=["liked", "loved"])
    prefs = {"tech": [0.6, 0.4], "student": [0.3, 0.7], "other": [0.5, 0.5]}
    sc = scenarios.from_frame(df, prefs=prefs, **kw)
    n_users = df["user"].nunique()
    run_study(sc, ["random"], out=tmp_path, trials=1, iterations=1, n_init=2, users_per_eval=100, exact_users=500,
              progress=False)  # fmt: skip
    config = json.loads((tmp_path / "study.json").read_text())
    want = f"500 sessions drawn from {n_users} logged users (a draw of its own, apart from the online tests' draws)"
    assert exact_values_text(config) == want
    assert "held-out" not in summary_legend(["median_final_utility"], config)[0]
    # a study.json written before exact_sample: still not "held-out users"
    old = {k: v for k, v in config.items() if k != "exact_sample"}
    assert exact_values_text(old).startswith("500 sessions drawn from the logged users")
    # a generated scenario's users are new draws: held out indeed
    toy = scenarios.load("toy")
    assert exact_values_text({"exact_users": 500, "exact_sample": toy.sample_size(500)}) == "500 held-out users"
