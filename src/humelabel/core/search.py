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

from .encoder import TaskEncoder
from .inner import InnerSolver, gather_rows
from .objective import (
    SplitLoss,
    SplitSampler,
    as_spaces,
    size_floor_penalty,
    split_loss,
    split_loss_from_outputs,
)
from .sparsemax import sparsemax

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
    tau_end: float | None = None
    outer_loss: str = "ce"
    logit_scale: float = 1.0
    split_pool: int = 0
    prior: str | tuple[float, ...] = "uniform"
    size_floor: float = 0.0


@dataclass
class SearchResult:
    """The trained task encoder and one history record per outer step."""

    encoder: TaskEncoder
    history: list[dict[str, float]] = field(default_factory=list)


def _labels_and_floor(weight: Tensor, phi1: Tensor, tau: float, size_floor: float
                      ) -> tuple[Tensor, Tensor | None]:
    """Soft labels (m, k) of the rows phi1 (m, d1) (Eq. 3) and, with a ``size_floor`` > 0,
    its penalty over those rows (:func:`humelabel.core.objective.size_floor_penalty`)."""
    logits = (phi1 @ weight.T) / tau
    soft = sparsemax(logits)
    return soft, (size_floor_penalty(logits, soft, size_floor) if size_floor > 0 else None)


def tau_at(step: int, iterations: int, tau: float, tau_end: float) -> float:
    """The geometric tau schedule: ``tau`` at step 0, ``tau_end`` at the last step."""
    return tau * (tau_end / tau) ** (step / max(iterations - 1, 1))


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
    # Solvers that fit many splits at once (unrolled GD) get all splits of a step together.
    batched = not one_pass and all(s.batches_splits for s in solvers)
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    bar = tqdm(range(config.iterations), desc="HUME search", disable=not progress, unit="step")
    for step in bar:
        if config.tau_end is not None:
            tau = tau_at(step, config.iterations, config.tau, config.tau_end)
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
        soft_all, floor_all = (_labels_and_floor(weight_leaf, phi1_full, tau, config.size_floor)
                               if one_pass else (None, None))
        parts, counts = [], []
        if batched:  # backpropagated group by group inside, one draw each
            parts = _batched_step(phi1, tensors, solvers, sampler, weight_leaf, tau, n_classes,
                                  config, generator, device)
            counts = [1] * len(parts)
        draws = [] if batched else _draws(sampler, config.num_subsets, light)
        for split_id, count, tr, te in draws:
            tr, te = tr.to(device), te.to(device)
            if soft_all is not None:
                y_tr, y_te, floor = soft_all[tr], soft_all[te], floor_all
            else:
                soft, floor = _labels_and_floor(weight_leaf,
                                                gather_rows(phi1, torch.cat([tr, te])), tau,
                                                config.size_floor)
                y_tr, y_te = soft[: tr.numel()], soft[tr.numel():]
            part = split_loss(solvers, tensors, tr, te, y_tr, y_te, config.entropy_weight,
                              generator, config.outer_loss, split_id, config.logit_scale,
                              config.prior, floor)
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


#: Splits are solved together while the union of their rows stays within this factor of the
#: largest split (then one product over the union is cheaper than one per split).
UNION_FACTOR = 1.5


def _split_groups(draws: list[tuple[Tensor, Tensor]]) -> list[list[int]]:
    """Consecutive groups of split indices whose row unions stay within UNION_FACTOR."""
    groups: list[list[int]] = []
    rows: Tensor | None = None
    for i, (tr, te) in enumerate(draws):
        split_rows = torch.cat([tr, te])
        merged = split_rows if rows is None else torch.cat([rows, split_rows]).unique()
        largest = max(draws[j][0].numel() + draws[j][1].numel()
                      for j in [*(groups[-1] if rows is not None else []), i])
        if rows is not None and merged.numel() <= UNION_FACTOR * largest:
            groups[-1].append(i)
            rows = merged
        else:
            groups.append([i])
            rows = split_rows.unique()
    return groups


def _batched_step(phi1: Tensor, tensors: list[Tensor], solvers: list[InnerSolver],
                  sampler: SplitSampler, weight_leaf: Tensor, tau: float, n_classes: int,
                  config: SearchConfig, generator: torch.Generator,
                  device: torch.device) -> list[SplitLoss]:
    """One outer step's splits, solved group by group on their row unions; backpropagates
    each group's share of the step loss into ``weight_leaf`` and returns the split losses.

    Draws splits and inner inits from ``generator`` in the order of the split-by-split loop,
    so both give the same step up to rounding."""
    draws, inits = [], [[] for _ in solvers]
    for _ in range(config.num_subsets):
        _, tr, te = sampler.draw()
        draws.append((tr, te))
        for space_inits, space_solver, space in zip(inits, solvers, tensors, strict=True):
            space_inits.append(space_solver.draw_init(space.shape[1], n_classes, generator))
    parts: list[SplitLoss] = []
    for group in _split_groups(draws):
        rows = torch.cat([torch.cat(draws[i]) for i in group]).unique().to(device)
        positions = [(torch.searchsorted(rows, draws[i][0].to(device)),
                      torch.searchsorted(rows, draws[i][1].to(device))) for i in group]
        train_mask = torch.zeros(rows.numel(), len(group), dtype=torch.bool, device=device)
        for j, (pos_tr, _) in enumerate(positions):
            train_mask[pos_tr, j] = True
        soft, floor = _labels_and_floor(weight_leaf, gather_rows(phi1, rows), tau,
                                        config.size_floor)
        logits = [space_solver.fit_predict_union(gather_rows(space, rows), train_mask, soft,
                                                 [space_inits[i] for i in group])
                  for space_solver, space, space_inits in zip(solvers, tensors, inits,
                                                              strict=True)]
        group_parts = [split_loss_from_outputs([out[pos_te, j] for out in logits],
                                               soft[pos_tr], soft[pos_te],
                                               config.entropy_weight, config.outer_loss,
                                               config.logit_scale, config.prior, floor)
                       for j, (pos_tr, pos_te) in enumerate(positions)]
        (torch.stack([part.loss for part in group_parts]).sum() / config.num_subsets).backward()
        parts.extend(group_parts)
    return parts
