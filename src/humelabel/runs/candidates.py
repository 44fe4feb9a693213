"""The configurations ``humelabel run`` fits per seed and chooses from without labels.

Constant tau (the ``fast`` preset), tau lowered to :data:`AUTO_TAU_END` over the search,
constant tau with phi1's graph view as an extra phi2 space (``graph_neighbors``,
:mod:`humelabel.core.graph`), and constant tau with ``prior="ratio"`` (generalization divided
by entropy: unequal class sizes are no longer paid for). Each candidate's seeds are combined
and the combination most learnable in both spaces is kept
(:class:`humelabel.runs.learnability.LearnabilityScorer`, classes weighted equally); the ratio
candidate's only where it has no nearly empty cluster (:func:`humelabel.runs.select.eligible`).
Measured in docs/method.md ("Choosing the tau schedule", "The graph candidate", "The ratio
candidate", "A class-weighted learnability score").

The continuation candidate is fitted after the others: the ratio prior with a floor on
cluster size (``size_floor``), its task encoder started at the phi1 class means of the
seed's best-scoring uniform-prior run (``init`` = that run's labels), so that it leaves that
labeling only where unequal class sizes pay. It takes the constant-tau candidate's place under
``tau_end="auto"`` (the fits per seed stay four) and must beat the others' scores by
:data:`CONTINUATION_MARGIN` to be kept. Measured in docs/method.md ("The continuation
candidate").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["AUTO_TAU_END", "CONTINUATION_FLOOR", "CONTINUATION_MARGIN", "CONTINUE",
           "GRAPH_MAX_ROWS", "GRAPH_MIN_ROWS", "GRAPH_NEIGHBORS", "candidate_grid",
           "continuation_start", "graph_fits", "is_continuation", "score_margin", "starts"]

#: The scheduled candidate's final tau (the constant one keeps the preset's tau).
AUTO_TAU_END = 0.1
#: The graph candidate's neighbours (``HUME(graph_neighbors=...)``).
GRAPH_NEIGHBORS = 30
#: Rows outside which the graph candidate is not fitted: too few for a 30-NN graph, or so
#: many that its exact neighbour search (O(n^2 d)) outgrows the fits.
GRAPH_MIN_ROWS = 4 * GRAPH_NEIGHBORS
GRAPH_MAX_ROWS = 200_000
#: The continuation candidate's ``init`` before its fit: the seed's best-scoring uniform-prior
#: run, replaced by that run's labels (:func:`humelabel.runs.multiseed.fit_seeds`).
CONTINUE = "pick"
#: The continuation candidate's floor on cluster size, as a share of the mean (0.2: no cluster
#: under a fifth of n / k without a cost).
CONTINUATION_FLOOR = 0.2
#: The learnability the continuation candidate gives up against the others when they compete
#: for a seed. Measured on 31 sets (docs/method.md): its score exceeds the run it started from
#: by 0.03-0.06 on half the seeds of imbalanced sets, and by at most 0.024 on every seed of
#: the balanced ones, where it only ever loses.
CONTINUATION_MARGIN = 0.03


def graph_fits(n_rows: int) -> bool:
    """Whether the graph candidate is fitted on ``n_rows`` rows."""
    return GRAPH_MIN_ROWS <= n_rows <= GRAPH_MAX_ROWS


def candidate_grid(tau_end: str | float, graph: bool, ratio: bool = False,
                   continuation: bool = False) -> list[dict[str, Any]] | None:
    """The candidates as HUME overrides, in the order ties are broken (first wins).

    ``tau_end``: ``"auto"`` (constant tau and the schedule to AUTO_TAU_END), ``"none"``
    (constant tau) or a number (that schedule); ``graph`` adds the first of these with
    phi1's graph view, ``ratio`` the first of these with ``prior="ratio"``,
    ``continuation`` the continuation candidate (which under ``"auto"`` replaces the plain
    constant-tau fit; its ``init`` is :data:`CONTINUE`). None when that leaves a single
    configuration (nothing to choose).
    """
    if tau_end == "auto":
        schedules: list[float | None] = [None, AUTO_TAU_END]
    else:
        schedules = [None if tau_end == "none" else float(tau_end)]
    plain = schedules[1:] if continuation and tau_end == "auto" else schedules
    grid: list[dict[str, Any]] = [{"tau_end": schedule} for schedule in plain]
    if graph:
        grid.append({"tau_end": schedules[0], "graph_neighbors": GRAPH_NEIGHBORS})
    if ratio:
        grid.append({"tau_end": schedules[0], "prior": "ratio"})
    if continuation:
        grid.append({"tau_end": schedules[0], "prior": "ratio",
                     "size_floor": CONTINUATION_FLOOR, "init": CONTINUE})
    return grid if len(grid) > 1 else None


def is_continuation(config: dict[str, Any]) -> bool:
    """Whether a configuration starts from its seed's pick (``init`` is :data:`CONTINUE`)."""
    return isinstance(config.get("init"), str) and config["init"] == CONTINUE


def score_margin(config: dict[str, Any]) -> float:
    """What a configuration's score gives up when candidates compete for a seed."""
    return CONTINUATION_MARGIN if is_continuation(config) else 0.0


def starts(configs: Sequence[dict[str, Any]]) -> list[int]:
    """Indices of the configurations a continuation may start from: the uniform-prior ones
    that are not continuations themselves."""
    return [i for i, config in enumerate(configs) if not is_continuation(config)
            and config.get("prior", "uniform") == "uniform"]


def continuation_start(labelings: Sequence[np.ndarray], scores: Sequence[float]) -> np.ndarray:
    """The labeling (n,) int64 a continuation starts from: the best-scoring of one seed's
    :func:`starts` runs (each (n,), with their scores; the first on ties)."""
    if not labelings:
        raise ValueError("a continuation candidate needs a uniform-prior candidate to start "
                         "from")
    best = max(range(len(labelings)), key=lambda i: (scores[i], -i))
    return np.asarray(labelings[best], dtype=np.int64)
