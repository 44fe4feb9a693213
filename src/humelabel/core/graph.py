"""phi1's neighbourhood graph as a phi2 space: the spectral embedding of its k-NN graph.

HUME asks a labeling to generalize in a second space. Its search defines the labeling in phi1
but never asks it to respect phi1's own neighbourhoods, so where the second view is weak (the
word TF-IDF of short, fine-grained intents) the search prefers lexical splits that cut
through phi1's clusters. This view adds that requirement in HUME's own terms: the rows of the
leading eigenvectors of phi1's normalised k-nearest-neighbour graph (Ng, Jordan & Weiss's
spectral embedding), on which a linear classifier generalizes exactly when the labeling
follows the graph. Added as one more phi2 space (``HUME(graph_neighbors=30)``), the
generalization term averages it with the others.

Shapes: phi1 (n, d1) -> view (n, m), float32 rows of unit norm.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from scipy.sparse.linalg import eigsh

from ..io import l2_normalize

__all__ = ["GRAPH_DIM_MAX", "GRAPH_DIM_MIN", "graph_dim", "knn_indices", "spectral_view"]

#: Dimension of the view: twice the number of classes, within these bounds (and below n - 1).
GRAPH_DIM_MIN = 20
GRAPH_DIM_MAX = 200
#: Similarities held at once when finding neighbours (256 MiB of float32).
_CHUNK_ENTRIES = 1 << 26


def graph_dim(n_classes: int, n_rows: int) -> int:
    """m = 2 k, clipped to [GRAPH_DIM_MIN, GRAPH_DIM_MAX] and to n - 2 (the eigensolver)."""
    return max(1, min(max(2 * n_classes, GRAPH_DIM_MIN), GRAPH_DIM_MAX, n_rows - 2))


def knn_indices(x: np.ndarray, n_neighbors: int) -> np.ndarray:
    """The ``n_neighbors`` nearest rows of each row of x (n, d) by cosine similarity, the row
    itself excluded: (n, n_neighbors) int64, nearest first.

    Exact, by chunked matrix products in torch (float32): scikit-learn's brute-force search
    computes the same in float64 at several times the cost and memory.
    """
    t = torch.from_numpy(l2_normalize(np.asarray(x, dtype=np.float32)))
    n = t.shape[0]
    chunk = max(1, min(n, _CHUNK_ENTRIES // n))
    out = torch.empty((n, n_neighbors), dtype=torch.int64)
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        sim = t[start:stop] @ t.T
        sim[torch.arange(stop - start), torch.arange(start, stop)] = -torch.inf
        out[start:stop] = sim.topk(n_neighbors, dim=1).indices
    return out.numpy()


def _normalized_adjacency(neighbors: np.ndarray) -> sp.csr_matrix:
    """D^-1/2 A D^-1/2 of the symmetrised, unweighted k-NN graph (n, n)."""
    n, k = neighbors.shape
    rows = np.repeat(np.arange(n), k)
    adjacency = sp.csr_matrix((np.ones(n * k), (rows, neighbors.ravel())), shape=(n, n))
    adjacency = ((adjacency + adjacency.T) > 0).astype(np.float64)
    inv_sqrt = 1.0 / np.sqrt(np.asarray(adjacency.sum(axis=1)).ravel())
    return sp.diags(inv_sqrt) @ adjacency @ sp.diags(inv_sqrt)


def spectral_view(x: np.ndarray, n_neighbors: int, dim: int, *,
                  random_state: int = 0) -> np.ndarray:
    """The spectral embedding of x's k-NN graph: x (n, d) -> (n, dim) float32, unit rows.

    The eigenvectors of the ``dim`` largest eigenvalues of the normalised adjacency
    (``scipy.sparse.linalg.eigsh``, started from a seeded vector, so the view is the same for
    the same input), rows L2-normalised. Signs and rotations within repeated eigenvalues are
    arbitrary, and a linear classifier with bias does not see them.

    Raises:
        ValueError: fewer than 3 rows, n_neighbors outside 1..n - 1, dim outside 1..n - 2.
    """
    n = x.shape[0]
    if n < 3:
        raise ValueError(f"the graph view needs at least 3 rows, got {n}")
    if not 1 <= n_neighbors <= n - 1:
        raise ValueError(f"graph_neighbors must be between 1 and n - 1 = {n - 1}, got "
                         f"{n_neighbors}")
    if not 1 <= dim <= n - 2:
        raise ValueError(f"the graph view's dimension must be between 1 and n - 2 = {n - 2}, "
                         f"got {dim}")
    operator = _normalized_adjacency(knn_indices(x, n_neighbors))
    if n <= 4 * dim + 64:  # small graphs: the dense solver is faster and always converges
        _, vectors = np.linalg.eigh(operator.toarray())
        vectors = vectors[:, ::-1][:, :dim]
    else:
        start = np.random.default_rng(random_state).standard_normal(n)
        _, vectors = eigsh(operator, k=dim, which="LA", v0=start)
        vectors = vectors[:, ::-1]
    return l2_normalize(np.ascontiguousarray(vectors, dtype=np.float32))
