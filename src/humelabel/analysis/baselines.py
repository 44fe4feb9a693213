"""Reference points for HUME: k-means (the floor) and two supervised ceilings.

k-means and the linear probe use scikit-learn. The probe and the task-encoder fit need the
true labels and are ceilings, never competitors: the probe is the best linear labeling of a
space, the task-encoder fit the labeling nearest to the truth that HUME's search space (an
orthonormal linear map, argmax) can hold.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from ..core.encoder import TaskEncoder
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


def task_encoder_labels(phi1: np.ndarray, labels: np.ndarray, *, normalize: bool = True,
                        steps: int = 500, lr: float = 0.01, logit_scale: float = 30.0,
                        random_state: int = 0) -> np.ndarray:
    """The truth as HUME's search space can hold it: argmax labels (n,) of the orthonormal
    task encoder (paper Eq. 3) fitted to the true ``labels`` (n,) on phi1 (n, d1).

    The encoder is trained by full-batch Adam on the cross-entropy of ``logit_scale`` x its
    logits (orthonormal rows bound the logits, so a scale is needed to fit sharply). Uses the
    labels: a ceiling and a diagnostic (is the truth's objective limited by phi1?), never a
    competitor. Written here rather than with scikit-learn because no scikit-learn estimator
    keeps HUME's orthonormality constraint.
    """
    x = np.asarray(phi1, dtype=np.float32)
    if normalize:
        x = l2_normalize(x)
    classes, y = np.unique(np.asarray(labels), return_inverse=True)
    generator = torch.Generator().manual_seed(random_state)
    encoder = TaskEncoder(x.shape[1], classes.size, generator)
    inputs, targets = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))
    optimizer = torch.optim.Adam(encoder.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad(set_to_none=True)
        loss = torch.nn.functional.cross_entropy(logit_scale * encoder.logits(inputs), targets)
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return encoder.hard_labels(inputs).numpy().astype(np.int64)
