"""The one place where the dynamics serve sessions: ``session_utilities`` and ``LabelSumTable``.

Every utility the dynamics use comes from the package's slate network (SPEC §7; top-1 is its
k = 1 case): either :func:`session_utilities` (the table of each α on each bank session for one
preference matrix) or a :class:`LabelSumTable` (each label's position-weighted sum, from which
any preference matrix's utilities are a contraction, :func:`weigh_labels`).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from jaxfair.engine import kernels
from jaxfair.engine.batch import Batch
from jaxfair.engine.executors import map_user_chunks, pad_rows
from jaxfair.engine.slate import as_slate
from jaxfair.engine.topk import slate_outputs

__all__ = ["LabelSumTable", "session_utilities", "weigh_labels"]


@functools.partial(jax.jit, static_argnames=("spec",))
def _served(alphas, scores, mask, labels, group, prefs, spec):
    batch = Batch(scores=scores, labels=labels, mask=mask, group=group)
    value = kernels.true_value(batch, prefs)  # [n, m]
    # The package's one serving machinery: top-k by Σ α_k f_k, Σ_r v_r · value (k = 1: top-1 bit for bit).
    return kernels.slate_value(alphas, scores, mask, value, spec).T  # [P, n]


@functools.partial(jax.jit, static_argnames=("spec",))
def _served_labels(alphas, scores, mask, labels, spec):
    # Every label rides through one serving network as its own channel (selects move bits
    # unchanged): the same bits as K passes with α*(g) = e_k, for a fraction of the work.
    channels = tuple(labels[..., k] for k in range(labels.shape[-1]))
    sums, _ = slate_outputs(alphas, scores, mask, channels, None, spec._replace(n_item_groups=0))
    return jnp.stack(sums, axis=1)  # [n, K, P]


@functools.partial(jax.jit, static_argnames=("n_rows", "n_cols"), donate_argnums=0)
def _write_block(out, block, u0, a0, n_rows, n_cols):
    return jax.lax.dynamic_update_slice(out, block[:n_rows, :, :n_cols], (u0, 0, a0))


def weigh_labels(sums, weights):
    """``Σ_k weights[..., k] · sums[..., k, :]``: utilities ``[..., P]`` from label sums ``[..., K, P]``.

    A product per label, added in label order — elementwise, so a session's utility has the
    same float32 bits in any batch (every member of a preference set, alone or together), and
    with K = 1 and weight 1 it is ``sums`` itself, bit for bit.
    """
    out = sums[..., 0, :] * weights[..., 0, None]
    for k in range(1, sums.shape[-2]):
        out = out + sums[..., k, :] * weights[..., k, None]
    return out


def session_utilities(
    alphas,
    batch: Batch,
    prefs,
    slate=1,
    position_weights=None,
    *,
    gamma: float | None = None,
    session_chunk: int = 8192,
    alpha_chunk: int = 128,
) -> jnp.ndarray:
    """Utility ``u_n(α)`` of every session n under every α: float32 ``[P, N]``.

    Slate serving (SPEC §7; ``slate=1`` is the paper's top-1, SPEC §1) with the package's
    kernel (:func:`jaxfair.engine.kernels.slate_value`: ranks by score, lowest index on ties; 0 for
    empty ranks and where nothing was retrieved), mapped over session chunks with the
    engine's :func:`jaxfair.engine.executors.map_user_chunks` and chunked over α, so memory
    stays bounded.

    Args:
      alphas: float32 ``[P, K]`` (validated by the caller); batch: N sessions;
      prefs: ``[G, K]`` true preferences; slate: a :class:`jaxfair.Slate` or k, with
        ``position_weights`` (``None`` = ``"dcg"``) and ``gamma`` — the utility is
        ``Σ_r v_r · α*(g)·Y`` of the slate.
    """
    spec = as_slate(slate, position_weights, gamma, batch.n_candidates).spec(0)
    alphas = jnp.asarray(alphas, jnp.float32)
    prefs = jnp.asarray(prefs, jnp.float32)
    p, n = int(alphas.shape[0]), batch.n_users
    ac = min(alpha_chunk, p)
    chunks = [pad_rows(alphas[a0 : a0 + ac], ac, 1.0) for a0 in range(0, p, ac)]  # fixed shapes: one compile
    sessions = (batch.scores, batch.mask, batch.labels, batch.group)

    def serve(sub):
        return jnp.concatenate([_served(c, *sub, prefs, spec) for c in chunks], axis=0)[:p]

    cols = [
        out[:, :n_real]
        for _, n_real, out in map_user_chunks(serve, sessions, min(session_chunk, n), (0.0, False, 0.0, 0))
    ]
    return jnp.concatenate(cols, axis=1)


class LabelSumTable:
    """Position-weighted label sums of each α on each bank session, reused for many preference matrices.

    The serving (which candidates fill the slate) does not depend on α*(g): the utility of
    session n is ``α*(g_n) · L_n(α)`` with ``L_n(α) [K] = Σ_r v_r Y_r`` (SPEC §9). So a
    preference set pays for one serving pass that carries the K labels as channels — the same
    bits as :func:`session_utilities` with the basis preferences ``e_k`` — instead of one per
    member, and each member's utilities are a contraction (:func:`weigh_labels`, done inside
    the dynamics' scan, so no member ever holds a table of its own). They differ from
    :func:`session_utilities` with the member's prefs by float32 rounding only.

    Args:
      batch: the bank's N sessions; slate: a :class:`jaxfair.Slate` (resolved by the caller).
    """

    def __init__(self, batch: Batch, slate):
        self.batch = batch
        self.slate = slate
        self._sums: dict[bytes, jnp.ndarray] = {}

    def label_sums(self, alphas, *, session_chunk: int = 8192, alpha_chunk: int = 128) -> jnp.ndarray:
        """float32 ``[N, K, P]``: label k's position-weighted sum on each session under each α (cached).

        Session-major: a session's K × P sums are one contiguous row, what the scan gathers.
        """
        alphas = np.asarray(alphas, np.float32)
        key = alphas.tobytes() + str(alphas.shape).encode()
        if key not in self._sums:
            spec = self.slate.spec(0)
            p, n = int(alphas.shape[0]), self.batch.n_users
            ac = min(alpha_chunk, p)
            chunks = [pad_rows(jnp.asarray(alphas[a0 : a0 + ac]), ac, 1.0) for a0 in range(0, p, ac)]  # one compile
            sessions = (self.batch.scores, self.batch.mask, self.batch.labels)
            # Written in place (a donated buffer): the table is the largest array of a set run
            # (N × K × P), so it is allocated once, not concatenated from copies.
            out = jnp.zeros((n, int(self.batch.n_labels), p), jnp.float32)
            for u0, n_real, rows in map_user_chunks(
                lambda sub: [_served_labels(c, *sub, spec) for c in chunks],
                sessions,
                min(session_chunk, n),
                (0.0, False, 0.0),
            ):
                for c, r in enumerate(rows):
                    out = _write_block(out, r, u0, c * ac, n_real, min(ac, p - c * ac))
            self._sums[key] = out
        return self._sums[key]

    def utilities(self, alphas, prefs) -> jnp.ndarray:
        """float32 ``[P, N]``: :func:`session_utilities` for ``prefs [G, K]``, from the cached label sums."""
        sums = self.label_sums(alphas)  # [N, K, P]
        w = jnp.asarray(prefs, jnp.float32)[self.batch.group]  # [N, K]
        return weigh_labels(sums, w).T
