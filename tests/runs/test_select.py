"""Configuration selection: the best-scoring eligible combination is kept."""

from __future__ import annotations

import numpy as np
import pytest

from humelabel.runs.select import MIN_CLUSTER_SHARE, eligible, select, select_columns, tag

K = 4
N = 400


def balanced() -> np.ndarray:
    return np.arange(N) % K


def nearly_empty(rows: int) -> np.ndarray:
    """A labeling whose last cluster holds ``rows`` rows, the rest shared by the others."""
    labels = np.arange(N) % (K - 1)
    labels[:rows] = K - 1
    return labels


def test_eligible_at_the_share_of_the_mean_cluster_size():
    floor = int(np.ceil(MIN_CLUSTER_SHARE * N / K))
    assert eligible(balanced(), K)
    assert eligible(nearly_empty(floor), K)
    assert not eligible(nearly_empty(floor - 1), K)
    assert not eligible(np.arange(N) % (K - 1), K)  # an empty cluster


def run_select(labelings: dict[str, np.ndarray], scores: dict[str, float]):
    configs = [{"tau_end": None, "case": name} for name in labelings]
    members = {tag(c): ([labelings[c["case"]]], [0.0]) for c in configs}
    by_labels = {labels.tobytes(): scores[name] for name, labels in labelings.items()}
    return select(configs, members, K, lambda labs: [by_labels[x.tobytes()] for x in labs],
                  score_all=True)


@pytest.mark.parametrize("collapsed_score", [0.5, 0.95])
def test_a_nearly_empty_cluster_is_not_kept_while_another_is_eligible(collapsed_score):
    rows, selected, _ = run_select({"good": balanced(), "collapsed": nearly_empty(2)},
                                   {"good": 0.9, "collapsed": collapsed_score})
    assert selected == "tauendnone_casegood"
    assert [r["eligible"] for r in rows] == [1, 0]
    assert [r["selected"] for r in rows] == [1, 0]


def test_the_best_score_where_no_combination_is_eligible():
    rows, selected, _ = run_select({"a": nearly_empty(1), "b": nearly_empty(2)},
                                   {"a": 0.8, "b": 0.9})
    assert selected == "tauendnone_caseb"
    assert [r["eligible"] for r in rows] == [0, 0]


def test_the_csv_columns_carry_eligibility():
    assert select_columns([{"tau_end": None}]) == [
        "config", "tau_end", "runs", "score", "eligible", "selected"]
