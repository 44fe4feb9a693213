"""The floor on cluster size (``size_floor``, :func:`humelabel.core.objective.size_floor_penalty`)
and the search it enters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from humelabel import HUME
from humelabel.core.objective import size_floor_penalty
from humelabel.core.sparsemax import sparsemax


def test_no_penalty_while_every_cluster_holds_the_floor():
    # Four equal clusters, floor 0.2 of the mean share: nothing to pay.
    logits = torch.eye(4).repeat(5, 1) * 10
    assert size_floor_penalty(logits, sparsemax(logits), 0.2).item() == 0.0


def test_an_empty_cluster_pays_one_and_gets_a_gradient():
    # Cluster 3 gets no row: its share is 0 against a floor of 0.2 / 4, so it pays
    # (f - 0) / f = 1, and the softmax share pulls its logit up although sparsemax is flat.
    logits = (torch.eye(4)[[0, 1, 2] * 6] * 10).requires_grad_(True)
    penalty = size_floor_penalty(logits, sparsemax(logits), 0.2)
    assert penalty.item() == pytest.approx(1.0)
    penalty.backward()
    assert (logits.grad[:, 3] < 0).all()  # descending the loss raises cluster 3's logit
    assert sparsemax(logits.detach())[:, 3].sum() == 0


def test_zero_floor_leaves_the_search_unchanged(two_view):
    phi1, phi2, _ = two_view
    kw = dict(iterations=5, num_subsets=2, subset_size=200, random_state=0, prior="ratio")
    plain = HUME(3, **kw).fit(phi1, phi2)
    zero = HUME(3, size_floor=0.0, **kw).fit(phi1, phi2)
    np.testing.assert_array_equal(plain.coef_, zero.coef_)
    assert [h["loss"] for h in plain.history_] == [h["loss"] for h in zero.history_]


@pytest.mark.parametrize("subset_size", [200, 50])  # all rows at once, and split by split
def test_floor_enters_the_loss(two_view, subset_size):
    phi1, phi2, _ = two_view
    kw = dict(iterations=3, num_subsets=2, subset_size=subset_size, random_state=0,
              prior="ratio")
    plain = HUME(3, **kw).fit(phi1, phi2)
    floored = HUME(3, size_floor=0.99, **kw).fit(phi1, phi2)
    # The first step's generalization and entropy terms are those of the same start; the
    # loss adds the penalty, which is >= 0.
    first, first_floor = plain.history_[0], floored.history_[0]
    assert first_floor["generalization"] == pytest.approx(first["generalization"])
    assert first_floor["loss"] >= first["loss"]
    assert floored.params_["size_floor"] == 0.99


def test_score_labeling_counts_the_floor(two_view):
    phi1, phi2, labels = two_view
    merged = np.where(labels == 2, 1, labels)  # cluster 2 empty
    kw = dict(prior="ratio", random_state=0)
    plain = HUME(3, **kw).score_labelings(phi2, [labels, merged], num_splits=3)
    floored = HUME(3, size_floor=0.2, **kw).score_labelings(phi2, [labels, merged],
                                                            num_splits=3)
    assert floored[0]["loss"] == pytest.approx(plain[0]["loss"])  # no cluster below
    assert floored[1]["loss"] == pytest.approx(plain[1]["loss"] + 1.0)  # one empty: f / f


@pytest.mark.parametrize("value", [-0.1, 1.0])
def test_bad_floor(two_view, value):
    phi1, phi2, _ = two_view
    with pytest.raises(ValueError, match="size_floor"):
        HUME(3, size_floor=value, iterations=1).fit(phi1, phi2)
