import numpy as np

from humelabel.analysis.baselines import kmeans_labels, linear_probe_labels
from humelabel.analysis.metrics import cluster_accuracy


def test_kmeans_and_probe_on_separable_blobs():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    x = np.eye(3)[labels] * 5 + rng.normal(size=(300, 3))
    assert cluster_accuracy(labels, kmeans_labels(x, 3, normalize=False)) > 0.95
    assert (linear_probe_labels(x, labels, normalize=False) == labels).mean() > 0.95
    pred = linear_probe_labels(x[:200], labels[:200], x_eval=x[200:], normalize=False)
    assert pred.shape == (100,) and (pred == labels[200:]).mean() > 0.95
