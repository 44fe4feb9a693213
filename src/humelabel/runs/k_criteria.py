"""The agreement criteria that score a candidate k in :func:`humelabel.runs.choose_k.choose_k`:
ARI between runs (``cross_view``), and seed AMI x cross-view ARI (``joint``)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np

from ..analysis.metrics import ami, ari

__all__ = ["criterion_terms", "joint_score", "stability"]


def stability(labelings: Sequence[np.ndarray]) -> tuple[float, float]:
    """(mean, min) adjusted Rand index over all pairs of the labelings (each (n,) ints);
    (1.0, 1.0) for a single labeling."""
    pairs = [ari(a, b) for a, b in itertools.combinations(labelings, 2)]
    if not pairs:
        return 1.0, 1.0
    return float(np.mean(pairs)), float(np.min(pairs))


def criterion_terms(labelings: Sequence[np.ndarray], swapped: Sequence[bool],
                    seeds: Sequence[int]) -> tuple[float | None, float | None]:
    """(seed AMI, cross-view ARI) of one candidate's short runs.

    Args:
        labelings: (n,) int labelings, one per short run.
        swapped: per run, whether it labelled phi2 (the views exchanged).
        seeds: per run, its seed.

    Returns:
        The mean AMI over pairs of runs that labelled phi1 with different seeds (None with
        fewer than two), and the mean ARI over pairs of the same seed, one labelling each
        view (None without such a pair).
    """
    runs = list(zip(labelings, swapped, seeds, strict=True))
    same_view = [ami(a, b) for (a, sa, ia), (b, sb, ib) in itertools.combinations(runs, 2)
                 if not sa and not sb and ia != ib]
    cross = [ari(a, b) for (a, sa, ia), (b, sb, ib) in itertools.combinations(runs, 2)
             if sa != sb and ia == ib]
    return (float(np.mean(same_view)) if same_view else None,
            float(np.mean(cross)) if cross else None)


def joint_score(seed_ami: float | None, cross_ari: float | None) -> float:
    """The ``joint`` criterion: seed AMI x cross-view ARI, each floored at 0 (agreement
    below chance is none), an absent term counting 1; in [0, 1]."""
    def term(value: float | None) -> float:
        return 1.0 if value is None else max(0.0, value)

    return term(seed_ami) * term(cross_ari)
