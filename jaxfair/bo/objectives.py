"""The objectives a BO study can optimise, by name, and the robust ones over a preference set (SPEC §9).

Column order is what the methods read: the first column is utility-like, the second DER-like
(Fair EHVI evaluates the proposal with the highest posterior-mean second column), an optional
third is ``provider_der``:

* ``utility`` — global utility under the point preferences (the scenario's prefs);
* ``utility_q{q}`` — the q % quantile over a :class:`~jaxfair.preferences.PrefSet` of global
  utility (``utility_q10``: the utility the α keeps for 90 % of the plausible preferences;
  ``utility_q0`` the minimum, ``utility_q50`` the median); needs ``prefs_set``;
* ``der`` — DER under the point preferences;
* ``der_min`` — DER minimised over the set (the *robust DER*: fair for every member); needs
  ``prefs_set``;
* ``provider_der`` — provider DER of SPEC §7 (point preferences).

The robust values come from the batch's label means ``L [P, G, K]`` (one kernel pass, the
same one that gives the point values): member q's group utility is ``μ_qg = α*_q(g) · L_g``
and its global utility ``Σ_g n_g μ_qg / N`` (population-weighted, like the point value).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from jaxfair.engine import kernels
from jaxfair.engine.api import group_utility_from_label_means

__all__ = [
    "DEFAULT_OBJECTIVES",
    "OBJECTIVES",
    "is_robust",
    "objective_label",
    "parse_objectives",
    "quantile_of",
    "robust_columns",
    "set_values",
]

#: The point objectives, in column order (the robust ones are ``utility_q{q}`` and ``der_min``).
OBJECTIVES = ("utility", "der", "provider_der")
DEFAULT_OBJECTIVES = ("utility", "der")
_QUANTILE = re.compile(r"utility_q(\d{1,3})")
_EXPECTED = (
    "expected UTILITY,DER[,provider_der] with UTILITY one of utility, utility_q{q} (q an integer percent "
    "0..100, e.g. utility_q10) and DER one of der, der_min"
)


def quantile_of(name: str) -> int | None:
    """q of ``utility_q{q}`` (an integer percent 0..100), or None for any other name."""
    m = _QUANTILE.fullmatch(name)
    if m is None:
        return None
    q = int(m.group(1))
    return q if 0 <= q <= 100 and m.group(1) == str(q) else None


def parse_objectives(objectives: Any) -> tuple[str, ...]:
    """Validate ``objectives`` (sequence or comma-separated string), e.g. ``("utility", "der")``,
    ``"utility,der,provider_der"`` or the robust pair ``"utility_q10,der_min"``; see the module doc."""
    if isinstance(objectives, str):
        objectives = [o.strip() for o in objectives.split(",") if o.strip()]
    try:
        objs = tuple(str(o) for o in objectives)
    except TypeError:
        raise ValueError(f"objectives: expected a sequence of names, got {objectives!r}") from None
    ok = (
        len(objs) in (2, 3)
        and (objs[0] == "utility" or quantile_of(objs[0]) is not None)
        and objs[1] in ("der", "der_min")
        and (len(objs) == 2 or objs[2] == "provider_der")
    )
    if not ok:
        raise ValueError(f"objectives: {_EXPECTED}; got {objectives!r}")
    return objs


def is_robust(objectives: tuple[str, ...]) -> bool:
    """Whether any objective is taken over a preference set (``utility_q{q}`` or ``der_min``)."""
    return any(o == "der_min" or quantile_of(o) is not None for o in objectives)


def set_values(label_means: np.ndarray, counts: np.ndarray, prefs_set: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Global utility and DER of every (member, α) of a preference set, after the kernel.

    Args:
      label_means: ``[P, G, K]`` float64 (:func:`jaxfair.label_means`); counts: users per group ``[G]``;
      prefs_set: ``[Q, G, K]`` (:attr:`jaxfair.preferences.PrefSet.values`).
    Returns:
      ``(utility [Q, P], der [Q, P])`` float64; NaN where a group is empty (the caller redraws).
    """
    counts = np.asarray(counts, np.float64)
    mu = group_utility_from_label_means(label_means, prefs_set)  # [Q, P, G]
    # Σ_g n_g μ_g / N: the population-weighted global utility (the majority dominates it, SPEC §1).
    utility = (mu * counts).sum(axis=-1) / counts.sum()
    der = np.asarray(kernels.der_kernel(mu, np), np.float64)
    return utility, der


def robust_columns(objectives: tuple[str, ...], set_utility: np.ndarray, set_der: np.ndarray) -> dict[str, np.ndarray]:
    """``{name: [P]}`` of the robust objectives among ``objectives`` from :func:`set_values`' arrays."""
    out = {}
    for o in objectives:
        q = quantile_of(o)
        if q is not None:
            out[o] = np.quantile(set_utility, q / 100.0, axis=0)  # numpy's default (linear) interpolation
        elif o == "der_min":
            out[o] = set_der.min(axis=0)
    return out


def objective_label(name: str, short: bool = False) -> str:
    """What an objective (or its ``*_exact`` column) is, in words, for axis labels and tables."""
    base = name[: -len("_exact")] if name.endswith("_exact") else name
    q = quantile_of(base)
    if q is not None:
        text = f"{q} % quantile of global utility over the preference set" if not short else f"utility q{q} % over set"
    else:
        text = {
            "utility": "global utility",
            "der": "DER" if short else "DER (1 = equal)",
            "der_min": "min DER over the preference set" if not short else "min DER over set",
            "provider_der": "provider DER",
        }.get(base, base)
    return f"{text} (exact)" if name.endswith("_exact") and not short else text
