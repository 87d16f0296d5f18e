"""A BO study on an impression log (SPEC §10, issue #27): objectives are off-policy estimates and
the search stays inside the identified region — a not-identified α never reaches the GP."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from jaxfair.bo.space import SearchSpace
from jaxfair.cli import main


def epsilon_frame(n_sessions: int = 400, m: int = 4, eps: float = 0.1, seed: int = 0) -> pd.DataFrame:
    """A top-1 log served by ``epsilon:eps@0.5,0.5``: the argmax of f0 + f1, or with probability eps a
    uniform candidate; the propensity column is that policy's. Directions far from w = 0.5 are
    rarely served by it, so the log identifies only a band around w = 0.5."""
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_sessions):
        f = rng.random((m, 2))
        best = int(np.argmax(f.sum(1)))
        shown = int(rng.integers(m)) if rng.random() < eps else best
        p = (1 - eps) * (shown == best) + eps / m
        for c in range(m):
            on = c == shown
            rows.append(
                dict(
                    user=f"u{s // 2}",
                    session=s,
                    group="a" if (s // 2) % 3 else "b",
                    candidate=c,
                    f0=f[c, 0],
                    f1=f[c, 1],
                    y0=float(rng.random() < f[c, 0]) if on else np.nan,
                    y1=float(rng.random() < f[c, 1]) if on else np.nan,
                    shown=int(on),
                    p=p if on else np.nan,
                )
            )
    return pd.DataFrame(rows)


def _bo_on_log(path, out, *extra, shown=("--shown", "shown")) -> int:
    """``jaxfair bo`` on the log at ``path`` (columns of :func:`epsilon_frame` / a slate frame), random search,
    one trial, the propensity column ``p``; ``extra`` flags after the common ones."""
    argv = ["bo", "--data", str(path), "--scores", "f0,f1", "--labels", "y0,y1", "--user", "user", "--group", "group"]
    argv += ["--session", "session", "--candidate", "candidate", *shown, "--propensity", "p"]
    argv += ["--prefs", "a=0.8,0.2;b=0.2,0.8", "--methods", "random", "--trials", "1", "--out", str(out), "--quiet"]
    return main([*argv, *extra])


@pytest.mark.parametrize("k", [2, 3, 4])
def test_search_space_from_alpha_inverts_to_alpha(k):
    space = SearchSpace(k)
    x = np.random.default_rng(k).random((6, k - 1))
    np.testing.assert_allclose(space.from_alpha(space.to_alpha(x)), x, atol=1e-12)


def test_bo_on_an_impression_log_stays_inside_the_identified_region(tmp_path, capsys):
    path = tmp_path / "log.csv"
    epsilon_frame().to_csv(path, index=False)
    out = tmp_path / "bo"
    assert _bo_on_log(path, out, "--logging", "epsilon:0.1@0.5,0.5", "--iterations", "3", "--n-init", "3") == 0
    printed = capsys.readouterr().out
    assert "the search stays inside the identified region" in printed and "off-policy dr estimate" in printed
    assert "recommends α = (f0 " in printed and "estimated utility" in printed and "exact utility" not in printed
    config = json.loads((out / "study.json").read_text())
    region = config["offpolicy"]["identified_region"]
    assert 0 < region["identified_share"] < 1  # the log identifies a band, not the whole axis
    (lo, hi), *rest = region["w_intervals"]
    assert not rest and lo < 0.5 < hi
    rows = pd.read_csv(out / "rows.csv")
    assert np.isfinite(rows[["utility", "der", "utility_exact", "der_exact"]].to_numpy()).all()
    assert rows["x0"].between(lo - 1e-9, hi + 1e-9).all()  # every evaluated (and GP-fitted) α is identified
    moved = rows["note"].fillna("").str.contains("not identified, evaluated at the nearest identified")
    assert moved.any()  # random search proposed outside the band and was moved, with a note saying so
    assert main(["report", str(out), "--no-figures", "--quiet"]) == 0
    assert "identified region" in (out / "report" / "summary.md").read_text()
    report_md = (out / "report" / "summary.md").read_text()
    assert "Estimated values on the whole impression log" in report_md and "exact utility" not in report_md


def test_bo_on_an_impression_log_over_a_preference_set(tmp_path, capsys):
    """--prefs-set on a log: the robust objectives (utility_q10, der_min) are the set's members applied to the
    same off-policy label means (SPEC §9), in the identified region as before; the rows' robust values are
    those of the estimate itself."""
    from jaxfair.bo.objectives import set_values
    from jaxfair.offpolicy import estimate
    from jaxfair.preferences import PrefSet

    path = tmp_path / "log.csv"
    epsilon_frame().to_csv(path, index=False)
    out = tmp_path / "bo"
    extra = ["--prefs-set", "dirichlet:50:8", "--objectives", "utility_q10,der_min", "--iterations", "2"]
    extra += ["--n-init", "2", "--estimator", "ips"]  # no outcome model: the check below recomputes the same estimate
    assert _bo_on_log(path, out, *extra) == 0
    config = json.loads((out / "study.json").read_text())
    assert config["prefs_set"]["n_members"] == 8 and "offpolicy" in config
    rows = pd.read_csv(out / "rows.csv")
    cols = ["utility_q10", "der_min", "utility_q10_exact", "der_min_exact"]
    assert set(cols) <= set(rows.columns) and np.isfinite(rows[cols].to_numpy()).all()
    # The exact robust values are the point estimate's label means weighted by the set's members.
    from jaxfair.scenarios import from_file

    sc = from_file(
        str(path), user="user", group="group", session="session", candidate="candidate", scores=["f0", "f1"],
        labels=["y0", "y1"], shown="shown", propensity="p", prefs={"a": [0.8, 0.2], "b": [0.2, 0.8]},
    )  # fmt: skip
    from jaxfair.surface.offpolicy import impression_log

    log = impression_log(sc)
    ps = PrefSet.for_scenario("dirichlet:50:8", sc, name="prefs_set")
    w = rows["x0"].to_numpy()
    est = estimate(np.stack([w, 1 - w], 1), log, estimator="ips", n_boot=0)
    set_u, set_d = set_values(est.label_means, est.group_sessions, ps.values)
    np.testing.assert_allclose(rows["der_min_exact"], set_d.min(axis=0), rtol=1e-6)  # [Q, P]: min over members


def test_bo_on_a_slate_log_serves_its_slates_and_states_the_assumption(tmp_path, capsys):
    """A slate log (--position): the study optimises the slates as logged (k from the log, its position weights),
    its exact values are the independent-position estimates themselves, and the assumption is printed and
    recorded beside them."""
    from test_impressions_cli import slate_frame

    from jaxfair.offpolicy import estimate
    from jaxfair.scenarios import from_file
    from jaxfair.surface.offpolicy import impression_log

    path = tmp_path / "log.csv"
    slate_frame(n_sessions=1200, k=2).to_csv(path, index=False)
    out = tmp_path / "bo"
    extra = ["--estimator", "ips", "--iterations", "2", "--n-init", "2"]
    assert _bo_on_log(path, out, *extra, shown=("--position", "position")) == 0
    assert "slates of 2: independent-position IPS: assumes" in capsys.readouterr().out
    config = json.loads((out / "study.json").read_text())
    assert config["slate"] == 2 and len(config["position_weights"]) == 2
    assert "depends only on the item and its position" in config["offpolicy"]["slate_assumption"]
    rows = pd.read_csv(out / "rows.csv")
    sc = from_file(
        str(path), user="user", group="group", session="session", candidate="candidate", scores=["f0", "f1"],
        labels=["y0", "y1"], position="position", propensity="p", prefs={"a": [0.8, 0.2], "b": [0.2, 0.8]},
    )  # fmt: skip
    w = rows["x0"].to_numpy()
    est = estimate(np.stack([w, 1 - w], 1), impression_log(sc), estimator="ips", n_boot=0)
    mu = np.einsum("pgk,gk->pg", est.label_means, np.array([[0.8, 0.2], [0.2, 0.8]]))
    want = mu @ (est.group_sessions / est.group_sessions.sum())
    np.testing.assert_allclose(rows["utility_exact"], want, rtol=1e-5)  # slates: float32 channel sums
    assert main(["report", str(out), "--no-figures", "--quiet"]) == 0
    assert "independent-position IPS" in (out / "report" / "summary.md").read_text()
