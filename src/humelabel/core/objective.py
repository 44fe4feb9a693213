"""The HUME objective (paper Eq. 7), one function per term.

For a split of a random subset into X_tr and X_te with soft labels Y_tr, Y_te from the task
encoder, the loss is

    L_gen( f*(phi2(X_te)), Y_te )  -  entropy_weight * H( mean of [Y_tr; Y_te] )

where f* is the linear classifier the inner solver fits on (phi2(X_tr), Y_tr) and L_gen is
the paper's soft-target cross-entropy (``outer_loss="ce"``) or, for the closed-form ridge
solver, the normalised squared error (``"nmse"``). The search, the correlation analysis and
the found-vs-truth diagnostic all call this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .inner import InnerSolver

#: Generalisation losses L_gen accepted by :func:`generalization_loss`.
OUTER_LOSSES = ("ce", "nmse", "mse")
#: Named class-proportion priors accepted by :func:`combine_terms` (or give the proportions).
PRIORS = ("uniform", "ratio")


def soft_cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """Eq. 7, first term: row mean of ``-sum_c targets * log softmax(logits)``; (m, k) -> ()."""
    return -(targets * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def squared_error(outputs: Tensor, targets: Tensor) -> Tensor:
    """Mean over rows of ``||outputs - targets||^2``; (m, k) -> ()."""
    return (outputs - targets).pow(2).sum(dim=1).mean()


def normalized_squared_error(outputs: Tensor, targets: Tensor) -> Tensor:
    """``||outputs - targets||^2 / ||targets - mean(targets)||^2`` (1 - R^2); (m, k) -> ().

    Dividing by the labels' own spread removes the soft-label trap of the plain squared
    error, which nearly uniform soft labels drive to zero without being a good labeling.
    """
    spread = (targets - targets.mean(dim=0)).pow(2).sum()
    return (outputs - targets).pow(2).sum() / spread.clamp_min(1e-12)


def generalization_loss(outputs: Tensor, targets: Tensor, kind: str = "ce",
                        logit_scale: float = 1.0) -> Tensor:
    """Eq. 7, first term, for the chosen ``kind`` (see OUTER_LOSSES).

    For ``"ce"`` the outputs times ``logit_scale`` are the logits (1 for the unrolled solver,
    whose outputs are logits already; the ridge solver's regression outputs need a scale).
    """
    if kind == "ce":
        return soft_cross_entropy(outputs * logit_scale, targets)
    if kind == "nmse":
        return normalized_squared_error(outputs, targets)
    if kind == "mse":
        return squared_error(outputs, targets)
    raise ValueError(f"unknown outer loss {kind!r} (expected one of {OUTER_LOSSES})")


def mean_label_entropy(soft_labels: Tensor) -> Tensor:
    """Eq. 7, regulariser: Shannon entropy (nats) of the mean soft label; (m, k) -> ()."""
    return proportions_entropy(soft_labels.mean(dim=0))


def proportions_entropy(proportions: Tensor) -> Tensor:
    """Shannon entropy (nats) of class proportions (k,) -> ()."""
    return -(proportions * torch.log(proportions.clamp_min(1e-12))).sum()


def kl_to_proportions(proportions: Tensor, target: Tensor) -> Tensor:
    """``KL(p || q) = sum_c p_c log(p_c / q_c)`` of the mean soft label p (k,) from the
    class proportions q (k,), both sorted (so q says which sizes the classes have, not which
    cluster id has which size) -> (). With q uniform it is ``log k - H(p)``: Eq. 7's entropy
    term up to a constant."""
    p = torch.sort(proportions, descending=True).values
    q = torch.sort(target, descending=True).values
    return (p * (torch.log(p.clamp_min(1e-12)) - torch.log(q))).sum()


def size_floor_penalty(logits: Tensor, soft_labels: Tensor, size_floor: float) -> Tensor:
    """This package's extension (not in the paper), a floor on cluster size with no pull to
    uniform: ``sum_c relu(f - p_c) / f`` with ``f = size_floor / k``, for the logits (m, k)
    of the task encoder and their sparsemax soft labels (m, k) -> ().

    p_c is the share of cluster c: its value the mean soft label (as the objective sees it),
    its gradient the mean softmax of the logits (straight-through). Sparsemax gives an empty
    cluster no gradient at all; the softmax still pulls it back. Zero while every cluster
    holds at least ``f``.
    """
    floor = size_floor / logits.shape[1]
    share = soft_labels.mean(dim=0)
    smooth = torch.softmax(logits, dim=1).mean(dim=0)
    share = share + (smooth - smooth.detach())
    return torch.relu(floor - share).sum() / floor


def combine_terms(gen: Tensor, entropy: Tensor, entropy_weight: float,
                  prior: str | Sequence[float] = "uniform",
                  proportions: Tensor | None = None) -> Tensor:
    """The split loss from its generalization term ``gen`` and the entropy of the mean soft
    label ``entropy`` (scalars); a prior given as class proportions also needs that mean,
    ``proportions`` (k,).

    ``"uniform"``: Eq. 7, ``gen - entropy_weight * entropy``: a uniform prior on the class
    proportions (every preset). ``"ratio"`` (this package's extension, for imbalanced classes):
    ``gen / entropy``, the generalization loss per nat of label entropy; ``entropy_weight`` is
    not used. It has no preferred proportions, and merging classes still costs because it lowers
    the entropy more than the loss (TREC, MPNet: truth 0.669 / 1.655 nats = 0.40, three merged
    pairs 0.459 / 0.60 = 0.76), while Eq. 7 with weight 10 pays 1.35 for TREC's imbalance.
    Class proportions q (k numbers, this package's extension, for known proportions and the
    oracle diagnostic of benchmarks/oracle_prior.py): ``gen + entropy_weight * KL(p || q)``,
    which for q uniform is Eq. 7 plus the constant ``entropy_weight * log k``.
    """
    if not isinstance(prior, str):
        if proportions is None:
            raise ValueError("a prior given as class proportions needs the mean soft label")
        target = torch.as_tensor(prior, dtype=proportions.dtype, device=proportions.device)
        return gen + entropy_weight * kl_to_proportions(proportions, target)
    if prior == "uniform":
        return gen - entropy_weight * entropy
    if prior == "ratio":
        return gen / entropy.clamp_min(1e-6)
    raise ValueError(f"unknown prior {prior!r} (expected one of {PRIORS})")


@dataclass
class SplitLoss:
    """The loss of one split and its two parts (scalars, differentiable)."""

    loss: Tensor
    generalization: Tensor
    entropy: Tensor


def as_spaces(
    solver: InnerSolver | Sequence[InnerSolver], phi2: Tensor | Sequence[Tensor]
) -> tuple[list[InnerSolver], list[Tensor]]:
    """(solvers, phi2 tensors), one solver per space: one of each, or equal-length sequences."""
    solvers = list(solver) if isinstance(solver, (list, tuple)) else [solver]
    spaces = list(phi2) if isinstance(phi2, (list, tuple)) else [phi2]
    if len(solvers) != len(spaces) or not spaces:
        raise ValueError(f"need one inner solver per phi2 space, got {len(solvers)} solvers "
                         f"for {len(spaces)} spaces")
    return solvers, spaces


def split_loss(
    solver: InnerSolver | Sequence[InnerSolver],
    phi2: Tensor | Sequence[Tensor],
    train_idx: Tensor,
    test_idx: Tensor,
    y_tr: Tensor,
    y_te: Tensor,
    entropy_weight: float,
    generator: torch.Generator,
    outer_loss: str = "ce",
    split_id: int | None = None,
    logit_scale: float = 1.0,
    prior: str | Sequence[float] = "uniform",
    penalty: Tensor | None = None,
) -> SplitLoss:
    """Eq. 7 for one split of phi2 (n, d2): rows train_idx (m,) labelled y_tr (m, k), rows
    test_idx (m',) labelled y_te (m', k).

    Several phi2 spaces (sequences of solvers and of (n, d2_s) tensors; this package's
    extension, not in the paper) each fit their own linear model on the same split, and the
    generalization term is the mean over spaces. ``prior``: see :func:`combine_terms`;
    ``penalty`` (a scalar, e.g. :func:`size_floor_penalty`) is added to the loss.
    """
    outputs = [space_solver.fit_predict(space, train_idx, test_idx, y_tr, generator, split_id)
               for space_solver, space in zip(*as_spaces(solver, phi2), strict=True)]
    return split_loss_from_outputs(outputs, y_tr, y_te, entropy_weight, outer_loss,
                                   logit_scale, prior, penalty)


def split_loss_from_outputs(
    outputs: Sequence[Tensor],
    y_tr: Tensor,
    y_te: Tensor,
    entropy_weight: float,
    outer_loss: str = "ce",
    logit_scale: float = 1.0,
    prior: str | Sequence[float] = "uniform",
    penalty: Tensor | None = None,
) -> SplitLoss:
    """Eq. 7 for one split from the inner solvers' outputs (m', k) on its test rows, one per
    phi2 space (the second half of :func:`split_loss`), plus ``penalty`` when given."""
    losses = [generalization_loss(out, y_te, outer_loss, logit_scale) for out in outputs]
    gen = losses[0] if len(losses) == 1 else torch.stack(losses).mean()
    proportions = torch.cat([y_tr, y_te], dim=0).mean(dim=0)
    entropy = proportions_entropy(proportions)
    loss = combine_terms(gen, entropy, entropy_weight, prior, proportions)
    return SplitLoss(loss if penalty is None else loss + penalty, gen, entropy)


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


class SplitSampler:
    """Random splits: fresh ones each call (the paper), or drawn from a fixed pool.

    With ``pool_size > 0``, ``pool_size`` splits are drawn once and every call returns one of
    them at random, with its pool index as id, so inner solvers can cache per-split work.
    """

    def __init__(self, n: int, subset_size: int, train_fraction: float,
                 generator: torch.Generator, pool_size: int = 0):
        self.n, self.subset_size, self.train_fraction = n, subset_size, train_fraction
        self.generator = generator
        self.pool = [draw_split(n, subset_size, train_fraction, generator)
                     for _ in range(pool_size)]

    def draw(self) -> tuple[int | None, Tensor, Tensor]:
        """(split id or None, train_idx, test_idx)."""
        if not self.pool:
            return (None, *draw_split(self.n, self.subset_size, self.train_fraction,
                                      self.generator))
        index = int(torch.randint(len(self.pool), (1,), generator=self.generator))
        return (index, *self.pool[index])


def labelings_objective(
    labelings: Sequence[np.ndarray | Tensor],
    phi2: Tensor | Sequence[Tensor],
    n_classes: int,
    solver: InnerSolver | Sequence[InnerSolver],
    *,
    entropy_weight: float,
    subset_size: int,
    train_fraction: float,
    outer_loss: str = "ce",
    logit_scale: float = 1.0,
    num_splits: int = 20,
    seed: int = 0,
    prior: str | Sequence[float] = "uniform",
    size_floor: float = 0.0,
) -> list[dict[str, float]]:
    """Eq. 7 for each fixed hard labeling (n,) of ``labelings``, averaged over ``num_splits``
    seeded splits of phi2 (n, d2) (or of several phi2 spaces, each with its own solver);
    returns one {loss, generalization, entropy} per labeling.

    Every labeling sees the same splits and, per split, the same inner initialisation, so
    labelings (say the one found and the true one) are compared on equal terms; ``prior``: see
    :func:`combine_terms`; ``size_floor``: :func:`size_floor_penalty` of each split's rows
    (hard labels: their logits are the one-hot labels); the same seed
    gives the same numbers. Each split is solved for all labelings in turn, so a solver that
    caches per-split work (ridge) factorises each split once for all of them.
    """
    solvers, tensors = as_spaces(solver, phi2)
    first = tensors[0]
    onehots = []
    for labels in labelings:
        labels_t = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        onehot = torch.nn.functional.one_hot(labels_t, n_classes).to(first.device)
        onehots.append(onehot.double() if first.dtype == torch.float64 else onehot.float())
    generator = torch.Generator().manual_seed(seed)
    for space_solver, space in zip(solvers, tensors, strict=True):
        space_solver.reset(space.shape[1], n_classes, generator)
    splits = [draw_split(first.shape[0], subset_size, train_fraction, generator)
              for _ in range(num_splits)]
    inner_seeds = torch.randint(2**62, (num_splits,), generator=generator).tolist()
    totals = np.zeros((len(onehots), 3))
    with torch.no_grad():
        for split_id, (tr, te) in enumerate(splits):
            tr, te = tr.to(first.device), te.to(first.device)
            for row, onehot in enumerate(onehots):
                inner_generator = torch.Generator().manual_seed(inner_seeds[split_id])
                rows = onehot[torch.cat([tr, te])]
                penalty = (size_floor_penalty(rows, rows, size_floor) if size_floor > 0
                           else None)
                part = split_loss(solvers, tensors, tr, te, onehot[tr], onehot[te],
                                  entropy_weight,
                                  inner_generator, outer_loss, split_id, logit_scale,
                                  prior, penalty)
                totals[row] += [part.loss.item(), part.generalization.item(),
                                part.entropy.item()]
    return [{"loss": float(loss), "generalization": float(gen), "entropy": float(ent)}
            for loss, gen, ent in totals / num_splits]


def labeling_objective(
    labels: np.ndarray | Tensor,
    phi2: Tensor | Sequence[Tensor],
    n_classes: int,
    solver: InnerSolver | Sequence[InnerSolver],
    **settings: Any,
) -> dict[str, float]:
    """Eq. 7 for one fixed hard labeling (n,): :func:`labelings_objective` of ``[labels]``."""
    return labelings_objective([labels], phi2, n_classes, solver, **settings)[0]
