"""Cross-fitted refinement (humelabel.runs.refine)."""

import numpy as np
import pytest

from humelabel.analysis.metrics import cluster_accuracy
from humelabel.runs.refine import label_confidence, refine_labels


def _views(seed: int = 0, n: int = 600):
    """Three classes, two views in which each is linearly separable with noise; labels (n,)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    a = rng.normal(size=(3, 8))[y] + rng.normal(scale=0.8, size=(n, 8))
    b = rng.normal(size=(3, 6))[y] + rng.normal(scale=0.8, size=(n, 6))
    return [a.astype(np.float32), b.astype(np.float32)], y


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_refinement_repairs_scattered_errors(seed):
    spaces, y = _views(seed)
    rng = np.random.default_rng(100 + seed)
    noisy = y.copy()
    flip = rng.random(len(y)) < 0.2  # 20% of the rows get a random wrong label
    noisy[flip] = (y[flip] + rng.integers(1, 3, flip.sum())) % 3
    refined = refine_labels(spaces, noisy)
    # Measured (seeds 0-2): noisy ACC 0.785-0.823, refined 0.987-1.000.
    assert cluster_accuracy(y, refined) >= cluster_accuracy(y, noisy) + 0.1
    assert refined.dtype == np.int64 and refined.shape == y.shape


def test_refinement_is_deterministic_and_keeps_tiny_classes():
    spaces, y = _views(3)
    labels = y.copy()
    labels[:3] = 7  # a class of three rows: fewer than the folds, kept as it is
    first, second = refine_labels(spaces, labels), refine_labels(spaces, labels)
    np.testing.assert_array_equal(first, second)
    assert (first[:3] == 7).all()
    # Folds fitted in two processes give the same labels.
    np.testing.assert_array_equal(refine_labels(spaces, labels, n_jobs=2), first)


def test_refinement_rejects_bad_input():
    spaces, y = _views(0)
    with pytest.raises(ValueError, match="one row per label"):
        refine_labels([spaces[0][:10]], y)
    with pytest.raises(ValueError, match="iterations"):
        refine_labels(spaces, y, iterations=0)


def test_label_confidence_is_lower_on_wrong_labels():
    spaces, y = _views(4)
    rng = np.random.default_rng(7)
    noisy = y.copy()
    flip = rng.random(len(y)) < 0.2
    noisy[flip] = (y[flip] + 1) % 3
    noisy[:3] = 5  # a class of three rows: fewer than the folds, confidence 0
    confidence = label_confidence(spaces, noisy)
    assert confidence.shape == y.shape and confidence.dtype == np.float64
    assert ((confidence >= 0) & (confidence <= 1)).all()
    assert (confidence[:3] == 0).all()
    right = ~flip & (np.arange(len(y)) >= 3)
    wrong = flip & (np.arange(len(y)) >= 3)
    # Measured (views of seeds 4-6, 1 and 2 threads): mean confidence 0.74-0.75 on the right
    # labels, 0.21-0.22 on the wrong ones.
    assert confidence[right].mean() > confidence[wrong].mean() + 0.4
    np.testing.assert_array_equal(label_confidence(spaces, noisy, n_jobs=2), confidence)
    with pytest.raises(ValueError, match="one row per label"):
        label_confidence([spaces[0][:10]], y)
