"""Configuration selection: the best-scoring configuration is kept (per seed with
``pick_per_seed``); one of a non-uniform prior only without a nearly empty cluster; the picks
are voted around the most central one."""

from __future__ import annotations

import numpy as np
import pytest

from humelabel.runs.select import (
    MIN_CLUSTER_SHARE,
    centrality,
    eligible,
    pick_per_seed,
    reference_scores,
    select,
    select_columns,
    tag,
)

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
    members = {tag(c): [labelings[c["case"]]] for c in configs}
    by_labels = {labels.tobytes(): scores[name] for name, labels in labelings.items()}
    rows, picks, _ = pick_per_seed(configs, members, K,
                                   lambda labs: [by_labels[x.tobytes()] for x in labs], [0])
    return rows, picks[0], None


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
    assert select_columns([{"tau_end": None}], per_seed=True) == [
        "config", "seed", "tau_end", "runs", "score", "margin", "eligible", "selected"]


def test_a_generalization_score_grid_keeps_the_best_vote():
    configs = [{"tau_end": None, "case": name} for name in ("a", "b")]
    members = {tag(configs[0]): ([balanced(), balanced()], [0.5, 0.6]),
               tag(configs[1]): ([np.roll(balanced(), 1)] * 2, [0.5, 0.6])}
    votes = {balanced().tobytes(): 0.7, np.roll(balanced(), 1).tobytes(): 0.8}
    rows, selected, combined = select(configs, members, K,
                                      lambda labs: [votes[x.tobytes()] for x in labs])
    assert selected == "tauendnone_caseb"
    assert [r["selected"] for r in rows] == [0, 1]
    np.testing.assert_array_equal(combined[selected].labels, np.roll(balanced(), 1))


def _shuffled(labels: np.ndarray, rows: int, seed: int) -> np.ndarray:
    """``labels`` with ``rows`` random rows moved to a random other cluster, ids permuted."""
    rng = np.random.default_rng(seed)
    out = labels.copy()
    moved = rng.choice(N, rows, replace=False)
    out[moved] = (out[moved] + rng.integers(1, K, rows)) % K
    return rng.permutation(K)[out]


def test_centrality_is_the_mean_ari_with_the_others():
    from sklearn.metrics import adjusted_rand_score

    labs = [_shuffled(balanced(), rows, seed) for seed, rows in enumerate((0, 40, 200))]
    ari = [[adjusted_rand_score(a, b) for b in labs] for a in labs]
    expected = [(sum(row) - 1.0) / 2 for row in ari]
    np.testing.assert_allclose(centrality(labs), expected)
    assert centrality(labs[:1]).tolist() == [1.0]
    # The least disturbed labeling agrees most with the others.
    assert int(np.argmax(centrality(labs))) == 0


def test_the_reference_order_sums_the_ranks_of_centrality_and_score():
    truth = balanced()
    labs = [_shuffled(truth, rows, seed) for seed, rows in enumerate((10, 60, 200))]
    central = centrality(labs)
    assert list(np.argsort(-central)) == [0, 1, 2]
    # Ranks (1 = lowest): centrality 3, 2, 1; scores 1, 3, 2: sums 4, 5, 3.
    order = reference_scores(labs, [0.1, 0.9, 0.5])
    assert int(np.argmax(order)) == 1
    # A tie of the sums goes to the more central.
    assert int(np.argmax(reference_scores(labs, [0.1, 0.5, 0.9]))) == 0


def test_picks_per_seed_are_voted_around_the_reference():
    # Per seed, the score prefers "a" on seeds 0 and 2 and "b" on seed 1. The picks: a noisy
    # copy of the truth on seeds 0 and 1, a labeling merging two clusters on seed 2, which the
    # score puts highest; the reference is the noisy copy that both scores higher and agrees
    # more with the others, and the vote follows the truth, not the merge.
    truth = balanced()
    merged = np.where(truth == K - 1, 0, truth)
    runs = {"a": [_shuffled(truth, 20, 1), np.roll(truth, 1), merged],
            "b": [np.roll(truth, 2), _shuffled(truth, 30, 2), np.roll(truth, 3)]}
    scores = {"a": [0.8, 0.1, 0.99], "b": [0.2, 0.7, 0.3]}
    configs = [{"tau_end": None, "case": name} for name in ("a", "b")]
    members = {tag(c): runs[c["case"]] for c in configs}
    by_labels = {runs[c][s].tobytes(): scores[c][s] for c in runs for s in range(3)}
    calls = []

    def score_many(labs):
        calls.append(len(labs))
        return [by_labels[x.tobytes()] for x in labs]

    rows, picks, ens = pick_per_seed(configs, members, K, score_many, [5, 6, 7], truth)
    assert calls == [6]  # every run scored in one call
    assert picks == ["tauendnone_casea", "tauendnone_caseb", "tauendnone_casea"]
    assert [(r["seed"], r["selected"]) for r in rows] == [
        (5, 1), (5, 0), (6, 0), (6, 1), (7, 1), (7, 0)]
    picked = [runs["a"][0], runs["b"][1], merged]
    assert int(np.argmax(centrality(picked))) == 0
    assert ens.reference == 0
    np.testing.assert_allclose(ens.scores, reference_scores(picked, [0.8, 0.7, 0.99]))
    from humelabel.analysis.metrics import cluster_accuracy

    assert cluster_accuracy(truth, ens.labels) > 0.9
    assert "acc" in rows[0]


@pytest.mark.parametrize("score_b, picked", [(0.92, "a"), (0.94, "b")])
def test_a_margin_is_given_up_when_candidates_compete(score_b, picked):
    # b carries a margin of 0.03: 0.92 - 0.03 < 0.9 keeps a, 0.94 - 0.03 > 0.9 takes b.
    labelings = {"a": balanced(), "b": np.roll(balanced(), 1)}
    configs = [{"case": name} for name in labelings]
    by_labels = {labelings["a"].tobytes(): 0.9, labelings["b"].tobytes(): score_b}
    rows, picks, _ = pick_per_seed(configs, {tag(c): [labelings[c["case"]]] for c in configs},
                                   K, lambda labs: [by_labels[x.tobytes()] for x in labs], [0],
                                   margins=[0.0, 0.03])
    assert picks == [f"case{picked}"]
    assert [r["margin"] for r in rows] == [0.0, 0.03]
    assert [r["score"] for r in rows] == [0.9, score_b]  # the score as measured
