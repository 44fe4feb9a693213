"""A classical, model-free text space: TF-IDF on word n-grams, truncated SVD, L2 rows.

This view shares nothing with a neural encoder (no pretraining, only the corpus' own word
statistics), which is what HUME needs from its second space: a labeling that follows one
model's quirks does not carry over to it, while the human labeling does. On TREC the question
words ("what", "who", "where", "how many") carry the classes, so stop words are kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = ["TfidfSettings", "tfidf_embed"]


@dataclass(frozen=True)
class TfidfSettings:
    """Settings of the TF-IDF space (all recorded in the metadata).

    Attributes:
        dim: SVD dimension (capped at what the vocabulary and row count allow).
        ngram_max: word n-grams from 1 to ``ngram_max``.
        min_df: ignore n-grams found in fewer documents.
        sublinear_tf: use 1 + log(tf).
        random_state: seed of the randomized SVD.
    """

    dim: int = 300
    ngram_max: int = 2
    min_df: int = 2
    sublinear_tf: bool = True
    random_state: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def tfidf_embed(
    texts: list[str], settings: TfidfSettings = TfidfSettings()
) -> tuple[np.ndarray, dict[str, Any]]:
    """Embed ``texts`` (n,) into an (n, d) float32 matrix with L2-normalised rows.

    scikit-learn's ``TfidfVectorizer`` (lower-cased, accents stripped, word n-grams) followed by
    ``TruncatedSVD`` (randomized, seeded) and ``Normalizer``. ``d = min(dim, vocabulary - 1,
    n - 1)``; with a vocabulary of one term or a single text the TF-IDF matrix is used as is.

    Returns:
        ``(matrix (n, d), info)``; info holds the vocabulary size, the SVD dimension used and
        the variance it explains.

    Raises:
        ValueError: no n-gram survives ``min_df`` (e.g. texts without words).
    """
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.preprocessing import normalize

    n = len(texts)
    vectorizer = TfidfVectorizer(
        lowercase=True, strip_accents="unicode", ngram_range=(1, settings.ngram_max),
        min_df=min(settings.min_df, n), sublinear_tf=settings.sublinear_tf, dtype=np.float32,
    )
    counts = vectorizer.fit_transform(texts)
    vocabulary = counts.shape[1]
    dim = min(settings.dim, vocabulary - 1, n - 1)
    info: dict[str, Any] = {"vocabulary": int(vocabulary), "dim_requested": settings.dim}
    if dim >= 1:
        svd = TruncatedSVD(n_components=dim, algorithm="randomized", n_iter=7,
                           random_state=settings.random_state)
        reduced = svd.fit_transform(counts)
        info["explained_variance"] = float(svd.explained_variance_ratio_.sum())
    else:
        reduced = counts.toarray()
        dim = vocabulary
    info["dim"] = int(dim)
    matrix = normalize(np.asarray(reduced, dtype=np.float32), norm="l2")
    return matrix.astype(np.float32, copy=False), info
