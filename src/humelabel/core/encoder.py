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


def centroid_init(phi1: Tensor, labels: Tensor, n_classes: int) -> Tensor:
    """Initial task-encoder rows (k, d1): the class means of phi1 (n, d1) under ``labels`` (n,).

    Starting from, say, k-means centroids puts the search next to a compact-cluster labeling
    instead of a random one; the orthogonal parametrization then orthonormalises the rows.
    """
    sums = torch.zeros(n_classes, phi1.shape[1], dtype=phi1.dtype, device=phi1.device)
    sums.index_add_(0, labels.to(phi1.device), phi1)
    counts = torch.bincount(labels, minlength=n_classes).clamp_min(1).to(phi1)
    centroids = sums / counts[:, None]
    return centroids


def soft_labels(weight: Tensor, phi1: Tensor, tau: float) -> Tensor:
    """Eq. 3, soft: ``sparsemax(W phi1 / tau)`` for W (k, d1), phi1 (n, d1) -> (n, k)."""
    return sparsemax((phi1 @ weight.T) / tau)


class TaskEncoder(nn.Module):
    """Linear map phi1 (n, d1) -> logits (n, k), no bias, orthonormal rows (columns if k > d1)."""

    def __init__(self, dim_in: int, n_classes: int, generator: torch.Generator | None = None,
                 init_weight: Tensor | None = None):
        super().__init__()
        linear = nn.Linear(dim_in, n_classes, bias=False)
        with torch.no_grad():
            # Seeded Gaussian start (or the given rows); the parametrization orthonormalises
            # it on registration.
            start = torch.randn(n_classes, dim_in, generator=generator)
            if init_weight is not None:
                start = torch.as_tensor(init_weight, dtype=start.dtype).reshape(start.shape)
            linear.weight.copy_(start)
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
        return soft_labels(self.weight, phi1, tau)

    def hard_labels(self, phi1: Tensor) -> Tensor:
        """``argmax W phi1``: (n, d1) -> (n,) int64."""
        return self.logits(phi1).argmax(dim=-1)
