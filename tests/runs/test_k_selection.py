"""KSelection, the result of choose_k: the weak-pick note (the search itself:
test_choose_k.py)."""

from __future__ import annotations

import numpy as np
import pytest

from humelabel import HUME
from humelabel.runs.k_selection import WEAK_SCORE, KSelection


def test_weak_pick_is_flagged_for_the_joint_criterion_only() -> None:
    def selection(best: float, criterion: str = "joint") -> KSelection:
        table = [{"k": 3, "stage": "coarse", "stability": best / 2, "seeds": 3},
                 {"k": 5, "stage": "coarse", "stability": best, "seeds": 3},
                 {"k": 7, "stage": "coarse", "stability": "", "seeds": 2},
                 {"k": 5, "stage": "full", "stability": "", "seeds": 1}]
        return KSelection(k_=5, labels_=np.zeros(4, dtype=np.int64), estimator_=HUME(5),
                          table=table, criterion=criterion)

    weak = selection(WEAK_SCORE - 0.01)
    assert weak.weak and weak.best_score == pytest.approx(WEAK_SCORE - 0.01)
    assert "k = 5 is weakly supported" in weak.note()
    assert weak.record()["weak"] is True and weak.record()["short_runs"] == 8
    assert not selection(WEAK_SCORE + 0.01).weak and selection(0.5).note() is None
    assert not selection(0.05, "cross_view").weak
