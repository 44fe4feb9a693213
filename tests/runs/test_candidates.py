"""The candidates of ``humelabel run``: which configurations, and when the graph one is fitted."""

from __future__ import annotations

import pytest

from humelabel.runs.candidates import (
    AUTO_TAU_END,
    GRAPH_MAX_ROWS,
    GRAPH_MIN_ROWS,
    GRAPH_NEIGHBORS,
    candidate_grid,
    graph_fits,
)
from humelabel.runs.select import tag


def test_auto_with_graph_is_constant_schedule_and_graph_in_that_order():
    grid = candidate_grid("auto", graph=True)
    assert grid == [{"tau_end": None}, {"tau_end": AUTO_TAU_END},
                    {"tau_end": None, "graph_neighbors": GRAPH_NEIGHBORS}]
    assert [tag(c) for c in grid] == ["tauendnone", "tauend0.1", "tauendnone_graph30"]


def test_ratio_comes_last_with_the_first_schedule():
    grid = candidate_grid("auto", graph=True, ratio=True)
    assert grid[:3] == candidate_grid("auto", graph=True)
    assert grid[3] == {"tau_end": None, "prior": "ratio"}
    assert tag(grid[3]) == "tauendnone_priorratio"
    assert candidate_grid(0.05, graph=False, ratio=True) == [
        {"tau_end": 0.05}, {"tau_end": 0.05, "prior": "ratio"}]


@pytest.mark.parametrize("tau_end, graph, expected", [
    ("auto", False, [{"tau_end": None}, {"tau_end": AUTO_TAU_END}]),
    ("none", True, [{"tau_end": None}, {"tau_end": None, "graph_neighbors": GRAPH_NEIGHBORS}]),
    (0.05, True, [{"tau_end": 0.05}, {"tau_end": 0.05, "graph_neighbors": GRAPH_NEIGHBORS}]),
    ("none", False, None),  # a single configuration: nothing to choose
    (0.05, False, None),
])
def test_other_settings(tau_end, graph, expected):
    assert candidate_grid(tau_end, graph) == expected


def test_graph_fits_between_the_row_bounds():
    assert not graph_fits(GRAPH_MIN_ROWS - 1)
    assert graph_fits(GRAPH_MIN_ROWS) and graph_fits(GRAPH_MAX_ROWS)
    assert not graph_fits(GRAPH_MAX_ROWS + 1)
