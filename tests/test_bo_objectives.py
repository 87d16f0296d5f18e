"""Three objectives (utility, viewer DER, provider DER): evaluator, 3-D hypervolume, Fair EHVI, study, report."""

from __future__ import annotations

import jax
import numpy as np
import pandas as pd
import pytest
import torch
from botorch.utils.multi_objective.hypervolume import Hypervolume
from botorch.utils.multi_objective.pareto import is_non_dominated
from hypothesis import given, settings
from hypothesis import strategies as st

from jaxfair import scenarios
from jaxfair.bo.evaluator import Evaluator, UndefinedProviderDERError, parse_objectives
from jaxfair.bo.methods import MethodConfig, _pick, fit_gp, greedy_qehvi, make_grid, propose
from jaxfair.bo.pareto import hypervolume, hypervolume_3d_batched, pareto_front, pareto_mask, reference_point
from jaxfair.engine.batch import make_batch
from jaxfair.scenarios.base import Scenario

OBJ3 = "utility,der,provider_der"


@pytest.fixture(scope="module")
def biased_toy():
    return scenarios.load("toy", provider_bias=1.5, n_candidates=8)


# --- Evaluator -----------------------------------------------------------------------------


def test_evaluator_three_objectives_shape_and_values(biased_toy):
    X = torch.tensor([[0.0], [0.5], [1.0]], dtype=torch.float64)
    ev = Evaluator(biased_toy, users=400, exact_users=400, objectives=OBJ3, slate=3)
    res = ev.evaluate(X)
    assert res.Y.shape == (3, 3) and res.Y.dtype == torch.float64 and torch.isfinite(res.Y).all()
    assert res.objectives == ("utility", "der", "provider_der")
    np.testing.assert_allclose(res.exposure_share.sum(1), 1.0, atol=1e-9)
    assert np.all((res.Y[:, 1:].numpy() >= 0) & (res.Y[:, 1:].numpy() <= 1))
    # The biased minority provider is under-exposed relative to its merit at every α.
    assert np.all(res.exposure_share[:, 1] < res.merit_share[1])
    ex = ev.exact(X)
    assert ex.Y.shape == (3, 3) and torch.isfinite(ex.Y).all()
    # Default objectives: two columns, the top-1 values of the 3-objective evaluator's first two.
    ev2 = Evaluator(biased_toy, users=400, objectives=("utility", "der"))
    ev1 = Evaluator(biased_toy, users=400, objectives=OBJ3)
    k = jax.random.PRNGKey(5)
    y2, y3 = ev2(X, key=k), ev1(X, key=k)
    assert y2.shape == (3, 2)
    np.testing.assert_allclose(y2.numpy(), y3[:, :2].numpy(), rtol=1e-6)


class _NoMinorityProvider(Scenario):
    """Every candidate from provider 0 (provider 1 has zero merit) for the first ``bad`` draws."""

    def __init__(self, bad: int):
        self.name, self.label_names, self.group_names = "stub", ("a", "b"), ("g0", "g1")
        self.item_group_names = ("p0", "p1")
        self.prefs, self.prevalence = np.array([[0.8, 0.2], [0.2, 0.8]]), np.array([0.5, 0.5])
        self.n_candidates, self.options, self.seed, self.bad, self.calls = 4, {}, 0, bad, 0

    def sample(self, key, n_users):
        rng = np.random.default_rng(self.calls)
        ig = np.zeros((n_users, 4), int) if self.calls < self.bad else rng.integers(0, 2, (n_users, 4))
        self.calls += 1
        return make_batch(
            rng.random((n_users, 4, 2)),
            rng.integers(0, 2, (n_users, 4, 2)).astype(float),
            group=np.arange(n_users) % 2,
            item_group=ig,
        )


def test_undefined_provider_der_is_resampled_or_raised():
    X = torch.tensor([[0.3]], dtype=torch.float64)
    res = Evaluator(_NoMinorityProvider(bad=2), users=20, objectives=OBJ3, max_resamples=3).evaluate(X)
    assert res.resamples == 2 and torch.isfinite(res.Y).all()
    with pytest.raises(UndefinedProviderDERError, match="p1"):
        Evaluator(_NoMinorityProvider(bad=99), users=20, objectives=OBJ3, max_resamples=2).evaluate(X)
    with pytest.raises(UndefinedProviderDERError, match="exact_users"):
        Evaluator(_NoMinorityProvider(bad=99), users=20, objectives=OBJ3).exact(X)


@pytest.mark.parametrize(
    "kw, match",
    [
        (dict(objectives="utility,provider_der"), "objectives"),
        (dict(objectives=("der", "utility")), "objectives"),
        (dict(objectives=3), "objectives"),
        (dict(slate=0), "slate"),
        (dict(slate=9), "slate"),
        (dict(slate=2.0), "slate"),
        (dict(slate=2, position_weights="zipf"), "position_weights"),
        (dict(slate=2, position_weights=[1.0]), "position_weights"),
        (dict(gamma=0.0), "gamma"),
    ],
)
def test_evaluator_bad_arguments(biased_toy, kw, match):
    with pytest.raises(ValueError, match=match):
        Evaluator(biased_toy, **kw)


def test_provider_objective_needs_provider_groups():
    df = pd.DataFrame(
        {
            "u": np.repeat(np.arange(10), 3),
            "g": np.repeat(np.arange(10) % 2, 3),
            "f0": np.linspace(0, 1, 30),
            "f1": np.linspace(1, 0, 30),
            "y0": 1,
            "y1": 0,
        }
    )
    prefs = [[0.8, 0.2], [0.2, 0.8]]
    sc = scenarios.from_frame(
        df, user="u", group="g", scores=["f0", "f1"], labels=["y0", "y1"], prefs=prefs, n_candidates=3
    )
    with pytest.raises(ValueError, match="objectives.*provider"):
        Evaluator(sc, objectives=OBJ3)
    assert parse_objectives(" utility , der ") == ("utility", "der")


# --- 3-D hypervolume, Pareto -----------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 14), st.integers(0, 10_000))
def test_hypervolume_3d_matches_botorch(n, seed):
    g = torch.Generator().manual_seed(seed)
    Y = torch.rand(n, 3, generator=g, dtype=torch.float64)
    if n > 2:
        Y[1] = Y[0]  # duplicates and ties
        Y[2, 0] = Y[0, 0]
    ref = torch.rand(3, generator=g, dtype=torch.float64) * 0.3
    expect = Hypervolume(ref).compute(Y[is_non_dominated(Y)])
    np.testing.assert_allclose(float(hypervolume_3d_batched(Y, ref)), expect, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(hypervolume(Y.numpy(), ref.numpy()), expect, rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(pareto_mask(Y.numpy()), is_non_dominated(Y, deduplicate=False).numpy())


def test_pareto_helpers_three_columns_and_bad_shapes():
    y = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0, 0, 0.5]], float)
    assert pareto_mask(y).tolist() == [True, True, True, False]
    assert pareto_front(y).shape == (3, 3) and reference_point(y).shape == (3,)
    assert hypervolume(y, [0, 0, 0]) == 0.0  # points on the reference planes span no volume
    with pytest.raises(ValueError, match="Y"):
        pareto_mask(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="ref"):
        hypervolume(y, [0, 0])


# --- Fair EHVI with three objectives -----------------------------------------------------------


def _toy_obs(n=14, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((n, 1))
    y = np.stack([0.5 + 0.3 * x[:, 0], 0.9 - 0.5 * (x[:, 0] - 0.3) ** 2, 0.6 + 0.3 * np.sin(3 * x[:, 0])], 1)
    return torch.tensor(x), torch.tensor(y + 0.02 * rng.standard_normal(y.shape))


def test_lazy_greedy_selects_like_full_greedy():
    X, Y = _toy_obs()
    bounds = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    model = fit_gp(X, Y, bounds)
    grid, ref = make_grid(1, 41), torch.tensor(reference_point(Y.numpy()[:5]))
    lazy = greedy_qehvi(model, grid, Y, ref, 6, 32, seed=1, lazy_block=4)
    full = greedy_qehvi(model, grid, Y, ref, 6, 32, seed=1, lazy_block=41)
    assert lazy[0] == full[0] and len(lazy[0]) >= 1
    np.testing.assert_allclose(lazy[1], full[1], rtol=1e-12)


def test_fair_ehvi_three_objectives_picks_max_min_fairness():
    X, Y = _toy_obs()
    bounds = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    cfg = MethodConfig("fair-ehvi", grid_size=41, mc_samples=32)
    prop = propose(cfg, X, Y, bounds, seed=3, ref_point=torch.tensor(reference_point(Y.numpy()[:5])))
    assert prop.X.shape == (1, 1) and prop.n_batch >= 1
    model = fit_gp(X, Y, bounds)
    cand = torch.tensor([[0.1], [0.5], [0.9]], dtype=torch.float64)
    mean = model.posterior(cand).mean.detach()
    pick = _pick(model, cand, "der", 0)
    assert torch.equal(pick, cand[int(torch.argmax(mean[:, 1:].min(-1).values))].unsqueeze(0))
    par = propose(
        MethodConfig("parego", grid_size=41, mc_samples=32),
        X,
        Y,
        bounds,
        seed=3,
        ref_point=torch.zeros(3, dtype=torch.float64),
    )
    assert par.X.shape == (1, 1) and np.isfinite(par.acq_value)
    with pytest.raises(ValueError, match="train_Y"):
        propose(cfg, X, torch.cat([Y, Y], 1), bounds, seed=0, ref_point=torch.zeros(6, dtype=torch.float64))


# --- study, resume, report, CLI -------------------------------------------------------------------


def test_three_objective_study_runs_resumes_and_reports(tmp_path):
    from jaxfair.bo.report import report
    from jaxfair.bo.study import TIMING_COLUMNS, run_study

    kw = dict(
        methods="random,fair-ehvi,parego",
        trials=2,
        iterations=1,
        n_init=3,
        users_per_eval=300,
        exact_users=300,
        out=tmp_path,
        progress=False,
        objectives=OBJ3,
        slate=3,
        scenario_options=dict(provider_bias=1.5, n_candidates=8),
        method_options={"fair-ehvi": dict(grid_size=41, mc_samples=32), "parego": dict(grid_size=41)},
    )
    rows = run_study("toy", **kw)
    assert len(rows) == 3 * 2 * 4
    for c in ("provider_der", "provider_der_exact", "ref_provider_der"):
        assert rows[c].notna().all()
    # Interrupted: drop the last two evaluations of one unit; the resume rebuilds them exactly.
    f = tmp_path / "rows" / "fair-ehvi__trial001.csv"
    pd.read_csv(f).iloc[:2].to_csv(f, index=False)
    again = run_study("toy", **kw)
    cols = [c for c in rows.columns if c not in TIMING_COLUMNS]
    pd.testing.assert_frame_equal(rows[cols], again[cols])
    with pytest.raises(ValueError, match="different configuration"):
        run_study("toy", **dict(kw, slate=2))
    res = report(tmp_path)
    names = {p.name for p in res["paths"]}
    assert {"pairs_toy.png", "recommended.csv", "hypervolume_toy.png"} <= names
    assert "final_provider_der" in res["metrics"] and res["metrics"]["hv"].gt(0).all()
    assert set(res["recommended"]["method"]) == {"random", "fair-ehvi", "parego"}
    assert "mean_provider_der" in set(res["wilcoxon"]["metric"])


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["--objectives", "utility,foo"], "objectives"),
        (["--slate", "0"], "slate"),
        (["--slate", "2", "--position-weights", "1,x"], "--position-weights"),
    ],
)
def test_bo_cli_bad_objective_arguments(tmp_path, capsys, argv, needle):
    from jaxfair.cli import main

    assert main(["bo", "--trials", "1", "--iterations", "0", "--out", str(tmp_path / "o"), *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("jaxfair: error:") and needle in err and len(err.strip().splitlines()) == 1
