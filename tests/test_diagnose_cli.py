"""Diagnosis end to end: scenario covariates, the bound on every scenario kind, the CLI and its errors."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest

from jaxfair import scenarios
from jaxfair.cli import main
from jaxfair.diagnose import decompose
from jaxfair.diagnose.pipeline import alpha_grid, diagnose_scenario, sample_for_diagnosis
from jaxfair.scenarios.pool import PoolScenario, pool_arrays


def _pool_with_features(n_users=300, seed=0, **sampling):
    rng = np.random.default_rng(seed)
    counts = rng.integers(5, 60, n_users)
    user = np.repeat(np.arange(n_users), counts)
    x = rng.normal(size=(n_users, 3))
    group = (rng.random(n_users) < 1 / (1 + np.exp(-x[:, 0]))).astype(np.int32)  # groups depend on X
    q = x[user, 1:2] + rng.normal(size=(len(user), 2))  # outcomes depend on X
    scores = 1 / (1 + np.exp(-q))
    arrays = pool_arrays(scores, (rng.random(scores.shape) < scores), user, group, rng, user_features=x)
    return PoolScenario(
        name="test-pool",
        label_names=["a", "b"],
        group_names=["g0", "g1"],
        arrays=arrays,
        seed=seed,
        options={},
        sampling=sampling,
        feature_names=["x", "y", "z"],
    )


def test_pool_gathers_user_features():
    sc = _pool_with_features()
    b = sc.sample(jax.random.PRNGKey(0), 500)
    assert b.features.shape == (500, 3) and sc.feature_names == ("x", "y", "z")
    # Each sampled user's covariates are their pool row: same group ↔ same covariates.
    uf, ug = sc.arrays["user_features"], sc.arrays["user_group"]
    f, g = np.asarray(b.features), np.asarray(b.group)
    idx = [int(np.flatnonzero(np.all(uf == row, axis=1))[0]) for row in f[:50]]
    assert np.array_equal(ug[idx], g[:50])
    with pytest.raises(ValueError, match="user_features"):
        pool_arrays(
            np.ones((2, 2)),
            np.ones((2, 2)),
            np.array([0, 1]),
            np.array([0, 1]),
            np.random.default_rng(0),
            user_features=np.array([[np.nan], [1.0]]),
        )


@pytest.mark.parametrize(
    "make",
    [
        lambda: scenarios.load("toy"),
        lambda: scenarios.load(
            "toy", covariate_shift=2.0, covariate_effect=1.0, retrieval_gradient=2.0, n_candidates=5
        ),
        lambda: scenarios.load("toy", n_labels=3, covariate_shift=1.0, covariate_effect=0.5),
        lambda: _pool_with_features(),
        lambda: _pool_with_features(retrieval="single-label", retrieval_pool=30),
    ],
    ids=["toy", "toy-shifted", "toy-K3", "pool", "pool-single-label"],
)
def test_theorem31_bound_holds_on_scenarios(make):
    sc = make()
    smp = sample_for_diagnosis(sc, jax.random.PRNGKey(3), 3000, pool_factor=2)
    grid = alpha_grid(sc.n_labels, 11, sc.prefs, (1, 0))
    d = decompose(grid, smp.batch, sc.prefs, groups=(1, 0), n_boot=0, n_folds=3)
    assert np.all(d.bound.optimal >= np.abs(d.terms[:, 1]) - 1e-6)
    assert np.all(np.abs(d.terms[:, :3].sum(1) - d.terms[:, 3]) < 1e-12)
    # Production sessions are exactly m wide and drawn from the larger pool.
    assert smp.batch.n_candidates == sc.n_candidates
    assert np.all(np.asarray(smp.batch.mask).sum(1) == smp.production.sum(1))


def test_synthetic_scenario_covariates_and_group_correlation(tmp_path):
    kw = dict(cache_dir=tmp_path, n_samples=2000, n_trees=5, rows_per_user=20, n_jobs=1)
    sc = scenarios.load("synthetic", **kw)
    assert sc.arrays["user_features"].shape == (sc.n_pool_users, 2)
    corr = scenarios.load("synthetic", group_covariate_corr=0.9, **kw)
    x, g = corr.arrays["user_features"][:, 0], corr.arrays["user_group"]
    assert x[g == 1].mean() > x[g == 0].mean() + 0.5 * x.std()
    # Only the groups differ (rows are shuffled within users differently, so compare sorted).
    np.testing.assert_array_equal(np.sort(sc.arrays["scores"], axis=0), np.sort(corr.arrays["scores"], axis=0))
    with pytest.raises(ValueError, match="group_covariate_corr"):
        scenarios.load("synthetic", group_covariate_corr=1.0, **kw)


def test_diagnose_scenario_toy_exact():
    sc = scenarios.load("toy", covariate_shift=1.0, covariate_effect=0.5, retrieval_gradient=3.0)
    d = diagnose_scenario(sc, n_users=2000, n_grid=5, n_boot=20, exact=True, pool_factor=2)
    assert d.weights.method == "exact"
    for at in d.attribution.values():
        assert sum(at.gap_shares.values()) == pytest.approx(at.gap, abs=1e-9)
    assert d.points.alphas.shape == (2, 2)
    # The α labels above the figure never overlap, even where the two α sit close together.
    import matplotlib.pyplot as plt

    from jaxfair.diagnose.figures import place_marker_labels, terms_figure

    for a_best in (d.alpha_best, d.alpha_given, d.alpha_given + [0.01, 0.0]):
        d.alpha_best = np.asarray(a_best)
        fig, labels = terms_figure(d, None, return_figure=True)
        r = fig.canvas.get_renderer()
        boxes = [t.get_window_extent(r) for t in labels]
        assert len(boxes) == 2 and not boxes[0].overlaps(boxes[1])
        plt.close(fig)
    fig, ax = plt.subplots()
    boxes = [
        t.get_window_extent(fig.canvas.get_renderer())
        for t in place_marker_labels(ax, [(0.5, "a"), (0.5, "b"), (0.51, "c")])
    ]
    assert not any(boxes[i].overlaps(boxes[j]) for i in range(3) for j in range(i))
    plt.close(fig)


def test_cli_writes_report(tmp_path, capsys):
    out = tmp_path / "diag"
    rc = main(
        [
            "diagnose",
            "--scenario",
            "toy",
            "--option",
            "covariate_shift=1.0",
            "--users",
            "1500",
            "--grid",
            "5",
            "--n-boot",
            "10",
            "--alpha",
            "0.5,0.5",
            "--pool-factor",
            "2",
            "--out",
            str(out),
        ]
    )
    assert rc == 0
    for f in (
        "terms.png",
        "overlap.png",
        "attribution.png",
        "decomposition_grid.csv",
        "decomposition_points.md",
        "attribution_shares.csv",
        "calibration_ece.md",
        "lemma23.csv",
        "summary.json",
    ):
        assert (out / f).is_file(), f
    s = json.loads((out / "summary.json").read_text())
    t = s["alpha_given"]
    assert t["term4"]["estimate"] + t["term5"]["estimate"] + t["term6"]["estimate"] == pytest.approx(
        t["gap"]["estimate"], abs=1e-12
    )
    printed = capsys.readouterr().out
    # The verdict the CLI prints is the one summary.json and report.md record (one rule everywhere).
    verdict = s["attribution"]["given"]["verdict"]
    assert verdict.startswith(("blames", "inconclusive")) and f"→ {verdict}" in printed
    assert s["verdicts"]["attribution_given"].endswith(verdict) and verdict in (out / "report.md").read_text()
    assert s["retrieval"]["applies"] in (True, False) and "verdict" in s["retrieval"]
    assert "applies" in s["alpha_given"]["theorem31"] and all("verdict" in r for r in s["lemma23"])


@pytest.mark.parametrize(
    "argv, msg",
    [
        (["--alpha", "1,2,3"], "--alpha: expected 2 weights"),
        (["--alpha", "0,0"], "--alpha: expected finite weights"),
        (["--groups", "1,1"], "--groups"),
        (["--option", "covariate_shift=-1"], "covariate_shift"),
    ],
)
def test_cli_user_errors_are_one_line(argv, msg, capsys, tmp_path):
    rc = main(["diagnose", "--scenario", "toy", "--users", "100", "--out", str(tmp_path), *argv])
    assert rc == 2
    err = capsys.readouterr().err
    last = err.strip().splitlines()[-1]
    assert last.startswith("jaxfair: error:") and msg in last


def test_movielens_gender_groups_and_covariates_on_generated_files(tmp_path):
    from scenario_fixtures import write_ml100k

    d = write_ml100k(tmp_path, n_users=40)
    # u.user: id|age|gender|occupation|zip; every third user female.
    occ = ["engineer", "writer", "student"]
    (d / "u.user").write_text(
        "".join(f"{u + 1}|{20 + u}|{'F' if u % 3 == 0 else 'M'}|{occ[u % 3]}|0{u:04d}\n" for u in range(40)),
        encoding="latin-1",
    )
    kw = dict(data_dir=tmp_path, cache_dir=tmp_path / "c", n_trees=5, n_jobs=1)
    sc = scenarios.load("movielens", groups="gender", **kw)
    assert sc.group_names == ("male", "female")
    # Pool users keep their ids in order (every user has rows): group = gender.
    np.testing.assert_array_equal(sc.arrays["user_group"], (np.arange(40) % 3 == 0).astype(int))
    assert sc.arrays["user_features"].shape == (40, 19 + 1 + 3)
    assert "age/50" in sc.feature_names and not any("gender" in n for n in sc.feature_names)
    np.testing.assert_allclose(sc.arrays["user_features"][:, 19], (20 + np.arange(40)) / 50, rtol=1e-6)
    smp = sample_for_diagnosis(sc, jax.random.PRNGKey(0), 2000, pool_factor=2)
    dec = decompose(alpha_grid(2, 5, sc.prefs, (1, 0)), smp.batch, sc.prefs, groups=(1, 0), n_boot=0, n_folds=3)
    assert np.all(dec.bound.optimal >= np.abs(dec.terms[:, 1]) - 1e-6)
    rnd = scenarios.load("movielens", **kw)  # default stays the scrambled groups
    assert rnd.group_names == ("majority", "minority") and rnd.options["groups"] == "random"
    with pytest.raises(ValueError, match="groups"):
        scenarios.load("movielens", groups="age", **kw)
