"""Does the HUME objective track the distance to the human labeling? (the paper's Fig. 3).

Labelings at controlled distances from the truth are built four ways: reassigning a growing
random fraction of points to random classes; merging pairs of classes (fewer classes);
splitting classes in two along their own 2-means split in phi1 (more classes: plausible,
compact but wrong); and both at once, a merge and a split per step, which keeps the number of
classes at k. Each is scored with the search's own objective (Eq. 7 on hard labels, averaged
over the same seeded splits, :meth:`humelabel.estimator.HUME.score_labelings`), and the
Pearson correlation between objective and distance (1 - Hungarian-matched accuracy) is
reported over all labelings, over the k-class ones (reassigned and merged+split: the
labelings a k-class search can reach; the headline number) and per family. The paper
measures rho = 0.93 on CIFAR-10.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.cluster import KMeans

from ..estimator import HUME, Spaces
from ..io import l2_normalize
from .metrics import cluster_accuracy, nmi

#: Default fractions of reassigned points.
DEFAULT_FRACTIONS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
FAMILIES = ("reassign", "merge", "split", "merge+split")
#: Families whose labelings keep the number of classes at k.
K_CLASS_FAMILIES = ("reassign", "merge+split")


@dataclass
class Perturbation:
    """One labeling near the truth: how it was made and its labels (n,) int64 (0..k'-1)."""

    family: str
    amount: float
    repeat: int
    labels: np.ndarray


#: Terms of the objective correlated with the distance: the whole Eq. 7 loss, and its
#: generalization part alone (without the entropy regulariser).
TERMS = ("loss", "generalization")


@dataclass
class CorrelationResult:
    """Per-labeling records and the correlations between objective and distance.

    ``stats[term][group]`` holds n, pearson, pearson_p, spearman, spearman_p for each term of
    :data:`TERMS` and group ``"k_classes"`` (labelings with k classes), ``"all"`` or a family
    of :data:`FAMILIES`.
    """

    records: list[dict[str, Any]]
    stats: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    @property
    def pearson(self) -> float:
        """Pearson rho of the whole objective and the distance over the k-class labelings."""
        return self.stats["loss"]["k_classes"]["pearson"]

    @property
    def pearson_p(self) -> float:
        return self.stats["loss"]["k_classes"]["pearson_p"]


def _consecutive(labels: np.ndarray) -> np.ndarray:
    return np.unique(labels, return_inverse=True)[1].astype(np.int64)


def reassigned(truth: np.ndarray, fraction: float, rng: np.random.Generator) -> np.ndarray:
    """truth (n,) with round(fraction * n) random points given a uniformly random class."""
    k = int(truth.max()) + 1
    out = truth.copy()
    rows = rng.choice(truth.size, int(round(fraction * truth.size)), replace=False)
    out[rows] = rng.integers(0, k, rows.size)
    return out


def merged(truth: np.ndarray, merges: int, rng: np.random.Generator) -> np.ndarray:
    """truth (n,) with ``merges`` random pairs of classes merged one after another."""
    out = truth.copy()
    for _ in range(merges):
        a, b = rng.choice(np.unique(out), 2, replace=False)
        out[out == b] = a
    return _consecutive(out)


def _halve(labels: np.ndarray, cls: int, new_id: int, phi1: np.ndarray,
           rng: np.random.Generator) -> None:
    """In place: the rows of class ``cls`` on one side of their 2-means split in phi1 get
    ``new_id``."""
    rows = np.flatnonzero(labels == cls)
    x = l2_normalize(phi1[rows])
    halves = KMeans(2, n_init=3, random_state=int(rng.integers(2**31))).fit_predict(x)
    labels[rows[halves == 1]] = new_id


def split(truth: np.ndarray, phi1: np.ndarray, splits: int, rng: np.random.Generator) -> np.ndarray:
    """truth (n,) with ``splits`` random classes cut in two by 2-means on their rows of phi1
    (n, d1)."""
    out = truth.copy()
    next_id = int(truth.max()) + 1
    candidates = np.flatnonzero(np.bincount(truth) >= 4)
    for cls in rng.choice(candidates, min(splits, candidates.size), replace=False):
        _halve(out, int(cls), next_id, phi1, rng)
        next_id += 1
    return out


def merged_and_split(truth: np.ndarray, phi1: np.ndarray, steps: int,
                     rng: np.random.Generator) -> np.ndarray:
    """truth (n,) after ``steps`` times: merge a random pair of classes, then cut another
    class in two along its 2-means split in phi1 (n, d1). The number of classes stays k."""
    out = truth.copy()
    for _ in range(steps):
        a, b = (int(c) for c in rng.choice(np.unique(out), 2, replace=False))
        out[out == b] = a
        sizes = np.bincount(out, minlength=int(truth.max()) + 1)
        candidates = [c for c in np.flatnonzero(sizes >= 4) if c != a]
        if not candidates:
            break
        _halve(out, int(rng.choice(candidates)), b, phi1, rng)
    return out


def perturbed_labelings(
    truth: np.ndarray,
    phi1: np.ndarray,
    *,
    fractions: Sequence[float] = DEFAULT_FRACTIONS,
    max_merges: int = 4,
    max_splits: int = 4,
    repeats: int = 3,
    seed: int = 0,
) -> list[Perturbation]:
    """Labelings at controlled distances from truth (n,) (which must use ids 0..k-1).

    Reassign every fraction in ``fractions``; merge 1..max_merges pairs of classes (while at
    least two classes remain); split 1..max_splits classes; merge a pair and split a class
    1..max_merges times (k classes; needs k >= 3). Each random one ``repeats`` times (the
    unperturbed truth, fraction 0, once).
    """
    truth = np.asarray(truth, dtype=np.int64)
    k = int(truth.max()) + 1
    rng = np.random.default_rng(seed)
    out: list[Perturbation] = []
    for fraction in fractions:
        for rep in range(1 if fraction == 0 else repeats):
            out.append(Perturbation("reassign", float(fraction), rep,
                                    reassigned(truth, fraction, rng)))
    for merges in range(1, min(max_merges, k - 2) + 1):
        for rep in range(repeats):
            out.append(Perturbation("merge", float(merges), rep, merged(truth, merges, rng)))
    for splits in range(1, min(max_splits, k) + 1):
        for rep in range(repeats):
            out.append(Perturbation("split", float(splits), rep,
                                    split(truth, phi1, splits, rng)))
    for steps in range(1, (max_merges if k >= 3 else 0) + 1):
        for rep in range(repeats):
            out.append(Perturbation("merge+split", float(steps), rep,
                                    merged_and_split(truth, phi1, steps, rng)))
    return out


def _correlations(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float]:
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return (float("nan"),) * 4
    r, p = pearsonr(x, y)
    s, sp = spearmanr(x, y)
    return float(r), float(p), float(s), float(sp)


def correlation_analysis(
    phi1: np.ndarray,
    phi2: np.ndarray | Spaces,
    truth: np.ndarray,
    model: HUME,
    *,
    num_splits: int = 10,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
    **perturbation: Any,
) -> CorrelationResult:
    """Score labelings near ``truth`` (n,) with ``model``'s objective on phi2 (n, d2), or on
    several phi2 spaces (:class:`humelabel.Spaces`), and correlate the objective with the
    distance to the truth.

    ``model`` is a (fitted or unfitted) :class:`HUME` whose hyperparameters define the
    objective; ``perturbation`` goes to :func:`perturbed_labelings` (phi1 (n, d1) is used for
    class splits). Labelings are scored in batches so ``progress(done, total)`` can report.
    """
    truth = np.asarray(truth, dtype=np.int64)
    labelings = perturbed_labelings(truth, phi1, seed=seed, **perturbation)
    objectives: list[dict[str, float]] = []
    batch = 8
    for start in range(0, len(labelings), batch):
        chunk = [p.labels for p in labelings[start:start + batch]]
        objectives += model.score_labelings(phi2, chunk, num_splits=num_splits, seed=seed)
        if progress is not None:
            progress(len(objectives), len(labelings))
    records = []
    for p, objective in zip(labelings, objectives, strict=True):
        acc = cluster_accuracy(truth, p.labels)
        records.append({"family": p.family, "amount": p.amount, "repeat": p.repeat,
                        "classes": int(p.labels.max()) + 1, "acc": acc,
                        "distance": 1.0 - acc, "nmi": nmi(truth, p.labels), **objective})
    stats = {term: group_correlations(records, np.array([r[term] for r in records]))
             for term in TERMS}
    return CorrelationResult(records, stats)


def group_correlations(records: Sequence[dict[str, Any]],
                       values: np.ndarray) -> dict[str, dict[str, float]]:
    """Correlations of ``values`` (one per record, e.g. a recombined loss) with the records'
    distance to the truth, per group: ``"k_classes"``, ``"all"`` and each family present.

    Each group maps to n, pearson, pearson_p, spearman, spearman_p (NaN where undefined).
    """
    distance = np.array([r["distance"] for r in records])
    groups = {"k_classes": np.array([r["family"] in K_CLASS_FAMILIES for r in records]),
              "all": np.ones(len(records), dtype=bool)}
    groups |= {family: np.array([r["family"] == family for r in records])
               for family in FAMILIES}
    out = {}
    for group, mask in groups.items():
        if mask.any():
            r, p, s, sp = _correlations(distance[mask], values[mask])
            out[group] = {"n": int(mask.sum()), "pearson": r, "pearson_p": p,
                          "spearman": s, "spearman_p": sp}
    return out
