"""Multi-task collaborative filtering in Flax + Optax (ModCloth / Electronics scorers).

As in Wan et al.'s MF model, each user and item has an embedding and a bias; the paper's
modifications (appendix C.3.2): one task-specific head per label on the shared embeddings,
and binary cross-entropy instead of squared error. For label k::

    logit_k(u, i) = w_k · (e_u ⊙ e_i) + b_{u,k} + b_{i,k} + c_k

Trained with Adam on mini-batches, L2 penalty on the looked-up embeddings and biases (as
Wan et al.), early stopping on the validation loss (best parameters kept).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxfair.utils.progress import progress_bar as tqdm

__all__ = ["CFConfig", "MultiTaskCF", "predict_cf", "train_cf"]


class MultiTaskCF(nn.Module):
    """Shared user/item embeddings, one linear head + user/item bias per label."""

    n_users: int
    n_items: int
    n_tasks: int
    dim: int = 16

    @nn.compact
    def __call__(self, user, item):
        """``user, item i32[B]`` → logits ``f32[B, n_tasks]`` and the L2 term of the batch."""
        init = nn.initializers.normal(0.1)
        eu = nn.Embed(self.n_users, self.dim, embedding_init=init, name="user_emb")(user)
        ei = nn.Embed(self.n_items, self.dim, embedding_init=init, name="item_emb")(item)
        bu = nn.Embed(self.n_users, self.n_tasks, embedding_init=nn.initializers.zeros, name="user_bias")(user)
        bi = nn.Embed(self.n_items, self.n_tasks, embedding_init=nn.initializers.zeros, name="item_bias")(item)
        logits = nn.Dense(self.n_tasks, name="heads")(eu * ei) + bu + bi
        l2 = jnp.mean(eu * eu) + jnp.mean(ei * ei) + jnp.mean(bu * bu) + jnp.mean(bi * bi)
        return logits, l2


@dataclass(frozen=True)
class CFConfig:
    dim: int = 16
    learning_rate: float = 0.01
    l2: float = 1e-4
    batch_size: int = 8192
    max_epochs: int = 30
    patience: int = 2

    def __post_init__(self):
        for name in ("dim", "batch_size", "max_epochs", "patience"):
            v = getattr(self, name)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {v!r}")
        for name in ("learning_rate", "l2"):
            v = getattr(self, name)
            if not (np.isfinite(v) and v >= 0) or (name == "learning_rate" and v == 0):
                raise ValueError(
                    f"{name}: expected a finite value {'> 0' if name == 'learning_rate' else '>= 0'}, got {v!r}"
                )


def _loss(model, params, user, item, y, l2w):
    logits, l2 = model.apply({"params": params}, user, item)
    return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, y)) + l2w * l2


def train_cf(
    user: np.ndarray,
    item: np.ndarray,
    y: np.ndarray,
    val: np.ndarray,
    n_users: int,
    n_items: int,
    cfg: CFConfig,
    seed: int,
    progress: bool = True,
):
    """Fit :class:`MultiTaskCF` on rows ``user, item i[R]``, labels ``y f32[R, K]``.

    Args:
      val: bool ``[R]``, rows held out for early stopping (validation BCE, checked per epoch).
    Returns:
      ``(model, params, history)``; ``params`` are those of the best validation epoch.
    """
    y = np.asarray(y, np.float32)
    n_tasks = y.shape[1]
    model = MultiTaskCF(n_users=n_users, n_items=n_items, n_tasks=n_tasks, dim=cfg.dim)
    key = jax.random.PRNGKey(seed)
    params = model.init(key, jnp.zeros(1, jnp.int32), jnp.zeros(1, jnp.int32))["params"]
    tx = optax.adam(cfg.learning_rate)
    opt_state = tx.init(params)
    tr = ~np.asarray(val, bool)
    tu, ti, ty = (jnp.asarray(a[tr]) for a in (user.astype(np.int32), item.astype(np.int32), y))
    vu, vi, vy = (jnp.asarray(a[~tr]) for a in (user.astype(np.int32), item.astype(np.int32), y))
    n_train = int(tu.shape[0])
    bs = min(cfg.batch_size, n_train)
    steps = n_train // bs

    @jax.jit
    def epoch(params, opt_state, key):
        perm = jax.random.permutation(key, n_train)[: steps * bs].reshape(steps, bs)

        def step(carry, idx):
            p, s = carry
            loss, g = jax.value_and_grad(lambda q: _loss(model, q, tu[idx], ti[idx], ty[idx], cfg.l2))(p)
            upd, s = tx.update(g, s, p)
            return (optax.apply_updates(p, upd), s), loss

        (params, opt_state), losses = jax.lax.scan(step, (params, opt_state), perm)
        return params, opt_state, jnp.mean(losses)

    @jax.jit
    def val_loss(params):
        logits, _ = model.apply({"params": params}, vu, vi)
        return jnp.mean(optax.sigmoid_binary_cross_entropy(logits, vy))

    best, best_params, bad, history = np.inf, params, 0, []
    bar = tqdm(range(cfg.max_epochs), desc="CF model (Flax)", unit="epoch", disable=not progress)
    t0 = time.perf_counter()
    for ep in bar:
        key, sub = jax.random.split(key)
        params, opt_state, tl = epoch(params, opt_state, sub)
        vl = float(val_loss(params))
        history.append({"epoch": ep + 1, "train_loss": round(float(tl), 5), "val_loss": round(vl, 5)})
        bar.set_postfix(train=f"{float(tl):.4f}", val=f"{vl:.4f}")
        if vl < best - 1e-5:
            best, best_params, bad = vl, params, 0
        else:
            bad += 1
            if bad >= cfg.patience:
                break
    bar.close()
    return (
        model,
        best_params,
        {"epochs": history, "best_val_loss": round(best, 5), "seconds": round(time.perf_counter() - t0, 2)},
    )


def predict_cf(model: MultiTaskCF, params, user: np.ndarray, item: np.ndarray, chunk: int = 1 << 20) -> np.ndarray:
    """Probabilities ``f32[R, K]`` for rows ``user, item``."""
    fn = jax.jit(lambda u, i: jax.nn.sigmoid(model.apply({"params": params}, u, i)[0]))
    out = [
        np.asarray(fn(jnp.asarray(user[s : s + chunk], jnp.int32), jnp.asarray(item[s : s + chunk], jnp.int32)))
        for s in range(0, len(user), chunk)
    ]
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, model.n_tasks), np.float32)
