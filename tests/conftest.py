"""Shared fixtures: small synthetic two-view data and the shared benchmark folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

SHARED_TEXT = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "text"


def spurious_two_view(
    n: int = 600, n_classes: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two views in which phi1 has a dominant spurious split that misleads k-means.

    phi1 (n, 12): a strong binary "style" feature unrelated to the classes (scale 4), plus a
    weaker class signal (one-hot class means, scale 1.5) and noise. k-means on phi1 splits by
    style; the classes are still linearly separable in phi1. phi2 (n, 16): the classes
    clearly, another unrelated nuisance, no trace of phi1's style.
    Returns (phi1, phi2, labels).
    """
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, n_classes, size=n)
    style = rng.integers(0, 2, size=n)
    class_dirs1 = np.zeros((n_classes, 12))
    class_dirs1[np.arange(n_classes), np.arange(n_classes)] = 1.5
    phi1 = class_dirs1[labels] + rng.normal(scale=0.3, size=(n, 12))
    phi1[:, 10] += 4.0 * (2 * style - 1)
    phi1[:, 11] += 4.0 * (2 * rng.integers(0, 2, size=n) - 1)
    class_dirs2 = rng.normal(size=(n_classes, 16)) * 2.0
    phi2 = class_dirs2[labels] + rng.normal(scale=0.5, size=(n, 16))
    phi2[:, 0] += 3.0 * rng.normal(size=n)
    return phi1.astype(np.float32), phi2.astype(np.float32), labels.astype(np.int64)


@pytest.fixture
def two_view():
    return spurious_two_view()


def shared_text(name: str) -> Path:
    path = SHARED_TEXT / name
    if not (path / "minilm.npy").exists():
        pytest.skip(f"shared data {path} not available")
    return path
