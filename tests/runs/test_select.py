"""Configuration selection: the best-scoring combination is kept; one of a non-uniform prior
only without a nearly empty cluster."""

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


def run_select(labelings: dict[str, np.ndarray], scores: dict[str, float],
               priors: dict[str, str]):
    configs = [{"tau_end": None, "case": name, "prior": priors[name]} for name in labelings]
    members = {tag(c): ([labelings[c["case"]]], [0.0]) for c in configs}
    by_labels = {labels.tobytes(): scores[name] for name, labels in labelings.items()}
    return select(configs, members, K, lambda labs: [by_labels[x.tobytes()] for x in labs],
                  score_all=True)


@pytest.mark.parametrize("collapsed_score", [0.5, 0.95])
def test_a_ratio_labeling_with_a_nearly_empty_cluster_is_not_kept(collapsed_score):
    rows, selected, _ = run_select({"good": balanced(), "collapsed": nearly_empty(2)},
                                   {"good": 0.9, "collapsed": collapsed_score},
                                   {"good": "uniform", "collapsed": "ratio"})
    assert selected == "tauendnone_casegood_prioruniform"
    assert [r["eligible"] for r in rows] == [1, 0]
    assert [r["selected"] for r in rows] == [1, 0]


def test_an_eligible_ratio_labeling_competes_on_its_score():
    _, selected, _ = run_select({"a": balanced(), "b": np.roll(balanced(), 1)},
                                {"a": 0.8, "b": 0.9}, {"a": "uniform", "b": "ratio"})
    assert selected == "tauendnone_caseb_priorratio"


def test_uniform_labelings_compete_on_their_scores_even_when_not_eligible():
    # Fine-grained data: every uniform-prior run may leave a cluster nearly empty; the ratio
    # run that does too is not kept, the uniform ones compare by score.
    rows, selected, _ = run_select(
        {"a": nearly_empty(1), "b": nearly_empty(2), "c": nearly_empty(3)},
        {"a": 0.8, "b": 0.85, "c": 0.9}, {"a": "uniform", "b": "uniform", "c": "ratio"})
    assert selected == "tauendnone_caseb_prioruniform"
    assert [r["eligible"] for r in rows] == [0, 0, 0]


def test_the_best_score_where_nothing_is_admitted():
    _, selected, _ = run_select({"a": nearly_empty(1), "b": nearly_empty(2)},
                                {"a": 0.8, "b": 0.9}, {"a": "ratio", "b": "ratio"})
    assert selected == "tauendnone_caseb_priorratio"


def test_the_csv_columns_carry_eligibility():
    assert select_columns([{"tau_end": None}]) == [
        "config", "tau_end", "runs", "score", "eligible", "selected"]
