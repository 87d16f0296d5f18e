"""The one slate value (SPEC §7): :class:`Slate` and the one function that resolves slate arguments.

Every entry point (``evaluate``, ``label_means``, the metrics, ``dynamics.simulate``, the BO
``Evaluator``, ``decompose``, ``attribute``, the surface) accepts either a :class:`Slate` or
the old keywords ``slate=k, position_weights=..., gamma=...``; :func:`as_slate` turns both into
one validated :class:`Slate`, and :func:`add_slate_arguments` registers the matching CLI flags
for every command. This module does not import JAX (the CLI registers its flags from it).
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import numpy as np

from jaxfair.engine.position import POSITION_MODELS, check_slate, position_weights

__all__ = ["TOP1_SLATE", "Slate", "add_slate_arguments", "as_slate", "slate_from_args", "slate_spec_for"]

_DEFAULT_GAMMA = 0.8


@dataclasses.dataclass(frozen=True)
class Slate:
    """An immutable slate description: ``k`` items ranked by score, examined with position
    weights v_1..v_k (SPEC §7). ``Slate()`` is the paper's top-1 model.

    Attributes:
      k: slate size, an int >= 1 (checked against m by :meth:`check`).
      position_weights: ``"dcg"`` (default), ``"geometric"``, ``"uniform"`` or a tuple of k
        non-increasing weights (:func:`jaxfair.engine.position.position_weights`).
      gamma: decay of ``"geometric"``, in (0, 1] (recorded, unused by the other models).
    """

    k: int = 1
    position_weights: str | tuple[float, ...] = "dcg"
    gamma: float = _DEFAULT_GAMMA

    def __post_init__(self):
        k = check_slate(self.k)
        pw = "dcg" if self.position_weights is None else self.position_weights
        if not isinstance(pw, str):
            pw = tuple(float(v) for v in np.asarray(pw, dtype=np.float64).reshape(-1))
        if isinstance(self.gamma, (bool, np.bool_)) or not isinstance(self.gamma, (int, float, np.floating)):
            raise ValueError(f"gamma: expected 0 < gamma <= 1, got {self.gamma!r}")
        object.__setattr__(self, "k", k)
        object.__setattr__(self, "position_weights", pw)
        object.__setattr__(self, "gamma", float(self.gamma))
        position_weights(k, pw, self.gamma)  # raises ValueError naming position_weights / gamma
        if not 0.0 < self.gamma <= 1.0:
            raise ValueError(f"gamma: expected 0 < gamma <= 1, got {self.gamma!r}")

    @property
    def weights(self) -> np.ndarray:
        """Position weights ``v [k]`` float64."""
        return position_weights(self.k, self.position_weights, self.gamma)

    def check(self, n_candidates: int, name: str = "slate") -> Slate:
        """This slate if ``k <= m = n_candidates``; else ValueError naming ``name``."""
        check_slate(self.k, n_candidates, name=name)
        return self

    def spec(self, n_item_groups: int = 0):
        """The static kernel description (:class:`jaxfair.engine.kernels.SlateSpec`)."""
        from jaxfair.engine.kernels import slate_spec  # JAX only when a kernel is near: the CLI's --help stays light

        return slate_spec(self.k, self.weights, n_item_groups)

    def to_dict(self) -> dict:
        """Everything needed to reproduce the slate (configs, ``summary.json``)."""
        pw = self.position_weights if isinstance(self.position_weights, str) else list(self.position_weights)
        return {"k": self.k, "position_weights": pw, "gamma": self.gamma, "weights": self.weights.tolist()}

    @classmethod
    def from_dict(cls, d: dict) -> Slate:
        pw = d.get("position_weights", "dcg")
        return cls(int(d.get("k", 1)), pw if isinstance(pw, str) else tuple(pw), float(d.get("gamma", _DEFAULT_GAMMA)))


#: The paper's top-1 model.
TOP1_SLATE = Slate()


def as_slate(slate: Any = 1, position_weights: Any = None, gamma: Any = None, n_candidates: int | None = None) -> Slate:
    """The one resolution of slate arguments into a :class:`Slate` (checked against m when given).

    ``slate`` is a :class:`Slate` or a slate size k; ``position_weights`` (``None`` = ``"dcg"``)
    and ``gamma`` (``None`` = 0.8) apply to a size only: with a :class:`Slate` they must be left
    at their defaults (``None``, ``"dcg"``/0.8), otherwise a ValueError says which one conflicts.
    """
    if isinstance(slate, Slate):
        if position_weights not in (None, "dcg") and position_weights != slate.position_weights:
            raise ValueError(
                f"position_weights: given ({position_weights!r}) together with slate={slate!r}; "
                "set the weights in the Slate"
            )
        if gamma not in (None, _DEFAULT_GAMMA) and float(gamma) != slate.gamma:
            raise ValueError(f"gamma: given ({gamma!r}) together with slate={slate!r}; set gamma in the Slate")
        out = slate
    else:
        check_slate(slate, n_candidates)
        out = Slate(
            int(slate),
            "dcg" if position_weights is None else position_weights,
            _DEFAULT_GAMMA if gamma is None else gamma,
        )
    return out if n_candidates is None else out.check(n_candidates)


def add_slate_arguments(parser: argparse.ArgumentParser) -> None:
    """Register ``--slate``, ``--position-weights`` and ``--gamma`` (the one CLI definition)."""
    parser.add_argument(
        "--slate", type=int, default=1, metavar="K", help="items per session (slate size k, SPEC §7; 1 = top-1)"
    )
    parser.add_argument(
        "--position-weights",
        default="dcg",
        metavar="MODEL",
        help=f"position weights of a slate: one of {', '.join(POSITION_MODELS)} or k comma-separated "
        "non-increasing weights (default dcg)",
    )
    parser.add_argument(
        "--gamma", type=float, default=_DEFAULT_GAMMA, help="decay of --position-weights geometric (default 0.8)"
    )


def slate_from_args(args: argparse.Namespace, n_candidates: int | None = None) -> Slate:
    """The :class:`Slate` of parsed :func:`add_slate_arguments` flags (ValueError on bad values)."""
    pw = getattr(args, "position_weights", "dcg")
    if isinstance(pw, str) and pw not in POSITION_MODELS:
        try:
            pw = tuple(float(x) for x in pw.split(","))
        except ValueError as exc:
            raise ValueError(
                f"--position-weights: expected one of {', '.join(POSITION_MODELS)} "
                f"or comma-separated numbers, got {pw!r}"
            ) from exc
    k = getattr(args, "slate", 1)
    if n_candidates is not None:
        check_slate(k, n_candidates, name="--slate")  # the flag's name in the one-line error
    return as_slate(k, pw, getattr(args, "gamma", _DEFAULT_GAMMA), n_candidates)


def slate_spec_for(
    batch, slate: Any = 1, position_weights: Any = None, gamma: Any = None, n_item_groups: Any = None
) -> tuple[Slate, Any]:
    """Resolve slate arguments against a batch: ``(Slate, SlateSpec)`` for the kernels.

    ``n_item_groups`` (H) defaults to the batch's (largest provider id + 1, at least 2);
    without ``batch.item_group`` exposure is not measured (H = 0).
    """
    from jaxfair.engine.batch import check_item_group

    sl = as_slate(slate, position_weights, gamma, batch.n_candidates)
    if batch.item_group is None:
        if n_item_groups not in (None, 0):
            raise ValueError(
                f"n_item_groups: given ({n_item_groups!r}) but the batch has no item_group "
                "(build it with make_batch(..., item_group=...))"
            )
        h = 0
    else:
        if n_item_groups is None:
            h = max(batch.n_item_groups, 2)
        elif (
            isinstance(n_item_groups, (bool, np.bool_))
            or not isinstance(n_item_groups, (int, np.integer))
            or n_item_groups < 2
        ):
            raise ValueError(f"n_item_groups: expected an int >= 2 (provider groups H), got {n_item_groups!r}")
        else:
            h = int(n_item_groups)
        check_item_group(np.asarray(batch.item_group), batch.n_users, batch.n_candidates, h, name="batch.item_group")
    return sl, sl.spec(h)
