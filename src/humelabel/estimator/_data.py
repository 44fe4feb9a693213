"""Input handling of the estimator: validation, phi2 scaling, several phi2 spaces, tensors.

Representations are validated and transformed in chunks of rows, so that a float16
memory-mapped input of a million rows is never copied whole into float32.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from sklearn.utils.validation import check_array

from ..core.encoder import centroid_init
from ..core.graph import graph_dim, spectral_view
from ..io.arrays import first_nonfinite_row

PHI2_SCALINGS = ("global", "none")
#: Storage precision of the representations ("auto": float16 inputs stay float16).
DTYPES = ("auto", "float32", "float16")
#: Task-encoder initialisations: a random orthogonal matrix (the paper) or the orthonormalised
#: centroids of a k-means labeling of phi1 (``HUME(init=...)`` also takes a labeling).
INITS = ("random", "kmeans")
#: Rows of phi1 (at most) that the k-means start is fitted on.
KMEANS_INIT_ROWS = 20000
_FLOATS = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))
CHUNK_ROWS = 65536


class Spaces:
    """Several phi2 spaces of the same rows, e.g. ``HUME(k).fit(phi1, Spaces(mpnet, tfidf))``.

    Each space (n, d2_s) gets its own linear model on every split and the generalization term
    of the objective is the mean over the spaces (an extension of the paper). A plain list or
    nested list is never read as several spaces: it is one array (validated by
    ``sklearn.utils.check_array``).
    """

    def __init__(self, *spaces: Any):
        if not spaces:
            raise ValueError("Spaces needs at least one phi2 space")
        self.spaces = tuple(spaces)

    def __len__(self) -> int:
        return len(self.spaces)

    def __iter__(self) -> Iterator[Any]:
        return iter(self.spaces)

    def __getitem__(self, index: int) -> Any:
        return self.spaces[index]

    def __repr__(self) -> str:
        shapes = ", ".join(str(getattr(s, "shape", type(s).__name__)) for s in self.spaces)
        return f"Spaces({shapes})"


def chunks(n: int, size: int = CHUNK_ROWS) -> list[slice]:
    """Row slices of at most ``size`` rows covering range(n)."""
    return [slice(start, min(start + size, n)) for start in range(0, n, size)]


def check_matrix(x: Any, name: str) -> np.ndarray:
    """x as a 2-D float array (no copy for float16/32/64 ndarrays and memmaps), finite."""
    if not (isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype in _FLOATS) or 0 in x.shape:
        return check_array(x, dtype=np.float32, input_name=name)  # sklearn's messages
    row = first_nonfinite_row(x)
    if row is not None:
        raise ValueError(f"{name} contains NaN or infinity (first in row {row})")
    return x


def check_spaces(phi2: Any, name: str) -> list[tuple[str, np.ndarray]]:
    """One phi2 array, or a :class:`Spaces` of them: [(name, array), ...]."""
    if not isinstance(phi2, Spaces):
        return [(name, check_matrix(phi2, name))]
    return [(f"{name}[{i}]", check_matrix(x, f"{name}[{i}]")) for i, x in enumerate(phi2)]


def check_eval_pair(phi1_eval: Any, phi2_eval: Any, x1: np.ndarray,
                    x2s: list[tuple[str, np.ndarray]], multi: bool) -> np.ndarray | None:
    """phi1_eval checked (m, d1) (None without an evaluation pair), or ValueError: phi2_eval
    (m, d2) or ``Spaces`` exactly when phi2 is, as many spaces as phi2, matching rows and
    the fit data's feature dimensions."""
    if phi1_eval is None:
        return None
    x1_eval = check_matrix(phi1_eval, "phi1_eval")
    if isinstance(phi2_eval, Spaces) != multi:
        raise ValueError("give phi2_eval as Spaces exactly when phi2 is Spaces")
    x2_evals = check_spaces(phi2_eval, "phi2_eval")
    if len(x2_evals) != len(x2s):
        raise ValueError(f"phi2_eval has {len(x2_evals)} spaces but phi2 has {len(x2s)}")
    for (name, x2_eval), (_, x2) in zip(x2_evals, x2s, strict=True):
        if x1_eval.shape[0] != x2_eval.shape[0]:
            raise ValueError(f"phi1_eval has {x1_eval.shape[0]} rows but {name} has "
                             f"{x2_eval.shape[0]}")
        if x1_eval.shape[1] != x1.shape[1] or x2_eval.shape[1] != x2.shape[1]:
            raise ValueError("evaluation features must have the same dimensions as "
                             "phi1/phi2")
    return x1_eval


def check_labelings(labelings: Any, n: int) -> list[np.ndarray]:
    """Each hard labeling as int64 (n,), or ValueError (not integers, wrong shape, < 0)."""
    checked = []
    for labels in labelings:
        labels = np.asarray(labels)
        if labels.shape != (n,) or labels.dtype.kind not in "iu":
            raise ValueError(f"labels must be integers of shape ({n},), got "
                             f"{labels.dtype} {labels.shape}")
        if labels.min() < 0:
            raise ValueError("labels must be non-negative class ids")
        checked.append(labels.astype(np.int64))
    return checked


def graph_space(phi1: np.ndarray, n_neighbors: int, n_classes: int) -> np.ndarray:
    """phi1's graph view (n, m) for ``graph_neighbors``: :func:`humelabel.core.graph.
    spectral_view` with m = :func:`humelabel.core.graph.graph_dim` (n_classes, n)."""
    return spectral_view(phi1, n_neighbors, graph_dim(n_classes, phi1.shape[0]))


def kmeans_init(rows_of: Any, x1: np.ndarray, n_classes: int, seed: int) -> torch.Tensor:
    """Task-encoder rows (k, d1) from the k-means centroids of phi1 (scikit-learn's KMeans)
    on at most KMEANS_INIT_ROWS random rows, prepared by ``rows_of`` (the estimator's phi1
    normalisation)."""
    from sklearn.cluster import KMeans

    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(x1.shape[0], min(x1.shape[0], KMEANS_INIT_ROWS), replace=False))
    sample = rows_of(x1[rows])
    kmeans = KMeans(n_classes, n_init=3, random_state=seed % (2**32))
    labels = torch.from_numpy(kmeans.fit_predict(sample).astype(np.int64))
    return centroid_init(torch.from_numpy(sample), labels, n_classes)


def labels_init(rows_of: Any, x1: np.ndarray, labels: np.ndarray, n_classes: int
                ) -> torch.Tensor:
    """Task-encoder rows (k, d1): the class means of phi1 (n, d1), prepared by ``rows_of``,
    under ``labels`` (n,) int64; summed chunk by chunk (phi1 may be a large memory map)."""
    sums = torch.zeros(n_classes, x1.shape[1], dtype=torch.float32)
    for rows in chunks(x1.shape[0]):
        sums.index_add_(0, torch.from_numpy(labels[rows]),
                        torch.from_numpy(np.ascontiguousarray(rows_of(x1[rows]))))
    counts = torch.from_numpy(np.bincount(labels, minlength=n_classes)).clamp_min(1)
    return sums / counts[:, None].float()


def phi2_scaling_of(phi2: np.ndarray, mode: str) -> tuple[np.ndarray, np.float32]:
    """The ``phi2_scaling`` of phi2 (n, d2): centre (d2,) float32 and one scalar factor.

    ``"global"``: the column means, and the factor that makes the mean squared row norm of the
    centred rows equal d2; ``"none"``: zeros and 1. Computed in chunks of rows.
    """
    n, d = phi2.shape
    if mode == "none":
        return np.zeros(d, dtype=np.float32), np.float32(1.0)
    total = np.zeros(d)
    for rows in chunks(n):
        total += phi2[rows].sum(axis=0, dtype=np.float64)
    center = total / n
    sq_norm = sum(float(((phi2[rows] - center) ** 2).sum()) for rows in chunks(n))
    return center.astype(np.float32), np.float32(np.sqrt(d / max(sq_norm / n, 1e-12)))


def scaled(center: np.ndarray, factor: np.float32) -> Any:
    """The transform rows -> (rows - center) * factor, as float32 (for chunked conversion)."""

    def transform(rows: np.ndarray) -> np.ndarray:
        return (np.asarray(rows, dtype=np.float32) - center) * factor

    return transform


def storage_dtype(dtype: str, x: np.ndarray) -> torch.dtype:
    """The torch storage dtype of x (n, d) under the estimator's ``dtype`` parameter."""
    if dtype == "auto":
        return torch.float16 if x.dtype == np.float16 else torch.float32
    return {"float32": torch.float32, "float16": torch.float16}[dtype]


class MappedRows:
    """Rows of a memory-mapped array, transformed when read: the search's view of a memmap.

    Stands in for the (n, d) float tensor of the transformed rows without copying the file
    into memory: ``rows[idx]`` (an int64 index tensor or array) reads those rows (in file
    order), applies ``transform`` and returns a float32 tensor. Only row gathers are supported
    (the search and the inner solvers read nothing else).
    """

    dtype = torch.float32

    def __init__(self, x: np.ndarray, transform: Any):
        self.x, self.transform = x, transform
        self.shape = torch.Size(x.shape)
        self.device = torch.device("cpu")

    def __getitem__(self, idx: Any) -> torch.Tensor:
        idx = np.asarray(idx.cpu() if isinstance(idx, torch.Tensor) else idx, dtype=np.int64)
        order = np.argsort(idx, kind="stable")
        rows = np.asarray(self.transform(self.x[idx[order]]), dtype=np.float32)
        out = np.empty_like(rows)
        out[order] = rows
        return torch.from_numpy(out)

    def __repr__(self) -> str:
        return f"MappedRows({tuple(self.shape)}, {self.x.dtype})"


def to_tensor(x: np.ndarray, transform: Any, dtype: torch.dtype,
              device: torch.device) -> torch.Tensor | MappedRows:
    """transform(x) chunk by chunk into a tensor of ``dtype`` on ``device``, shape of x.

    A memory-mapped x on the CPU is not copied: it becomes :class:`MappedRows`, which reads
    and transforms the rows the search gathers (float32) when it gathers them.
    """
    if isinstance(x, np.memmap) and device.type == "cpu":
        return MappedRows(x, transform)
    out = torch.empty(x.shape, dtype=dtype, device=device)
    for rows in chunks(x.shape[0]):
        out[rows] = torch.from_numpy(np.ascontiguousarray(transform(x[rows])))
    return out
