"""The candidate k of choose_k: the geometric grid, the coarse stride and the gap around
the best, the fine candidates, the confirm stage's candidates, the range parser, the pick off a
table."""

from __future__ import annotations

import pytest

from humelabel.runs import k_grid


def test_fine_candidates_are_midpoints_off_the_grid() -> None:
    grid = k_grid.geometric_grid(2, 150)
    assert k_grid.fine_candidates(grid, 20, 2) == [17, 22]  # sqrt(15 * 20), sqrt(20 * 25)
    assert k_grid.fine_candidates(grid, 2, 2) == []  # 2 and 3 are neighbours: nothing between
    extra = k_grid.fine_candidates(grid, 20, 4)
    assert extra[:2] == [17, 22] and len(extra) == 4
    assert not set(extra) & set(grid) and all(15 < k < 25 for k in extra)
    assert k_grid.fine_candidates(grid, 20, 0) == []


def test_coarse_stride_and_the_gap_around_the_best() -> None:
    grid = k_grid.geometric_grid(2, 150)  # 2 3 4 6 7 9 12 15 20 25 33 42 54 70 90 116 150
    # Every grid point up to DENSE_K = 10, then one in two from 12, and the last.
    assert k_grid.strided(grid, 2) == [2, 3, 4, 6, 7, 9, 12, 20, 33, 54, 90, 150]
    assert k_grid.strided(grid, 2, dense=0) == grid[::2]  # 17 points: the last on the stride
    assert k_grid.strided(grid[:-1], 2, dense=0) == grid[:-1:2] + [116]  # the last always
    assert k_grid.strided(grid, 1) == grid
    assert k_grid.strided([2, 3, 4], 2) == [2, 3, 4]  # all small: nothing skipped
    assert k_grid.grid_gap(grid, set(grid[::2]), 20) == [15, 25]
    assert k_grid.grid_gap(grid, set(grid[::2]) | {15, 25}, 25) == []
    assert k_grid.grid_gap(grid, set(grid[::2]) | {15, 25}, 20) == []
    assert k_grid.grid_gap(grid, set(grid[::3]), 2) == [3, 4]  # up to the next scored point
    assert k_grid.grid_gap(grid, {2, 150}, 150) == grid[1:-1]


def test_coarse_rounds_go_upward_two_at_a_time_past_the_small_k() -> None:
    points = [2, 3, 4, 6, 7, 9, 12, 20, 33, 54, 90, 150]
    assert k_grid.coarse_rounds(points, 2) == [[2, 3, 4, 6, 7, 9, 12, 20], [33, 54], [90, 150]]
    assert k_grid.coarse_rounds(points[:-1], 2)[-1] == [90]  # an odd count: a last round of one
    assert k_grid.coarse_rounds(points, 0) == [points]  # 0: all at once
    assert k_grid.coarse_rounds([2, 3, 4], 2) == [[2, 3, 4]]
    assert k_grid.coarse_rounds([20, 33, 54], 1) == [[20], [33], [54]]  # nothing small
    assert k_grid.coarse_rounds([], 2) == []


def test_search_grid_has_every_small_k_then_the_geometric_grid() -> None:
    grid = k_grid.search_grid(2, 150)
    assert grid[:10] == [2, 3, 4, 5, 6, 7, 8, 9, 10, 12]
    assert [k for k in grid if k > 10] == [k for k in k_grid.geometric_grid(2, 150) if k > 10]
    assert k_grid.search_grid(3, 8) == [3, 4, 5, 6, 7, 8]  # all under DENSE_K
    assert k_grid.search_grid(2, 150, dense=0) == k_grid.geometric_grid(2, 150)


def test_confirm_candidates_flank_the_pick_on_the_grid() -> None:
    grid = [2, 3, 4, 6, 7, 9, 12, 15, 20, 25, 33]
    assert k_grid.confirm_candidates(grid, 25, 2) == [15, 20, 25, 33]  # the grid's end cuts it
    assert k_grid.confirm_candidates(grid, 10, 2) == [6, 7, 9, 10, 12, 15]  # off the grid: nearest
    assert k_grid.confirm_candidates(grid, 2, 1) == [2, 3]
    # the default: two grid points below the pick, one above
    assert k_grid.CONFIRM == (2, 1)
    assert k_grid.confirm_candidates(grid, 20) == [12, 15, 20, 25]
    assert k_grid.confirm_candidates(grid, 20, (0, 2)) == [20, 25, 33]
    assert k_grid.confirm_window(3) == (3, 3) and k_grid.confirm_window((2, 0)) == (2, 0)
    with pytest.raises(ValueError, match="confirm"):
        k_grid.confirm_window((1, -1))
    table = [{"k": 6, "stage": "coarse", "stability": 0.9},
             {"k": 4, "stage": "confirm", "stability": 0.5},
             {"k": 6, "stage": "confirm", "stability": 0.4}]
    assert k_grid.best_k(table) == 4  # the confirm stage decides where it ran
    assert k_grid.best_k(table[:1]) == 6


def test_grid_and_range() -> None:
    grid = k_grid.geometric_grid(2, 150)
    assert grid[0] == 2 and grid[-1] == 150 and grid == sorted(set(grid))
    assert len(grid) <= 20
    assert k_grid.parse_k_range("3-40") == (3, 40)
    for bad in ("1-10", "10-5", "5", "a-b", "2-2", "-3-10"):
        with pytest.raises(ValueError):
            k_grid.parse_k_range(bad)


def test_best_k_takes_the_highest_score_and_the_larger_k_on_ties() -> None:
    table = [{"k": 3, "stage": "coarse", "stability": 0.5},
             {"k": 5, "stage": "coarse", "stability": 0.5},
             {"k": 7, "stage": "coarse", "stability": ""},
             {"k": 4, "stage": "full", "stability": ""}]
    assert k_grid.best_k(table) == 5
    assert k_grid.best_k(table[:1] + [{"k": 2, "stage": "fine", "stability": 0.6}]) == 2
