"""The HUME objective (paper Eq. 7), one function per term.

For a split of a random subset into X_tr and X_te with soft labels Y_tr, Y_te from the task
encoder, the loss is

    CE( f*(phi2(X_te)), Y_te )  -  entropy_weight * H( mean of [Y_tr; Y_te] )

where f* is the linear classifier the inner solver fits on (phi2(X_tr), Y_tr). The search,
the correlation analysis and the found-vs-truth diagnostic all call this module.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .inner import InnerSolver


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Eq. 7, first term: row mean of ``-sum_c targets * log softmax(logits)``; (m, k) -> ()."""
    return -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def mean_label_entropy(soft_labels: Tensor) -> Tensor:
    """Eq. 7, regulariser: Shannon entropy (nats) of the mean soft label; (m, k) -> ()."""
    p = soft_labels.mean(dim=0)
    return -(p * torch.log(p.clamp_min(1e-12))).sum()


@dataclass
class SplitLoss:
    """The loss of one split and its two parts (scalars, differentiable)."""

    loss: Tensor
    cross_entropy: Tensor
    entropy: Tensor


def split_loss(
    solver: InnerSolver,
    x_tr: Tensor,
    x_te: Tensor,
    y_tr: Tensor,
    y_te: Tensor,
    entropy_weight: float,
    generator: torch.Generator,
) -> SplitLoss:
    """Eq. 7 for one split: x_tr (m, d2), x_te (m', d2), y_tr (m, k), y_te (m', k)."""
    logits_te = solver.fit_predict(x_tr, y_tr, x_te, generator)
    ce = soft_cross_entropy(logits_te, y_te)
    entropy = mean_label_entropy(torch.cat([y_tr, y_te], dim=0))
    return SplitLoss(ce - entropy_weight * entropy, ce, entropy)


def draw_split(
    n: int, subset_size: int, train_fraction: float, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """Step 1 of the objective: a random subset of min(subset_size, n) rows, split in two.

    Returns (train_idx, test_idx), int64 tensors on the CPU.
    """
    size = min(subset_size, n)
    perm = torch.randperm(n, generator=generator)[:size]
    n_train = int(round(train_fraction * size))
    n_train = min(max(n_train, 1), size - 1)
    return perm[:n_train], perm[n_train:]


def labeling_objective(
    labels: np.ndarray | Tensor,
    phi2: Tensor,
    n_classes: int,
    solver: InnerSolver,
    *,
    entropy_weight: float,
    subset_size: int,
    train_fraction: float,
    num_splits: int = 20,
    seed: int = 0,
) -> dict[str, float]:
    """Eq. 7 for a fixed hard labeling (n,), averaged over ``num_splits`` seeded splits.

    The same seed gives the same splits and inner initialisations, so two labelings (say the
    one found and the true one) are compared on equal terms.
    """
    labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
    onehot = torch.nn.functional.one_hot(labels_t, n_classes).to(phi2.dtype).to(phi2.device)
    generator = torch.Generator().manual_seed(seed)
    solver.reset(phi2.shape[1], n_classes, generator)
    totals = np.zeros(3)
    with torch.no_grad():
        for _ in range(num_splits):
            tr, te = draw_split(phi2.shape[0], subset_size, train_fraction, generator)
            tr, te = tr.to(phi2.device), te.to(phi2.device)
            part = split_loss(
                solver, phi2[tr], phi2[te], onehot[tr], onehot[te], entropy_weight, generator
            )
            totals += [part.loss.item(), part.cross_entropy.item(), part.entropy.item()]
    loss, ce, entropy = totals / num_splits
    return {"loss": float(loss), "cross_entropy": float(ce), "entropy": float(entropy)}
