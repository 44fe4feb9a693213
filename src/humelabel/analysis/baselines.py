"""Reference points for HUME: k-means (the floor) and a supervised linear probe (the ceiling).

Both use scikit-learn; the probe needs true labels and is a ceiling, never a competitor.
"""

from __future__ import annotations

import numpy as np
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ..io import l2_normalize


def kmeans_labels(x: np.ndarray, n_classes: int, *, normalize: bool = True,
                  random_state: int = 0, n_init: int = 10) -> np.ndarray:
    """k-means cluster ids (n,) of x (n, d); rows L2-normalised first when ``normalize``."""
    x = np.asarray(x, dtype=np.float32)
    if normalize:
        x = l2_normalize(x)
    model = KMeans(n_classes, n_init=n_init, random_state=random_state)
    return model.fit_predict(x).astype(np.int64)


def linear_probe_labels(x: np.ndarray, labels: np.ndarray, *, x_eval: np.ndarray | None = None,
                        labels_eval: np.ndarray | None = None, normalize: bool = True,
                        folds: int = 5, c: float = 10.0, random_state: int = 0) -> np.ndarray:
    """Supervised linear-probe predictions (uses the true labels: a ceiling).

    Inductive (``x_eval`` given): train on (x, labels), predict x_eval. Transductive:
    ``folds``-fold stratified cross-validated predictions over all rows of x.
    """
    del labels_eval  # accepted for symmetry with the inductive protocol; not needed to predict

    def prep(a: np.ndarray) -> np.ndarray:
        a = np.asarray(a, dtype=np.float32)
        return l2_normalize(a) if normalize else a

    model = LogisticRegression(C=c, max_iter=2000)
    if x_eval is not None:
        return model.fit(prep(x), labels).predict(prep(x_eval)).astype(np.int64)
    cv = StratifiedKFold(folds, shuffle=True, random_state=random_state)
    return cross_val_predict(model, prep(x), labels, cv=cv).astype(np.int64)
