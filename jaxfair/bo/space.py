"""Search spaces: map BoTorch's unit-box inputs ``X [b, d]`` to serving weights ``α [b, K]``.

Only the direction of α matters (the argmax is invariant to positive scaling), so the
default space is the direction of α:

* ``"direction"``, K = 2: ``d = 1``, ``α = (w, 1 − w)`` with ``w ∈ [0, 1]``.
* ``"direction"``, K > 2: ``d = K − 1``, a stick-breaking map of ``[0, 1]^(K−1)`` onto the
  simplex, ``b_k = 1 − (1 − x_k)^(1/(K−k))``, ``α_k = b_k · Π_{j<k}(1 − b_j)``, chosen so
  that a uniform ``X`` gives a uniform α on the simplex (random search stays uniform);
  for K = 2 it reduces to ``α = (x, 1 − x)``.
* ``"box"``: the paper's ``[0, 1]^K``, ``α = X``. The corner ``X = 0`` is not a direction;
  ``zero="raise"`` (default) rejects it with a ``ValueError``, ``zero="uniform"`` maps it to
  the equal weights (1/K, …, 1/K) (documented, opt-in).
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["SearchSpace"]

_SPACES = ("direction", "box")
_ZERO = ("raise", "uniform")


class SearchSpace:
    """The map ``X [b, d] ∈ [0, 1]^d → α [b, K]`` (float64 NumPy, rows ≥ 0, not all zero)."""

    def __init__(self, n_labels: int, kind: str = "direction", zero: str = "raise"):
        if not isinstance(n_labels, (int, np.integer)) or n_labels < 2:
            raise ValueError(f"n_labels: expected an int >= 2, got {n_labels!r}")
        if kind not in _SPACES:
            raise ValueError(f"space: expected one of {_SPACES}, got {kind!r}")
        if zero not in _ZERO:
            raise ValueError(f"zero: expected one of {_ZERO}, got {zero!r}")
        self.n_labels = int(n_labels)
        self.kind = kind
        self.zero = zero
        self.dim = self.n_labels - 1 if kind == "direction" else self.n_labels

    @property
    def bounds(self) -> torch.Tensor:
        """``[2, d]`` float64: BoTorch's (lower; upper) convention, the unit box."""
        return torch.stack([torch.zeros(self.dim), torch.ones(self.dim)]).to(torch.float64)

    def check_X(self, X) -> np.ndarray:
        """Validate ``X`` (torch or array-like) ``[b, d]`` in the unit box; return float64 NumPy."""
        if isinstance(X, torch.Tensor):
            X = X.detach().cpu().numpy()
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim != 2 or arr.shape[1] != self.dim or arr.shape[0] < 1:
            raise ValueError(f"X: expected shape [b, {self.dim}] with b >= 1, got {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"X: expected finite values, got {arr[~np.isfinite(arr)][:3].tolist()}")
        # Optimisers can overshoot the bounds by a rounding error; anything more is a bug.
        if np.any(arr < -1e-9) or np.any(arr > 1 + 1e-9):
            raise ValueError(f"X: expected values in [0, 1], got min {arr.min()!r}, max {arr.max()!r}")
        return np.clip(arr, 0.0, 1.0)

    def to_alpha(self, X) -> np.ndarray:
        """``X [b, d]`` → ``α [b, K]`` float64."""
        x = self.check_X(X)
        if self.kind == "box":
            alpha = x.copy()
            zero_rows = alpha.sum(axis=1) <= 0
            if np.any(zero_rows):
                if self.zero == "raise":
                    i = int(np.argmax(zero_rows))
                    raise ValueError(
                        f"X: row {i} maps to α = 0, which is not a serving direction "
                        "(use space='direction', or zero='uniform' to map it to equal weights)"
                    )
                alpha[zero_rows] = 1.0 / self.n_labels
            return alpha
        k = self.n_labels
        alpha = np.empty((x.shape[0], k))
        rest = np.ones(x.shape[0])
        for j in range(k - 1):
            b = 1.0 - (1.0 - x[:, j]) ** (1.0 / (k - 1 - j))
            alpha[:, j] = b * rest
            rest = rest * (1.0 - b)
        alpha[:, k - 1] = rest
        return alpha

    def from_alpha(self, alpha) -> np.ndarray:
        """``α [b, K]`` (rows >= 0, not all zero) → ``X [b, d]``: the inverse of :meth:`to_alpha`
        up to the scale of α (the direction space normalises it; the box keeps α / max α)."""
        a = np.asarray(alpha, dtype=np.float64)
        if self.kind == "box":
            return a / a.max(axis=1, keepdims=True)
        a = a / a.sum(axis=1, keepdims=True)
        k = self.n_labels
        x = np.empty((a.shape[0], k - 1))
        rest = np.ones(a.shape[0])
        for j in range(k - 1):
            b = np.divide(a[:, j], rest, out=np.ones_like(rest), where=rest > 0)
            x[:, j] = 1.0 - (1.0 - np.clip(b, 0.0, 1.0)) ** (k - 1 - j)
            rest = rest - a[:, j]
        return np.clip(x, 0.0, 1.0)

    def __repr__(self) -> str:
        return f"SearchSpace(kind={self.kind!r}, K={self.n_labels}, d={self.dim})"
