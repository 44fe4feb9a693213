"""The task encoder (paper Eq. 3): an orthogonal linear map from phi1 to k logits.

The labeling being searched is ``sparsemax(W phi1(x) / tau)`` (soft) or ``argmax W phi1(x)``
(hard), where W (k x d1) has orthonormal rows, kept so by PyTorch's orthogonal
parametrization as in the authors' code.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.parametrizations import orthogonal

from .sparsemax import sparsemax


class TaskEncoder(nn.Module):
    """Linear map phi1 (n, d1) -> logits (n, k), no bias, orthonormal rows (columns if k > d1)."""

    def __init__(self, dim_in: int, n_classes: int, generator: torch.Generator | None = None):
        super().__init__()
        linear = nn.Linear(dim_in, n_classes, bias=False)
        with torch.no_grad():
            # Seeded Gaussian start; the parametrization orthonormalises it on registration.
            linear.weight.copy_(torch.randn(n_classes, dim_in, generator=generator))
        # Registration completes W to a square orthogonal basis with torch's global RNG;
        # seed that draw from ``generator`` too, so a seed fixes the whole trajectory.
        completion_seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(completion_seed)
            self.linear = orthogonal(linear)

    @property
    def weight(self) -> Tensor:
        """The orthonormal weight matrix W, shape (k, d1)."""
        return self.linear.weight

    def logits(self, phi1: Tensor) -> Tensor:
        """``W phi1``: (n, d1) -> (n, k)."""
        return self.linear(phi1)

    def soft_labels(self, phi1: Tensor, tau: float) -> Tensor:
        """``sparsemax(W phi1 / tau)``: (n, d1) -> (n, k), rows on the simplex."""
        return sparsemax(self.logits(phi1) / tau)

    def hard_labels(self, phi1: Tensor) -> Tensor:
        """``argmax W phi1``: (n, d1) -> (n,) int64."""
        return self.logits(phi1).argmax(dim=-1)
