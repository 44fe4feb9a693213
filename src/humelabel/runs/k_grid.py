"""The candidate k of :func:`humelabel.runs.choose_k.choose_k`: a geometric grid over a range,
scored coarse to fine (:func:`strided`: every small k and one larger grid point in two, then
:func:`grid_gap` around the best), then :func:`fine_candidates` between the best grid
point's neighbours, and :func:`confirm_candidates` around the pick for the confirm stage;
:func:`best_k` reads the pick off the table of scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["CONFIRM", "COARSE_STRIDE", "DEFAULT_K_RANGE", "DENSE_K", "FINE", "GRID_RATIO",
           "MIN_ROWS_PER_CLASS", "best_k", "best_row", "confirm_candidates",
           "fine_candidates", "geometric_grid", "grid_gap", "parse_k_range", "strided"]

#: Default candidate range: ``fit --k auto`` searches 2..DEFAULT_K_MAX (capped at rows / 5).
DEFAULT_K_RANGE = (2, 150)
#: Ratio between neighbouring grid points of the coarse stage.
GRID_RATIO = 1.3
#: Above DENSE_K the coarse stage scores every COARSE_STRIDE-th grid point (:func:`strided`).
COARSE_STRIDE = 2
#: The coarse stage scores every grid point up to DENSE_K: there neighbouring grid points
#: differ by one or two classes and the criterion can peak at one alone (3 AG News classes,
#: docs/results/k_selection_run_joint_fresh.md: 0.385 at k = 3, under 0.10 at 2 and 4).
DENSE_K = 10
#: Candidates of the fine stage, between the best grid point's neighbours.
FINE = 2
#: Grid points on either side of the short runs' pick that the confirm stage re-scores
#: (:func:`confirm_candidates`): the pick of StackOverflow (25, true 20) is two below.
CONFIRM = 2
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


def grid_gap(grid: Sequence[int], scored: set[int], best: int) -> list[int]:
    """The unscored points of ``grid`` between ``best`` and its nearest scored grid points
    on either side; empty when both of ``best``'s grid neighbours are scored."""
    grid = list(grid)
    i = grid.index(best)
    below = next((j for j in range(i - 1, -1, -1) if grid[j] in scored), 0)
    above = next((j for j in range(i + 1, len(grid)) if grid[j] in scored), len(grid) - 1)
    return [int(k) for k in grid[below:above + 1] if k not in scored]


def confirm_candidates(grid: Sequence[int], best: int, width: int = CONFIRM) -> list[int]:
    """``best`` and the ``width`` points of ``grid`` on either side of it (of the grid point
    nearest to it when it is not on the grid), increasing."""
    grid = [int(k) for k in grid]
    i = int(np.argmin([abs(k - best) for k in grid]))  # the lower one on ties
    return sorted(set(grid[max(0, i - width):i + width + 1]) | {int(best)})


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
