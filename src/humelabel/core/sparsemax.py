"""Sparsemax (Martins & Astudillo, 2016): the Euclidean projection of logits onto the simplex.

HUME turns task-encoder logits into soft labels with ``sparsemax(W phi1(x) / tau)``.
Written by hand because neither torch nor scipy ships sparsemax; the backward pass uses
the closed-form Jacobian ``J = diag(s) - s s^T / |S|`` (s: indicator of the support S),
which is cheaper than differentiating through the sort.
"""

from __future__ import annotations

import torch
from torch import Tensor

#: For k above this, the support is first looked for among each row's TOP_K largest logits
#: (torch.topk, far cheaper than a full sort at k = 1000); only rows whose support fills all
#: TOP_K places are sorted in full. Exact either way.
TOP_K = 32


def _threshold(z_sorted: Tensor) -> tuple[Tensor, Tensor]:
    """The sparsemax threshold (..., 1) of rows whose largest values are ``z_sorted`` (..., r)
    in descending order, and whether the support fills all r places (..., ) (then a longer
    prefix may be needed)."""
    r = z_sorted.shape[-1]
    ranks = torch.arange(1, r + 1, device=z_sorted.device, dtype=z_sorted.dtype)
    cumsum = z_sorted.cumsum(dim=-1)
    in_support = 1 + ranks * z_sorted > cumsum  # (..., r), a prefix of True values
    support_size = in_support.sum(dim=-1, keepdim=True)  # (..., 1), >= 1 always
    threshold = (cumsum.gather(-1, support_size - 1) - 1) / support_size.to(z_sorted.dtype)
    return threshold, in_support[..., -1]


def _sparsemax_forward(z: Tensor) -> Tensor:
    """Project each row of ``z`` (..., k) onto the probability simplex."""
    k = z.shape[-1]
    if k > 2 * TOP_K and z.numel() > 0:
        flat = z.reshape(-1, k)
        threshold, full = _threshold(torch.topk(flat, TOP_K, dim=-1).values)
        rows = full.nonzero().squeeze(1)
        if rows.numel():
            threshold[rows] = _threshold(torch.sort(flat[rows], dim=-1, descending=True)[0])[0]
        return torch.clamp(flat - threshold, min=0).reshape(z.shape)
    z_sorted, _ = torch.sort(z, dim=-1, descending=True)
    ranks = torch.arange(1, k + 1, device=z.device, dtype=z.dtype)
    cumsum = z_sorted.cumsum(dim=-1)
    in_support = 1 + ranks * z_sorted > cumsum  # (..., k), a prefix of True values
    support_size = in_support.sum(dim=-1, keepdim=True)  # (..., 1), >= 1 always
    threshold = (cumsum.gather(-1, support_size - 1) - 1) / support_size.to(z.dtype)
    return torch.clamp(z - threshold, min=0)


class _Sparsemax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: Tensor) -> Tensor:  # type: ignore[override]
        p = _sparsemax_forward(z)
        ctx.save_for_backward(p)
        return p

    @staticmethod
    def backward(ctx, grad_out: Tensor) -> Tensor:  # type: ignore[override]
        (p,) = ctx.saved_tensors
        support = (p > 0).to(grad_out.dtype)
        mean_on_support = (grad_out * support).sum(-1, keepdim=True) / support.sum(
            -1, keepdim=True
        )
        return support * (grad_out - mean_on_support)


def sparsemax(z: Tensor) -> Tensor:
    """Sparsemax over the last dimension.

    Args:
        z: logits of shape (..., k).

    Returns:
        Tensor of shape (..., k): non-negative rows summing to one, often with exact zeros.
    """
    return _Sparsemax.apply(z)


def sparsemax_jacobian(p: Tensor) -> Tensor:
    """Closed-form Jacobian of sparsemax at output ``p`` (k,): ``diag(s) - s s^T / |S|``."""
    s = (p > 0).to(p.dtype)
    return torch.diag(s) - torch.outer(s, s) / s.sum()
