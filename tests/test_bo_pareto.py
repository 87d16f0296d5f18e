"""Pareto / hypervolume helpers against hand-computed cases; greedy q-EHVI against BoTorch."""

import numpy as np
import pytest
import torch

from jaxfair.bo.pareto import hypervolume_2d, hypervolume_2d_batched, pareto_front, pareto_mask, reference_point


def test_pareto_mask_hand_case():
    Y = np.array([[1, 3], [2, 2], [3, 1], [1, 1], [2, 2], [0.5, 3]])
    np.testing.assert_array_equal(pareto_mask(Y), [True, True, True, False, True, False])
    np.testing.assert_array_equal(pareto_front(Y), [[1, 3], [2, 2], [3, 1]])


def test_hypervolume_hand_cases():
    assert hypervolume_2d([[2, 1], [1, 2]], [0, 0]) == pytest.approx(3.0)
    # staircase (1,3),(2,2),(3,1) from (0,0): 3 + 2 + 1 = 6
    assert hypervolume_2d([[1, 3], [2, 2], [3, 1]], [0, 0]) == pytest.approx(6.0)
    # dominated and below-reference points add nothing
    assert hypervolume_2d([[1, 3], [2, 2], [3, 1], [0.5, 0.5], [-1, 9]], [0, 0]) == pytest.approx(6.0)
    assert hypervolume_2d([[1, 3]], [1, 0]) == 0.0
    assert hypervolume_2d([[2.5, 1.5]], [0.5, 0.5]) == pytest.approx(2.0)


def test_batched_matches_loop():
    rng = np.random.default_rng(0)
    Y = torch.from_numpy(rng.random((4, 3, 7, 2)))
    ref = torch.tensor([0.1, 0.2], dtype=torch.float64)
    hv = hypervolume_2d_batched(Y, ref)
    for i in range(4):
        for j in range(3):
            assert float(hv[i, j]) == pytest.approx(hypervolume_2d(Y[i, j].numpy(), ref.numpy()))


def test_hypervolume_against_botorch():
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    Y = torch.rand(30, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    ref = torch.tensor([0.1, 0.1], dtype=torch.float64)
    front = torch.from_numpy(pareto_front(Y.numpy()))
    front = front[(front > ref).all(-1)]
    assert hypervolume_2d(Y.numpy(), ref.numpy()) == pytest.approx(Hypervolume(ref).compute(front))


def test_reference_point():
    np.testing.assert_allclose(reference_point([[0, 10], [1, 20]], 0.1), [-0.1, 9.0])


def test_greedy_qehvi_matches_botorch_qehvi():
    """The greedy engine's EHVI of a q=2 set equals BoTorch's qEHVI of that set (MC error)."""
    from botorch.acquisition.multi_objective import qExpectedHypervolumeImprovement
    from botorch.sampling import SobolQMCNormalSampler
    from botorch.utils.multi_objective.box_decompositions.non_dominated import FastNondominatedPartitioning

    from jaxfair.bo.methods import fit_gp, greedy_qehvi, make_grid

    g = torch.Generator().manual_seed(0)
    X = torch.rand(8, 1, dtype=torch.float64, generator=g)
    Y = torch.cat([torch.sin(5 * X), torch.cos(4 * X)], -1) + 0.05 * torch.randn(8, 2, dtype=torch.float64, generator=g)
    bounds = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    torch.manual_seed(0)
    model = fit_gp(X, Y, bounds)
    ref = torch.from_numpy(reference_point(Y.numpy()))
    grid = make_grid(1, 21)
    idx, ehvi = greedy_qehvi(model, grid, Y, ref, q=2, mc_samples=4096, seed=0)
    assert len(idx) == 2 and idx[0] != idx[1]
    acq = qExpectedHypervolumeImprovement(
        model,
        ref_point=ref,
        partitioning=FastNondominatedPartitioning(ref, Y=Y),
        sampler=SobolQMCNormalSampler(torch.Size([4096]), seed=1),
    )
    with torch.no_grad():
        v = float(acq(grid[idx].unsqueeze(0)))
    assert ehvi == pytest.approx(v, rel=0.1, abs=1e-6)
    # greedy's first pick is the q=1 maximiser of qEHVI over the grid
    with torch.no_grad():
        v1 = acq(grid.unsqueeze(1))
    assert float(v1[idx[0]]) >= float(v1.max()) * 0.95
