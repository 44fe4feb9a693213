"""The outer loop of HUME: search over task encoders for the labeling that generalizes best.

Each step averages the gradient of the Eq. 7 loss over ``num_subsets`` random splits, clips
its norm to 1.0 and takes one Adam step. With annealing, after steps 100 and 200 the outer
learning rate is multiplied by 0.1 and tau divided by 10 (the published schedule).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch
from torch import Tensor
from tqdm.auto import tqdm

from .encoder import TaskEncoder
from .inner import InnerSolver
from .objective import draw_split, split_loss

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


@dataclass
class SearchResult:
    """The trained task encoder and one history record per outer step."""

    encoder: TaskEncoder
    history: list[dict[str, float]] = field(default_factory=list)


def run_search(
    phi1: Tensor,
    phi2: Tensor,
    n_classes: int,
    config: SearchConfig,
    solver: InnerSolver,
    generator: torch.Generator,
    progress: bool = True,
) -> SearchResult:
    """Search for the task encoder on phi1 (n, d1) whose labeling generalizes best on phi2 (n, d2).

    All randomness (encoder init, splits, inner inits) comes from ``generator`` (CPU), so a
    seed fixes the run on a given device.
    """
    n = phi1.shape[0]
    device = phi1.device
    encoder = TaskEncoder(phi1.shape[1], n_classes, generator).to(device)
    solver.reset(phi2.shape[1], n_classes, generator)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.outer_lr)
    tau = config.tau
    history: list[dict[str, float]] = []
    start = time.perf_counter()
    bar = tqdm(range(config.iterations), desc="HUME search", disable=not progress, unit="step")
    for step in bar:
        if config.anneal and step in config.anneal_steps:
            tau /= ANNEAL_TAU_FACTOR
            for group in optimizer.param_groups:
                group["lr"] *= ANNEAL_LR_FACTOR
        optimizer.zero_grad(set_to_none=True)
        loss_sum = ce_sum = entropy_sum = 0.0
        for _ in range(config.num_subsets):
            tr, te = draw_split(n, config.subset_size, config.train_fraction, generator)
            tr, te = tr.to(device), te.to(device)
            soft = encoder.soft_labels(phi1[torch.cat([tr, te])], tau)
            y_tr, y_te = soft[: tr.numel()], soft[tr.numel():]
            part = split_loss(
                solver, phi2[tr], phi2[te], y_tr, y_te, config.entropy_weight, generator
            )
            (part.loss / config.num_subsets).backward()
            loss_sum += part.loss.item()
            ce_sum += part.cross_entropy.item()
            entropy_sum += part.entropy.item()
        grad_norm = torch.nn.utils.clip_grad_norm_(encoder.parameters(), GRAD_CLIP_NORM)
        optimizer.step()
        record = {
            "step": step,
            "loss": loss_sum / config.num_subsets,
            "cross_entropy": ce_sum / config.num_subsets,
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
