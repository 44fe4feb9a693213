import math

import numpy as np
import pytest
import torch

from humelabel.core.inner import UnrolledGD
from humelabel.core.objective import (
    draw_split,
    labeling_objective,
    mean_label_entropy,
    soft_cross_entropy,
)


def test_soft_cross_entropy_hand_case():
    logits = torch.tensor([[0.0, 0.0], [math.log(3.0), 0.0]])
    targets = torch.tensor([[1.0, 0.0], [0.5, 0.5]])
    # row 1: -log(1/2); row 2: -(0.5 log 3/4 + 0.5 log 1/4)
    expected = (math.log(2) - 0.5 * (math.log(0.75) + math.log(0.25))) / 2
    assert abs(soft_cross_entropy(logits, targets).item() - expected) < 1e-6


def test_mean_label_entropy():
    uniform = torch.eye(4)
    assert abs(mean_label_entropy(uniform).item() - math.log(4)) < 1e-6
    collapsed = torch.tensor([[1.0, 0.0]] * 5)
    assert abs(mean_label_entropy(collapsed).item()) < 1e-6


def test_draw_split_sizes_and_disjoint():
    g = torch.Generator().manual_seed(0)
    tr, te = draw_split(100, 50, 0.9, g)
    assert len(tr) == 45 and len(te) == 5
    assert len(set(tr.tolist()) | set(te.tolist())) == 50
    tr, te = draw_split(30, 1000, 0.9, g)  # subset capped at n
    assert len(tr) + len(te) == 30


def test_truth_beats_random_labeling_on_separable_data():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 400)
    phi2 = torch.from_numpy((np.eye(3)[labels] * 3 + rng.normal(size=(400, 3))).astype(np.float32))
    solver = UnrolledGD(steps=50, lr=0.5)
    kw = dict(entropy_weight=1.0, subset_size=400, train_fraction=0.8, num_splits=4, seed=0)
    truth = labeling_objective(labels, phi2, 3, solver, **kw)
    shuffled = labeling_objective(rng.permutation(labels), phi2, 3, solver, **kw)
    assert truth["loss"] < shuffled["loss"] - 0.3
    again = labeling_objective(labels, phi2, 3, solver, **kw)
    assert again == truth  # same seed, same splits and inits


def test_normalized_squared_error_avoids_the_soft_label_trap():
    from humelabel.core.objective import normalized_squared_error, squared_error

    uniform = torch.full((10, 3), 1 / 3)
    hard = torch.eye(3)[torch.arange(10) % 3]
    # predicting the uniform labels perfectly is "free" for the plain squared error ...
    assert squared_error(uniform, uniform).item() == 0.0
    # ... but a near-constant labeling has no spread, so the normalised error explodes
    near = uniform + 1e-4 * hard
    assert normalized_squared_error(uniform, near).item() > 0.5
    assert abs(normalized_squared_error(hard.mean(0).expand(10, 3), hard).item() - 1.0) < 1e-6


def test_split_sampler_pool_reuses_splits():
    from humelabel.core.objective import SplitSampler

    sampler = SplitSampler(100, 50, 0.8, torch.Generator().manual_seed(0), pool_size=3)
    draws = [sampler.draw() for _ in range(20)]
    assert {d[0] for d in draws} <= {0, 1, 2}
    for split_id, tr, te in draws:
        assert torch.equal(tr, sampler.pool[split_id][0]) and len(te) == 10
    fresh = SplitSampler(100, 50, 0.8, torch.Generator().manual_seed(0))
    assert fresh.draw()[0] is None


def test_split_loss_over_several_spaces_averages_the_generalization_term() -> None:
    from humelabel.core.inner import Ridge
    from humelabel.core.objective import split_loss

    rng = np.random.default_rng(0)
    spaces = [torch.from_numpy(rng.normal(size=(80, d)).astype(np.float32)) for d in (5, 9)]
    y = torch.softmax(torch.from_numpy(rng.normal(size=(80, 3)).astype(np.float32)), dim=1)
    tr, te = torch.arange(50), torch.arange(50, 80)
    gen = torch.Generator().manual_seed(0)
    single = [split_loss(Ridge(0.5), x, tr, te, y[tr], y[te], 2.0, gen).generalization
              for x in spaces]
    both = split_loss([Ridge(0.5), Ridge(0.5)], spaces, tr, te, y[tr], y[te], 2.0, gen)
    assert float(both.generalization) == pytest.approx(float(sum(single)) / 2, rel=1e-6)
    assert float(both.loss) == pytest.approx(float(both.generalization - 2.0 * both.entropy))
    with pytest.raises(ValueError, match="one inner solver per phi2 space"):
        split_loss([Ridge(0.5)], spaces, tr, te, y[tr], y[te], 2.0, gen)
