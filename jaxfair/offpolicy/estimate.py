"""Off-policy estimates of every α of a grid from an impression log (SPEC §10).

ρ_{n,r}(α) = 1[j_r(α) = a_{n,r}] / p₀(a_{n,r} at r | x_n), clipped at λ when asked (min(ρ, λ)); a_{n,r} the
logged item at position r (top-1: r = 1 only), Y its logged labels, Ŷ the outcome model. Per group g
(N_g sessions, S_{g,r} of them with an item at position r — the same for every α, since a slate holds
min(k, retrieved) items), per label:

* **IPS**   Σ_n Σ_r v_r ρ_{n,r} Y_{n,r} / N_g
* **SNIPS** Σ_r v_r (S_{g,r} / N_g) · Σ_n ρ_{n,r} Y_{n,r} / Σ_n ρ_{n,r}  — the textbook Σρr/Σρ when every
  session has a retrieved candidate; sessions with nothing retrieved are worth 0 (SPEC §2) and are
  counted in N_g, not in the self-normalisation.
* **DM**    Σ_n Σ_r v_r Ŷ[n, j_r(α)] / N_g
* **DR**    DM + Σ_n Σ_r v_r ρ_{n,r} (Y_{n,r} − Ŷ[n, a_{n,r}]) / N_g

Slates (k > 1) use the independent-position estimators: an item's outcome depends only on it and
its position, and positions are matched one by one (SPEC §10). Bootstrap: logged users resampled
within their group (all of a user's sessions together): each replicate's sums are the users' resampling
counts (:mod:`jaxfair.offpolicy.bootstrap`) times the per-session channels. Serving: K = 2 top-1 logs on
the exact envelope walk (:mod:`jaxfair.offpolicy.envelope`, changes only, float64), slates and K ≥ 3 on
the grid kernel (:mod:`jaxfair.offpolicy.channels`, one float32 BLAS product per group on the host for
the bootstrap). Speed (``benchmarks/bench_offpolicy.py``, section ``surface``): see
``docs/impressions.md#speed``.
"""

from __future__ import annotations

import weakref
from typing import Any

import jax
import numpy as np

from jaxfair.offpolicy.bootstrap import user_multiplicities
from jaxfair.offpolicy.channels import BOOT_CHANNELS, grid_sums
from jaxfair.offpolicy.log import ImpressionLog
from jaxfair.offpolicy.result import OffPolicyEstimate
from jaxfair.utils.percent import percent
from jaxfair.validation import check_alphas

__all__ = ["ESTIMATORS", "estimate"]

#: The estimators :func:`estimate` takes.
ESTIMATORS = ("ips", "snips", "dm", "dr")
#: Largest share of sessions whose target item may have p₀ < p_min in an identified cell (SPEC §10).
DEFICIENT_MAX = 0.01


def _check_number(name: str, value: Any, lo: float, hi: float = np.inf, *, lo_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    v = float(value)
    if not np.isfinite(v) or (v <= lo if lo_open else v < lo) or v > hi:
        lo_txt = f"> {lo:g}" if lo_open else f">= {lo:g}"
        raise ValueError(
            f"{name}: expected a finite number {lo_txt}"
            + ("" if hi == np.inf else f" and <= {hi:g}")
            + f", got {value!r}"
        )
    return v


def logging_propensities(log: ImpressionLog, *, mc: int, key) -> tuple[np.ndarray, Any, dict]:
    """``(p at the shown items [S, k], declared Propensities or None, info)``: the column when present
    (checked against a declared D₀ when both are), else the declared D₀'s computed propensities."""
    from jaxfair.offpolicy.propensity import check_propensity_column

    declared = None
    if log.logging is not None:
        declared = _declared_propensities(log, mc, key)
    if log.propensity is not None:
        if declared is not None:
            check_propensity_column(log, declared)
        info = {"source": "column", "declared": None if log.logging is None else str(log.logging)}
        info.update(declared.info() if declared is not None else {"method": "logged", "mc": None, "max_se": 0.0})
        return log.propensity, declared, info
    if declared is None:
        raise ValueError(
            "log: has neither a propensity column nor a declared logging policy (--propensity COL or "
            "--logging dirichlet:C@a_1,...,a_K / epsilon:E@a_1,...,a_K): off-policy estimates need one"
        )
    p_shown = declared.at_shown(log.shown)
    zero = (log.shown >= 0) & ~(p_shown > 0)
    if zero.any():  # exact propensities only: Monte Carlo counts the logged draw (never 0)
        n, r = (int(i) for i in np.argwhere(zero)[0])
        ids = log.info.get("session_ids")
        name = f"session {ids[n]!r}" if ids is not None else f"session {n}"
        raise ValueError(
            f"logging: {int(zero.any(axis=1).sum())} of {log.n_sessions} sessions show an item that the declared "
            f"{log.logging} never serves (propensity 0), e.g. {name} shows candidate {int(log.shown[n, r])}: the "
            "log was not logged under this D0 (check the declared logging, or give the logging policy's propensity "
            "column)"
        )
    return p_shown, declared, {"source": "declared", "declared": str(log.logging), **declared.info()}


#: Each log's declared-D₀ propensities, kept while the log lives: the command line checks them when it
#: reads the log and the estimate needs them again (exact ones do not depend on the key or M).
_PROPENSITY_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _declared_propensities(log: ImpressionLog, mc: int, key):
    """:func:`jaxfair.offpolicy.propensity.propensities` of ``log.logging``, computed once per log (exact)
    or once per (log, M, key) (Monte Carlo: other draws are other numbers)."""
    from jaxfair.offpolicy.propensity import propensities

    store = _PROPENSITY_CACHE.setdefault(log, {})
    if "exact" in store:
        return store["exact"]
    draws = (int(mc), np.asarray(jax.random.key_data(key)).tobytes())
    if draws not in store:
        prop = propensities(log, log.logging, mc=mc, key=key)
        if prop.method == "exact":
            store["exact"] = prop
            return prop
        store[draws] = prop
    return store[draws]


def estimate(
    alphas: Any,
    log: ImpressionLog,
    *,
    estimator: str = "dr",
    clip: float | None = None,
    n_boot: int = 200,
    key: Any = None,
    level: float = 0.95,
    min_ess: float = 30.0,
    p_min: float = 1e-3,
    mc: int = 4096,
    outcome_model: Any = None,
    progress: bool = False,
) -> OffPolicyEstimate:
    """IPS / SNIPS / DM / DR estimates of the per-label group means for every α (module docstring).

    Args:
      alphas: ``[P, K]`` serving weights (>= 0, finite, no all-zero row).
      log: the :class:`~jaxfair.offpolicy.log.ImpressionLog` (with a propensity column or a declared D₀).
      estimator: one of :data:`ESTIMATORS`; ``"dm"``/``"dr"`` fit :func:`~jaxfair.offpolicy.outcome.fit_outcome_model`
        when ``outcome_model`` is None.
      clip: λ > 0: weights min(ρ, λ) (recorded); None: no clipping.
      n_boot: B bootstrap replicates (0: no CIs); key: PRNG key (default ``PRNGKey(0)``; split for the
        Monte Carlo propensities, the outcome model's folds and the bootstrap).
      level: CI level; min_ess: ESS threshold; p_min: support threshold of the deficient share.
      mc: Monte Carlo draws where propensities are not exact.
    Returns:
      :class:`~jaxfair.offpolicy.result.OffPolicyEstimate`.
    """
    if not isinstance(log, ImpressionLog):
        raise ValueError(f"log: expected an ImpressionLog, got {type(log).__name__}")
    if estimator not in ESTIMATORS:
        raise ValueError(f"estimator: expected one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    if clip is not None:
        clip = _check_number("clip", clip, 0.0, lo_open=True)
    if isinstance(n_boot, bool) or not isinstance(n_boot, (int, np.integer)) or n_boot < 0:
        raise ValueError(f"n_boot: expected an int >= 0, got {n_boot!r}")
    level = _check_number("level", level, 0.0, 1.0, lo_open=True)
    if level >= 1.0:
        raise ValueError(f"level: expected 0 < level < 1, got {level!r}")
    min_ess = _check_number("min_ess", min_ess, 0.0)
    p_min = _check_number("p_min", p_min, 0.0, 1.0)
    batch = log.batch
    a = check_alphas(alphas, batch.n_labels)
    key = jax.random.PRNGKey(0) if key is None else key
    k_prop, k_out, k_boot = jax.random.split(key, 3)
    p_shown, declared, prop_info = logging_propensities(log, mc=mc, key=k_prop)
    filled = log.shown >= 0
    rho = np.where(filled, 1.0 / np.where(filled, p_shown, 1.0), 0.0)
    if clip is not None:
        rho = np.minimum(rho, clip)
    s, m, n_lab = batch.shape
    k = log.slate_k
    with_outcome = estimator in ("dm", "dr")
    if with_outcome:
        from jaxfair.offpolicy.outcome import OutcomeModel, fit_outcome_model

        if outcome_model is None:
            outcome_model = fit_outcome_model(log, key=k_out)
        if not isinstance(outcome_model, OutcomeModel):
            raise ValueError(f"outcome_model: expected an OutcomeModel, got {type(outcome_model).__name__}")
        yhat = np.asarray(outcome_model.predictions, np.float32)
        if yhat.shape != (s, m, n_lab):
            raise ValueError(f"outcome_model: predictions have shape {yhat.shape}, the log needs {(s, m, n_lab)}")
        yhat_shown = np.where(filled[..., None], np.take_along_axis(yhat, np.maximum(log.shown, 0)[..., None], 1), 0)
    else:
        yhat = np.zeros((s, m, n_lab), np.float32)
        yhat_shown = np.zeros((s, k, n_lab), np.float32)
    with_def = declared is not None
    boot = user_multiplicities(k_boot, log, int(n_boot))
    if k == 1 and n_lab == 2:  # the exact envelope walk, as the full-information K = 2 surface serves
        from jaxfair.offpolicy.envelope import envelope_sums

        support = None if declared is None else declared.p < p_min
        sums = envelope_sums(
            a, log, rho, yhat if with_outcome else None, yhat_shown, support, boot, int(n_boot), estimator, progress
        )
    else:
        low_p = (declared.p.reshape(s, m, k) < p_min) if with_def else np.zeros((s, m, k), bool)
        opts = (estimator, with_outcome, with_def, progress)
        sums = grid_sums(a, log, rho, yhat, yhat_shown, low_p, boot, int(n_boot), *opts)
    return _finish(
        a,
        log,
        sums,
        estimator,
        clip,
        int(n_boot),
        level,
        min_ess,
        p_min,
        prop_info,
        with_def,
        None if not with_outcome else dict(outcome_model.info),
    )


def _ratio(num, den):
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def _label_means(estimator, sums, prefix, n_g, s_rg, v):
    """Per-label means ``[..., P, G, K]`` of ``estimator`` from channel sums (``prefix``: "" or "boot_")."""
    if estimator == "snips":
        num, w = sums[prefix + "num"], sums[prefix + "w"]  # [.., P, G, k, K], [.., P, G, k]
        per_pos = _ratio(num, w[..., None])
        share = _ratio(s_rg, n_g[:, None])  # [G, k]
        return np.einsum("...pgrk,gr,r->...pgk", per_pos, share, v)
    return _ratio(sums[prefix + estimator], n_g[:, None])


def _finish(a, log, sums, estimator, clip, n_boot, level, min_ess, p_min, prop_info, with_def, outcome_info):
    group = np.asarray(log.batch.group)
    g, k = log.n_groups, log.slate_k
    n_g = np.bincount(group, minlength=g).astype(np.float64)
    onehot = np.eye(g)[group]
    s_rg = onehot.T @ (log.shown >= 0).astype(np.float64)  # [G, k]
    code, n_users = log.user_index
    group_of_user = np.zeros(n_users, np.int64)
    group_of_user[code] = group  # one group per user (the log checks it)
    users = np.bincount(group_of_user, minlength=g)[:g].astype(np.float64)
    lm = _label_means(estimator, sums, "", n_g, s_rg, log.position_weights)
    boot_key = "boot_" + BOOT_CHANNELS[estimator][0]
    if boot_key in sums:
        lm_boot = _label_means(estimator, sums, "boot_", n_g, s_rg, log.position_weights).astype(np.float32)
    else:
        lm_boot = np.zeros((0,) + lm.shape, np.float32)
    w, w2 = sums["w"], sums["w2"]  # [P, G, k]
    ess_r = _ratio(w**2, w2)
    present = s_rg[None] > 0
    ess = np.where(present, ess_r, np.inf).min(axis=-1)
    ess = np.where(np.isfinite(ess), ess, 0.0)
    matched = sums["match"].sum(axis=-1) / k
    mean_weight = _ratio(w.sum(axis=-1), s_rg.sum(axis=-1)[None])
    deficient = _ratio(sums["deficient"][..., 0], n_g[None]) if with_def else None
    identified = (n_g[None] > 0) & (ess >= min_ess)
    if deficient is not None:
        identified &= deficient <= DEFICIENT_MAX
    reasons = []
    for i in range(a.shape[0]):
        why = []
        for gid, name in enumerate(log.group_names):
            if n_g[gid] == 0:
                why.append(f"group {name!r}: no sessions")
                continue
            if ess[i, gid] < min_ess:
                why.append(f"group {name!r}: ESS {ess[i, gid]:.3g} < {min_ess:g}")
            if deficient is not None and deficient[i, gid] > DEFICIENT_MAX:
                why.append(
                    f"group {name!r}: {percent(deficient[i, gid])} of sessions' target item has p0 < {p_min:g} "
                    f"(> {percent(DEFICIENT_MAX)}: the logging did not explore it)"
                )
        reasons.append("; ".join(why))
    return OffPolicyEstimate(
        alphas=np.asarray(a, np.float64),
        estimator=estimator,
        clip=clip,
        level=level,
        n_boot=n_boot,
        label_means=lm,
        label_means_boot=lm_boot,
        group_sessions=n_g,
        group_users=users,
        ess=ess,
        matched=matched,
        mean_weight=mean_weight,
        deficient_share=deficient,
        identified=identified,
        reasons=reasons,
        propensity_info=prop_info,
        outcome_info=outcome_info,
        group_names=log.group_names,
        label_names=log.label_names,
        slate_k=k,
        position_weights=log.position_weights,
        min_ess=min_ess,
        p_min=p_min,
    )
