"""Tests for humelabel.analysis.metrics."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from humelabel.analysis.metrics import (
    ari,
    cluster_accuracy,
    evaluate,
    hungarian_mapping,
    nmi,
    per_class_accuracy,
)


def test_nmi_ari_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    for k_true, k_pred in [(2, 2), (3, 5), (5, 3), (10, 10)]:
        t = rng.integers(0, k_true, size=200)
        p = rng.integers(0, k_pred, size=200)
        assert nmi(t, p) == pytest.approx(normalized_mutual_info_score(t, p))
        assert ari(t, p) == pytest.approx(adjusted_rand_score(t, p))


def test_hand_computed_accuracy() -> None:
    y_true = [0, 0, 0, 1, 1, 2]
    y_pred = [1, 1, 0, 0, 0, 2]
    # Contingency (rows = true 0,1,2; cols = pred 0,1,2):
    #   true 0: pred0=1 pred1=2 pred2=0
    #   true 1: pred0=2 pred1=0 pred2=0
    #   true 2: pred0=0 pred1=0 pred2=1
    # Best one-to-one map: pred1->0 (2 correct), pred0->1 (2), pred2->2 (1) => 5/6.
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(5 / 6)
    assert hungarian_mapping(y_true, y_pred) == {1: 0, 0: 1, 2: 2}
    # Per class: class 0 has 2 of 3 right, class 1 has 2 of 2, class 2 has 1 of 1.
    assert per_class_accuracy(y_true, y_pred) == pytest.approx([2 / 3, 1.0, 1.0])


def test_permutation_invariance() -> None:
    rng = np.random.default_rng(1)
    t = rng.integers(0, 4, size=100)
    p = np.where(rng.random(100) < 0.7, t, rng.integers(0, 4, size=100))
    perm = np.array([2, 3, 0, 1])
    for f in (cluster_accuracy, nmi, ari):
        assert f(t, perm[p]) == pytest.approx(f(t, p))
    assert per_class_accuracy(t, perm[p]) == pytest.approx(per_class_accuracy(t, p))
    # Renaming the predicted ids to arbitrary (even negative) values changes nothing.
    assert cluster_accuracy(t, p * 10 - 7) == pytest.approx(cluster_accuracy(t, p))
    assert cluster_accuracy(t, t) == 1.0


def test_more_clusters_than_classes() -> None:
    y_true = [0, 0, 0, 1, 1, 1]
    y_pred = [0, 0, 2, 1, 1, 3]
    # Only two clusters can be matched: 0->0 (2 correct) and 1->1 (2 correct) => 4/6.
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    mapping = hungarian_mapping(y_true, y_pred)
    assert mapping == {0: 0, 1: 1}  # unmatched clusters 2 and 3 are absent
    assert per_class_accuracy(y_true, y_pred) == pytest.approx([2 / 3, 2 / 3])


def test_fewer_clusters_than_classes() -> None:
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [5, 5, 5, 5, 7, 7]
    # 5->0 or 5->1 (2 correct), 7->2 (2 correct) => 4/6; one class gets no cluster.
    assert cluster_accuracy(y_true, y_pred) == pytest.approx(4 / 6)
    pcs = per_class_accuracy(y_true, y_pred)
    assert sorted(pcs) == pytest.approx([0.0, 1.0, 1.0])
    assert pcs[2] == 1.0


def test_per_class_accuracy_hand_case() -> None:
    y_true = [2, 2, 2, 2, 7, 7, 9]
    y_pred = [0, 0, 0, 1, 1, 1, 0]
    # Map 0->2 (3 of class 2), 1->7 (2 of class 7); class 9 gets no cluster.
    assert per_class_accuracy(y_true, y_pred) == pytest.approx([3 / 4, 1.0, 0.0])


def _brute_force_acc(t: np.ndarray, p: np.ndarray, k: int) -> float:
    best = 0
    for perm in itertools.permutations(range(k)):
        best = max(best, int(np.sum(np.asarray(perm)[p] == t)))
    return best / t.shape[0]


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_accuracy_matches_brute_force(k: int) -> None:
    rng = np.random.default_rng(k)
    for _ in range(10):
        n = int(rng.integers(5, 40))
        t = rng.integers(0, k, size=n)
        p = rng.integers(0, k, size=n)
        assert cluster_accuracy(t, p) == pytest.approx(_brute_force_acc(t, p, k))


def test_evaluate_types_and_values() -> None:
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([1, 1, 0, 0, 0, 2])
    res = evaluate(y_true, y_pred)
    assert set(res) == {"acc", "nmi", "ari", "per_class_acc", "n"}
    assert type(res["acc"]) is float and type(res["nmi"]) is float and type(res["ari"]) is float
    assert type(res["n"]) is int and res["n"] == 6
    assert all(type(v) is float for v in res["per_class_acc"])
    assert res["acc"] == pytest.approx(5 / 6)
    assert res["nmi"] == pytest.approx(normalized_mutual_info_score(y_true, y_pred))
    assert res["ari"] == pytest.approx(adjusted_rand_score(y_true, y_pred))
    assert res["per_class_acc"] == pytest.approx([2 / 3, 1.0, 1.0])


def test_whole_number_floats_accepted() -> None:
    assert cluster_accuracy(np.array([0.0, 1.0]), np.array([1, 0])) == 1.0


@pytest.mark.parametrize(
    ("y_true", "y_pred", "match"),
    [
        ([0, 1, 2], [0, 1], "differ in length"),
        ([], [], "empty"),
        ([[0, 1]], [[0, 1]], "1-D"),
        ([0.5, 1.0], [0, 1], "integer"),
        (["a", "b"], [0, 1], "integer"),
        ([0, 1], [0.0, np.nan], "integer"),
    ],
)
def test_validation_errors(y_true: object, y_pred: object, match: str) -> None:
    for f in (cluster_accuracy, nmi, ari, per_class_accuracy, evaluate, hungarian_mapping):
        with pytest.raises(ValueError, match=match):
            f(y_true, y_pred)
