"""Clustering metrics: Hungarian-matched accuracy, NMI, ARI and per-class accuracy.

All functions take two 1-D label arrays of equal length ``n`` (``y_true`` with ground-truth
class ids, ``y_pred`` with cluster ids). Ids are arbitrary integers (negative values are
fine); the number of clusters may differ from the number of classes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import (
    adjusted_mutual_info_score,
    adjusted_rand_score,
    normalized_mutual_info_score,
)
from sklearn.metrics.cluster import contingency_matrix

__all__ = [
    "ami",
    "ari",
    "cluster_accuracy",
    "evaluate",
    "hungarian_mapping",
    "nmi",
    "per_class_accuracy",
]


def _as_labels(y: ArrayLike, name: str) -> np.ndarray:
    """Convert ``y`` to an int64 array of shape ``(n,)``, or raise ValueError."""
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or not np.all(np.floor(arr) == arr):
            raise ValueError(f"{name} must hold integer labels")
        return arr.astype(np.int64)
    raise ValueError(f"{name} must hold integer labels, got dtype {arr.dtype}")


def _validate(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Validate and convert a label pair to int64 arrays of shape ``(n,)``."""
    t = _as_labels(y_true, "y_true")
    p = _as_labels(y_pred, "y_pred")
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"y_true and y_pred differ in length: {t.shape[0]} vs {p.shape[0]}")
    return t, p


def _match(
    t: np.ndarray, p: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hungarian matching of clusters to classes.

    Returns:
        ``classes`` (sorted unique true ids, shape ``(k_true,)``), ``clusters`` (sorted unique
        predicted ids, shape ``(k_pred,)``), the contingency matrix ``C`` of shape
        ``(k_true, k_pred)`` with ``C[i, j] = #{y_true == classes[i] and y_pred ==
        clusters[j]}``, and the matched index pairs ``rows``, ``cols`` (each of shape
        ``(min(k_true, k_pred),)``) maximising ``C[rows, cols].sum()``.
    """
    classes = np.unique(t)
    clusters = np.unique(p)
    cont = np.asarray(contingency_matrix(t, p), dtype=np.int64)
    rows, cols = linear_sum_assignment(cont, maximize=True)
    return classes, clusters, cont, rows, cols


def hungarian_mapping(y_true: ArrayLike, y_pred: ArrayLike) -> dict[int, int]:
    """One-to-one map from predicted cluster id to true class id maximising agreement.

    Solved with :func:`scipy.optimize.linear_sum_assignment` on the contingency matrix.

    Args:
        y_true: true class ids, shape ``(n,)``.
        y_pred: predicted cluster ids, shape ``(n,)``.

    Returns:
        ``{cluster_id: class_id}``. When there are more clusters than classes, only
        ``n_classes`` clusters are matched and the **unmatched cluster ids are absent** from
        the dict (their points count as errors); use ``mapping.get(c, fallback)``. When there
        are fewer clusters than classes, some classes receive no cluster.
    """
    t, p = _validate(y_true, y_pred)
    classes, clusters, _, rows, cols = _match(t, p)
    return {int(clusters[c]): int(classes[r]) for r, c in zip(rows, cols, strict=True)}


def cluster_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Clustering accuracy: fraction of points correct under the best one-to-one mapping.

    Args:
        y_true: true class ids, shape ``(n,)``.
        y_pred: predicted cluster ids, shape ``(n,)``.

    Returns:
        Accuracy in ``[0, 1]``.
    """
    t, p = _validate(y_true, y_pred)
    _, _, cont, rows, cols = _match(t, p)
    return float(cont[rows, cols].sum() / t.shape[0])


def nmi(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Normalized mutual information (scikit-learn, arithmetic averaging), in ``[0, 1]``.

    Args:
        y_true: true class ids, shape ``(n,)``.
        y_pred: predicted cluster ids, shape ``(n,)``.
    """
    t, p = _validate(y_true, y_pred)
    return float(normalized_mutual_info_score(t, p))


def ari(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Adjusted Rand index (scikit-learn), at most 1 (can be negative).

    Args:
        y_true: true class ids, shape ``(n,)``.
        y_pred: predicted cluster ids, shape ``(n,)``.
    """
    t, p = _validate(y_true, y_pred)
    return float(adjusted_rand_score(t, p))


def ami(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Adjusted mutual information (scikit-learn, arithmetic averaging), at most 1.

    Args:
        y_true: true class ids (or a first labeling), shape ``(n,)``.
        y_pred: predicted cluster ids, shape ``(n,)``.
    """
    t, p = _validate(y_true, y_pred)
    return float(adjusted_mutual_info_score(t, p))


def _per_class(cont: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> list[float]:
    correct = np.zeros(cont.shape[0], dtype=np.int64)
    correct[rows] = cont[rows, cols]
    return [float(c / s) for c, s in zip(correct, cont.sum(axis=1), strict=True)]


def per_class_accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> list[float]:
    """Per-class recall after the Hungarian mapping.

    Args:
        y_true: true class ids, shape ``(n,)``.
        y_pred: predicted cluster ids, shape ``(n,)``.

    Returns:
        List of length ``k_true``: for each true class id in sorted order, the fraction of
        its points whose cluster is mapped to it (0.0 for a class that received no cluster).
    """
    t, p = _validate(y_true, y_pred)
    _, _, cont, rows, cols = _match(t, p)
    return _per_class(cont, rows, cols)


def evaluate(y_true: ArrayLike, y_pred: ArrayLike) -> dict[str, Any]:
    """All metrics at once.

    Args:
        y_true: true class ids, shape ``(n,)``.
        y_pred: predicted cluster ids, shape ``(n,)``.

    Returns:
        ``{"acc": float, "nmi": float, "ari": float, "per_class_acc": list[float], "n": int}``
        with plain Python types (JSON-serialisable); ``per_class_acc`` follows sorted true ids.
    """
    t, p = _validate(y_true, y_pred)
    _, _, cont, rows, cols = _match(t, p)
    return {
        "acc": float(cont[rows, cols].sum() / t.shape[0]),
        "nmi": float(normalized_mutual_info_score(t, p)),
        "ari": float(adjusted_rand_score(t, p)),
        "per_class_acc": _per_class(cont, rows, cols),
        "n": int(t.shape[0]),
    }
