"""The outer loop of HUME: search over task encoders for the labeling that generalizes best.

Each step averages the gradient of the Eq. 7 loss over ``num_subsets`` random splits, clips
its norm to 1.0 and takes one Adam step. With annealing, after steps 100 and 200 the outer
learning rate is multiplied by 0.1 and tau divided by 10 (the published schedule).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .encoder import TaskEncoder, soft_labels
from .inner import InnerSolver, gather_rows
from .objective import SplitSampler, as_spaces, split_loss

ANNEAL_STEPS = (100, 200)
ANNEAL_LR_FACTOR = 0.1
ANNEAL_TAU_FACTOR = 10.0
GRAD_CLIP_NORM = 1.0


@dataclass
class SearchConfig:
    """Outer-loop settings (names as in the paper's code)."""

    tau: float
    entropy_weight: float
    outer_lr: float
    iterations: int
    num_subsets: int
    subset_size: int
    train_fraction: float
    anneal: bool
    anneal_steps: tuple[int, ...] = ANNEAL_STEPS
    outer_loss: str = "ce"
    logit_scale: float = 1.0
    split_pool: int = 0
    prior: str = "uniform"


@dataclass
class SearchResult:
    """The trained task encoder and one history record per outer step."""

    encoder: TaskEncoder
    history: list[dict[str, float]] = field(default_factory=list)


def _draws(sampler: SplitSampler, num: int,
           merge: bool) -> Iterator[tuple[int | None, int, Tensor, Tensor]]:
    """``num`` splits of one outer step as (split id, count, train_idx, test_idx).

    With ``merge`` (a deterministic inner solver, i.e. a light graph) a pooled split drawn
    several times in one step is solved once and its loss counted ``count`` times: the same
    loss and gradient as solving it each time, at a fraction of the cost (20 draws from a pool
    of 32 hit about 15 distinct splits). Without it, splits are drawn one at a time, as they
    are solved (a random inner init draws from the same generator in between).
    """
    if not merge:
        for _ in range(num):
            split_id, tr, te = sampler.draw()
            yield split_id, 1, tr, te
        return
    draws = [sampler.draw() for _ in range(num)]
    merged: dict[object, list] = {}
    for position, (split_id, tr, te) in enumerate(draws):
        key = position if split_id is None else split_id
        if key in merged:
            merged[key][1] += 1
        else:
            merged[key] = [split_id, 1, tr, te]
    for split_id, count, tr, te in merged.values():
        yield split_id, count, tr, te


def run_search(
    phi1: Tensor,
    phi2: Tensor | Sequence[Tensor],
    n_classes: int,
    config: SearchConfig,
    solver: InnerSolver | Sequence[InnerSolver],
    generator: torch.Generator,
    progress: bool = True,
    init_weight: Tensor | None = None,
) -> SearchResult:
    """Search for the task encoder on phi1 (n, d1) whose labeling generalizes best on phi2 (n, d2).

    All randomness (encoder init, splits, inner inits) comes from ``generator`` (CPU), so a
    seed fixes the run on a given device. ``init_weight`` (k, d1) starts the task encoder
    from its orthonormalised rows instead of a random draw. Several phi2 spaces (a sequence of
    (n, d2_s) tensors with one solver each) share the splits; the generalization term is their
    mean (see :func:`humelabel.objective.split_loss`).
    """
    solvers, tensors = as_spaces(solver, phi2)
    n = phi1.shape[0]
    device = phi1.device
    encoder = TaskEncoder(phi1.shape[1], n_classes, generator, init_weight).to(device)
    for space_solver, space in zip(solvers, tensors, strict=True):
        space_solver.reset(space.shape[1], n_classes, generator)
    sampler = SplitSampler(n, config.subset_size, config.train_fraction, generator,
                           config.split_pool)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.outer_lr)
    tau = config.tau
    light = all(s.light_graph for s in solvers)
    # (phi1 may be a lazy view of a memory-mapped file, see estimator._data.MappedRows: never
    # materialise it whole.)
    one_pass = (light and isinstance(phi1, Tensor)
                and config.num_subsets * min(config.subset_size, n) >= n)
    phi1_full = phi1.float() if one_pass else phi1
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    bar = tqdm(range(config.iterations), desc="HUME search", disable=not progress, unit="step")
    for step in bar:
        if config.anneal and step in config.anneal_steps:
            tau /= ANNEAL_TAU_FACTOR
            for group in optimizer.param_groups:
                group["lr"] *= ANNEAL_LR_FACTOR
        optimizer.zero_grad(set_to_none=True)
        # The orthogonal parametrization is evaluated once per step: each split backpropagates
        # into a detached copy of W, and W's own graph is traversed once with the sum.
        weight = encoder.weight
        weight_leaf = weight.detach().requires_grad_(True)
        # With a light inner graph and splits that cover the data, label all rows once and
        # backpropagate once; otherwise label and backpropagate split by split (memory).
        soft_all = soft_labels(weight_leaf, phi1_full, tau) if one_pass else None
        parts, counts = [], []
        for split_id, count, tr, te in _draws(sampler, config.num_subsets, light):
            tr, te = tr.to(device), te.to(device)
            if soft_all is not None:
                y_tr, y_te = soft_all[tr], soft_all[te]
            else:
                soft = soft_labels(weight_leaf, gather_rows(phi1, torch.cat([tr, te])), tau)
                y_tr, y_te = soft[: tr.numel()], soft[tr.numel():]
            part = split_loss(solvers, tensors, tr, te, y_tr, y_te, config.entropy_weight,
                              generator, config.outer_loss, split_id, config.logit_scale,
                              config.prior)
            if soft_all is None:
                (part.loss * (count / config.num_subsets)).backward()
            parts.append(part)
            counts.append(count)
        if soft_all is not None:
            (sum(part.loss * count for part, count in zip(parts, counts, strict=True))
             / config.num_subsets).backward()
        loss_sum = sum(c * part.loss.item() for part, c in zip(parts, counts, strict=True))
        gen_sum = sum(c * part.generalization.item()
                      for part, c in zip(parts, counts, strict=True))
        entropy_sum = sum(c * part.entropy.item() for part, c in zip(parts, counts, strict=True))
        weight.backward(weight_leaf.grad)
        grad_norm = torch.nn.utils.clip_grad_norm_(encoder.parameters(), GRAD_CLIP_NORM)
        optimizer.step()
        record = {
            "step": step,
            "loss": loss_sum / config.num_subsets,
            "generalization": gen_sum / config.num_subsets,
            "entropy": entropy_sum / config.num_subsets,
            "grad_norm": float(grad_norm),
            "tau": tau,
            "outer_lr": optimizer.param_groups[0]["lr"],
            "time_s": time.perf_counter() - start,
        }
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.4f}", H=f"{record['entropy']:.3f}")
    bar.close()
    return SearchResult(encoder=encoder, history=history)
