"""Label-free learnability of a labeling in every space: :class:`LearnabilityScorer`.

HUME's premise is that a human labeling is linearly learnable in every strong representation.
The search asks it of phi2 only (phi1 defines the labeling, so any task-encoder labeling is
linearly separable there). This score asks it of every space, phi1 included: the mean over the
spaces of the cross-validated accuracy of a multinomial logistic regression that predicts the
labeling (rows L2-normalised per space, ``C`` = the refinement's :data:`REFINE_C`, classes
weighted to equal total weight, stratified folds with a fixed seed). In phi1 the L2 penalty
makes it a margin: a labeling cut close to many points there scores lower, however well phi2
learns it.

Why the class weights (``class_weight="balanced"``, the default since 2026-12-07): a penalised
classifier trained on unequal classes leans to the large ones, so without them the accuracy
rewards a labeling for its size distribution, not for its boundaries: a large cluster absorbs
the uncertain rows (merging pays) and a small one is predicted less than it occurs (a small
true class costs). On the 47 sets of the candidate-choice and imbalanced pages (seeds 0-4,
`run`'s four candidates, refined pick) the weighted score raised the mean pick from 75.1 to
77.2, up on 11 sets and down on 4 (docs/method.md, "A class-weighted learnability score").

Use: ``humelabel run`` fits the search with constant tau and with the tau schedule
(``tau_end``) and keeps the labeling this score prefers. On the shared text data (MiniLM /
TF-IDF, seeds 0-4) the schedule raises phi2's term on all five datasets and lowers phi1's;
the mean picked the better of a seed's two runs for 21 of 25 seeds: the schedule on topic and
question data, constant tau on intent data, where the schedule loses (docs/method.md,
"Choosing the tau schedule"). scikit-learn does the fitting (its ``LogisticRegression``,
cross-fitted as ``cross_val_predict`` does, with the folds of all spaces in one joblib batch).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.utils.parallel import Parallel, delayed

from ..io import l2_normalize
from .refine import REFINE_C

__all__ = ["LEARNABILITY_FOLDS", "LearnabilityScorer"]

#: Cross-validation folds of the learnability score.
LEARNABILITY_FOLDS = 5


class LearnabilityScorer:
    """Mean cross-validated accuracy of logistic regression over several spaces.

    Args:
        n_folds: stratified folds (>= 2).
        C: inverse L2 penalty (scikit-learn's convention) on L2-normalised rows.
        random_state: seed of the fold shuffling (the same folds for every labeling).
        max_iter: L-BFGS iteration limit per fit.
        n_jobs: processes for the folds (joblib's convention, ``None``: one); the score does
            not depend on it.
        class_weight: ``"balanced"`` (each class weighted by n / (k * its size), scikit-learn's
            convention) or ``None`` (every row weight 1, the score before 2026-12-07).

    Attributes:
        spaces_: list of (n, d_i) float32 L2-normalised spaces, set by :meth:`fit`.
    """

    def __init__(self, n_folds: int = LEARNABILITY_FOLDS, *, C: float = REFINE_C,  # noqa: N803
                 random_state: int = 0, max_iter: int = 300, n_jobs: int | None = None,
                 class_weight: str | None = "balanced"):
        self.n_folds = n_folds
        self.C = C
        self.random_state = random_state
        self.max_iter = max_iter
        self.n_jobs = n_jobs
        self.class_weight = class_weight

    def fit(self, spaces: Sequence[ArrayLike]) -> LearnabilityScorer:
        """Normalise the spaces ((n, d_i) each, the same n) once for every labeling."""
        if self.n_folds < 2 or not self.C > 0:
            raise ValueError(f"need n_folds >= 2 and C > 0, got {self.n_folds} and {self.C}")
        if self.class_weight not in ("balanced", None):
            raise ValueError(f"class_weight must be 'balanced' or None, got "
                             f"{self.class_weight!r}")
        arrays = [np.asarray(x, dtype=np.float32) for x in spaces]
        if not arrays or any(a.ndim != 2 or a.shape[0] != arrays[0].shape[0] for a in arrays):
            raise ValueError("spaces must be one or more 2-D arrays with the same rows, got "
                             f"shapes {[a.shape for a in arrays]}")
        self.spaces_ = [l2_normalize(a) for a in arrays]
        return self

    def space_scores(self, labels: ArrayLike) -> list[float]:
        """Cross-validated accuracy in each space of a labeling (n,); 0.0 for every space when
        the labeling has fewer than two classes with at least ``n_folds`` rows each (nothing
        to learn, or too few rows to cross-validate)."""
        lab = np.unique(np.asarray(labels), return_inverse=True)[1].reshape(-1)
        if lab.shape[0] != self.spaces_[0].shape[0]:
            raise ValueError(f"labels must have {self.spaces_[0].shape[0]} rows, got "
                             f"{lab.shape[0]}")
        if (np.bincount(lab) >= self.n_folds).sum() < 2:
            return [0.0] * len(self.spaces_)
        folds = StratifiedKFold(self.n_folds, shuffle=True, random_state=self.random_state)
        model = LogisticRegression(C=self.C, class_weight=self.class_weight,
                                   max_iter=self.max_iter)
        with warnings.catch_warnings():
            # Classes smaller than n_folds (StratifiedKFold warns) and slow convergence on
            # near-duplicate rows are expected here and do not invalidate the score.
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", ConvergenceWarning)
            splits = list(folds.split(self.spaces_[0], lab))
            # scikit-learn's cross_val_predict, with the folds of every space in one batch:
            # ten fits share the processes evenly, where five per space leave one idle.
            fitted = Parallel(n_jobs=self.n_jobs)(
                delayed(_fit_predict)(model, x, lab, train, test)
                for x in self.spaces_ for train, test in splits)
        scores = []
        for space in range(len(self.spaces_)):
            predicted = np.empty_like(lab)
            mine = fitted[space * len(splits):(space + 1) * len(splits)]
            for (_, test), fold in zip(splits, mine, strict=True):
                predicted[test] = fold
            scores.append(float((predicted == lab).mean()))
        return scores

    def score(self, labels: ArrayLike) -> float:
        """The mean of :meth:`space_scores` (higher: more learnable in every space)."""
        return float(np.mean(self.space_scores(labels)))

    def score_many(self, labelings: Sequence[ArrayLike]) -> list[float]:
        """:meth:`score` of each labeling (each (n,))."""
        return [self.score(labels) for labels in labelings]


def _fit_predict(model: LogisticRegression, x: np.ndarray, labels: np.ndarray,
                 train: np.ndarray, test: np.ndarray) -> np.ndarray:
    """One fold: ``model`` (cloned) fitted on the ``train`` rows of x (n, d), labels (n,) of
    the ``test`` rows."""
    return clone(model).fit(x[train], labels[train]).predict(x[test])
