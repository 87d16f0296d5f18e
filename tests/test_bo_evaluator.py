"""Evaluator: torch↔JAX round trip, dtypes, key streams, search spaces, empty groups, no NaN into a GP."""

import numpy as np
import pytest
import torch

from jaxfair import scenarios
from jaxfair.bo import EmptyGroupError, Evaluator, SearchSpace
from jaxfair.bo.evaluator import der_np
from jaxfair.bo.methods import fit_gp
from jaxfair.engine.kernels import der_kernel


@pytest.fixture(scope="module")
def ev():
    return Evaluator(scenarios.load("toy"), users=300, exact_users=3000, seed=1)


def test_round_trip_dtypes_and_shapes(ev):
    X = torch.tensor([[0.0], [0.3], [1.0]], dtype=torch.float64)
    Y = ev(X)
    assert isinstance(Y, torch.Tensor) and Y.dtype == torch.float64 and Y.shape == (3, 2)
    assert torch.isfinite(Y).all()
    assert ((Y[:, 1] >= 0) & (Y[:, 1] <= 1)).all()
    assert ev.dim == 1 and ev.bounds.dtype == torch.float64 and ev.bounds.shape == (2, 1)


def test_key_stream_fresh_batches_and_explicit_keys(ev):
    X = torch.full((1, 1), 0.5, dtype=torch.float64)
    a, b = ev(X), ev(X)
    assert not torch.equal(a, b)  # each call is a new online test
    k = ev.key_for(3, 4)
    assert torch.equal(ev(X, key=k), ev(X, key=k))


def test_one_batch_for_all_rows(ev):
    # Rows evaluated together share the user batch: the same α twice gives the same Y.
    X = torch.tensor([[0.2], [0.2]], dtype=torch.float64)
    Y = ev(X)
    assert torch.equal(Y[0], Y[1])


def test_exact_is_deterministic_and_close_to_online_mean(ev):
    X = torch.tensor([[0.25], [0.75]], dtype=torch.float64)
    e1, e2 = ev.exact(X), ev.exact(X)
    np.testing.assert_array_equal(e1.utility, e2.utility)
    online = torch.stack([ev(X) for _ in range(20)]).mean(0)
    np.testing.assert_allclose(online[:, 0].numpy(), e1.utility, atol=0.02)
    assert e1.group_utility.shape == (2, 2)


def test_der_matches_kernel():
    mu = np.array([[0.5, 0.5], [0.9, 0.1], [0.0, 0.0], [0.7, 0.3]])
    np.testing.assert_allclose(der_np(mu), np.asarray(der_kernel(mu.astype(np.float32))), atol=1e-6)
    assert der_np(np.array([1.0, 1.0]))[()] == 1.0


def test_direction_space_k2():
    s = SearchSpace(2)
    assert s.dim == 1
    np.testing.assert_allclose(s.to_alpha(np.array([[0.0], [0.25], [1.0]])), [[0, 1], [0.25, 0.75], [1, 0]])


def test_direction_space_simplex_k4_uniform():
    s = SearchSpace(4)
    assert s.dim == 3
    x = np.random.default_rng(0).random((20000, 3))
    a = s.to_alpha(x)
    np.testing.assert_allclose(a.sum(1), 1.0)
    assert (a >= 0).all()
    np.testing.assert_allclose(a.mean(0), 0.25, atol=0.01)  # uniform on the simplex


def test_box_space_zero_handling():
    s = SearchSpace(2, "box")
    assert s.dim == 2
    with pytest.raises(ValueError, match="α = 0"):
        s.to_alpha(np.array([[0.5, 0.5], [0.0, 0.0]]))
    u = SearchSpace(2, "box", zero="uniform").to_alpha(np.array([[0.0, 0.0]]))
    np.testing.assert_allclose(u, [[0.5, 0.5]])


@pytest.mark.parametrize("X", [np.array([[1.5]]), np.array([[np.nan]]), np.zeros((2, 2))])
def test_bad_X_raises(X):
    with pytest.raises(ValueError, match="X"):
        SearchSpace(2).to_alpha(X)


def test_bad_options_raise():
    sc = scenarios.load("toy")
    with pytest.raises(ValueError, match="users"):
        Evaluator(sc, users=0)
    with pytest.raises(ValueError, match="space"):
        Evaluator(sc, space="sphere")


def test_empty_group_resampled_or_raises():
    sc = scenarios.load("toy", minority_share=0.05)
    X = torch.tensor([[0.5]], dtype=torch.float64)
    # 1 user per batch: most batches miss a group; with redraws allowed the result is finite.
    ev = Evaluator(sc, users=1, exact_users=2000, max_resamples=0)
    with pytest.raises(EmptyGroupError, match="empty"):
        for i in range(50):
            ev(X, key=ev.key_for(i))
    ev2 = Evaluator(sc, users=10, exact_users=2000, max_resamples=50)
    res = [ev2.evaluate(X, key=ev2.key_for(i)) for i in range(10)]
    assert all(np.isfinite(r.der).all() for r in res)
    assert any(r.resamples > 0 for r in res)


def test_nan_never_reaches_gp():
    X = torch.rand(6, 1, dtype=torch.float64)
    Y = torch.rand(6, 2, dtype=torch.float64)
    Y[2, 1] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        fit_gp(X, Y, torch.tensor([[0.0], [1.0]], dtype=torch.float64))
