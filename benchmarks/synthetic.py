"""Synthetic two-view data of any size for speed and memory benchmarks (not for accuracy).

Rows belong to k random classes; phi1 and phi2 are noisy class means in two different random
embeddings, so the search has something to find. Written chunk by chunk straight into .npy
files (float16 by default), so a million rows never sit in memory at once.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CHUNK = 50_000


def write_two_view(folder: str | Path, n: int, d1: int = 384, d2: int = 768, k: int = 10,
                   dtype: str = "float16", seed: int = 0) -> tuple[Path, Path, Path]:
    """Write phi1.npy (n, d1), phi2.npy (n, d2), labels.npy (n,) into ``folder``; return paths."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    means1 = rng.normal(size=(k, d1)) / np.sqrt(d1) * 3
    means2 = rng.normal(size=(k, d2)) / np.sqrt(d2) * 3
    paths = folder / "phi1.npy", folder / "phi2.npy", folder / "labels.npy"
    phi1 = np.lib.format.open_memmap(paths[0], mode="w+", dtype=dtype, shape=(n, d1))
    phi2 = np.lib.format.open_memmap(paths[1], mode="w+", dtype=dtype, shape=(n, d2))
    labels = rng.integers(0, k, size=n)
    for start in range(0, n, CHUNK):
        rows = slice(start, min(start + CHUNK, n))
        m = rows.stop - rows.start
        phi1[rows] = means1[labels[rows]] + rng.normal(size=(m, d1)) / np.sqrt(d1)
        phi2[rows] = means2[labels[rows]] + rng.normal(size=(m, d2)) / np.sqrt(d2)
    phi1.flush()
    phi2.flush()
    del phi1, phi2
    np.save(paths[2], labels.astype(np.int64))
    return paths
