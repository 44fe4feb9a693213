"""The candidates of ``humelabel run``: which configurations, and when the graph one is fitted."""

from __future__ import annotations

import numpy as np
import pytest

from humelabel.runs.candidates import (
    AUTO_TAU_END,
    CONTINUATION_FLOOR,
    CONTINUATION_MARGIN,
    CONTINUE,
    GRAPH_MAX_ROWS,
    GRAPH_MIN_ROWS,
    GRAPH_NEIGHBORS,
    candidate_grid,
    continuation_start,
    graph_fits,
    is_continuation,
    score_margin,
    starts,
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


def test_continuation_replaces_the_constant_fit_under_auto_and_comes_last():
    grid = candidate_grid("auto", graph=True, ratio=True, continuation=True)
    cont = {"tau_end": None, "prior": "ratio", "size_floor": CONTINUATION_FLOOR,
            "init": CONTINUE}
    assert grid == [{"tau_end": AUTO_TAU_END}, *candidate_grid("auto", True, True)[2:], cont]
    assert tag(grid[-1]) == "tauendnone_priorratio_floor0.2_initpick"
    assert [is_continuation(c) for c in grid] == [False, False, False, True]
    assert [score_margin(c) for c in grid] == [0, 0, 0, CONTINUATION_MARGIN]
    assert starts(grid) == [0, 1]  # uniform prior, not a continuation
    # Under one schedule nothing is replaced: the continuation is one more candidate.
    assert candidate_grid("none", graph=False, continuation=True) == [{"tau_end": None}, cont]


def test_continuation_starts_from_the_best_score_first_on_ties():
    a, b = np.array([0, 1]), np.array([1, 0])
    np.testing.assert_array_equal(continuation_start([a, b], [0.2, 0.3]), b)
    np.testing.assert_array_equal(continuation_start([a, b], [0.3, 0.3]), a)
    assert continuation_start([a.astype(np.int32)], [0.0]).dtype == np.int64
    with pytest.raises(ValueError, match="uniform-prior"):
        continuation_start([], [])
