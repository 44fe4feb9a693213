"""The candidate k of :func:`humelabel.runs.choose_k.choose_k`: :func:`search_grid` (every k
up to DENSE_K, a geometric grid above), scored by short runs (:func:`strided`: every small k
and one larger grid point in two, upward in :func:`coarse_rounds` until the curve has
fallen), then by settled runs in :func:`confirm_candidates` around the short runs' pick;
without the confirm stage, :func:`grid_gap` and :func:`fine_candidates` refine the short
runs' pick instead. :func:`best_k` reads the pick off the table of scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["CONFIRM", "COARSE_STRIDE", "DEFAULT_K_RANGE", "DENSE_K", "FINE", "GRID_RATIO",
           "MIN_ROWS_PER_CLASS", "ROUND", "best_k", "best_row", "coarse_rounds",
           "confirm_candidates", "confirm_window", "fine_candidates", "geometric_grid",
           "grid_gap", "parse_k_range", "search_grid", "strided"]

#: Default candidate range: ``fit --k auto`` searches 2..DEFAULT_K_MAX (capped at rows / 5).
DEFAULT_K_RANGE = (2, 150)
#: Ratio between neighbouring grid points of the coarse stage.
GRID_RATIO = 1.3
#: Above DENSE_K the coarse stage scores every COARSE_STRIDE-th grid point (:func:`strided`).
COARSE_STRIDE = 2
#: Every k up to DENSE_K is a candidate (:func:`search_grid`) and the coarse stage scores
#: them all: there one class more or less changes the labeling, and the criterion can peak
#: at one k alone (3 AG News classes, docs/results/k_selection_run_joint_fresh.md: 0.385 at
#: k = 3, under 0.10 at 2 and 4); 5, 8 and 10 are true k of the benchmarks' subsets.
DENSE_K = 10
#: The coarse stage scores its points above DENSE_K upward, ROUND at a time, and stops after
#: a round whose largest point cannot beat the best score so far (:func:`coarse_rounds`): on
#: the 24 datasets and subsets of docs/results/k_selection_run_joint*.md no grid point past
#: such a round beats it, and the stop skips the largest, dearest k on 15 of them.
ROUND = 2
#: Candidates of the fine stage (without the confirm stage), between the best grid point's
#: neighbours.
FINE = 2
#: Grid points below and above the short runs' pick that the confirm stage scores with it
#: (:func:`confirm_candidates`). Short runs prefer more classes than settled runs (where the
#: short runs missed, their pick was above the true k on 10 of 11 sets; StackOverflow's 33
#: is two points above its 20), so the window reaches further down; two above let the
#: settled runs' noise at the window's edge pick 54 for 20 Banking77 intents (0.58 against
#: 0.57 at 25; docs/method.md, "One search grid").
CONFIRM = (2, 1)
#: Rows per class the largest candidate keeps at least (hi is capped at rows / this).
MIN_ROWS_PER_CLASS = 5


def parse_k_range(text: str) -> tuple[int, int]:
    """``"2-150"`` -> (2, 150); ValueError (one line) unless ``2 <= lo < hi``, both ints."""
    parts = text.split("-")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"expected LO-HI with integers, e.g. 2-150, got {text!r}")
    lo, hi = int(parts[0]), int(parts[1])
    if lo < 2:
        raise ValueError(f"the lower end must be at least 2, got {lo}")
    if hi <= lo:
        raise ValueError(f"the upper end must be above the lower end, got {text!r}")
    return lo, hi


def geometric_grid(lo: int, hi: int, ratio: float = GRID_RATIO) -> list[int]:
    """Increasing ints from lo to hi (both included), neighbours about ``ratio`` apart."""
    if not 2 <= lo <= hi:
        raise ValueError(f"need 2 <= lo <= hi, got {lo}, {hi}")
    count = max(2, int(np.ceil(np.log(hi / lo) / np.log(ratio))) + 1)
    grid = np.unique(np.round(np.geomspace(lo, hi, count)).astype(int))
    return [int(k) for k in grid]


def search_grid(lo: int, hi: int, ratio: float = GRID_RATIO, dense: int = DENSE_K) -> list[int]:
    """The candidates of :func:`~humelabel.runs.choose_k.choose_k`: every int from lo up to
    ``dense``, then the points of :func:`geometric_grid` above it, increasing."""
    grid = geometric_grid(lo, hi, ratio)
    return sorted(set(range(lo, min(hi, dense) + 1)) | {k for k in grid if k > dense})


def best_row(table: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The row of the highest stability among the scored rows (those with one, not the full
    run) of the deciding stage (``confirm`` where the table has it, else all), the larger k
    on ties."""
    scored = [r for r in table if r["stage"] != "full" and r["stability"] != ""]
    confirmed = [r for r in scored if r["stage"] == "confirm"]
    return max(confirmed or scored, key=lambda r: (r["stability"], r["k"]))


def best_k(table: Sequence[dict[str, Any]]) -> int:
    """k of :func:`best_row`."""
    return int(best_row(table)["k"])


def strided(grid: Sequence[int], stride: int, dense: int = DENSE_K) -> list[int]:
    """Every point of ``grid`` up to ``dense``, then every ``stride``-th of the others from
    the first of them, and the last."""
    head = [int(k) for k in grid if k <= dense]
    rest = [int(k) for k in grid if k > dense]
    picks = head + rest[::stride]
    if rest and picks[-1] != rest[-1]:
        picks.append(rest[-1])
    return picks


def coarse_rounds(points: Sequence[int], size: int = ROUND,
                  dense: int = DENSE_K) -> list[list[int]]:
    """``points`` (increasing) in the rounds of the coarse stage: those up to ``dense`` with
    the first ``size`` above, then ``size`` at a time; one round when ``size`` is 0."""
    points = [int(k) for k in points]
    if size <= 0:
        return [points] if points else []
    head = [k for k in points if k <= dense]
    rest = [k for k in points if k > dense]
    rounds = [head + rest[:size]] + [rest[i:i + size] for i in range(size, len(rest), size)]
    return [r for r in rounds if r]


def grid_gap(grid: Sequence[int], scored: set[int], best: int) -> list[int]:
    """The unscored points of ``grid`` between ``best`` and its nearest scored grid points
    on either side; empty when both of ``best``'s grid neighbours are scored."""
    grid = list(grid)
    i = grid.index(best)
    below = next((j for j in range(i - 1, -1, -1) if grid[j] in scored), 0)
    above = next((j for j in range(i + 1, len(grid)) if grid[j] in scored), len(grid) - 1)
    return [int(k) for k in grid[below:above + 1] if k not in scored]


def confirm_window(width: int | Sequence[int]) -> tuple[int, int]:
    """``(below, above)`` from an int (both sides) or a pair; ValueError unless both >= 0."""
    below, above = (width, width) if isinstance(width, int | np.integer) else tuple(width)
    if int(below) < 0 or int(above) < 0:
        raise ValueError(f"confirm needs grid points >= 0 on each side, got {width!r}")
    return int(below), int(above)


def confirm_candidates(grid: Sequence[int], best: int,
                       width: int | Sequence[int] = CONFIRM) -> list[int]:
    """``best`` and the points of ``grid`` around it (of the grid point nearest to it when it
    is not on the grid), increasing: ``width`` on either side, or ``(below, above)``."""
    below, above = confirm_window(width)
    grid = [int(k) for k in grid]
    i = int(np.argmin([abs(k - best) for k in grid]))  # the lower one on ties
    return sorted(set(grid[max(0, i - below):i + above + 1]) | {int(best)})


def fine_candidates(grid: Sequence[int], best: int, most: int = FINE) -> list[int]:
    """Up to ``most`` ints not on ``grid``: the geometric midpoints between ``best`` and its
    grid neighbours (below first), then the other ints between the neighbours, nearest to
    ``best`` (in ratio) first."""
    i = list(grid).index(best)
    left, right = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
    inside = [k for k in range(left + 1, right) if k not in grid]
    picks = [int(round(np.sqrt(best * side))) for side in (left, right) if side != best]
    picks += sorted(inside, key=lambda k: abs(np.log(k / best)))
    out: list[int] = []
    for k in picks:
        if k in inside and k not in out and len(out) < most:
            out.append(k)
    return out
