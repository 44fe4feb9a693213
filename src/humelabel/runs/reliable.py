"""Reliable samples: a few points per class whose found label is very likely right.

Spec, "Reliable samples for semi-supervised learning": a point is reliable when (i) the
majority of the found labelings, after alignment, give it the same class and (ii) the majority
of its nearest neighbours carry that label too. A few reliable points per class turn the
unsupervised problem into a semi-supervised one.

Here (i) is the run agreement of the majority vote (:func:`humelabel.ensemble.majority_vote`)
and (ii) the fraction of the point's ``n_neighbors`` nearest neighbours (itself excluded) whose
voted label equals its own, in a given representation (rows L2-normalised by default, so
Euclidean neighbours are cosine neighbours). Points passing both majorities are ranked within
their class by run agreement + neighbour agreement (higher first); ties (many points agree
fully) are broken by an optional confidence (higher first: ``humelabel reliable
--confidence-spaces`` passes :func:`humelabel.runs.refine.label_confidence`, the
cross-fitted probability of the label given those spaces), then by the mean distance to
the neighbours (denser points first), then by index.

Why the confidence: with 5 runs and 10 neighbours most points of a cluster agree fully, and
the densest of them are not the most typical of the class. Measured on the combinations of
benchmarks/report.py (MiniLM / TF-IDF, 5 seeds; accuracy of 4 / 15 points per class, density
only -> confidence first): AG News 87.5 -> 93.8 / 95.0 -> 96.7, TREC 66.7 -> 83.3 / 63.3 ->
76.7, Banking77 85.0 -> 82.0 / 82.9 -> 82.7, StackOverflow 98.8 -> 100 / 98.3 -> 99.0,
biomedical 73.8 -> 77.5 / 77.7 -> 80.0; on 16 combinations of sets it was not chosen on
(class subsets and the digits demo, 3 seeds each) it changed 4 per class by -2.5 to +56
(median 0) and 15 per class by 0 to +43 (docs/method.md, "From many runs to one
labeling"). The confidence over phi1 alone measured mixed (StackOverflow 98.8 -> 96.2 at 4
per class), so the CLI asks for the spaces and uses none by default.

Opt-in (``humelabel run --reliable-min-agreement X``, ``candidate_agreement`` here): ask every
run fitted (every candidate of every seed, not only the seeds' picks that were voted) to
agree, keeping a point only where at least a share X of them, renamed onto the vote, give it
its label (:func:`candidate_agreement`). A cluster on which the candidates disagree gives
fewer points or none: more of the points are right, fewer classes have one, which is why it
is not the default (docs/method.md, "Reliable samples that every candidate agrees on").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from sklearn.neighbors import NearestNeighbors

from ..analysis.metrics import hungarian_mapping
from ..io import l2_normalize
from .ensemble import alignment_map
from .refine import label_confidence

__all__ = ["MIN_CANDIDATE_AGREEMENT", "NEIGHBORS", "RELIABLE_COLUMNS", "ReliableSamples",
           "candidate_agreement", "neighbor_agreement",
           "plurality_ceiling", "reliable_accuracy", "reliable_rows", "reliable_samples",
           "select_reliable"]

#: Nearest neighbours whose labels a reliable point must mostly share (the default).
NEIGHBORS = 10
#: The share of every fitted run that must give a point its voted label where a
#: ``candidate_agreement`` is given (:func:`candidate_agreement`; ``run
#: --reliable-min-agreement``): with 20 runs (4 candidates, 5 seeds) on 31 sets it raised the
#: mean share right at 4 per cluster from 90.7% to 95.6%, points on 86.5% of the clusters
#: against 99.7% (docs/method.md, "Reliable samples that every candidate agrees on").
MIN_CANDIDATE_AGREEMENT = 0.9
#: Columns of reliable.csv (``humelabel reliable``, ``humelabel run --reliable``).
RELIABLE_COLUMNS = ["index", "label", "run_agreement", "neighbor_agreement", "confidence"]


def neighbor_agreement(x: ArrayLike, labels: ArrayLike, n_neighbors: int = NEIGHBORS, *,
                       normalize: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Label agreement of every point with its nearest neighbours.

    Args:
        x: (n, d) representation in which neighbours are taken.
        labels: (n,) integer labels.
        n_neighbors: neighbours per point (the point itself is excluded), ``1 <= k < n``.
        normalize: L2-normalise the rows of x first (cosine neighbours).

    Returns:
        ``(agreement, mean_distance)``: (n,) float64 fraction of the neighbours with the
        point's label, and (n,) float64 mean Euclidean distance to them.
    """
    arr = np.asarray(x, dtype=np.float32)
    lab = np.asarray(labels)
    if arr.ndim != 2 or lab.shape != (arr.shape[0],):
        raise ValueError(f"x must be (n, d) and labels (n,), got {arr.shape} and {lab.shape}")
    if not 1 <= n_neighbors < arr.shape[0]:
        raise ValueError(f"n_neighbors must be between 1 and n - 1 = {arr.shape[0] - 1}, "
                         f"got {n_neighbors}")
    if normalize:
        arr = l2_normalize(arr)
    # kneighbors() without a query excludes each point from its own neighbours.
    dist, idx = NearestNeighbors(n_neighbors=n_neighbors, algorithm="brute").fit(arr).kneighbors()
    agreement = (lab[idx] == lab[:, None]).mean(axis=1)
    return agreement, dist.mean(axis=1).astype(np.float64)


@dataclass
class ReliableSamples:
    """Selected points, grouped by label and ranked within each label (m points).

    Attributes:
        indices: (m,) int64 row indices.
        labels: (m,) int64 their (voted) labels.
        run_agreement: (m,) float64 fraction of runs agreeing with the vote.
        neighbor_agreement: (m,) float64 fraction of neighbours with the same label.
        counts: (n_classes,) int64 points selected per label (fewer than ``per_class`` where
            a label has too few points passing both majorities).
        eligible: (n_classes,) int64 points per label passing both majorities.
    """

    indices: np.ndarray
    labels: np.ndarray
    run_agreement: np.ndarray
    neighbor_agreement: np.ndarray
    counts: np.ndarray
    eligible: np.ndarray


def candidate_agreement(labelings: Sequence[ArrayLike], labels: ArrayLike,
                        n_classes: int | None = None) -> np.ndarray:
    """(n,) float64: the fraction of ``labelings`` (R of them, each (n,)), each renamed onto
    ``labels`` (n,) by the Hungarian alignment of :func:`humelabel.runs.ensemble.
    alignment_map`, that give each point its label in ``labels``."""
    lab = np.asarray(labels, dtype=np.int64)
    if not len(labelings):
        raise ValueError("need at least one labeling to agree with")
    if n_classes is None:
        n_classes = int(max(lab.max(), *(np.max(run) for run in labelings))) + 1
    agree = np.zeros(lab.shape[0], dtype=np.float64)
    for run in labelings:
        run = np.asarray(run, dtype=np.int64)
        if run.shape != lab.shape:
            raise ValueError(f"every labeling must have shape {lab.shape}, got {run.shape}")
        agree += alignment_map(run, lab, n_classes)[run] == lab
    return agree / len(labelings)


def select_reliable(
    labels: ArrayLike,
    run_agreement: ArrayLike,
    neighbor_agreement: ArrayLike,
    per_class: int,
    *,
    min_run_agreement: float = 0.5,
    min_neighbor_agreement: float = 0.5,
    mean_distance: ArrayLike | None = None,
    confidence: ArrayLike | None = None,
    n_classes: int | None = None,
    candidate_agreement: ArrayLike | None = None,
    min_candidate_agreement: float = MIN_CANDIDATE_AGREEMENT,
) -> ReliableSamples:
    """Keep points with run and neighbour agreement strictly above the thresholds (default: a
    strict majority) and, when ``candidate_agreement`` (n,) is given, at least
    ``min_candidate_agreement`` of it; rank them within their label and keep the top
    ``per_class`` of each.

    Args:
        labels: (n,) voted labels in ``[0, n_classes)``.
        run_agreement: (n,) fraction of aligned runs agreeing with the vote.
        neighbor_agreement: (n,) fraction of nearest neighbours with the same label.
        per_class: points to keep per label (>= 1).
        mean_distance: (n,) optional tie-breaker, smaller first (mean neighbour distance).
        confidence: (n,) optional tie-breaker before ``mean_distance``, higher first (e.g.
            :func:`humelabel.runs.refine.label_confidence`).
        n_classes: number of labels; default the largest label plus one.
    """
    lab = np.asarray(labels)
    n = lab.shape[0]
    runs = np.asarray(run_agreement, dtype=np.float64)
    neigh = np.asarray(neighbor_agreement, dtype=np.float64)
    dist = (np.zeros(n) if mean_distance is None
            else np.asarray(mean_distance, dtype=np.float64))
    conf = (np.zeros(n) if confidence is None
            else np.asarray(confidence, dtype=np.float64))
    cand = (np.ones(n) if candidate_agreement is None
            else np.asarray(candidate_agreement, dtype=np.float64))
    if lab.ndim != 1 or lab.dtype.kind not in "iu":
        raise ValueError(f"labels must be 1-D integers, got shape {lab.shape}, {lab.dtype}")
    for name, arr in (("run_agreement", runs), ("neighbor_agreement", neigh),
                      ("mean_distance", dist), ("confidence", conf),
                      ("candidate_agreement", cand)):
        if arr.shape != (n,):
            raise ValueError(f"{name} must have shape ({n},), got {arr.shape}")
    if per_class < 1:
        raise ValueError(f"per_class must be at least 1, got {per_class}")
    if n_classes is None:
        n_classes = int(lab.max()) + 1 if n else 0
    if n and (lab.min() < 0 or lab.max() >= n_classes):
        raise ValueError(f"labels must be in [0, {n_classes})")
    lab = lab.astype(np.int64)
    ok = (runs > min_run_agreement) & (neigh > min_neighbor_agreement)
    if candidate_agreement is not None:
        ok &= cand >= min_candidate_agreement
    # np.lexsort: the last key is the primary one. Within a label: higher agreement sum first,
    # then higher confidence, then smaller mean distance, then smaller index.
    order = np.lexsort((np.arange(n), dist, -conf, -(runs + neigh), lab))
    order = order[ok[order]]
    chosen, counts = [], np.zeros(n_classes, dtype=np.int64)
    eligible = np.bincount(lab[ok], minlength=n_classes).astype(np.int64)
    for c in range(n_classes):
        members = order[lab[order] == c][:per_class]
        counts[c] = members.size
        chosen.append(members)
    idx = np.concatenate(chosen).astype(np.int64) if chosen else np.zeros(0, dtype=np.int64)
    return ReliableSamples(indices=idx, labels=lab[idx], run_agreement=runs[idx],
                           neighbor_agreement=neigh[idx], counts=counts, eligible=eligible)


def reliable_samples(labels: np.ndarray, agreement: np.ndarray, phi: np.ndarray, per_class: int,
                     *, spaces: Sequence[np.ndarray] = (), n_neighbors: int = NEIGHBORS,
                     normalize: bool = True, min_run_agreement: float = 0.5,
                     min_neighbor_agreement: float = 0.5, n_classes: int | None = None,
                     candidate_agreement: np.ndarray | None = None,
                     min_candidate_agreement: float = MIN_CANDIDATE_AGREEMENT
                     ) -> tuple[ReliableSamples, np.ndarray | None]:
    """The whole selection: neighbour agreement in ``phi`` (n, d), the cross-fitted confidence
    over ``spaces`` ((n, d_i) each; none: no confidence, density breaks ties), then
    :func:`select_reliable` (with ``candidate_agreement`` (n,), its filter). ``labels`` (n,)
    and ``agreement`` (n,) are a combination's (:class:`humelabel.runs.ensemble.Ensemble`).
    Returns the samples and the confidence (n,) or None."""
    neigh, dist = neighbor_agreement(phi, labels, n_neighbors, normalize=normalize)
    confidence = label_confidence(list(spaces), labels) if len(spaces) else None
    picked = select_reliable(labels, agreement, neigh, per_class,
                             min_run_agreement=min_run_agreement,
                             min_neighbor_agreement=min_neighbor_agreement,
                             mean_distance=dist, confidence=confidence, n_classes=n_classes,
                             candidate_agreement=candidate_agreement,
                             min_candidate_agreement=min_candidate_agreement)
    return picked, confidence


def reliable_rows(picked: ReliableSamples, confidence: np.ndarray | None
                  ) -> list[dict[str, int | float | str]]:
    """The rows of reliable.csv (:data:`RELIABLE_COLUMNS`), one per selected point; an empty
    confidence cell where none was computed."""
    return [{"index": int(i), "label": int(c), "run_agreement": float(r),
             "neighbor_agreement": float(a),
             "confidence": "" if confidence is None else float(confidence[i])}
            for i, c, r, a in zip(picked.indices, picked.labels, picked.run_agreement,
                                  picked.neighbor_agreement, strict=True)]


def reliable_accuracy(truth: ArrayLike, labels: ArrayLike, samples: ReliableSamples
                      ) -> dict[str, float | list[float] | int]:
    """Accuracy of the selected points against true labels.

    Cluster ids are mapped to classes by the Hungarian matching of the *whole* labeling
    ``labels`` (n,) to ``truth`` (n,), the matching that the labeling's ACC uses, so the
    accuracy of a handful of points is not flattered by a matching chosen on them alone.

    Returns:
        ``{"accuracy", "n", "per_label_accuracy"}``; per-label values follow label ids
        0..k-1 (NaN where a label has no selected point).
    """
    t = np.asarray(truth)
    mapping = hungarian_mapping(t, np.asarray(labels))
    predicted = np.array([mapping.get(int(c), -(2**62)) for c in samples.labels],
                         dtype=np.int64)
    correct = predicted == t[samples.indices]
    per_label = []
    for c in range(samples.counts.shape[0]):
        sel = samples.labels == c
        per_label.append(float(correct[sel].mean()) if sel.any() else float("nan"))
    return {"accuracy": float(correct.mean()) if correct.size else float("nan"),
            "n": int(correct.size), "per_label_accuracy": per_label}


def plurality_ceiling(truth: ArrayLike, labels: ArrayLike) -> float:
    """Fraction of the clusters of ``labels`` (n,) whose most common true class (``truth``,
    (n,)) is the class the Hungarian matching of the whole labeling gives them.

    A diagnostic of the labeling, not of the selection: it is the accuracy of reliable samples
    that come, equally many per cluster, from each cluster's most common class, which is what
    a ranking by agreement and density tends to pick. A cluster that fails is a split of a
    class matched elsewhere or a mixture, and its typical points are wrong.
    """
    t, lab = np.asarray(truth), np.asarray(labels)
    if t.shape != lab.shape or t.ndim != 1:
        raise ValueError(f"truth and labels must be (n,) alike, got {t.shape} and {lab.shape}")
    mapping = hungarian_mapping(t, lab)
    clusters = np.unique(lab)
    hits = [mapping.get(int(c), None) == _most_common(t[lab == c]) for c in clusters]
    return float(np.mean(hits)) if hits else float("nan")


def _most_common(values: np.ndarray) -> int:
    """The most frequent value of a 1-D int array (the smallest on ties)."""
    uniq, counts = np.unique(values, return_counts=True)
    return int(uniq[np.argmax(counts)])
