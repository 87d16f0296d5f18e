"""What ``jaxfair diagnose`` writes (audit 21): the recorded command line, sessions vs logged
users, label names in every table, every pair of groups, the multi-pair HTML page, and the
figures' layout."""

from __future__ import annotations

import json

import pytest

from jaxfair.cli import main
from jaxfair.htmlreport import command_line


@pytest.mark.parametrize("flags", [["--quiet"], ["--debug"], ["--quiet", "--debug"]])
def test_recorded_command_keeps_quiet_and_debug(tmp_path, flags):
    out = tmp_path / "s"
    argv = ["surface", "--scenario", "toy", "--users", "200", "--grid", "3", *flags, "--out", str(out)]
    assert main(argv) == 0
    recorded = json.loads((out / "summary.json").read_text())["command"]
    for flag in flags:  # they act anywhere, so the record may move them to the end
        assert f" {flag}" in recorded
    rest = [a for a in argv if a not in flags]
    assert recorded == command_line(rest + flags)


def test_calibration_of_scores_that_are_not_probabilities_is_not_measured():
    import numpy as np

    from jaxfair.diagnose.calibration import (
        NOT_A_PROBABILITY,
        calibration_premise,
        expected_calibration_error,
        lemma23_check,
        reliability_table,
    )
    from jaxfair.engine.batch import make_batch

    rng = np.random.default_rng(0)
    logit = rng.normal(0.0, 2.0, (400, 5, 1))  # label "raw": a logit, unbounded
    prob = 1 / (1 + np.exp(-rng.normal(0.0, 1.0, (400, 5, 1))))  # label "p": a probability
    scores = np.concatenate([prob, logit], axis=-1)
    labels = (rng.random(scores.shape) < 0.5).astype(np.float32)
    batch = make_batch(scores, labels, group=np.arange(400) % 2)
    ece = expected_calibration_error(reliability_table(batch, ["p", "raw"], ["a", "b"]))
    raw, p = ece[ece["label"] == "raw"], ece[ece["label"] == "p"]
    assert raw["ece"].isna().all() and len(raw) == 3  # all, a, b: never a number
    assert raw["calibration"].str.startswith(NOT_A_PROBABILITY).all()
    assert "of raw's scores outside [0, 1]" in raw["calibration"].iloc[0]
    assert p["ece"].notna().all() and (p["calibration"] == "measured").all()
    met, why = calibration_premise(batch, table=ece)
    assert not met and why == f"{NOT_A_PROBABILITY} (raw: scores outside [0, 1])"
    lem = lemma23_check(batch, np.array([[0.5, 0.5], [0.2, 0.8]]), ece_table=ece, n_boot=5)
    assert not lem["applies"].any()
    assert lem["verdict"].str.contains("not a probability: calibration not measured", regex=False).all()
    # Scores inside [0, 1] are measured as before.
    ok = make_batch(np.clip(scores, 0, 1), labels, group=np.arange(400) % 2)
    assert expected_calibration_error(reliability_table(ok))["ece"].notna().all()


# ---- a 3-group log, diagnosed once per mode ---------------------------------------------------

GROUPS = ("tech", "student", "other")
PREFS = "--prefs=tech=0.6,0.4;student=0.3,0.7;other=0.5,0.5"


def _log(n_users: int = 60, seed: int = 0):
    """``n_users`` logged users in 3 named groups (X shifts with the group), 1-3 sessions of 6
    candidates each; labels ``liked``/``loved`` with probability scores."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        g = u % 3
        x = rng.normal(0.5 * g, 1.0)
        for s in range(int(rng.integers(1, 4))):
            f = rng.random((6, 2))
            y = (rng.random((6, 2)) < 0.2 + 0.6 * f).astype(int)
            rows += [(f"u{u:03d}", f"{u}-{s}", GROUPS[g], x, *f[j], *y[j]) for j in range(6)]
    return pd.DataFrame(rows, columns=["user", "session", "group", "x", "f_liked", "f_loved", "liked", "loved"])


def _data_flags(path) -> list[str]:
    return ["--data", str(path), "--scores", "f_liked,f_loved", "--labels", "liked,loved", "--group", "group"] + [
        "--user",
        "user",
        "--features",
        "x",
        PREFS,
    ]


SMALL = ["--grid", "3", "--n-boot", "10", "--pool-factor", "2"]


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    d = tmp_path_factory.mktemp("logs")
    df = _log()
    df.to_csv(d / "logs.csv", index=False)
    return d / "logs.csv", df


@pytest.fixture(scope="module")
def replay_run(logged, tmp_path_factory):
    """``diagnose --replay`` of the log (the default pair): its output folder."""
    path, _ = logged
    out = tmp_path_factory.mktemp("replay") / "o"
    argv = ["diagnose", *_data_flags(path), "--replay", "--session", "session", *SMALL, "--out", str(out)]
    assert main(argv) == 0
    return out


def test_tables_and_summary_name_the_scores_and_the_labels(replay_run):
    """α weights the scores (f_liked, f_loved), α*(g) the labels (liked, loved): each is named by its own."""
    import pandas as pd

    for name in ("decomposition_grid.csv", "decomposition_points.csv"):
        cols = list(pd.read_csv(replay_run / name).columns)
        assert cols[:2] == ["alpha_f_liked", "alpha_f_loved"] and "alpha_0" not in cols, cols
    lem = pd.read_csv(replay_run / "lemma23.csv")
    want = {"alpha_star_liked", "alpha_star_loved", "best_alpha_f_liked", "best_alpha_f_loved"}
    assert want <= set(lem.columns) and not {"alpha_star", "best_alpha"} & set(lem.columns)
    row = lem.set_index("group").loc["tech"]
    assert (row["alpha_star_liked"], row["alpha_star_loved"]) == pytest.approx((0.6, 0.4))
    s = json.loads((replay_run / "summary.json").read_text())
    for alpha in (
        s["alpha_given"]["alpha"],
        s["alpha_utility_optimal"]["alpha"],
        s["utility_optimal"]["alpha"],
        s["attribution"]["given"]["alpha"],
        s["attribution"]["best"]["alpha"],
        s["lemma23"][0]["best_alpha"],
    ):
        assert list(alpha) == ["f_liked", "f_loved"], alpha
    assert list(s["lemma23"][0]["alpha_star"]) == ["liked", "loved"]  # a true preference weights labels
    assert s["alpha_given"]["alpha"] == {"f_liked": 0.5, "f_loved": 0.5}


@pytest.fixture(scope="module")
def pool_diagnosis(logged):
    """The log as a pool (600 sessions drawn from its 60 users), diagnosed through the Python API."""
    import numpy as np

    from jaxfair import scenarios
    from jaxfair.diagnose.pipeline import diagnose_scenario

    _, df = logged
    prefs = {"tech": [0.6, 0.4], "student": [0.3, 0.7], "other": [0.5, 0.5]}
    sc = scenarios.from_frame(
        df, user="user", group="group", scores=["f_liked", "f_loved"], labels=["liked", "loved"], features=["x"],
        prefs=prefs, n_candidates=6,
    )  # fmt: skip
    d = diagnose_scenario(sc, n_users=600, n_grid=3, n_boot=10, pool_factor=2, groups=("tech", "other"))
    assert np.all(d.group >= 0)
    return d


@pytest.fixture(scope="module")
def toy_diagnosis():
    from jaxfair import scenarios
    from jaxfair.diagnose.pipeline import diagnose_scenario

    return diagnose_scenario(scenarios.load("toy"), n_users=400, n_grid=3, n_boot=10, exact=True, pool_factor=2)


def _legend_texts(ax) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_pool_figures_count_sessions_and_name_the_logged_users(pool_diagnosis, logged, tmp_path):
    import matplotlib.pyplot as plt
    import numpy as np

    from jaxfair.diagnose.figures import attribution_figure, overlap_figure, terms_figure
    from jaxfair.diagnose.report import summary_dict

    d, (_, df) = pool_diagnosis, logged
    pop = d.population
    assert sum(pop.sessions.values()) == 600 and not pop.simulated and pop.user_noun == "logged users"
    # Each group's sessions come from at most its logged users (20 each), not from 200 "users".
    users = df.drop_duplicates("user").groupby("group").size().to_dict()
    for name in ("tech", "other"):
        assert pop.sessions[name] == int(np.sum(d.group == d.group_names.index(name)))
        assert 1 <= pop.users[name] <= users[name] == 20
    fig = overlap_figure(d, None, return_figure=True)
    ax = fig.axes[0]
    assert ax.get_ylabel() == "sessions"
    for name in ("tech", "other"):
        want = f"{name}: {pop.sessions[name]:,} sessions of {pop.users[name]:,} logged users"
        assert want in _legend_texts(ax)
    assert "600 sessions drawn from 60 logged users" in ax.get_title()
    assert f"ESS {d.weights.ess:,.0f} sessions" in ax.get_title()
    plt.close(fig)
    fig = attribution_figure(d, None, return_figure=True)
    title = fig._suptitle.get_text()
    assert "600 sessions drawn from 60 logged users" in title and pop.group_text("tech") in title
    plt.close(fig)
    fig, _ = terms_figure(d, None, return_figure=True)
    assert pop.pair_text(["tech", "other"]) in fig.axes[0].get_title()
    plt.close(fig)
    s = summary_dict(d)
    assert "n_users" not in s and s["n_sessions"] == 600
    assert s["group_sessions"] == pop.sessions and s["group_logged_users"] == pop.users
    assert (
        s["sessions_are"] == "sessions drawn with replacement from the logged users: one user may stand behind several"
    )
    point = s["alpha_given"]
    assert point["n_sessions"] == {"tech": pop.sessions["tech"], "other": pop.sessions["other"]}
    assert point["logged_users"] == {"tech": pop.users["tech"], "other": pop.users["other"]}


def test_replay_summary_counts_logged_sessions_and_users(replay_run, logged):
    _, df = logged
    s = json.loads((replay_run / "summary.json").read_text())
    sessions = df.drop_duplicates("session").groupby("group").size().to_dict()
    users = df.drop_duplicates("user").groupby("group").size().to_dict()
    assert "n_users" not in s and s["n_sessions"] == sum(sessions.values())
    assert s["group_sessions"] == sessions and s["group_logged_users"] == users
    assert s["sessions_are"] == "every logged session once: one of the logged users may have several"
    g1, g0 = s["groups"]["g1"], s["groups"]["g0"]
    assert s["alpha_given"]["n_sessions"] == {g1: sessions[g1], g0: sessions[g0]}
    assert s["alpha_given"]["logged_users"] == {g1: users[g1], g0: users[g0]}
    report = (replay_run / "report.md").read_text()
    assert f"{g1}: {sessions[g1]:,} sessions of {users[g1]:,} logged users" in report


def test_simulated_users_are_said_to_be_simulated(toy_diagnosis):
    import matplotlib.pyplot as plt

    from jaxfair.diagnose.figures import overlap_figure
    from jaxfair.diagnose.report import summary_dict

    d = toy_diagnosis
    pop = d.population
    assert pop.simulated and pop.users is None and pop.unit == "simulated users"
    fig = overlap_figure(d, None, return_figure=True)
    assert fig.axes[0].get_ylabel() == "simulated users"
    assert f"majority: {pop.sessions['majority']:,} simulated users" in _legend_texts(fig.axes[0])
    assert "on 400 simulated users" in fig.axes[0].get_title()
    plt.close(fig)
    s = summary_dict(d)
    assert s["n_sessions"] == 400 and s["group_logged_users"] is None
    assert s["sessions_are"].startswith("each session is one simulated user")


@pytest.mark.parametrize("which", ["pool", "toy"])
def test_attribution_suptitle_clears_the_panel_titles(which, pool_diagnosis, toy_diagnosis):
    import matplotlib.pyplot as plt

    from jaxfair.diagnose.figures import attribution_figure

    d = pool_diagnosis if which == "pool" else toy_diagnosis
    fig = attribution_figure(d, None, return_figure=True)
    fig.canvas.draw()  # constrained layout places the artists at draw time
    r = fig.canvas.get_renderer()
    sup = fig._suptitle.get_window_extent(r)
    assert "prefs:" in fig._suptitle.get_text()
    for ax in fig.axes:
        title = ax.title.get_window_extent(r)
        assert not sup.overlaps(title), (sup, title)
        assert sup.y0 > title.y1 and not sup.overlaps(ax.get_window_extent(r))
    plt.close(fig)


def test_terms_ci_edges_over_the_bars_and_the_vacuous_ceiling(toy_diagnosis):
    import matplotlib.pyplot as plt
    import numpy as np

    from jaxfair.diagnose.figures import terms_figure

    d = toy_diagnosis
    b = d.grid.bound
    assert b.applies and np.all(b.vacuous)  # toy's default prefs: bound > 0.6 = the largest |term (5)|
    fig, _ = terms_figure(d, None, return_figure=True)
    ax1, _, ax3 = fig.axes[:3]
    bars = max(p.get_zorder() for p in ax1.patches)
    n = len(d.grid.alphas)  # the α markers are dashed too, but vertical (2 points)
    edges = [ln for ln in ax1.get_lines() if ln.get_linestyle() == "--" and len(ln.get_ydata()) == n]
    assert len(edges) == 2 and all(ln.get_zorder() > bars for ln in edges)
    np.testing.assert_allclose(np.sort([ln.get_ydata() for ln in edges], axis=0), np.sort(d.grid.ci[:, 3].T, axis=0))
    ceiling = [ln for ln in ax3.get_lines() if ln.get_label().startswith("largest |term (5)| possible")]
    assert len(ceiling) == 1
    np.testing.assert_allclose(ceiling[0].get_ydata(), b.term5_max)
    lo, hi = ax3.get_ylim()
    assert lo <= b.term5_max <= hi
    plt.close(fig)


@pytest.fixture(scope="module", params=["pairs", "all"])
def several_pairs(request, logged, tmp_path_factory):
    """``diagnose --groups pairs|all --html`` of the 3-group log (pool of 600 sessions)."""
    path, _ = logged
    out = tmp_path_factory.mktemp(request.param) / "o"
    argv = ["diagnose", *_data_flags(path), "--users", "600", *SMALL, "--groups", request.param, "--html"]
    assert main([*argv, "--out", str(out)]) == 0
    return request.param, out


def test_groups_pairs_gives_every_unordered_pair_and_all_keeps_its_reference(several_pairs):
    import pandas as pd

    mode, out = several_pairs
    s = json.loads((out / "summary.json").read_text())
    assert s["groups_mode"] == mode and "pooled rest" in s["not_offered"]
    pairs = [(p["g1"], p["g0"]) for p in s["pairs"]]
    mu = s["group_utility_at_alpha_given"]
    if mode == "pairs":  # G(G-1)/2 = 3, each once, g1 the better served of the two
        assert len(pairs) == 3 and {frozenset(p) for p in pairs} == {
            frozenset(p) for p in [GROUPS[:2], GROUPS[1:], GROUPS[::2]]
        }
        assert all(mu[g1] >= mu[g0] for g1, g0 in pairs)
    else:  # G - 1 = 2 against the best served
        best = max(mu, key=mu.get)
        assert len(pairs) == 2 and {g1 for g1, _ in pairs} == {best}
    for g1, g0 in pairs:
        pair = json.loads((out / f"{g1}-vs-{g0}" / "summary.json").read_text())
        assert (pair["groups"]["g1"], pair["groups"]["g0"]) == (g1, g0)
        assert pair["command"] == s["command"]  # every part records the command
    table = pd.read_csv(out / "pairs.csv")
    assert len(table) == len(pairs) * 2 * 4 and {"alpha_f_liked", "alpha_f_loved"} <= set(table.columns)
    assert "alpha" not in table.columns


def test_several_pairs_html_embeds_every_pair(several_pairs):
    import base64

    from test_htmlreport import Page

    mode, out = several_pairs
    s = json.loads((out / "summary.json").read_text())
    page = Page((out / "report.html").read_text())
    text = page.plain
    pngs = sorted(out.glob("*/*.png"))
    assert len(pngs) == 3 * len(s["pairs"]) and len(page.images) == len(pngs)
    decoded = sorted(base64.b64decode(src.partition(",")[2]) for src in page.images)
    assert decoded == sorted(p.read_bytes() for p in pngs)
    for tag, attr, value in page.refs:  # self-contained: no link to the pair pages or anything else
        assert value.startswith(("data:", "#")), (tag, attr, value[:80])
    assert all(len(set(rows)) == 1 for rows in page.tables)
    assert "No preference mapping is recorded" not in text and "not opened" not in text
    assert "group liked loved other 0.5 0.5 student 0.3 0.7 tech 0.6 0.4" in text
    for p in s["pairs"]:
        assert f"{p['g1']} (g1) vs {p['g0']} (g0)" in text
        for key in ("attribution_given", "theorem31_given", "theorem33"):
            assert p["verdicts"][key].split(": ", 1)[-1] in text
        assert f"{p['folder']}/terms.png" in text  # figure captions name the pair's folder
        sub = Page((out / p["folder"] / "report.html").read_text())  # each pair's own page
        assert len(sub.images) == 3 and "No preference mapping is recorded" not in sub.plain


def test_groups_help_says_why_no_pooled_rest(capsys):
    with pytest.raises(SystemExit):
        main(["diagnose", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "'pairs': every unordered pair" in text and "No pair against the pooled rest" in text
