"""The learnability score: a labeling learnable in every space scores above one learnable in
one space only, which scores above a random one."""

from __future__ import annotations

import numpy as np
import pytest

from humelabel.runs.learnability import LearnabilityScorer


def two_views(n: int = 300, k: int = 3, seed: int = 0) -> tuple[np.ndarray, np.ndarray,
                                                                  np.ndarray]:
    """Two views of k well separated Gaussian classes ((n, 8), (n, 6)) and the classes (n,)."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    a = rng.normal(size=(k, 8)) * 4
    x1 = a[y] + rng.normal(size=(n, 8))
    b = rng.normal(size=(k, 6)) * 4
    x2 = b[y] + rng.normal(size=(n, 6))
    return x1, x2, y


def test_orders_labelings_by_how_many_spaces_learn_them() -> None:
    x1, x2, y = two_views()
    rng = np.random.default_rng(1)
    noise = rng.normal(size=x1.shape)  # a view that knows nothing about y
    scorer = LearnabilityScorer().fit([x1, x2])
    one_view = LearnabilityScorer().fit([x1, noise])
    random_labels = rng.permutation(y)
    true, random = scorer.score(y), scorer.score(random_labels)
    half = one_view.score(y)
    # Separated classes are learned almost perfectly in each space; a random labeling near
    # chance (1/3): the orders are far beyond fold noise.
    assert true > half > random
    assert true > 0.9 and random < 0.5
    spaces = scorer.space_scores(y)
    assert len(spaces) == 2 and true == pytest.approx(np.mean(spaces))
    # Folds fitted in two processes give the same score.
    parallel = LearnabilityScorer(n_jobs=2).fit([x1, x2])
    assert parallel.score_many([y, random_labels]) == [true, random]


def test_deterministic_and_invariant_to_label_ids() -> None:
    x1, x2, y = two_views(seed=2)
    scorer = LearnabilityScorer().fit([x1, x2])
    relabeled = np.array([5, 9, 7])[y]  # other ids, same partition
    assert scorer.score(y) == scorer.score(y) == scorer.score(relabeled)
    assert scorer.score_many([y, relabeled]) == [scorer.score(y)] * 2


def test_degenerate_and_bad_input() -> None:
    x1, x2, y = two_views(n=60)
    scorer = LearnabilityScorer().fit([x1, x2])
    assert scorer.score(np.zeros(60, dtype=int)) == 0.0  # one class: nothing to learn
    with pytest.raises(ValueError, match="labels must have 60 rows"):
        scorer.score(y[:10])
    with pytest.raises(ValueError, match="same rows"):
        LearnabilityScorer().fit([x1, x2[:10]])
    with pytest.raises(ValueError, match="n_folds >= 2"):
        LearnabilityScorer(n_folds=1).fit([x1])


def imbalanced_views(seed: int, n: int = 600) -> tuple[list[np.ndarray], np.ndarray]:
    """Two views ((n, 16), (n, 12)) of 5 overlapping Gaussian classes of 50/25/15/7/3%."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(5), (np.array([0.5, 0.25, 0.15, 0.07, 0.03]) * n).astype(int))
    views = [rng.normal(size=(5, d))[y] * 1.3 + rng.normal(size=(y.size, d)) for d in (16, 12)]
    return views, y


def test_class_weights_keep_a_small_class_from_costing() -> None:
    # Truth minus the same labeling with its 3% class merged into the largest, seeds 0-7.
    # Measured (2026-12-07): balanced +0.008 to +0.021 (mean +0.014), unweighted -0.011 to
    # +0.008 (mean -0.003, the merge preferred on 6 of 8): without the weights the penalised
    # classifier under-predicts the small class, so the score pays a labeling for merging it.
    balanced, unweighted = [], []
    for seed in range(8):
        views, y = imbalanced_views(seed)
        merged = np.where(y == 4, 0, y)
        for weight, out in (("balanced", balanced), (None, unweighted)):
            scorer = LearnabilityScorer(class_weight=weight).fit(views)
            out.append(scorer.score(y) - scorer.score(merged))
    assert LearnabilityScorer().class_weight == "balanced"  # the default
    assert min(balanced) > 0
    assert np.mean(unweighted) < 0 < np.mean(balanced)
    with pytest.raises(ValueError, match="class_weight"):
        LearnabilityScorer(class_weight="auto").fit(views)
