"""``toy``: a pure-JAX built-in scenario that needs no external data.

Each candidate has a latent quality per label, ``z ~ N(0, Σ)`` with correlation ``rho``
between labels (negative: the labels disagree). Scores are calibrated probabilities
``f = sigmoid(sharpness · z)`` and outcomes are ``Y ~ Bernoulli(f)``, so ``E[Y | f] = f``
exactly — the setting of the paper's Lemma 2.3. Users fall in group 1 (minority) with
probability ``minority_share``; the groups' default true preferences disagree
(majority (0.8, 0.2), minority (0.2, 0.8) for K = 2).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.batch import Batch
from jaxfair.scenarios import register
from jaxfair.scenarios.base import Scenario, check_prefs

__all__ = ["ToyScenario", "default_toy_prefs"]


def default_toy_prefs(n_labels: int) -> np.ndarray:
    """Majority weights the first label, minority the last: (0.8, 0.2) / (0.2, 0.8) for K=2."""
    if n_labels == 1:
        return np.array([[1.0], [0.5]])
    maj = np.full(n_labels, 0.2 / (n_labels - 1))
    maj[0] = 0.8
    return np.stack([maj, maj[::-1].copy()])


@partial(jax.jit, static_argnames=("n_users", "n_candidates", "n_labels"))
def _sample_toy(key, n_users, n_candidates, n_labels, rho, sharpness, minority_share, retrieval_rate):
    k_z, k_y, k_g, k_m = jax.random.split(key, 4)
    cov = jnp.full((n_labels, n_labels), rho) + (1.0 - rho) * jnp.eye(n_labels)
    chol = jnp.linalg.cholesky(cov)
    z = jax.random.normal(k_z, (n_users, n_candidates, n_labels)) @ chol.T
    f = jax.nn.sigmoid(sharpness * z)
    y = jax.random.bernoulli(k_y, f).astype(jnp.float32)
    group = jax.random.bernoulli(k_g, minority_share, (n_users,)).astype(jnp.int32)
    mask = jax.random.uniform(k_m, (n_users, n_candidates)) < retrieval_rate
    return f.astype(jnp.float32), y, mask, group


class ToyScenario(Scenario):
    """Calibrated Gaussian-copula scores with Bernoulli labels; see the module docstring.

    Options:
      n_candidates: m (default 20).
      n_labels: K (default 2).
      rho: correlation between labels' latent qualities, in (-1/(K-1), 1) (default -0.3, or
        -0.5/(K-1) when K > 2 so that the correlation matrix stays positive definite).
      sharpness: scale inside the sigmoid (default 2.0).
      minority_share: probability a user is in group 1 (default 0.2).
      retrieval_rate: probability a candidate survives retrieval (default 1.0).
    """

    def __init__(self, seed: int = 0, n_candidates: int = 20, n_labels: int = 2, rho: float | None = None,
                 sharpness: float = 2.0, minority_share: float = 0.2, retrieval_rate: float = 1.0,
                 prefs=None):
        if not isinstance(n_candidates, int) or n_candidates < 1:
            raise ValueError(f"n_candidates: expected an int >= 1, got {n_candidates!r}")
        if not isinstance(n_labels, int) or n_labels < 1:
            raise ValueError(f"n_labels: expected an int >= 1, got {n_labels!r}")
        lo = -1.0 / (n_labels - 1) if n_labels > 1 else -1.0
        if rho is None:
            rho = max(-0.3, 0.5 * lo)
        if not (lo < rho < 1.0):
            raise ValueError(f"rho: expected {lo:.3g} < rho < 1 for K={n_labels}, got {rho!r}")
        if not (sharpness > 0 and np.isfinite(sharpness)):
            raise ValueError(f"sharpness: expected a finite value > 0, got {sharpness!r}")
        if not (0.0 < minority_share < 1.0):
            raise ValueError(f"minority_share: expected 0 < share < 1, got {minority_share!r}")
        if not (0.0 < retrieval_rate <= 1.0):
            raise ValueError(f"retrieval_rate: expected 0 < rate <= 1, got {retrieval_rate!r}")
        self.name = "toy"
        self.seed = seed
        self.n_candidates = n_candidates
        self.label_names = tuple(f"label{k}" for k in range(n_labels))
        self.group_names = ("majority", "minority")
        self.prevalence = np.array([1.0 - minority_share, minority_share])
        self.prefs = check_prefs(default_toy_prefs(n_labels) if prefs is None else prefs, 2, n_labels)
        self.options = dict(n_candidates=n_candidates, n_labels=n_labels, rho=rho, sharpness=sharpness,
                            minority_share=minority_share, retrieval_rate=retrieval_rate)
        self._params = (float(rho), float(sharpness), float(minority_share), float(retrieval_rate))

    def sample(self, key, n_users: int) -> Batch:
        if not isinstance(n_users, (int, np.integer)) or n_users < 1:
            raise ValueError(f"n_users: expected an int >= 1, got {n_users!r}")
        f, y, mask, group = _sample_toy(key, int(n_users), self.n_candidates, self.n_labels, *self._params)
        return Batch(scores=f, labels=y, mask=mask, group=group)

    def auc_table(self):
        """AUC of each label's score on 20,000 sampled users (key derived from ``seed``)."""
        from jaxfair.auc import auc_table_from_batch

        batch = self.sample(jax.random.PRNGKey(self.seed), 20_000)
        return auc_table_from_batch(batch, self.label_names, self.group_names)


register("toy", lambda seed=0, **opts: ToyScenario(seed=seed, **opts),
         "built-in pure-JAX scenario: calibrated scores, Bernoulli labels, 80/20 groups (no data needed)")
