"""``toy``: a pure-JAX built-in scenario that needs no external data.

Each candidate has a latent quality per label, ``z ~ N(0, Σ)`` with correlation ``rho``
between labels (negative: the labels disagree). Scores are calibrated probabilities
``f = sigmoid(sharpness · z)`` and outcomes are ``Y ~ Bernoulli(f)``, so ``E[Y | f] = f``
exactly — the setting of the paper's Lemma 2.3. Users fall in group 1 (minority) with
probability ``minority_share``; the groups' default true preferences disagree
(majority (0.8, 0.2), minority (0.2, 0.8) for K = 2).

User covariates (``Batch.features``, d = K): ``x | G = g ~ N(g · covariate_shift · v, I_d)``
with the unit direction ``v = (e_{K-1} − e_0)/√2`` (``e_0`` for K = 1), so p(x | G) is known
in closed form (:meth:`ToyScenario.log_group_densities`) and the shared space S_X is exact.
``covariate_effect`` β adds ``β · x_k`` to every candidate's latent quality of label k (Y | X
then depends on X, the same way for both groups); ``retrieval_gradient`` γ lowers the
retrieval rate where ``x · v < 0`` (where the majority lives, away from the minority) to
``retrieval_rate · 2σ(γ · min(x·v, 0))`` — the setting of the paper's Theorem 3.3. With all
three at 0 (defaults) the scores, labels, mask and groups are exactly those of earlier
versions; the covariates come from a separate key (``fold_in(key, 7)``).

Provider groups (SPEC §7, ``Batch.item_group``): every candidate belongs to one of
``item_groups`` = H providers (default 2), drawn from its own key (``fold_in(key, 13)``):
the *minority provider* h = H − 1 with probability ``provider_share`` (default 0.2), the
others evenly. ``provider_bias`` b >= 0 makes the minority provider's scores under-state
its labels by b on the logit scale: its served score is ``sigmoid(sharpness · z − b)``
while its outcomes stay ``Y ~ Bernoulli(sigmoid(sharpness · z))``, so the serving layer
under-exposes it (its merit is unchanged). With b = 0 (default) the scores, labels, mask and
groups are bit-identical to versions without provider groups.
"""

from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.engine.batch import Batch
from jaxfair.named_prefs import bind_prefs
from jaxfair.scenarios.base import Scenario
from jaxfair.scenarios.registry import register

__all__ = ["ToyScenario", "default_toy_prefs"]


def default_toy_prefs(n_labels: int) -> np.ndarray:
    """Majority weights the first label, minority the last: (0.8, 0.2) / (0.2, 0.8) for K=2.

    Every row sums to 1 (SPEC §9); with one label both groups can only want it: (1) / (1).
    """
    if n_labels == 1:
        return np.array([[1.0], [1.0]])
    maj = np.full(n_labels, 0.2 / (n_labels - 1))
    maj[0] = 0.8
    return np.stack([maj, maj[::-1].copy()])


def shift_direction(n_labels: int) -> np.ndarray:
    """Unit direction ``v [d]`` (d = K) along which the minority's covariates are shifted."""
    v = np.zeros(n_labels)
    if n_labels == 1:
        v[0] = 1.0
    else:
        v[0], v[-1] = -1.0, 1.0
        v /= np.sqrt(2.0)
    return v


def _providers(key, z, f, sharpness, provider_share, provider_bias, n_item_groups, biased):
    """Provider groups ``[n, m]`` from their own key (minority provider H-1 w.p. ``provider_share``,
    the rest evenly) and the scores with the minority's under-stated by ``provider_bias`` (logit
    scale) when ``biased``: ``(item_group, f)``. Own key: the other draws keep their bits."""
    shape = f.shape[:2]
    k_h1, k_h2 = jax.random.split(jax.random.fold_in(key, 13))
    minority = jax.random.bernoulli(k_h1, provider_share, shape)
    others = jax.random.randint(k_h2, shape, 0, max(n_item_groups - 1, 1))
    item_group = jnp.where(minority, n_item_groups - 1, others).astype(jnp.int32)
    if biased:
        f = jnp.where(minority[..., None], jax.nn.sigmoid(sharpness * z - provider_bias), f)
    return item_group, f


@partial(jax.jit, static_argnames=("n_users", "n_candidates", "n_labels", "n_item_groups", "biased"))
def _sample_toy(
    key,
    n_users,
    n_candidates,
    n_labels,
    rho,
    sharpness,
    minority_share,
    retrieval_rate,
    covariate_shift,
    covariate_effect,
    retrieval_gradient,
    direction,
    provider_share,
    provider_bias,
    n_item_groups,
    biased,
):
    k_z, k_y, k_g, k_m = jax.random.split(key, 4)
    group = jax.random.bernoulli(k_g, minority_share, (n_users,)).astype(jnp.int32)
    x = jax.random.normal(jax.random.fold_in(key, 7), (n_users, n_labels))
    x = x + (group * covariate_shift)[:, None] * direction[None, :]
    cov = jnp.full((n_labels, n_labels), rho) + (1.0 - rho) * jnp.eye(n_labels)
    chol = jnp.linalg.cholesky(cov)
    z = jax.random.normal(k_z, (n_users, n_candidates, n_labels)) @ chol.T
    z = z + covariate_effect * x[:, None, :]
    f = jax.nn.sigmoid(sharpness * z)
    y = jax.random.bernoulli(k_y, f).astype(jnp.float32)
    item_group, f = _providers(key, z, f, sharpness, provider_share, provider_bias, n_item_groups, biased)
    # 2σ(γ·min(t, 0)) = 1 for t >= 0 or γ = 0: the rate is retrieval_rate unless x·v < 0.
    rate = retrieval_rate * 2.0 * jax.nn.sigmoid(retrieval_gradient * jnp.minimum(x @ direction, 0.0))
    mask = jax.random.uniform(k_m, (n_users, n_candidates)) < rate[:, None]
    return f.astype(jnp.float32), y, mask, group, x.astype(jnp.float32), item_group


@partial(jax.jit, static_argnames=("n_sessions", "n_candidates", "n_labels", "n_item_groups", "biased"))
def _sample_toy_sessions(
    key,
    group,
    x,
    n_sessions,
    n_candidates,
    n_labels,
    rho,
    sharpness,
    retrieval_rate,
    covariate_effect,
    retrieval_gradient,
    direction,
    provider_share,
    provider_bias,
    n_item_groups,
    biased,
):
    """``n_sessions`` fresh sessions for each of the given users (``group [U]``, ``x [U, d]``), user-major.

    The candidate draw of :func:`_sample_toy` (provider groups and provider bias included) with
    the users' covariates held fixed.
    """
    k_z, k_y, k_m = jax.random.split(key, 3)
    u = group.shape[0]
    xs = jnp.repeat(x, n_sessions, axis=0)  # [U·B, d]
    cov = jnp.full((n_labels, n_labels), rho) + (1.0 - rho) * jnp.eye(n_labels)
    chol = jnp.linalg.cholesky(cov)
    z = jax.random.normal(k_z, (u * n_sessions, n_candidates, n_labels)) @ chol.T
    z = z + covariate_effect * xs[:, None, :]
    f = jax.nn.sigmoid(sharpness * z)
    y = jax.random.bernoulli(k_y, f).astype(jnp.float32)
    item_group, f = _providers(key, z, f, sharpness, provider_share, provider_bias, n_item_groups, biased)
    rate = retrieval_rate * 2.0 * jax.nn.sigmoid(retrieval_gradient * jnp.minimum(xs @ direction, 0.0))
    mask = jax.random.uniform(k_m, (u * n_sessions, n_candidates)) < rate[:, None]
    return f.astype(jnp.float32), y, mask, jnp.repeat(group, n_sessions), xs.astype(jnp.float32), item_group


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
      covariate_shift: s >= 0, distance between the groups' covariate means (default 0:
        p(x | G) is the same for both groups).
      covariate_effect: β, how much the covariates raise candidates' latent quality
        (default 0: Y does not depend on X).
      retrieval_gradient: γ >= 0, how much worse retrieval gets where x·v < 0 (default 0).
      item_groups: H >= 2 provider groups of the candidates (default 2).
      provider_share: probability a candidate belongs to the minority provider H − 1, in (0, 1)
        (default 0.2).
      provider_bias: b >= 0, how much (logit scale) the minority provider's scores under-state
        its labels (default 0: calibrated for every provider).
    """

    def __init__(
        self,
        seed: int = 0,
        n_candidates: int = 20,
        n_labels: int = 2,
        rho: float | None = None,
        sharpness: float = 2.0,
        minority_share: float = 0.2,
        retrieval_rate: float = 1.0,
        covariate_shift: float = 0.0,
        covariate_effect: float = 0.0,
        retrieval_gradient: float = 0.0,
        item_groups: int = 2,
        provider_share: float = 0.2,
        provider_bias: float = 0.0,
        prefs=None,
    ):
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
        for nm, v in (("covariate_shift", covariate_shift), ("retrieval_gradient", retrieval_gradient)):
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not (np.isfinite(v) and v >= 0):
                raise ValueError(f"{nm}: expected a finite number >= 0, got {v!r}")
        if (
            isinstance(covariate_effect, bool)
            or not isinstance(covariate_effect, (int, float))
            or not np.isfinite(covariate_effect)
        ):
            raise ValueError(f"covariate_effect: expected a finite number, got {covariate_effect!r}")
        if isinstance(item_groups, bool) or not isinstance(item_groups, (int, np.integer)) or item_groups < 2:
            raise ValueError(f"item_groups: expected an int >= 2 (H provider groups), got {item_groups!r}")
        if (
            isinstance(provider_share, bool)
            or not isinstance(provider_share, (int, float))
            or not 0.0 < provider_share < 1.0
        ):
            raise ValueError(f"provider_share: expected 0 < share < 1, got {provider_share!r}")
        if (
            isinstance(provider_bias, bool)
            or not isinstance(provider_bias, (int, float))
            or not (np.isfinite(provider_bias) and provider_bias >= 0)
        ):
            raise ValueError(f"provider_bias: expected a finite number >= 0, got {provider_bias!r}")
        self.name = "toy"
        self.seed = seed
        self.n_candidates = n_candidates
        self.label_names = tuple(f"label{k}" for k in range(n_labels))
        self.group_names = ("majority", "minority")
        self.prevalence = np.array([1.0 - minority_share, minority_share])
        self.prefs = bind_prefs(default_toy_prefs(n_labels) if prefs is None else prefs, self.group_names, n_labels)
        self.options = dict(
            n_candidates=n_candidates,
            n_labels=n_labels,
            rho=rho,
            sharpness=sharpness,
            minority_share=minority_share,
            retrieval_rate=retrieval_rate,
            covariate_shift=covariate_shift,
            covariate_effect=covariate_effect,
            retrieval_gradient=retrieval_gradient,
            item_groups=int(item_groups),
            provider_share=provider_share,
            provider_bias=provider_bias,
        )
        self.item_group_names = tuple(f"provider{h}" for h in range(int(item_groups) - 1)) + ("minority-provider",)
        self.feature_names = tuple(f"x{k}" for k in range(n_labels))
        self.direction = shift_direction(n_labels)
        self._params = (
            float(rho),
            float(sharpness),
            float(minority_share),
            float(retrieval_rate),
            float(covariate_shift),
            float(covariate_effect),
            float(retrieval_gradient),
            jnp.asarray(self.direction, jnp.float32),
            float(provider_share),
            float(provider_bias),
        )
        self._static = dict(n_item_groups=int(item_groups), biased=bool(provider_bias > 0))

    def log_group_densities(self, features) -> np.ndarray:
        """Exact ``log p(x | G = g)`` of covariates ``features [N, d]``: float64 ``[N, G]``.

        ``x | G = g ~ N(g · covariate_shift · v, I_d)`` (module docstring).
        """
        x = np.asarray(features, np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_labels:
            raise ValueError(f"features: expected shape [N, {self.n_labels}], got {x.shape}")
        d = x.shape[1]
        out = np.empty((len(x), 2))
        for g in (0, 1):
            mean = g * self.options["covariate_shift"] * self.direction
            out[:, g] = -0.5 * np.sum((x - mean) ** 2, axis=1) - 0.5 * d * np.log(2 * np.pi)
        return out

    def sample(self, key, n_users: int) -> Batch:
        if not isinstance(n_users, (int, np.integer)) or n_users < 1:
            raise ValueError(f"n_users: expected an int >= 1, got {n_users!r}")
        f, y, mask, group, x, item_group = _sample_toy(
            key, int(n_users), self.n_candidates, self.n_labels, *self._params, **self._static
        )
        return Batch(scores=f, labels=y, mask=mask, group=group, features=x, item_group=item_group)

    def session_bank(self, key, n_users: int | None = None, n_sessions: int = 32) -> tuple[Batch, np.ndarray]:
        """``n_users`` toy users (default 2048; group and covariates x drawn as :meth:`sample` draws
        them) with ``n_sessions`` sessions of fresh candidates each (:mod:`jaxfair.dynamics`).

        The default 2048 × 32 sessions keeps the dynamics' utility table of 101 α at 26 MB
        (closer to a CPU's last-level cache than 4096 users' 53 MB).

        Returns ``(batch [U·B sessions, user-major], user_group i32[U])``.
        """
        n_users = 2048 if n_users is None else n_users
        for nm, v in (("n_users", n_users), ("n_sessions", n_sessions)):
            if not isinstance(v, (int, np.integer)) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{nm}: expected an int >= 1, got {v!r}")
        k_users, k_sessions = jax.random.split(key)
        users = self.sample(k_users, int(n_users))
        rho, sharpness, _, rate, _, effect, gradient, direction, provider_share, provider_bias = self._params
        f, y, mask, group, x, item_group = _sample_toy_sessions(
            k_sessions,
            users.group,
            users.features,
            int(n_sessions),
            self.n_candidates,
            self.n_labels,
            rho,
            sharpness,
            rate,
            effect,
            gradient,
            direction,
            provider_share,
            provider_bias,
            **self._static,
        )
        return (
            Batch(scores=f, labels=y, mask=mask, group=group, features=x, item_group=item_group),
            np.asarray(users.group, np.int32),
        )

    def auc_table(self):
        """AUC of each label's score on 20,000 sampled users (key derived from ``seed``)."""
        from jaxfair.auc import auc_table_from_batch

        batch = self.sample(jax.random.PRNGKey(self.seed), 20_000)
        return auc_table_from_batch(batch, self.label_names, self.group_names)


register(
    "toy",
    lambda seed=0, **opts: ToyScenario(seed=seed, **opts),
    "built-in pure-JAX scenario: calibrated scores, Bernoulli labels, 80/20 groups (no data needed)",
    reads_files=False,
)
