"""Proposal rules: given the observations so far, choose the next α to test.

Methods (``METHODS``):

* ``random`` — uniform in the search space's unit box.
* ``ei`` — ``qLogExpectedImprovement`` on utility (``legacy=True``: ``qExpectedImprovement``),
  q = 1, ``best_f`` = best observed utility.
* ``fair-ehvi`` — the paper's method: q-EHVI on (utility, DER) proposes ``q = 10``
  candidates, then one is evaluated: the highest posterior-mean DER (``strategy="der"``,
  paper strategy 1, default), the highest posterior-mean utility (``"utility"``, strategy 2)
  or a random one (``"random"``, strategy 3).
* ``nehvi`` — ``qLogNoisyExpectedHypervolumeImprovement``, same q and strategies.
* ``eic`` — constrained EI (paper appendix): ``EI(utility) × P(DER ≥ γ)``, BoTorch's analytic
  ``LogConstrainedExpectedImprovement`` (``legacy=True``: ``ConstrainedExpectedImprovement``).
* ``parego`` — the multi-objective baseline ``qLogNParEGO`` (BoTorch): noisy log-EI of a random
  augmented Chebyshev scalarisation of all objectives (weights drawn uniformly on the simplex
  from the proposal's seed, so every iteration uses new weights), q = 1.

Three objectives (utility, DER, provider DER; SPEC §7): every method takes ``train_Y [n, 3]``.
``fair-ehvi`` then scores the q-batch by the 3-D hypervolume (:func:`greedy_qehvi` with the exact
batched 3-D hypervolume of :func:`jaxfair.bo.pareto.hypervolume_3d_batched`) and strategy
``der`` evaluates the candidate with the highest posterior-mean **minimum of the two
fairness objectives** (viewer DER, provider DER) — the proposal fairest to the worse-off side;
``ei`` and ``eic`` use the first two columns only.

Optimisers (``optimizer=``):

* ``"grid"`` (default): the acquisition is maximised over a fixed discrete set — 201 evenly
  spaced points for d = 1 (K = 2), a scrambled Sobol set of ``grid_size`` points for d > 1.
  For q > 1 the batch is built by sequential greedy selection, which is the standard
  (1 − 1/e)-optimal construction for the submodular q-EHVI. For ``fair-ehvi`` the greedy step
  uses :func:`greedy_qehvi`: joint posterior samples at every grid point, and the exact 2-D
  hypervolume of (observed front ∪ selected samples ∪ candidate) per sample — the same
  MC estimator as BoTorch's q-EHVI, but with cost linear in q instead of BoTorch's
  inclusion–exclusion over 2^q − 1 subsets (which does not finish at q = 10, SPEC §4).
  Without gradients, LogEHVI and EHVI rank grid points identically (log is monotone); the
  ``legacy`` flag then only matters for the continuous optimiser and the zero-EHVI case below.
* ``"continuous"``: the paper's path, BoTorch ``optimize_acqf`` (joint over the q-batch
  unless ``sequential=True``) with ``num_restarts``/``raw_samples``; slow for q = 10.

Every random choice is seeded from the ``seed`` argument (torch global RNG included).
"""

from __future__ import annotations

import dataclasses
import time
import warnings
from typing import Any

import numpy as np
import torch
from botorch.acquisition import qExpectedImprovement, qLogExpectedImprovement
from botorch.acquisition.analytic import ConstrainedExpectedImprovement, LogConstrainedExpectedImprovement
from botorch.acquisition.multi_objective import (
    qExpectedHypervolumeImprovement,
    qLogExpectedHypervolumeImprovement,
    qLogNoisyExpectedHypervolumeImprovement,
)
from botorch.acquisition.multi_objective.parego import qLogNParEGO
from botorch.fit import fit_gpytorch_mll
from botorch.models import SingleTaskGP
from botorch.models.transforms import Normalize, Standardize
from botorch.optim import optimize_acqf, optimize_acqf_discrete
from botorch.sampling import SobolQMCNormalSampler
from botorch.utils.multi_objective.box_decompositions.non_dominated import FastNondominatedPartitioning
from gpytorch.mlls import ExactMarginalLogLikelihood

from jaxfair.bo.pareto import hypervolume_2d_batched, hypervolume_3d_batched, pareto_mask

__all__ = ["METHODS", "MethodConfig", "Proposal", "fit_gp", "greedy_qehvi", "make_grid", "propose"]

METHODS = ("random", "ei", "fair-ehvi", "nehvi", "eic", "parego")
_STRATEGIES = ("der", "utility", "random")
_OPTIMIZERS = ("grid", "continuous")


@dataclasses.dataclass(frozen=True)
class MethodConfig:
    """Options of one method (defaults are the study's defaults).

    Attributes:
      name: one of :data:`METHODS`.
      q: candidates per round for ``fair-ehvi``/``nehvi`` (paper: 10); EI-type methods use 1.
      strategy: which of the q candidates is evaluated: ``der`` (highest posterior-mean DER; with
        three objectives the highest posterior-mean min(DER, provider DER)) | ``utility`` | ``random``.
      optimizer: ``grid`` (default) or ``continuous`` (BoTorch ``optimize_acqf``).
      legacy: use the paper's non-log BoTorch classes (qEI, qEHVI, ConstrainedEI).
      grid_size: discrete set size (d = 1: evenly spaced; d > 1: Sobol).
      mc_samples: MC samples of the acquisition (Sobol QMC).
      num_restarts, raw_samples, sequential: ``optimize_acqf`` settings (continuous only).
      gamma: DER threshold of ``eic``; None = median DER of the initial design.
      timeout_sec: wall-time cap of ``optimize_acqf`` (continuous only; None = no cap).
    """

    name: str
    q: int = 10
    strategy: str = "der"
    optimizer: str = "grid"
    legacy: bool = False
    grid_size: int = 201
    mc_samples: int = 128
    num_restarts: int = 10
    raw_samples: int = 512
    sequential: bool = False
    gamma: float | None = None
    timeout_sec: float | None = None

    def __post_init__(self):
        if self.name not in METHODS:
            raise ValueError(f"method: expected one of {METHODS}, got {self.name!r}")
        if self.strategy not in _STRATEGIES:
            raise ValueError(f"strategy: expected one of {_STRATEGIES}, got {self.strategy!r}")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer: expected one of {_OPTIMIZERS}, got {self.optimizer!r}")
        for name in ("q", "grid_size", "mc_samples", "num_restarts", "raw_samples"):
            v = getattr(self, name)
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {v!r}")
        if self.gamma is not None and not np.isfinite(self.gamma):
            raise ValueError(f"gamma: expected a finite float or None, got {self.gamma!r}")

    @classmethod
    def build(cls, name: str, **options: Any) -> MethodConfig:
        fields = {f.name for f in dataclasses.fields(cls)} - {"name"}
        bad = sorted(set(options) - fields)
        if bad:
            raise ValueError(f"options: unknown option(s) {bad} for method {name!r}; known: {sorted(fields)}")
        return cls(name=name, **options)


@dataclasses.dataclass
class Proposal:
    """The next point ``X [1, d]`` and what it cost (seconds)."""

    X: torch.Tensor
    t_fit: float = 0.0
    t_acq: float = 0.0
    acq_value: float = float("nan")
    n_batch: int = 1
    note: str = ""


def make_grid(dim: int, size: int) -> torch.Tensor:
    """The discrete candidate set ``[size, dim]`` float64 in the unit box (fixed, seed 0)."""
    if dim == 1:
        return torch.linspace(0.0, 1.0, size, dtype=torch.float64).unsqueeze(-1)
    engine = torch.quasirandom.SobolEngine(dim, scramble=True, seed=0)
    return engine.draw(size, dtype=torch.float64)


def fit_gp(train_X: torch.Tensor, train_Y: torch.Tensor, bounds: torch.Tensor) -> SingleTaskGP:
    """``SingleTaskGP`` (one batched GP per output) with Normalize/Standardize, fitted by MLL.

    Raises ``ValueError`` if any input is not finite: NaN must never reach a GP.
    """
    if train_X.dtype != torch.float64 or train_Y.dtype != torch.float64:
        raise ValueError(f"train_X/train_Y: expected float64, got {train_X.dtype}/{train_Y.dtype}")
    if not (torch.isfinite(train_X).all() and torch.isfinite(train_Y).all()):
        raise ValueError("train_Y: non-finite observation would reach the GP; refusing to fit")
    model = SingleTaskGP(
        train_X,
        train_Y,
        input_transform=Normalize(train_X.shape[-1], bounds=bounds),
        outcome_transform=Standardize(train_Y.shape[-1]),
    )
    with warnings.catch_warnings():
        # Jitter notices on near-duplicate inputs are expected with noisy repeated α.
        warnings.filterwarnings("ignore", message=".*jitter.*")
        fit_gpytorch_mll(ExactMarginalLogLikelihood(model.likelihood, model))
    return model


def greedy_qehvi(
    model,
    grid: torch.Tensor,
    train_Y: torch.Tensor,
    ref_point: torch.Tensor,
    q: int,
    mc_samples: int,
    seed: int,
    lazy_block: int = 16,
) -> tuple[list[int], float]:
    """Sequential greedy q-EHVI over a discrete set, exact 2-D or 3-D hypervolume per MC sample.

    Args:
      model: M-output model (M = 2 or 3); grid ``[C, d]``; train_Y ``[n, M]`` observations (their
      Pareto front is the baseline); ref_point ``[M]``; q batch size; mc_samples S; seed of the QMC.
      lazy_block: M = 3 only: candidates re-scored per lazy-greedy round (below).
    Returns:
      (indices into ``grid`` of the selected points, in order — fewer than q if no remaining
      point improves the MC hypervolume; EHVI of the whole selected set, ≥ 0).

    With M = 3 the exact hypervolume of a set costs O(n²) (slicing), so after the first step
    the selection is *lazy greedy* (Minoux): the MC hypervolume improvement is submodular in
    the selected set (per sample, hence for the mean over the fixed samples), so a
    candidate's gain can only shrink as points are added and its last gain is an upper
    bound. Each round re-scores the ``lazy_block`` candidates with the largest bounds; when the
    best fresh gain is ≥ every other candidate's bound it is the greedy choice — the same
    selection as re-scoring every candidate, at a fraction of the cost.
    """
    with torch.no_grad():
        post = model.posterior(grid)  # joint over all C grid points
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*jitter.*")
            samples = SobolQMCNormalSampler(torch.Size([mc_samples]), seed=seed)(post)  # [S, C, M]
        front = train_Y[torch.from_numpy(pareto_mask(train_Y.numpy()))]
        three = train_Y.shape[-1] == 3
        hv_fn = hypervolume_3d_batched if three else hypervolume_2d_batched
        s, c = samples.shape[0], samples.shape[1]
        base = front.unsqueeze(0).expand(s, -1, -1)  # [S, p, M]
        hv0 = hv_fn(base, ref_point)  # [S]
        hv_cur = hv0
        chosen: list[int] = []

        def gains(idx: torch.Tensor) -> torch.Tensor:
            sets = torch.cat([base.unsqueeze(1).expand(-1, len(idx), -1, -1), samples[:, idx].unsqueeze(2)], dim=2)
            return (hv_fn(sets, ref_point) - hv_cur.unsqueeze(1)).mean(0)

        bound = torch.full((c,), torch.inf, dtype=samples.dtype)
        for step in range(min(q, c)):
            if three and step == 0:
                # First step against the observed front only (same for every sample): the
                # improvement is the volume of y's box inside the front's non-dominated cells.
                cells = FastNondominatedPartitioning(ref_point=ref_point, Y=front).get_hypercell_bounds()  # [2, B, M]
                lo, hi = cells[0], cells[1]
                ext = (torch.minimum(samples.unsqueeze(-2), hi) - lo).clamp_min(0.0)  # [S, C, B, M]
                gain = ext.prod(-1).sum(-1).mean(0)  # [C]
                bound = gain.clone()
                j = int(torch.argmax(gain))
                best = gain[j]
            elif not three:
                gain = gains(torch.arange(c))  # [C]
                if chosen:
                    gain[chosen] = -torch.inf
                bound = gain.clone()
                j = int(torch.argmax(gain))
                best = gain[j]
            else:
                while True:  # lazy greedy: re-score the candidates with the largest bounds
                    top = torch.topk(bound, min(lazy_block, c)).indices
                    fresh = gains(top)
                    fresh[bound[top] == -torch.inf] = -torch.inf
                    bound[top] = fresh
                    k = int(torch.argmax(fresh))
                    rest = bound.clone()
                    rest[top] = -torch.inf
                    if fresh[k] >= rest.max():
                        j, best = int(top[k]), fresh[k]
                        break
            if not best > 0:
                break
            chosen.append(j)
            bound[j] = -torch.inf
            base = torch.cat([base, samples[:, j : j + 1]], dim=1)
            hv_cur = hv_fn(base, ref_point)
        return chosen, float((hv_cur - hv0).mean())


def _pick(model, X: torch.Tensor, strategy: str, seed: int) -> torch.Tensor:
    """One row of the candidate batch ``X [q, d]`` by the paper's strategies 1–3."""
    if X.shape[0] == 1:
        return X
    if strategy == "random":
        g = torch.Generator().manual_seed(seed)
        return X[int(torch.randint(X.shape[0], (1,), generator=g))].unsqueeze(0)
    with torch.no_grad():
        mean = model.posterior(X).mean  # [q, M]
    # "der": the fairness side — DER, or with provider DER the minimum of the two fairness objectives.
    score = mean[:, 1:].min(dim=-1).values if strategy == "der" else mean[:, 0]
    return X[int(torch.argmax(score))].unsqueeze(0)


def propose(
    cfg: MethodConfig,
    train_X: torch.Tensor,
    train_Y: torch.Tensor,
    bounds: torch.Tensor,
    *,
    seed: int,
    ref_point: torch.Tensor,
    gamma: float | None = None,
) -> Proposal:
    """Next point for ``cfg`` given observations ``train_X [n, d]``, ``train_Y [n, M]`` (float64, M = 2 or 3).

    ``ref_point [M]`` is the hypervolume reference (EHVI methods); ``gamma`` the DER threshold
    of ``eic`` when ``cfg.gamma`` is None. ``seed`` seeds torch, the QMC sampler and restarts.
    """
    torch.manual_seed(seed)
    dim = train_X.shape[-1]
    if cfg.name == "random":
        t = time.perf_counter()
        g = torch.Generator().manual_seed(seed)
        lo, hi = bounds[0], bounds[1]
        X = lo + (hi - lo) * torch.rand(1, dim, generator=g, dtype=torch.float64)
        return Proposal(X=X, t_acq=time.perf_counter() - t)

    t = time.perf_counter()
    if train_Y.ndim != 2 or train_Y.shape[-1] not in (2, 3):
        raise ValueError(
            f"train_Y: expected shape [n, 2] or [n, 3] (utility, DER[, provider DER]), got {tuple(train_Y.shape)}"
        )
    if cfg.name == "ei":
        Y = train_Y[:, :1]
    elif cfg.name == "eic":
        Y = train_Y[:, :2]
    else:
        Y = train_Y
    model = fit_gp(train_X, Y, bounds)
    t_fit = time.perf_counter() - t

    t = time.perf_counter()
    sampler = SobolQMCNormalSampler(torch.Size([cfg.mc_samples]), seed=seed)
    grid = make_grid(dim, cfg.grid_size) if cfg.optimizer == "grid" else None
    note, n_batch, value = "", 1, float("nan")

    def run(acq, q):
        if cfg.optimizer == "grid":
            return optimize_acqf_discrete(acq, q=q, choices=grid)
        return optimize_acqf(
            acq,
            bounds=bounds,
            q=q,
            num_restarts=cfg.num_restarts,
            raw_samples=cfg.raw_samples,
            sequential=cfg.sequential,
            options={"seed": seed},
            timeout_sec=cfg.timeout_sec,
        )

    if cfg.name == "ei":
        cls = qExpectedImprovement if cfg.legacy else qLogExpectedImprovement
        acq = cls(model, best_f=train_Y[:, 0].max(), sampler=sampler)
        X, v = run(acq, 1)
        value = float(v.reshape(-1)[0])
    elif cfg.name == "eic":
        g_thr = cfg.gamma if cfg.gamma is not None else gamma
        if g_thr is None:
            raise ValueError("gamma: eic needs a DER threshold (cfg.gamma or the study's initial-design median)")
        feasible = train_Y[:, 1] >= g_thr
        # Gardner et al.: with no feasible observation yet, the incumbent is the worst utility,
        # so EI is ~constant and the feasibility probability drives the search.
        best = train_Y[feasible, 0].max() if feasible.any() else train_Y[:, 0].min()
        cls = ConstrainedExpectedImprovement if cfg.legacy else LogConstrainedExpectedImprovement
        acq = cls(model, best_f=best, objective_index=0, constraints={1: (float(g_thr), None)})
        X, v = run(acq, 1)
        value = float(v.reshape(-1)[0])
    elif cfg.name == "fair-ehvi":
        cls = qExpectedHypervolumeImprovement if cfg.legacy else qLogExpectedHypervolumeImprovement
        if cfg.optimizer == "grid" and cfg.q > 1:
            idx, ehvi = greedy_qehvi(model, grid, train_Y, ref_point, cfg.q, cfg.mc_samples, seed)
            if idx:
                X, value = grid[idx], float(np.log(ehvi)) if ehvi > 0 else -np.inf
            else:
                # Zero MC improvement everywhere: rank by the q = 1 BoTorch acquisition
                # (LogEHVI's smoothing still orders points); recorded in the row's note.
                acq = cls(
                    model,
                    ref_point=ref_point,
                    partitioning=FastNondominatedPartitioning(ref_point=ref_point, Y=train_Y),
                    sampler=sampler,
                )
                X, v = optimize_acqf_discrete(acq, q=1, choices=grid)
                value, note = float(v.reshape(-1)[0]), "zero-ehvi:q1-fallback"
        else:
            acq = cls(
                model,
                ref_point=ref_point,
                partitioning=FastNondominatedPartitioning(ref_point=ref_point, Y=train_Y),
                sampler=sampler,
            )
            X, v = run(acq, cfg.q)
            value = float(v.reshape(-1).sum()) if v is not None else float("nan")
        n_batch = X.shape[0]
        X = _pick(model, X, cfg.strategy, seed)
    elif cfg.name == "parego":
        g = torch.Generator().manual_seed(seed)
        w = -torch.log(torch.rand(train_Y.shape[-1], generator=g, dtype=torch.float64))
        acq = qLogNParEGO(
            model, X_baseline=train_X, scalarization_weights=w / w.sum(), sampler=sampler, prune_baseline=True
        )
        X, v = run(acq, 1)
        value = float(v.reshape(-1)[0])
    elif cfg.name == "nehvi":
        acq = qLogNoisyExpectedHypervolumeImprovement(
            model, ref_point=ref_point, X_baseline=train_X, sampler=sampler, prune_baseline=True
        )
        X, v = run(acq, cfg.q)
        value = float(v.reshape(-1).sum()) if v is not None else float("nan")
        n_batch = X.shape[0]
        X = _pick(model, X, cfg.strategy, seed)
    else:  # pragma: no cover - MethodConfig validates names
        raise ValueError(f"method: {cfg.name!r}")
    X = X.detach().reshape(1, dim).clamp(bounds[0], bounds[1])
    return Proposal(X=X, t_fit=t_fit, t_acq=time.perf_counter() - t, acq_value=value, n_batch=n_batch, note=note)
