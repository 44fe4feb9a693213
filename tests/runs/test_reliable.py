"""Tests for humelabel.runs.reliable: neighbour agreement, selection, accuracy."""

from __future__ import annotations

import numpy as np
import pytest

from humelabel.runs.refine import label_confidence
from humelabel.runs.reliable import (
    MIN_CANDIDATE_AGREEMENT,
    RELIABLE_COLUMNS,
    candidate_agreement,
    neighbor_agreement,
    plurality_ceiling,
    reliable_accuracy,
    reliable_rows,
    reliable_samples,
    select_reliable,
)


def blobs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three well-separated blobs (truth) and a labeling with 15% of the points wrong.

    Returns (x (300, 5), truth (300,), labels (300,)) with labels in permuted ids.
    """
    rng = np.random.default_rng(seed)
    truth = np.repeat(np.arange(3), 100)
    centres = np.eye(5)[:3] * 10
    x = centres[truth] + rng.normal(size=(300, 5))
    labels = truth.copy()
    wrong = rng.choice(300, size=45, replace=False)
    labels[wrong] = (labels[wrong] + rng.integers(1, 3, size=45)) % 3
    return x, truth, np.array([2, 0, 1])[labels]


def test_neighbor_agreement_by_hand() -> None:
    x = np.array([[0.0], [0.1], [0.2], [5.0], [5.1]])
    labels = np.array([0, 0, 1, 1, 1])
    agreement, dist = neighbor_agreement(x, labels, n_neighbors=2, normalize=False)
    # point 0: neighbours 1 (0) and 2 (1); point 2: neighbours 1 (0) and 0 (0);
    # points 3 and 4: each other and point 2, all labeled 1.
    np.testing.assert_allclose(agreement, [0.5, 0.5, 0.0, 1.0, 1.0])
    np.testing.assert_allclose(dist[0], 0.15)


def test_selection_counts_order_and_thresholds() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    runs = np.array([1.0, 0.9, 0.5, 1.0, 1.0, 0.6, 1.0])
    neigh = np.array([1.0, 1.0, 1.0, 0.4, 1.0, 1.0, 1.0])
    dist = np.array([0.3, 0.1, 0.1, 0.1, 0.5, 0.1, 0.2])
    picked = select_reliable(labels, runs, neigh, 2, mean_distance=dist)
    # point 2 fails the run majority (0.5 is not > 0.5), point 3 the neighbour majority.
    np.testing.assert_array_equal(picked.indices, [0, 1, 6, 4])
    np.testing.assert_array_equal(picked.counts, [2, 2])
    np.testing.assert_array_equal(picked.eligible, [2, 3])
    picked = select_reliable(labels, runs, neigh, 5, n_classes=3)
    np.testing.assert_array_equal(picked.counts, [2, 3, 0])
    with pytest.raises(ValueError, match="per_class"):
        select_reliable(labels, runs, neigh, 0)


def test_candidate_agreement_renames_each_run_onto_the_labels() -> None:
    labels = np.array([0, 0, 1, 1, 2])
    renamed = np.array([1, 1, 2, 2, 0])  # the same labeling in other ids
    one_off = np.array([0, 1, 1, 1, 2])
    np.testing.assert_allclose(candidate_agreement([renamed, one_off], labels),
                               [1.0, 0.5, 1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="shape"):
        candidate_agreement([labels[:3]], labels)
    with pytest.raises(ValueError, match="at least one"):
        candidate_agreement([], labels)


def test_candidate_agreement_filters_and_does_not_rank() -> None:
    labels = np.zeros(4, dtype=np.int64)
    full = np.ones(4)
    confidence = np.array([0.9, 0.8, 0.7, 0.6])
    candidates = np.array([0.85, 1.0, 0.9, 0.95])
    picked = select_reliable(labels, full, full, 4, confidence=confidence,
                             candidate_agreement=candidates)
    # point 0 is below MIN_CANDIDATE_AGREEMENT (0.9 itself passes); the rest keep their order.
    assert MIN_CANDIDATE_AGREEMENT == 0.9
    np.testing.assert_array_equal(picked.indices, [1, 2, 3])
    np.testing.assert_array_equal(picked.eligible, [3])
    picked = select_reliable(labels, full, full, 4, confidence=confidence,
                             candidate_agreement=candidates, min_candidate_agreement=0.96)
    np.testing.assert_array_equal(picked.indices, [1])
    with pytest.raises(ValueError, match="candidate_agreement"):
        select_reliable(labels, full, full, 1, candidate_agreement=np.ones(3))


def test_confidence_breaks_ties_before_distance() -> None:
    labels = np.zeros(4, dtype=np.int64)
    full = np.ones(4)
    dist = np.array([0.1, 0.2, 0.3, 0.4])
    confidence = np.array([0.2, 0.9, 0.5, 0.9])
    picked = select_reliable(labels, full, full, 3, mean_distance=dist, confidence=confidence)
    np.testing.assert_array_equal(picked.indices, [1, 3, 2])
    # A higher agreement sum still comes first.
    runs = np.array([1.0, 0.9, 0.9, 0.9])
    picked = select_reliable(labels, runs, full, 2, mean_distance=dist, confidence=confidence)
    np.testing.assert_array_equal(picked.indices, [0, 1])
    with pytest.raises(ValueError, match="confidence"):
        select_reliable(labels, full, full, 1, confidence=np.ones(3))


def test_reliable_points_are_right_on_noisy_blobs() -> None:
    x, truth, labels = blobs()
    rng = np.random.default_rng(1)
    # Run agreement: high for correct points, mixed for the wrong ones.
    correct = np.array([2, 0, 1])[truth] == labels
    runs = np.where(correct, rng.uniform(0.7, 1.0, 300), rng.uniform(0.3, 0.8, 300))
    neigh, dist = neighbor_agreement(x, labels, n_neighbors=10)
    picked = select_reliable(labels, runs, neigh, 20, mean_distance=dist)
    np.testing.assert_array_equal(picked.counts, [20, 20, 20])
    result = reliable_accuracy(truth, labels, picked)
    assert result["n"] == 60
    assert result["accuracy"] == 1.0
    assert (labels == np.array([2, 0, 1])[truth]).mean() == pytest.approx(0.85)


def test_plurality_ceiling_counts_clusters_whose_main_class_is_matched_elsewhere() -> None:
    # Class 0 is split over clusters 0 and 1 (60 / 40 rows); class 1 is cluster 2; class 2
    # (10 rows) hides inside cluster 2. The matching gives cluster 1 the leftover class 2,
    # though its rows are all class 0: 2 of 3 clusters have their main class matched.
    truth = np.array([0] * 100 + [1] * 50 + [2] * 10)
    labels = np.array([0] * 60 + [1] * 40 + [2] * 60)
    assert plurality_ceiling(truth, labels) == pytest.approx(2 / 3)
    assert plurality_ceiling(truth, truth) == 1.0
    with pytest.raises(ValueError, match="alike"):
        plurality_ceiling(truth, labels[:-1])


def test_reliable_samples_is_the_three_steps_and_rows_follow_the_columns() -> None:
    # reliable_samples = neighbour agreement in phi, confidence over the spaces, selection;
    # without spaces no confidence is computed and the csv cell stays empty.
    x, _, labels = blobs(1)
    agreement = np.linspace(0.6, 1.0, labels.size)
    other = x[:, ::-1] + 1.0
    picked, confidence = reliable_samples(labels, agreement, x, 5, spaces=[x, other])
    neigh, dist = neighbor_agreement(x, labels)
    np.testing.assert_array_equal(confidence, label_confidence([x, other], labels))
    expected = select_reliable(labels, agreement, neigh, 5, mean_distance=dist,
                               confidence=confidence)
    np.testing.assert_array_equal(picked.indices, expected.indices)
    rows = reliable_rows(picked, confidence)
    assert [list(r) for r in rows] == [RELIABLE_COLUMNS] * 15
    assert rows[0]["confidence"] == confidence[picked.indices[0]]
    plain, none = reliable_samples(labels, agreement, x, 5)
    assert none is None and reliable_rows(plain, None)[0]["confidence"] == ""
    np.testing.assert_array_equal(
        plain.indices, select_reliable(labels, agreement, neigh, 5, mean_distance=dist).indices)
