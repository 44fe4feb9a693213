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
"""

from __future__ import annotations

from typing import Any

__all__ = ["AUTO_TAU_END", "GRAPH_MAX_ROWS", "GRAPH_MIN_ROWS", "GRAPH_NEIGHBORS",
           "candidate_grid", "graph_fits"]

#: The scheduled candidate's final tau (the constant one keeps the preset's tau).
AUTO_TAU_END = 0.1
#: The graph candidate's neighbours (``HUME(graph_neighbors=...)``).
GRAPH_NEIGHBORS = 30
#: Rows outside which the graph candidate is not fitted: too few for a 30-NN graph, or so
#: many that its exact neighbour search (O(n^2 d)) outgrows the fits.
GRAPH_MIN_ROWS = 4 * GRAPH_NEIGHBORS
GRAPH_MAX_ROWS = 200_000


def graph_fits(n_rows: int) -> bool:
    """Whether the graph candidate is fitted on ``n_rows`` rows."""
    return GRAPH_MIN_ROWS <= n_rows <= GRAPH_MAX_ROWS


def candidate_grid(tau_end: str | float, graph: bool, ratio: bool = False
                   ) -> list[dict[str, Any]] | None:
    """The candidates as HUME overrides, in the order ties are broken (first wins).

    ``tau_end``: ``"auto"`` (constant tau and the schedule to AUTO_TAU_END), ``"none"``
    (constant tau) or a number (that schedule); ``graph`` adds the first of these with
    phi1's graph view, ``ratio`` the first of these with ``prior="ratio"``. None when that
    leaves a single configuration (nothing to choose).
    """
    if tau_end == "auto":
        schedules: list[float | None] = [None, AUTO_TAU_END]
    else:
        schedules = [None if tau_end == "none" else float(tau_end)]
    grid: list[dict[str, Any]] = [{"tau_end": schedule} for schedule in schedules]
    if graph:
        grid.append({"tau_end": schedules[0], "graph_neighbors": GRAPH_NEIGHBORS})
    if ratio:
        grid.append({"tau_end": schedules[0], "prior": "ratio"})
    return grid if len(grid) > 1 else None
