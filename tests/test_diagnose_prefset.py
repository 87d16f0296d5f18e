"""Diagnosis issues #20.3 / #21.3 / #21.8: K >= 3 optimum, pairs by name, slate default pair,
numeric to_frame, vacuous Theorem 3.1, recorded warnings, and the diagnosis over a preference set."""

from __future__ import annotations

import itertools
import json
import warnings
from unittest import mock

import jax
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from reference import decomposition_ref
from strategies import batches, lattice_alphas

from jaxfair import make_batch, scenarios
from jaxfair.cli import main
from jaxfair.diagnose import decompose
from jaxfair.diagnose.bound import max_abs_term5
from jaxfair.diagnose.decompose import bootstrap_counts, default_pair, default_pair_reason
from jaxfair.diagnose.pipeline import alpha_grid, diagnose_scenario, optimum_grid, resolve_pair, sample_for_diagnosis
from jaxfair.diagnose.prefset import diagnose_prefs_set, robustness_label, served_labels, set_terms
from jaxfair.diagnose.weights import CrossFitWarning, shared_space_weights
from jaxfair.evaluate import evaluate
from jaxfair.preferences.prefset import PrefSet

SMALL = dict(n_users=600, n_grid=5, n_boot=20, exact=True, pool_factor=2, seed=0)


@pytest.fixture(scope="module")
def toy_set_diagnosis(tmp_path_factory):
    """One small diagnosis with a 6-member Dirichlet set, the weights step warning CrossFitWarning."""
    from jaxfair.diagnose import pipeline
    from jaxfair.diagnose.report import write_report

    sc = scenarios.load("toy", covariate_shift=1.0)
    real = pipeline.shared_space_weights

    def warns(*a, **k):
        warnings.warn("n_folds: the covariates take only 3 distinct value(s) (test)", CrossFitWarning, stacklevel=2)
        return real(*a, **k)

    ps = PrefSet.dirichlet(sc.prefs, 50.0, q=6, group_names=sc.group_names)
    with mock.patch.object(pipeline, "shared_space_weights", warns), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = diagnose_scenario(sc, prefs_set=ps, **SMALL)
    out = tmp_path_factory.mktemp("diag")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_report(d, out)
    return sc, d, out


def _sample(sc, opts=SMALL):
    k_sample, k_boot = jax.random.split(jax.random.PRNGKey(opts["seed"]))
    return sample_for_diagnosis(sc, k_sample, opts["n_users"], opts["pool_factor"]), k_boot


# ---- #21.3: K >= 3, pairs by name, the default pair's reason ------------------------------------


def test_k3_utility_optimum_is_the_simplex_grid_argmax_not_the_segment():
    sc = scenarios.load("toy", n_labels=3)
    opts = dict(SMALL, n_boot=0, n_grid=11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = diagnose_scenario(sc, **opts)
    smp, _ = _sample(sc, opts)
    simplex = optimum_grid(3, 11)
    assert simplex.shape == (66, 3)  # the whole simplex, C(12, 2) points
    segment = alpha_grid(3, 11, sc.prefs, d.groups)
    grid = np.vstack([simplex, segment])  # the segment's points join the search
    u = np.asarray(evaluate(grid, smp.batch, sc.prefs).utility)
    np.testing.assert_array_equal(d.alpha_best, grid[int(np.argmax(u))])
    assert d.utility_best == pytest.approx(u.max(), abs=1e-12)
    assert d.alpha_segment_best is not None and d.utility_best >= d.utility_segment_best
    u_seg = np.asarray(evaluate(segment, smp.batch, sc.prefs).utility)
    np.testing.assert_array_equal(d.alpha_segment_best, segment[int(np.argmax(u_seg))])
    # the search covers the whole simplex, not only the segment: a corner off the segment is in it
    assert any(np.allclose(r, [0.0, 0.0, 1.0]) for r in grid[:66]) and not np.any(np.all(segment == 0, axis=0))
    assert d.optimum_grid_size == 66 + 11


def test_optimum_grid_shrinks_per_edge_for_large_k():
    assert len(optimum_grid(3, 101)) == 5151
    g = optimum_grid(4, 101)
    assert len(g) <= 20_000 and np.allclose(g.sum(1), 1)


def test_resolve_pair_by_name_and_ids_only_without_names():
    named = ("student", "tech", "other")
    assert resolve_pair(("other", "tech"), named) == (2, 1)
    assert resolve_pair((1, 0), named) == (1, 0)  # Python ints are ids
    with pytest.raises(ValueError, match="'1' is not a group; expected two of"):
        resolve_pair(("1", "0"), named)  # a command line's digits are not positions when groups have names
    assert resolve_pair(("1", "0"), ("group 0", "group 1")) == (1, 0)
    assert resolve_pair(("1", "0"), ("0", "1")) == (1, 0)
    with pytest.raises(ValueError, match="two different"):
        resolve_pair(("tech", "tech"), named)


def test_default_pair_uses_the_slate_utility_and_says_why():
    # user 0 (group 0) likes label 0; user 1 (group 1) likes label 1. Top-1: both get candidate 0;
    # group 0 gets 1.0, group 1 0.9. With k = 2 (uniform weights) group 1 also gets its candidate 1.
    scores = np.array([[[0.9, 0.0], [0.1, 0.0]], [[0.9, 0.0], [0.1, 0.0]]])
    labels = np.array([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.9], [0.0, 1.0]]])
    batch = make_batch(scores, labels, group=np.array([0, 1]), features=np.array([[0.0], [1.0]]))
    prefs = np.array([[1.0, 0.0], [0.0, 1.0]])
    a = np.array([0.5, 0.5])
    assert default_pair(batch, prefs, a) == (0, 1)
    assert default_pair(batch, prefs, a, slate=2, position_weights="uniform") == (1, 0)
    d = decompose(a, batch, prefs, weights=np.ones(2), n_boot=0, slate=2, position_weights="uniform")
    assert d.groups == (1, 0)
    _, why = default_pair_reason(batch, prefs, a, ("a", "b"), slate=2, position_weights="uniform")
    assert why.startswith("g1 = b: the better-served group at α = [0.5, 0.5] (slate utility (k = 2) 1.9000)")
    assert "g0 = a: the worst-served (1.0000)" in why


def test_cli_groups_by_name_and_reason_printed(capsys, tmp_path):
    base = ["diagnose", "--scenario", "toy", "--users", "300", "--grid", "3", "--n-boot", "0", "--exact"]
    assert main([*base, "--groups", "minor,majority", "--out", str(tmp_path / "a")]) == 2
    assert "--groups: 'minor' is not a group; expected two of ['majority', 'minority']" in capsys.readouterr().err
    assert main([*base, "--groups", "1,0", "--out", str(tmp_path / "b")]) == 2  # names exist: ids refused
    capsys.readouterr()
    rc = main([*base, "--pool-factor", "2", "--groups", "all", "--out", str(tmp_path / "c")])
    assert rc == 0
    out = capsys.readouterr().out
    assert "pair: g1 = minority: the reference (the better-served group at α = [0.5, 0.5]" in out
    assert "g0 = majority: every other group in turn" in out
    assert (tmp_path / "c" / "minority-vs-majority" / "summary.json").is_file()
    assert (tmp_path / "c" / "pairs.csv").is_file()


# ---- #21.8: to_frame, vacuous, warnings recorded ------------------------------------------------


def test_to_frame_estimate_is_numeric_and_pivots(toy_set_diagnosis):
    _, d, _ = toy_set_diagnosis
    df = d.points.to_frame()
    assert df["estimate"].dtype == np.float64
    piv = df.pivot_table(index="alpha_index", columns="quantity", values="estimate")
    np.testing.assert_allclose(piv["term5"].to_numpy(), d.points.terms[:, 1])
    assert {"theorem31_applies", "theorem31_holds", "theorem31_vacuous", "theorem31_verdict"} <= set(df.columns)
    assert not {"applies", "holds", "premise", "split_unique"} & set(df["quantity"])


def _max_abs_term5_ref(d, lo, hi, v):
    """Brute force over the corners of the label box (a linear function's extremes)."""
    corners = itertools.product(*[(min(a, 0.0), max(b, 0.0)) for a, b in zip(lo, hi, strict=True)])
    return v * max(abs(np.dot(d, c)) for c in corners)


@given(
    k=st.integers(1, 6),
    seed=st.integers(0, 2**31 - 1),
    v=st.floats(0.5, 4.0),
)
@settings(max_examples=40)
def test_max_abs_term5_matches_corner_enumeration(k, seed, v):
    rng = np.random.default_rng(seed)
    a1, a0 = rng.dirichlet(np.ones(k)), rng.dirichlet(np.ones(k))
    lo = rng.uniform(-1, 0.5, k)
    hi = lo + rng.uniform(0, 2, k)
    assert max_abs_term5(a1, a0, lo, hi, v) == pytest.approx(_max_abs_term5_ref(a1 - a0, lo, hi, v), abs=1e-12)


def test_max_abs_term5_hand_computed_and_vacuous_verdict(toy_set_diagnosis):
    # MovieLens' default prefs (0.8, 0.2) vs (0.2, 0.8), labels in [0, 1]: |term 5| <= 0.6 (1.24 is vacuous).
    assert max_abs_term5([0.8, 0.2], [0.2, 0.8], [0, 0], [1, 1]) == pytest.approx(0.6)
    assert max_abs_term5([0.8, 0.2], [0.2, 0.8], [0, 0], [1, 1], 1 + 1 / np.log2(3)) == pytest.approx(
        0.6 * (1 + 1 / np.log2(3))
    )
    assert max_abs_term5([0.5, 0.5], [0.5, 0.5], [0, 0], [1, 1]) == 0.0
    _, d, out = toy_set_diagnosis
    b = d.points.bound
    assert b.term5_max == pytest.approx(max_abs_term5(*(d.scenario.prefs[g] for g in d.groups), [0, 0], [1, 1]))
    for p in range(2):
        assert b.vacuous[p] == (b.optimal[p] >= b.term5_max)
        assert b.verdict(p).startswith("vacuous" if b.vacuous[p] else "holds")
    s = json.loads((out / "summary.json").read_text())
    # over a preference set every verdict carries its share of the set (issue #28.5)
    from jaxfair.diagnose.report import set_label

    share = set_label(d, "given", "theorem31", b.verdict(0))
    assert s["verdicts"]["theorem31_given"] == f"α given: {b.verdict(0)} — {share}" and "/6" in share


def test_crossfit_warning_recorded_in_summary_and_report(toy_set_diagnosis):
    _, d, out = toy_set_diagnosis
    assert any(n.startswith("CrossFitWarning:") for n in d.notes)
    s = json.loads((out / "summary.json").read_text())
    assert any("CrossFitWarning" in n for n in s["notes"])
    assert "## Notes" in (out / "report.md").read_text() and "CrossFitWarning" in (out / "report.md").read_text()


# ---- #20.3: the diagnosis over a preference set -------------------------------------------------


def test_member0_reproduces_the_single_prefs_diagnosis(toy_set_diagnosis):
    _, d, out = toy_set_diagnosis
    tab = d.prefs_set.table
    m0 = tab[tab["member"] == 0]
    for p, point in enumerate(("given", "best")):
        for i, t in enumerate(("term4", "term5", "term6", "gap")):
            row = m0[(m0["point"] == point) & (m0["term"] == t)].iloc[0]
            # float32 kernel sums (point) vs float64 sums of the same served labels (set): 1e-6.
            assert row["estimate"] == pytest.approx(d.points.terms[p, i], abs=1e-6)
            assert row["ci_low"] == pytest.approx(d.points.ci[p, i, 0], abs=1e-6)
            assert row["ci_high"] == pytest.approx(d.points.ci[p, i, 1], abs=1e-6)
        at = d.attribution[point]
        for c, v in at.gap_shares.items():
            row = m0[(m0["point"] == point) & (m0["term"] == f"share_{c}")].iloc[0]
            assert row["estimate"] == pytest.approx(v, abs=1e-6)
            assert (row["ci_low"], row["ci_high"]) == pytest.approx(at.gap_share_ci[c], abs=1e-6)
        verdict = m0[(m0["point"] == point) & (m0["term"] == "attribution")]["verdict"].iloc[0]
        assert verdict == (f"blames {at.blamed}" if at.blamed else "inconclusive")
        b = m0[(m0["point"] == point) & (m0["term"] == "theorem31")].iloc[0]
        assert b["verdict"] == d.points.bound.verdict(p).split(" (")[0]
    for row in d.lemma23.itertuples():  # Lemma 2.3 from the one-serve path = lemma23_check at the point
        got = m0[m0["term"] == f"lemma23_{row.group}"]["verdict"].iloc[0]
        assert got == row.verdict.split(" (")[0]
    r = m0[m0["term"] == "theorem33"]["verdict"].iloc[0]
    assert r == d.retrieval.verdict.split(" (")[0]
    assert (out / "prefs_set_terms.csv").is_file() and (out / "prefs_set_terms.png").is_file()
    s = json.loads((out / "summary.json").read_text())
    assert {st["label"] for st in s["prefs_set"]["statements"]} and "Over the preference set" in (
        out / "report.md"
    ).read_text()


def _set_inputs():
    sc = scenarios.load("toy", covariate_shift=1.0)
    smp, k_boot = _sample(sc)
    w = shared_space_weights(smp.batch, (1, 0), exact=True, scenario=sc)
    return sc, smp, k_boot, w


def test_identical_members_are_robust_and_a_widened_set_is_not():
    sc, smp, k_boot, w = _set_inputs()
    alphas = np.array([[0.5, 0.5], [0.9, 0.1]])
    p = np.asarray(sc.prefs)
    kw = dict(groups=(1, 0), weights=w, n_boot=20, key=k_boot, group_names=sc.group_names)
    same = diagnose_prefs_set(PrefSet.explicit([p] * 4), smp, alphas, **kw)
    assert all(s["label"] == "robust (4/4 members)" for s in same.statements)
    # Widened: member 1 swaps the groups' preferences, so term (5) changes sign (Done-when of #20).
    wide = diagnose_prefs_set(PrefSet.explicit([p, p, p, p[::-1]]), smp, alphas, **kw)
    t5 = {s["point"]: s for s in wide.statements if s["term"] == "term5"}
    assert t5["best"]["point_verdict"] in ("positive", "negative")  # a sign, backed by its CI
    assert t5["best"]["label"] == "holds for 75.0 % (3/4) of the preference set"
    assert robustness_label(39, 64) == "holds for 60.9 % (39/64) of the preference set"


@given(data=batches(), seed=st.integers(0, 2**31 - 1), st_data=st.data())
@settings(max_examples=10, deadline=None)
def test_set_terms_are_linear_in_prefs_and_match_the_reference(data, seed, st_data):
    """Terms for any member from served labels (one serve, then prefs) = the float64 reference."""
    scores, labels, mask, group, prefs = data
    assume(np.any(group == 0) and np.any(group == 1))
    batch = make_batch(scores, labels, mask, group)
    alphas = st_data.draw(lattice_alphas(batch.n_labels))
    rng = np.random.default_rng(seed)
    h = rng.uniform(0.1, 2.0, batch.n_users)
    members = np.stack([prefs, rng.dirichlet(np.ones(batch.n_labels), size=prefs.shape[0])])
    y, f = served_labels(alphas, batch.scores, batch.labels, batch.mask)
    uw = np.stack([group == 0, np.where((group == 0) | (group == 1), h, 0.0), group == 1]).astype(np.float64)
    got = set_terms(y, f, members, (0, 1), uw, np.zeros((0, batch.n_users)))
    arrays = [np.asarray(x) for x in (scores, labels, mask, group)]
    for q, m in enumerate(members):
        for p, a in enumerate(alphas):
            _, terms, resid, f_mean = decomposition_ref(a, *arrays, m, 0, 1, h)
            # float64 on both sides (the served labels are float32 values, summed in float64): 1e-9
            np.testing.assert_allclose(got["terms"][q, p], terms, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(got["residual"][q, p], resid, rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(got["f_mean"][p], f_mean, rtol=1e-9, atol=1e-9)


def test_reuse_path_equals_a_direct_decompose_for_another_member():
    """Linearity end to end: a member that is not the point, from the one serve, = decompose with its prefs."""
    sc, smp, k_boot, w = _set_inputs()
    alphas = np.array([[0.5, 0.5], [0.9, 0.1]])
    other = np.asarray(sc.prefs)[::-1] * 0.5 + 0.25  # rows (0.35, 0.65)-like, still on the simplex
    counts = np.asarray(bootstrap_counts(k_boot, np.asarray(smp.batch.group), 20, smp.clusters), np.float64)
    y, f = served_labels(alphas, smp.batch.scores, smp.batch.labels, smp.batch.mask)
    g = np.asarray(smp.batch.group)
    uw = np.stack([g == 1, w.weights, g == 0]).astype(np.float64)
    got = set_terms(y, f, other[None], (1, 0), uw, counts)
    d = decompose(alphas, smp.batch, other, groups=(1, 0), weights=w, n_boot=20, key=k_boot, clusters=smp.clusters)
    # the kernel sums α*·Y in float32: agreement to 1e-6 absolute; the same resamples give the same CIs
    np.testing.assert_allclose(got["terms"][0], d.terms, atol=1e-6)
    np.testing.assert_allclose(got["ci"][0], d.ci, atol=1e-6)
    np.testing.assert_allclose(got["residual"][0], d.bound.residual, atol=1e-6)
