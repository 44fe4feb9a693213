"""Inner solvers: fit a linear classifier with bias on (phi2_tr, Y_tr), predict on phi2_te.

Every solver returns logits on the test part that are differentiable with respect to the
soft labels Y_tr, so the outer loss can be differentiated through the inner problem
(paper Eq. 7, inner arg-min).

``UnrolledGD`` is the paper's solver: ``inner_steps`` full-batch gradient-descent steps on the
soft-target cross-entropy, written out as tensor operations so that autograd differentiates
through every step (the exact second-order hypergradient) without ``create_graph``.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch
from torch import Tensor


class InnerSolver(ABC):
    """One interface for all inner solvers."""

    name: str = "base"

    def reset(self, dim: int, n_classes: int, generator: torch.Generator) -> None:  # noqa: B027
        """Called once before a search; solvers that keep state (a fixed init) draw it here."""

    @abstractmethod
    def fit_predict(
        self, x_tr: Tensor, y_tr: Tensor, x_te: Tensor, generator: torch.Generator
    ) -> Tensor:
        """Fit on x_tr (m, d), y_tr (m, k); return logits on x_te (m', k)."""


def linear_init(
    dim: int, n_classes: int, generator: torch.Generator, device: torch.device, dtype: torch.dtype
) -> tuple[Tensor, Tensor]:
    """``nn.Linear``'s default init: U(-1/sqrt(d), 1/sqrt(d)) for W (d, k) and b (k,)."""
    bound = 1.0 / math.sqrt(dim)
    w = (torch.rand(dim, n_classes, generator=generator) * 2 - 1) * bound
    b = (torch.rand(n_classes, generator=generator) * 2 - 1) * bound
    return w.to(device=device, dtype=dtype), b.to(device=device, dtype=dtype)


class UnrolledGD(InnerSolver):
    """Full-batch gradient descent on soft-target cross-entropy, unrolled (the paper's solver).

    Args:
        steps: number of gradient steps (``inner_steps``).
        lr: step size (``inner_lr``).
        fixed_init: reuse one random initialisation for every split (``fixed_inner_init``)
            instead of drawing a new one per split.
    """

    name = "unrolled"

    def __init__(self, steps: int, lr: float, fixed_init: bool = False):
        self.steps = steps
        self.lr = lr
        self.fixed_init = fixed_init
        self._init: tuple[Tensor, Tensor] | None = None
        self._shape: tuple[int, int] | None = None

    def reset(self, dim: int, n_classes: int, generator: torch.Generator) -> None:
        self._shape = (dim, n_classes)
        self._init = None
        if self.fixed_init:
            self._init = linear_init(dim, n_classes, generator, torch.device("cpu"), torch.float32)

    def _initial(self, x: Tensor, k: int, generator: torch.Generator) -> tuple[Tensor, Tensor]:
        if self._init is not None:
            w, b = self._init
            return w.to(x.device, x.dtype), b.to(x.device, x.dtype)
        return linear_init(x.shape[1], k, generator, x.device, x.dtype)

    def fit_predict(
        self, x_tr: Tensor, y_tr: Tensor, x_te: Tensor, generator: torch.Generator
    ) -> Tensor:
        w, b = self._initial(x_tr, y_tr.shape[1], generator)
        step = self.lr / x_tr.shape[0]
        x_tr_t = x_tr.T.contiguous()
        for _ in range(self.steps):
            # d(mean CE)/d(logits) = (softmax(logits) - Y) / m, since rows of Y sum to one.
            residual = torch.softmax(torch.addmm(b, x_tr, w), dim=1) - y_tr
            w = w - step * (x_tr_t @ residual)
            b = b - step * residual.sum(0)
        return torch.addmm(b, x_te, w)


#: Names accepted by :func:`make_inner_solver` (and the CLI's ``--inner``).
INNER_SOLVERS: tuple[str, ...] = ("unrolled",)


def make_inner_solver(kind: str, *, inner_steps: int, inner_lr: float, fixed_inner_init: bool,
                      **_: object) -> InnerSolver:
    """Build the inner solver named ``kind``."""
    if kind == "unrolled":
        return UnrolledGD(inner_steps, inner_lr, fixed_inner_init)
    raise ValueError(f"unknown inner solver {kind!r} (expected 'unrolled')")
