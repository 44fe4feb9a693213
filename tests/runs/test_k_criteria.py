"""k_criteria: the agreement scores of a candidate k (pairwise ARI, seed AMI x cross-view
ARI)."""

from __future__ import annotations

import numpy as np
import pytest

from humelabel.runs.k_criteria import criterion_terms, joint_score, stability


def test_stability_is_mean_pairwise_ari() -> None:
    a = np.array([0, 0, 1, 1, 2, 2])
    assert stability([a, a]) == (1.0, 1.0)
    assert stability([a, (a + 1) % 3]) == (1.0, 1.0)  # renamed classes agree fully
    other = np.array([0, 1, 0, 1, 0, 1])
    mean, low = stability([a, a, other])
    assert low < 0 < mean < 1  # one agreeing pair of three
    assert stability([a]) == (1.0, 1.0)


def test_joint_terms_pair_seeds_within_phi1_and_views_within_a_seed() -> None:
    a = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    other = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])  # independent of a
    # runs: seed 0 phi1, seed 0 phi2, seed 1 phi1 (choose_k's order with 3 seeds)
    seed_ami, cross_ari = criterion_terms([a, other, (a + 1) % 3], [False, True, False],
                                          [0, 0, 1])
    assert seed_ami == pytest.approx(1.0)  # the phi1 runs agree up to names
    assert cross_ari < 0  # phi2's labeling shares nothing with seed 0's
    assert joint_score(seed_ami, cross_ari) == 0.0  # below chance counts as no agreement
    assert joint_score(0.5, 0.4) == pytest.approx(0.2)
    # no phi2 run (several phi2 spaces): the cross term is absent and counts 1
    seed_ami, cross_ari = criterion_terms([a, a], [False, False], [0, 1])
    assert cross_ari is None and joint_score(seed_ami, cross_ari) == pytest.approx(1.0)
    assert criterion_terms([a], [False], [0]) == (None, None)
