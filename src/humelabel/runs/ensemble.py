"""From many runs to one labeling: generalization score, alignment, majority vote.

The authors' evaluation protocol (spec, "From many runs to one labeling"):

1. run the search with many seeds;
2. score every run without labels by its *generalization score*: the k-fold cross-validated
   accuracy of a multinomial logistic regression on phi2 that predicts the run's hard labels;
3. take the best-scoring run as the reference, map every other run's cluster ids onto it by
   the Hungarian assignment that maximises agreement, and take a per-point majority vote.

The generalization score as defined here
-----------------------------------------
``phi2`` is centred and PCA-whitened (rotated onto its principal axes, each scaled to unit
variance; directions with variance below ``1e-6`` of the largest are dropped). This uses no
labels and is an invertible linear map on the kept directions, so an *unregularised* logistic
regression predicts exactly the same before and after it; it makes the problem well
conditioned. The classifier (weights and bias, bias not penalised) minimises scikit-learn's
objective ``C * sum_i CE_i + ||W||^2 / 2`` with a small stated penalty, ``C = 0.1`` on the whitened
features, with scikit-learn's L-BFGS settings (``tol = 1e-4``). Why not none: without a penalty
the optimum is not unique on (nearly) separable labels, so the score depends on the solver and
on when it stops (measured on 50,000 x 768, k = 10, one fold: 0.933 after scikit-learn's
default 100 iterations, 0.925 converged after 271; with ``C = 1`` a warm- and a cold-started
L-BFGS, both stopped at ``tol = 1e-4``, differed by 0.5 points). With ``C = 0.1`` the
optimum is reached to within about 0.15 points at ``tol = 1e-4``, and the score stays within
0.25 points of the unregularised one on that case (93.19 vs 92.94).
Folds: ``StratifiedKFold(n_folds, shuffle=True, random_state)`` on the labeling being scored.
The result agrees with ``sklearn.linear_model.LogisticRegression(C=C)`` fitted on the same
whitened features and folds (tests; measurements in the README).

Why a hand-written solver: scikit-learn's ``LogisticRegression(C=0.1)`` needs 37 s for the 10
folds of 50,000 x 768 with k = 10 on this project's 2-core CPU (one thread; 198 s unregularised
on the raw features), above the 30 s budget; this solver needs 12 s, whitening included
(``benchmarks/score_speed.py``). The fold problems are solved at once by
:func:`scipy.optimize.minimize` (L-BFGS-B, scikit-learn's solver and settings) on their sum:
one matrix product ``[W_1 ... W_F]^T X^T`` evaluates all folds together (each fold weights out
its held-out rows), in float32 with torch, warm-started from the solution on all rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment, minimize
from sklearn.model_selection import StratifiedKFold

__all__ = [
    "Ensemble",
    "GeneralizationScorer",
    "align_labels",
    "combine_labelings",
    "generalization_score",
    "majority_vote",
    "whiten",
]

#: Relative eigenvalue below which a direction of phi2 is dropped by :func:`whiten`.
WHITEN_RTOL = 1e-6


def whiten(x: ArrayLike, rtol: float = WHITEN_RTOL) -> np.ndarray:
    """PCA-whitened copy of x (n, d): centred, on its principal axes, unit variance each.

    Directions whose variance is below ``rtol`` times the largest are dropped, so the result
    is (n, r) float32 with r <= min(n, d) and covariance close to the identity.
    """
    arr = np.asarray(x)
    if arr.ndim != 2 or arr.shape[0] < 2:
        raise ValueError(f"need a 2-D array with at least 2 rows, got shape {arr.shape}")
    centred = (arr - arr.mean(axis=0, dtype=np.float64)).astype(np.float32)
    # Eigen-decomposition of the d x d covariance (cheaper than an SVD of the n x d data);
    # the large products in float32, the small eigenproblem in float64.
    cov = (centred.T @ centred).astype(np.float64) / arr.shape[0]
    eigval, eigvec = np.linalg.eigh(cov)
    top = float(eigval.max())
    if top <= 0:
        raise ValueError("phi2 has no variance (all rows are equal)")
    keep = eigval > rtol * top
    return centred @ (eigvec[:, keep] / np.sqrt(eigval[keep])).astype(np.float32)


def _compact(labels: ArrayLike, n: int) -> np.ndarray:
    """Labels (n,) as int64 ids 0..c-1 in sorted order of the original ids."""
    arr = np.asarray(labels)
    if arr.shape != (n,):
        raise ValueError(f"labels must have shape ({n},), got {arr.shape}")
    if arr.dtype.kind not in "iu":
        raise ValueError(f"labels must be integers, got dtype {arr.dtype}")
    return np.unique(arr, return_inverse=True)[1].reshape(-1).astype(np.int64)


class GeneralizationScorer:
    """Cross-validated accuracy of multinomial logistic regression on phi2 (label-free score).

    Fit once on phi2 (whitening is computed once), then score any number of labelings.

    Args:
        n_folds: number of cross-validation folds (>= 2).
        C: inverse L2 penalty strength in scikit-learn's convention
            (``C * sum of losses + ||W||^2 / 2``, bias not penalised), on whitened phi2;
            ``float("inf")`` for no penalty.
        max_iter: L-BFGS iteration limit (all folds are optimised together).
        tol: stop when every gradient entry of every fold's mean-loss objective is below tol
            (scikit-learn's ``tol`` for ``lbfgs``).
        random_state: seed of the stratified fold shuffling.
        device: torch device for the matrix products (``"cpu"``, ``"cuda"``, ...).

    Attributes:
        x_: (n, r) float32 whitened phi2.
    """

    def __init__(
        self,
        n_folds: int = 10,
        *,
        C: float = 0.1,  # scikit-learn's name
        max_iter: int = 1000,
        tol: float = 1e-4,
        random_state: int = 0,
        device: str = "cpu",
    ):
        self.n_folds = n_folds
        self.C = C
        self.max_iter = max_iter
        self.tol = tol
        self.random_state = random_state
        self.device = device

    def fit(self, phi2: ArrayLike) -> GeneralizationScorer:
        """Whiten phi2 (n, d2) once for all later :meth:`score` calls."""
        if int(self.n_folds) < 2:
            raise ValueError(f"n_folds must be at least 2, got {self.n_folds}")
        if not self.C > 0:
            raise ValueError(f"C must be > 0, got {self.C}")
        self.x_ = whiten(phi2)
        if self.x_.shape[0] < self.n_folds:
            raise ValueError(f"{self.x_.shape[0]} rows are fewer than n_folds={self.n_folds}")
        self._x = torch.from_numpy(self.x_).to(self.device)
        self._xt = self._x.T.contiguous()
        return self

    # ------------------------------------------------------------------------------- folds
    def folds(self, labels: ArrayLike) -> list[tuple[np.ndarray, np.ndarray]]:
        """The (train, test) index pairs used to score ``labels`` (n,)."""
        y = _compact(labels, self.x_.shape[0])
        cv = StratifiedKFold(int(self.n_folds), shuffle=True, random_state=self.random_state)
        with warnings.catch_warnings():  # a tiny cluster (< n_folds points) is allowed
            warnings.filterwarnings("ignore", message="The least populated class")
            return list(cv.split(np.zeros((y.shape[0], 1)), y))

    def fold_accuracies(self, labels: ArrayLike) -> np.ndarray:
        """Held-out accuracy (n_folds,) of the classifier trained on the other folds."""
        y = _compact(labels, self.x_.shape[0])
        n_classes = int(y.max()) + 1
        folds = self.folds(y)
        if n_classes == 1:  # one class: every held-out point is predicted right
            return np.ones(len(folds))
        n = y.shape[0]
        # Warm start: the problem on all rows is one tenth of the work of all folds together,
        # and its solution is close to every fold's. The optimum is unique (strictly convex
        # objective), so the starting point changes the path, not the result.
        everything = np.ones((n, 1), dtype=bool)
        start, _ = self._solve(y, n_classes, everything, None)
        masks = np.zeros((n, len(folds)), dtype=bool)
        for f, (train, _) in enumerate(folds):
            masks[train, f] = True
        theta0 = self._tile(start, n_classes, len(folds))
        _, (weights, bias) = self._solve(y, n_classes, masks, theta0)
        accs = []
        for f, (_, test) in enumerate(folds):
            logits = self._x[torch.from_numpy(test).to(self._x.device)] @ weights[f] + bias[f]
            pred = logits.argmax(dim=1).cpu().numpy()
            accs.append(float((pred == y[test]).mean()))
        return np.asarray(accs)

    def score(self, labels: ArrayLike) -> float:
        """Generalization score of a hard labeling (n,): mean of :meth:`fold_accuracies`."""
        return float(self.fold_accuracies(labels).mean())

    # ------------------------------------------------------------------------------- solver
    def _tile(self, theta: np.ndarray, k: int, n_f: int) -> np.ndarray:
        """Parameters of one problem repeated for ``n_f`` problems (same layout as _solve)."""
        r = self.x_.shape[1]
        w, b = theta[: k * r], theta[k * r:]
        return np.concatenate([np.tile(w, n_f), np.tile(b, n_f)])

    def _solve(
        self, y: np.ndarray, k: int, masks: np.ndarray, theta0: np.ndarray | None
    ) -> tuple[np.ndarray, tuple[torch.Tensor, torch.Tensor]]:
        """Minimise the sum of F problems (training rows ``masks`` (n, F)) with L-BFGS-B.

        Parameters are kept transposed, weights (F, k, r) and biases (F, k), so that both large
        products, ``W^T X^T`` and ``R^T X``, read the data with unit stride (several times
        faster than ``X^T R`` for few columns). Returns the flat solution and its views as
        weights (F, r, k) and biases (F, k).
        """
        x, xt = self._x, self._xt
        n, r = x.shape
        n_f = masks.shape[1]
        mask = torch.from_numpy(np.ascontiguousarray(masks.T, dtype=np.float32)).to(x.device)
        n_train = mask.sum(dim=1)  # (F,)
        # Per-row weights 1/n_f turn each problem's sum into scikit-learn's mean-loss objective.
        row_w = (mask / n_train[:, None])[:, None, :]  # (F, 1, n)
        target = torch.from_numpy(y).to(x.device).expand(n_f, 1, n)  # (F, 1, n)
        l2 = (1.0 / (float(self.C) * n_train)).to(torch.float64)  # (F,)
        l2_32 = l2.to(x.dtype)[:, None, None]
        size_w = n_f * k * r

        def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
            params = torch.from_numpy(theta.astype(np.float32)).to(x.device)
            w = params[:size_w].view(n_f, k, r)
            b = params[size_w:].view(n_f, k, 1)
            # One product for all problems: (F*k, r) @ (r, n) -> logits (F, k, n).
            logits = (w.view(n_f * k, r) @ xt).view(n_f, k, n) + b
            logp = torch.log_softmax(logits, dim=1)
            ce = -logp.gather(1, target)  # (F, 1, n)
            # d(mean CE)/d(logits) = (softmax - onehot) * row weight.
            resid = logp.exp_().scatter_add_(1, target, -torch.ones_like(ce)).mul_(row_w)
            grad_w = (resid.view(n_f * k, n) @ x).view(n_f, k, r) + w * l2_32
            grad_b = resid.sum(dim=2)
            loss = (ce.double() * row_w.double()).sum() + 0.5 * (
                l2 * (w.double() ** 2).sum(dim=(1, 2))
            ).sum()
            grad = torch.cat([grad_w.reshape(-1), grad_b.reshape(-1)])
            return float(loss), grad.double().cpu().numpy()

        if theta0 is None:
            theta0 = np.zeros(size_w + n_f * k)
        result = minimize(
            objective, theta0, method="L-BFGS-B", jac=True,
            # scikit-learn's settings for lbfgs (its tol is L-BFGS-B's gtol).
            options={"maxiter": int(self.max_iter), "maxls": 50, "gtol": float(self.tol),
                     "ftol": 64 * np.finfo(float).eps},
        )
        self.n_iter_ = int(result.nit)
        params = torch.from_numpy(result.x.astype(np.float32)).to(x.device)
        weights = params[:size_w].view(n_f, k, r).transpose(1, 2)
        return result.x, (weights, params[size_w:].view(n_f, k))


def generalization_score(phi2: ArrayLike, labels: ArrayLike, *, n_folds: int = 10,
                         C: float = 0.1, random_state: int = 0,
                         device: str = "cpu") -> float:
    """Generalization score of one labeling (n,) on phi2 (n, d2).

    See :class:`GeneralizationScorer`; to score many labelings on the same phi2, fit one
    scorer and call its ``score`` (the whitening is then computed once).
    """
    scorer = GeneralizationScorer(n_folds, C=C, random_state=random_state, device=device)
    return scorer.fit(phi2).score(labels)


# ------------------------------------------------------------------------------------------
# Alignment and vote
# ------------------------------------------------------------------------------------------


def _check_ids(labels: np.ndarray, n_classes: int, name: str) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer labels, got dtype {arr.dtype}")
    arr = arr.astype(np.int64, copy=False)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise ValueError(f"{name} must hold ids in [0, {n_classes}), got "
                         f"[{arr.min()}, {arr.max()}]")
    return arr


def alignment_map(labels: ArrayLike, reference: ArrayLike, n_classes: int | None = None
                  ) -> np.ndarray:
    """The renaming (k,) int64 of ``labels``' ids onto ``reference``'s (see :func:`align_labels`):
    ``alignment_map(labels, reference)[labels]`` is the aligned labeling."""
    lab = np.asarray(labels)
    ref = np.asarray(reference)
    if lab.ndim != 1 or lab.shape != ref.shape:
        raise ValueError(f"labels and reference must be 1-D of equal length, got {lab.shape} "
                         f"and {ref.shape}")
    if n_classes is None:
        n_classes = int(max(lab.max(), ref.max())) + 1
    lab = _check_ids(lab, n_classes, "labels")
    ref = _check_ids(ref, n_classes, "reference")
    table = np.bincount(lab * n_classes + ref, minlength=n_classes * n_classes)
    rows, cols = linear_sum_assignment(table.reshape(n_classes, n_classes), maximize=True)
    mapping = np.empty(n_classes, dtype=np.int64)
    mapping[rows] = cols
    return mapping


def align_labels(labels: ArrayLike, reference: ArrayLike, n_classes: int | None = None
                 ) -> np.ndarray:
    """Rename the cluster ids of ``labels`` (n,) to agree best with ``reference`` (n,).

    The renaming is the permutation of ``0..n_classes-1`` that maximises the number of points
    with equal ids, found by the Hungarian assignment (:func:`scipy.optimize.linear_sum_assignment`)
    on the k x k contingency table. Ids must be in ``[0, n_classes)``; ``n_classes`` defaults to
    the largest id in either array plus one.

    Returns:
        (n,) int64 relabelled copy of ``labels``.
    """
    lab = np.asarray(labels)
    return alignment_map(lab, reference, n_classes)[lab.astype(np.int64, copy=False)]


def majority_vote(aligned: ArrayLike, n_classes: int | None = None,
                  prefer: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-point majority vote over aligned labelings (R, n).

    Ties go to run ``prefer``'s label when it is among the tied ids (the reference run in
    :func:`combine_labelings`), otherwise to the smallest tied id.

    Returns:
        ``(labels, agreement)``: (n,) int64 voted ids and (n,) float64 fraction of the R runs
        whose label equals the vote.
    """
    runs = np.asarray(aligned)
    if runs.ndim != 2 or runs.shape[0] == 0:
        raise ValueError(f"aligned must have shape (runs, n) with runs >= 1, got {runs.shape}")
    if n_classes is None:
        n_classes = int(runs.max()) + 1
    runs = _check_ids(runs, n_classes, "aligned")
    n = runs.shape[1]
    counts = np.zeros((n, n_classes))
    rows = np.arange(n)
    for run in runs:
        np.add.at(counts, (rows, run), 1.0)
    if prefer is not None:
        counts[rows, runs[prefer]] += 0.5  # less than one vote: only breaks ties
    labels = counts.argmax(axis=1).astype(np.int64)
    agreement = (runs == labels).mean(axis=0)
    return labels, agreement


@dataclass
class Ensemble:
    """Result of :func:`combine_labelings` (R runs, n points).

    Attributes:
        labels: (n,) int64 majority vote, in the reference run's ids.
        agreement: (n,) float64 fraction of runs whose aligned label equals the vote.
        aligned: (R, n) int64 every run's labels renamed onto the reference.
        reference: index of the reference run (the best score; the first on ties).
        scores: (R,) float64 the scores the reference was chosen by.
        run_agreement: (R,) float64 fraction of points on which each run equals the vote.
        maps: (R, k) int64 each run's renaming onto the reference (``aligned[r] ==
            maps[r][labelings[r]]``), which predicts new rows the same way.
    """

    labels: np.ndarray
    agreement: np.ndarray
    aligned: np.ndarray
    reference: int
    scores: np.ndarray
    run_agreement: np.ndarray
    maps: np.ndarray


def combine_labelings(labelings: Sequence[ArrayLike] | np.ndarray, scores: ArrayLike,
                      n_classes: int | None = None) -> Ensemble:
    """Best-scoring run as reference, Hungarian alignment of the others, majority vote.

    Args:
        labelings: R hard labelings of the same n points, ids in ``[0, n_classes)``.
        scores: (R,) a score per run, higher is better (e.g. generalization scores).
        n_classes: number of ids; default the largest id plus one.
    """
    runs = np.stack([np.asarray(lab) for lab in labelings])
    score_arr = np.asarray(scores, dtype=np.float64)
    if runs.ndim != 2 or runs.shape[0] == 0:
        raise ValueError(f"need at least one 1-D labeling, got shape {runs.shape}")
    if score_arr.shape != (runs.shape[0],):
        raise ValueError(f"scores must have shape ({runs.shape[0]},), got {score_arr.shape}")
    if not np.all(np.isfinite(score_arr)):
        raise ValueError("scores must be finite")
    if n_classes is None:
        n_classes = int(runs.max()) + 1
    reference = int(np.argmax(score_arr))
    maps = np.stack([alignment_map(run, runs[reference], n_classes) for run in runs])
    aligned = np.stack([m[run] for m, run in zip(maps, runs.astype(np.int64), strict=True)])
    labels, agreement = majority_vote(aligned, n_classes, prefer=reference)
    return Ensemble(labels=labels, agreement=agreement, aligned=aligned, reference=reference,
                    scores=score_arr, run_agreement=(aligned == labels).mean(axis=1), maps=maps)
