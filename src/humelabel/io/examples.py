"""A built-in real example: scikit-learn's handwritten digits seen through two representations.

No download is needed: the digits ship with scikit-learn (1,797 images of 8x8 pixels,
10 classes). The two spaces are derived from the same images in different ways, standing
in for two pretrained models:
  phi1 (1797, 64): the raw pixel intensities (scaled to [0, 1]); the estimator L2-normalises.
  phi2 (1797, 400): an RBF-kernel feature map of the pixels (Nystroem approximation), a
      non-linear view in which the digit classes are closer to linearly separable.
"""

from __future__ import annotations

import numpy as np
from sklearn.datasets import load_digits
from sklearn.kernel_approximation import Nystroem

#: Settings for the demo that fit a laptop CPU in about a minute (the ``paper`` preset's
#: 1000 x 20 x 300 unrolled inner steps would take hours there).
DEMO_SETTINGS = dict(
    preset="paper",  # the unrolled solver of the paper, at CPU-sized settings
    tau=0.3, outer_lr=0.01, inner_lr=0.01, iterations=150, inner_steps=30, num_subsets=2,
    anneal=False,
)


def digits_two_views(random_state: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return (phi1 (1797, 64), phi2 (1797, 400), labels (1797,)) for the digits data."""
    x, y = load_digits(return_X_y=True)
    phi1 = (x / 16.0).astype(np.float32)
    kernel_map = Nystroem(gamma=0.02, n_components=400, random_state=random_state)
    phi2 = kernel_map.fit_transform(phi1).astype(np.float32)
    return phi1, phi2, y.astype(np.int64)
