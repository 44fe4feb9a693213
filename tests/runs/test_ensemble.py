"""Tests for humelabel.runs.ensemble: generalization score, alignment, vote, combination."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import shared_text
from sklearn.linear_model import LogisticRegression

from humelabel.runs.ensemble import (
    GeneralizationScorer,
    align_labels,
    combine_labelings,
    generalization_score,
    majority_vote,
    whiten,
)


def test_align_recovers_a_permuted_copy_exactly() -> None:
    rng = np.random.default_rng(0)
    reference = rng.integers(0, 7, size=500)
    permutation = rng.permutation(7)
    assert not np.array_equal(permutation, np.arange(7))
    np.testing.assert_array_equal(align_labels(permutation[reference], reference, 7), reference)


def test_align_maximises_agreement_with_noise() -> None:
    rng = np.random.default_rng(1)
    reference = rng.integers(0, 4, size=400)
    noisy = reference.copy()
    flip = rng.random(400) < 0.2
    noisy[flip] = rng.integers(0, 4, size=int(flip.sum()))
    permuted = np.array([2, 0, 3, 1])[noisy]
    aligned = align_labels(permuted, reference)
    np.testing.assert_array_equal(aligned, noisy)  # the renaming is undone exactly


def test_align_rejects_bad_ids() -> None:
    with pytest.raises(ValueError, match="ids in"):
        align_labels(np.array([0, 3]), np.array([0, 1]), n_classes=2)
    with pytest.raises(ValueError, match="equal length"):
        align_labels(np.array([0, 1, 1]), np.array([0, 1]))


def test_majority_vote_and_agreement_by_hand() -> None:
    runs = np.array([
        [0, 1, 2, 0, 1],
        [0, 1, 1, 2, 1],
        [0, 2, 1, 1, 0],
    ])
    labels, agreement = majority_vote(runs, 3)
    # point 3 is a three-way tie: lowest id; with prefer=1 it takes run 1's label.
    np.testing.assert_array_equal(labels, [0, 1, 1, 0, 1])
    np.testing.assert_allclose(agreement, [1, 2 / 3, 2 / 3, 1 / 3, 2 / 3])
    labels, _ = majority_vote(runs, 3, prefer=1)
    np.testing.assert_array_equal(labels, [0, 1, 1, 2, 1])


def test_combine_uses_best_score_as_reference() -> None:
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 3, size=300)
    runs = []
    for perm in ([0, 1, 2], [2, 0, 1], [1, 2, 0]):
        noisy = truth.copy()
        flip = rng.random(300) < 0.1
        noisy[flip] = rng.integers(0, 3, size=int(flip.sum()))
        runs.append(np.array(perm)[noisy])
    ens = combine_labelings(runs, [0.5, 0.9, 0.7], n_classes=3)
    assert ens.reference == 1
    np.testing.assert_array_equal(ens.aligned[1], runs[1])  # the reference keeps its ids
    # The vote, in the reference's ids, beats every single run against the truth.
    ref_truth = np.array([2, 0, 1])[truth]
    vote_acc = (ens.labels == ref_truth).mean()
    assert all(vote_acc >= (a == ref_truth).mean() for a in ens.aligned)
    assert ens.agreement.shape == (300,) and ens.run_agreement.shape == (3,)
    np.testing.assert_allclose(ens.agreement, (ens.aligned == ens.labels).mean(axis=0))


def test_whiten_gives_identity_covariance() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 6)) @ rng.normal(size=(6, 8))  # rank 6 in 8 dimensions
    white = whiten(x)
    assert white.shape == (500, 6)
    np.testing.assert_allclose(white.T @ white / 500, np.eye(6), atol=1e-4)


def _sklearn_fold_accuracies(scorer: GeneralizationScorer, labels: np.ndarray) -> np.ndarray:
    accs = []
    for train, test in scorer.folds(labels):
        model = LogisticRegression(C=scorer.C, tol=1e-8, max_iter=5000)
        model.fit(scorer.x_[train], labels[train])
        accs.append(model.score(scorer.x_[test], labels[test]))
    return np.asarray(accs)


def test_score_agrees_with_sklearn_on_synthetic_data() -> None:
    rng = np.random.default_rng(4)
    n, d, k = 900, 20, 4
    x = rng.normal(size=(n, d)) * rng.uniform(0.1, 3, size=d)  # anisotropic features
    labels = (x @ rng.normal(size=(d, k)) + rng.normal(scale=2.0, size=(n, k))).argmax(axis=1)
    scorer = GeneralizationScorer(5).fit(x)
    ours = scorer.fold_accuracies(labels)
    theirs = _sklearn_fold_accuracies(scorer, labels)
    assert 0.6 < ours.mean() < 0.99  # a non-trivial case
    assert abs(ours.mean() - theirs.mean()) < 0.005
    assert scorer.score(labels) == pytest.approx(ours.mean())
    assert generalization_score(x, labels, n_folds=5) == pytest.approx(ours.mean())


def test_score_agrees_with_sklearn_on_shared_text() -> None:
    """A real case: k-means labels on MiniLM of the first 1,500 TREC rows, scored in MPNet."""
    from sklearn.cluster import KMeans

    folder = shared_text("trec")
    phi1 = np.load(folder / "minilm.npy")[:1500].astype(np.float32)
    phi2 = np.load(folder / "mpnet.npy")[:1500].astype(np.float32)
    labels = KMeans(6, n_init=1, random_state=0).fit_predict(phi1)
    scorer = GeneralizationScorer(3).fit(phi2)
    ours = scorer.score(labels)
    theirs = _sklearn_fold_accuracies(scorer, labels).mean()
    assert abs(ours - theirs) < 0.005


def test_score_prefers_a_labeling_that_is_linear_in_phi2() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(600, 10))
    linear = (x[:, 0] > 0).astype(int) + 2 * (x[:, 1] > 0)
    random = rng.integers(0, 4, size=600)
    scorer = GeneralizationScorer(5).fit(x)
    assert scorer.score(linear) > 0.9 > 0.4 > scorer.score(random)


def test_score_edge_cases() -> None:
    x = np.random.default_rng(6).normal(size=(50, 3))
    scorer = GeneralizationScorer(5).fit(x)
    assert scorer.score(np.full(50, 7)) == 1.0  # one class: trivially predictable
    ids = np.r_[np.zeros(47, dtype=int), [5, 5, 9]]  # arbitrary ids, a tiny cluster
    # Ids are renamed before scoring: the same score as with ids 0, 1, 2 in the same order.
    assert scorer.score(ids) == scorer.score(np.r_[np.zeros(47, dtype=int), [1, 1, 2]])
    # Measured 0.94 = 47/50: the 3 noise points of the tiny clusters are never predicted, the
    # large class always is (random 3-class labelings of these rows score 0.32-0.40).
    assert scorer.score(ids) == pytest.approx(47 / 50)
    with pytest.raises(ValueError, match="shape"):
        scorer.score(np.zeros(49, dtype=int))
    with pytest.raises(ValueError, match="n_folds"):
        GeneralizationScorer(1).fit(x)
    with pytest.raises(ValueError, match="fewer than n_folds"):
        GeneralizationScorer(10).fit(x[:5])
