"""Issue #28, "what the pages say": every verdict over a preference set carries its share on
every page (5), the held-out phrase counts what was drawn from what (8), and the pages' words,
markers and names (9)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from test_diagnose_outputs import SMALL, _data_flags, _log

from jaxfair.cli import main

# ---- #28.5: diagnose --groups pairs --prefs-set: every verdict on every page carries its share ----

SHARE = re.compile(r" — (robust \(\d+/\d+ members\)|holds for [<>]?[\d.]+ % \(\d+/\d+\) of the preference set)")

# the docs' example log carries no preferences (#28.2): the example states them
EXAMPLE_PREFS = {"majority": [0.8, 0.2], "minority": [0.2, 0.8]}


@pytest.fixture(scope="module")
def pairs_over_set(tmp_path_factory):
    d = tmp_path_factory.mktemp("pairs_set")
    _log(90).to_csv(d / "logs.csv", index=False)
    out = d / "o"
    argv = ["diagnose", *_data_flags(d / "logs.csv"), "--users", "400", *SMALL, "--groups", "pairs"]
    return d, out, [*argv, "--prefs-set", "dirichlet:5:5", "--html", "--out", str(out)]


def test_pairs_over_a_set_say_each_verdicts_share_on_every_page(pairs_over_set, capsys):
    _, out, argv = pairs_over_set
    assert main(argv) == 0
    console = capsys.readouterr().out
    for line in console.splitlines():
        if re.match(r"\s+(Thm 3\.1|attribution of the gap|retrieval Q_m|Lemma 2\.3)", line):
            assert SHARE.search(line), line
    report = (out / "report.md").read_text()
    verdict_lines = [ln for ln in report.splitlines() if re.match(r"\s*- (attribution|Theorem 3\.[13]):", ln)]
    assert len(verdict_lines) == 3 * 5  # 3 pairs x (2 attributions, 2 bounds, Theorem 3.3)
    assert all(SHARE.search(ln) for ln in verdict_lines), verdict_lines
    summary = json.loads((out / "summary.json").read_text())
    assert summary["prefs_set"]["n_members"] == 5
    for pair in summary["pairs"]:
        v = pair["verdicts"]
        texts = [v[k] for k in ("attribution_given", "attribution_best", "theorem31_given", "theorem31_best")]
        texts += [v["theorem33"], *v["lemma23"].values()]
        assert all(SHARE.search(t) for t in texts), texts
    table = pd.read_csv(out / "pairs.csv")
    assert table["attribution_over_set"].str.match(SHARE.pattern.removeprefix(" — ")).all()
    html = (out / "report.html").read_text()
    assert "!terms" not in html and "(figure: terms over the preference set" in html  # #28.9: an image, not "!"
    assert html.count("members)") + html.count("of the preference set") >= len(verdict_lines)
    # a pair's own page too
    pair = summary["pairs"][0]["folder"]
    own = (out / pair / "report.md").read_text().split("## Rules")[0]
    own_lines = [ln for ln in own.splitlines() if re.match(r"- (attribution|Theorem 3\.[13]|Lemma 2\.3 at)", ln)]
    assert len(own_lines) == 5 + 3 and all(SHARE.search(ln) for ln in own_lines), own_lines


# ---- #28.9: the pages' words, markers and names -------------------------------------------------


def test_markdown_images_are_pointed_to_not_shown_as_a_bang():
    from jaxfair.htmlreport.elements import markdown_html

    html = markdown_html("text\n\n![terms over the preference set](prefs_set_terms.png)\n\nsee [the docs](x.md)")
    assert "!" not in html
    assert "(figure: terms over the preference set — prefs_set_terms.png, with the figures)" in html
    assert "the docs (x.md)" in html


def test_prefs_html_shows_the_estimated_mapping(tmp_path):
    from test_estimate import LABELS, TRUTH

    from jaxfair.preferences import served_sessions

    log = served_sessions(TRUTH, users_per_group=150, sessions_per_user=8, label_names=LABELS,
                          group_names=["students", "tech"], seed=0)  # fmt: skip
    log.to_csv(tmp_path / "served.csv", index=False)
    out = tmp_path / "out"
    argv = ["prefs", "--data", str(tmp_path / "served.csv"), "--user", "user", "--group", "group", "--labels"]
    argv += [",".join(LABELS), "--satisfaction", "satisfied", "--n-boot", "20", "--html", "--out", str(out)]
    assert main(argv) == 0
    summary = json.loads((out / "summary.json").read_text())
    est = summary["estimated_prefs_by_group"]
    assert set(est) == {"students", "tech"} and list(est["tech"]) == LABELS
    assert est["tech"]["share"] == pytest.approx(summary["groups"]["tech"]["alpha"][2])
    html = (out / "report.html").read_text()
    assert "No preference mapping is recorded" not in html
    assert "the preferences estimated from the log" in html and "true preferences α*(g) each group was" not in html


def _inside(fig) -> list[str]:
    """Texts of ``fig`` (suptitle, axes titles, labels) that reach outside the figure."""
    fig.canvas.draw()
    box = fig.bbox
    out = []
    texts = [fig._suptitle] if fig._suptitle is not None else []
    for ax in fig.axes:
        texts += [ax.title, ax.xaxis.label, ax.yaxis.label]
    for t in texts:
        if not t.get_text():
            continue
        bb = t.get_window_extent()
        if bb.x0 < box.x0 - 1 or bb.x1 > box.x1 + 1 or bb.y1 > box.y1 + 1:
            out.append(t.get_text())
    return out


@pytest.fixture(scope="module")
def log_surface():
    from jaxfair import scenarios
    from jaxfair.surface.compute import compute_surface

    path = Path(__file__).resolve().parents[1] / "examples" / "logs.csv"  # the docs' example log
    cols = dict(
        user="user_id", group="group", scores=["f_click", "f_like"], labels=["click", "like"], prefs=EXAMPLE_PREFS
    )
    sc = scenarios.from_file(path, **cols)
    return compute_surface(sc, n_users=2000, n_grid=11)


def test_log_surface_titles_fit_in_their_figures(log_surface):
    import matplotlib.pyplot as plt

    from jaxfair.surface.figures import plot_surface

    figs = plot_surface(log_surface)
    try:
        for fig in figs:
            assert _inside(fig) == []
    finally:
        for fig in figs:
            plt.close(fig)


def test_simplex_set_gives_each_meaning_its_own_marker():
    import matplotlib.pyplot as plt
    import numpy as np

    from jaxfair import scenarios
    from jaxfair.surface.compute import compute_surface
    from jaxfair.surface.simplex_figures import plot_simplex_set

    sc = scenarios.load("toy", n_labels=3)
    fig = plot_simplex_set(compute_surface(sc, n_users=300, n_grid=7, prefs_set="dirichlet:30:6"))
    try:
        leg = fig.legends[0]
        seen = {}
        for h, text in zip(leg.legend_handles, [t.get_text() for t in leg.get_texts()], strict=True):
            path = h.get_paths()[0].vertices.round(3).tobytes()
            edge, face = (tuple(np.round(c, 3).ravel()) for c in (h.get_edgecolor(), h.get_facecolor()))
            look = (path, edge, face)
            assert look not in seen, f"{text!r} looks like {seen.get(look)!r}"
            seen[look] = text
        assert _inside(fig) == []
    finally:
        plt.close(fig)


def test_alpha_is_named_by_the_scores_it_weights(log_surface, tmp_path):
    """#28.9: α weights the scores, so its columns, records and axes carry the score columns'
    names (f_click, f_like), while the prefs keep the labels' (click, like)."""
    import matplotlib.pyplot as plt

    from jaxfair import scenarios
    from jaxfair.bo.study import run_study
    from jaxfair.surface.figures import plot_surface
    from jaxfair.utils.alpha_names import alpha_axis, alpha_columns, alpha_record

    assert alpha_columns(["f_click", "f_like"]) == ["alpha_f_click", "alpha_f_like"]
    assert alpha_record(["f_click", "f_like"], [0.25, 0.75]) == {"f_click": 0.25, "f_like": 0.75}
    assert alpha_axis("f_click") == "α (f_click)"
    with pytest.raises(ValueError, match="alpha: expected 2 weights"):
        alpha_columns(["a", "b"], [1.0])
    s = log_surface
    assert s.score_names == ("f_click", "f_like") and s.label_names == ("click", "like")
    assert list(s.direction.columns[1:3]) == ["alpha_f_click", "alpha_f_like"]
    assert {"alpha_f_click", "alpha_f_like"} <= set(s.box.columns) and "alpha_click" not in s.box.columns
    assert list(s.summary["best_utility"]["alpha"]) == ["f_click", "f_like"]
    assert list(next(iter(s.summary["prefs"].values()))) == ["click", "like"]
    figs = plot_surface(s)
    try:
        ax = figs[0].axes[0]
        assert (ax.get_xlabel(), ax.get_ylabel()) == ("α (f_click)", "α (f_like)")
        assert "(f_click, f_like)" in figs[1].axes[-1].get_xlabel()
    finally:
        for fig in figs:
            plt.close(fig)
    # a built-in scenario's score k is its model's prediction of label k: same names as before
    toy = scenarios.load("toy")
    assert toy.score_names == toy.label_names
    # bo rows of a log
    path = Path(__file__).resolve().parents[1] / "examples" / "logs.csv"
    cols = dict(
        user="user_id", group="group", scores=["f_click", "f_like"], labels=["click", "like"], prefs=EXAMPLE_PREFS
    )
    rows = run_study(scenarios.from_file(path, **cols), ["random"], out=tmp_path, trials=1, iterations=1, n_init=2,
                     users_per_eval=100, exact_users=300, progress=False)  # fmt: skip
    assert {"alpha_f_click", "alpha_f_like"} <= set(rows.columns) and "alpha_click" not in rows.columns


def test_a_resumed_log_study_keeps_its_label_named_alpha_columns():
    import pandas as pd

    from jaxfair.bo.rows import RowNames

    assert RowNames.build(["f_a", "f_b"], ["g0", "g1"], label_names=["a", "b"]).alphas == ("alpha_f_a", "alpha_f_b")
    old = pd.DataFrame({"alpha_a": [0.5], "alpha_b": [0.5]})  # written when α's columns carried the labels
    assert RowNames.build(["f_a", "f_b"], ["g0", "g1"], [old], label_names=["a", "b"]).alphas == ("alpha_a", "alpha_b")
    new = pd.DataFrame({"alpha_f_a": [0.5], "alpha_f_b": [0.5]})
    assert RowNames.build(["f_a", "f_b"], ["g0", "g1"], [new], label_names=["a", "b"]).alphas == (
        "alpha_f_a",
        "alpha_f_b",
    )
