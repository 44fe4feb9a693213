"""Choose the number of classes k without labels: :func:`choose_k` (EXPERIMENTAL).

Status: the criterion below is not yet good enough to trust. Measured on scratch grids (seed
0, 40 outer steps per k): it picked 13 for the digits demo (true 10) and 3 for TREC (true 6,
where it is flat over k); AG News, StackOverflow, Banking77 and biomedical are not measured
yet (``benchmarks/k_selection.py`` writes the table). Pass k when you know it.

Coarse to fine. Every candidate k of a geometric grid over ``k_range`` gets one short HUME
run (``coarse_iterations`` outer steps instead of the preset's); its hard labeling is scored
by the label-free criterion of :func:`criterion`; the integers between the best grid point's
neighbours get short runs too; the best k over all of them gets one full run (the preset's
iterations), whose labeling is the result.

The criterion (to be measured on all datasets by ``benchmarks/k_selection.py``)
------------------------------------------------------------------------------
The generalization score ``G`` (cross-validated accuracy of a linear classifier on phi2
predicting the labeling, :class:`~humelabel.runs.ensemble.GeneralizationScorer`) rises as k
falls: fewer classes are easier. Normalising it by chance for the cluster sizes (Cohen's kappa
``(G - sum p^2) / (1 - sum p^2)``) does not fix that: on TREC (true k 6, 40-step runs, seed 0)
kappa fell from 0.83 at k = 2 to 0.72 at k = 6 and 0.70 at k = 16, on the digits demo (true
k 10) it was highest at k = 4. Two views of the same data are correlated, so even an
arbitrary partition of phi1 is partly predictable from phi2, more so for small k. The
criterion therefore compares ``G`` with the score ``G0`` of a null labeling with the same k:
the argmax of a random Gaussian projection of phi1 (rows L2-normalised, centred), an
arbitrary linear partition of phi1 into k parts. ``(G - G0) / (1 - G0)`` is the fraction of
the null's error that the found labeling removes (scratch measurements: digits highest at
k = 13, TREC at k = 3, with a different random null than this module draws).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..estimator import HUME
from .ensemble import GeneralizationScorer
from .outputs import csv_text

__all__ = ["KSelection", "choose_k", "criterion", "geometric_grid", "null_labeling",
           "parse_k_range"]

#: Default candidate range: ``fit --k auto`` searches 2..DEFAULT_K_MAX (capped at rows / 5).
DEFAULT_K_RANGE = (2, 150)
#: Ratio between neighbouring grid points of the coarse stage.
GRID_RATIO = 1.3
#: Outer steps of each coarse run (the fast preset's full run has 300).
COARSE_ITERATIONS = 40
#: Cross-validation folds of the criterion's generalization score.
CRITERION_FOLDS = 5
#: Columns of :meth:`KSelection.csv` (``k_selection.csv``).
COLUMNS = ("k", "stage", "iterations", "classes_used", "generalization", "null_generalization",
           "criterion", "seconds")


def parse_k_range(text: str) -> tuple[int, int]:
    """``"2-150"`` -> (2, 150); ValueError (one line) unless ``2 <= lo < hi``, both ints."""
    parts = text.split("-")
    if len(parts) != 2 or not all(p.strip().isdigit() for p in parts):
        raise ValueError(f"expected LO-HI with integers, e.g. 2-150, got {text!r}")
    lo, hi = int(parts[0]), int(parts[1])
    if lo < 2:
        raise ValueError(f"the lower end must be at least 2, got {lo}")
    if hi <= lo:
        raise ValueError(f"the upper end must be above the lower end, got {text!r}")
    return lo, hi


def geometric_grid(lo: int, hi: int, ratio: float = GRID_RATIO) -> list[int]:
    """Increasing ints from lo to hi (both included), neighbours about ``ratio`` apart."""
    if not 2 <= lo <= hi:
        raise ValueError(f"need 2 <= lo <= hi, got {lo}, {hi}")
    count = max(2, int(np.ceil(np.log(hi / lo) / np.log(ratio))) + 1)
    grid = np.unique(np.round(np.geomspace(lo, hi, count)).astype(int))
    return [int(k) for k in grid]


def null_labeling(phi1: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(n,) int64 arbitrary linear partition of phi1 (n, d1) into k parts: argmax of
    ``z @ R`` with z the L2-normalised, centred rows and R (d1, k) standard normal."""
    x = np.asarray(phi1, dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    x = x - x.mean(axis=0)
    proj = np.random.default_rng(seed).standard_normal((x.shape[1], k)).astype(np.float32)
    return np.argmax(x @ proj, axis=1).astype(np.int64)


def criterion(generalization: float, null_generalization: float) -> float:
    """``(G - G0) / (1 - G0)``: the share of the null labeling's error the labeling removes."""
    if null_generalization >= 1.0:
        return 0.0
    return (generalization - null_generalization) / (1.0 - null_generalization)


@dataclass
class KSelection:
    """Result of :func:`choose_k`.

    Attributes:
        k_: the chosen number of classes.
        labels_: (n,) int64 labeling of the full run at ``k_``.
        estimator_: the fitted :class:`HUME` of that run.
        table: one dict per scored run (columns :data:`COLUMNS`), in the order they ran.
        k_range: the (lo, hi) searched (hi capped at rows / 5).
        seconds: wall time of the whole selection.
    """

    k_: int
    labels_: np.ndarray
    estimator_: HUME
    table: list[dict[str, Any]] = field(default_factory=list)
    k_range: tuple[int, int] = DEFAULT_K_RANGE
    seconds: float = 0.0

    def csv(self) -> str:
        """The table as CSV text (``k_selection.csv``)."""
        return csv_text(self.table, COLUMNS)

    def record(self) -> dict[str, Any]:
        """JSON-ready summary: chosen k, range, rule, seconds."""
        return {"k": int(self.k_), "k_range": list(self.k_range), "criterion":
                "(G - G0) / (1 - G0), G0 of a random linear partition of phi1",
                "seconds": round(self.seconds, 3)}


def choose_k(
    phi1: Any,
    phi2: Any,
    k_range: tuple[int, int] = DEFAULT_K_RANGE,
    *,
    coarse_iterations: int = COARSE_ITERATIONS,
    grid_ratio: float = GRID_RATIO,
    n_folds: int = CRITERION_FOLDS,
    random_state: int = 0,
    make_estimator: Callable[[int, int | None], HUME] | None = None,
    fit_final: bool = True,
    progress: Callable[[str], None] | None = None,
    **hume_params: Any,
) -> KSelection:
    """Choose k for HUME on phi1 (n, d1) / phi2 (n, d2) without labels, then fit at it.

    Args:
        k_range: (lo, hi) candidates; hi is capped at ``n // 5`` (at least lo).
        coarse_iterations: outer steps of each candidate's short run.
        grid_ratio: ratio between neighbouring coarse candidates.
        n_folds: folds of the generalization score used by the criterion.
        random_state: int seed of every run.
        make_estimator: ``(k, iterations or None) -> HUME`` (None: the preset's iterations);
            default ``HUME(k, random_state=random_state, **hume_params)``.
        fit_final: end with the full run at the chosen k (``False``: ``labels_`` and
            ``estimator_`` are those of the chosen k's short run, e.g. for a caller that
            runs the full fit itself).
        progress: called with one line per finished run.
        hume_params: passed to :class:`HUME` by the default ``make_estimator``.

    Returns:
        :class:`KSelection` with ``k_``, the per-run table and the full run's labeling.
    """
    start = time.perf_counter()
    x1 = np.asarray(phi1)
    lo, hi = int(k_range[0]), int(k_range[1])
    hi = max(lo, min(hi, x1.shape[0] // 5))
    if lo < 2:
        raise ValueError(f"k_range must start at 2 or more, got {lo}")

    def default_make(k: int, iterations: int | None) -> HUME:
        params = dict(hume_params)
        if iterations is not None:
            params["iterations"] = iterations
        return HUME(k, random_state=random_state, **params)

    make = make_estimator or default_make
    scorer = GeneralizationScorer(n_folds, random_state=random_state).fit(phi2)
    table: list[dict[str, Any]] = []

    def run(k: int, stage: str, iterations: int | None) -> tuple[HUME, dict[str, Any]]:
        t0 = time.perf_counter()
        est = make(k, iterations).fit(phi1, phi2)
        labels = est.labels_
        g = scorer.score(labels)
        g0 = scorer.score(null_labeling(x1, k, random_state + k))
        value = criterion(g, g0)
        row = {"k": k, "stage": stage, "iterations": int(est.params_["iterations"]),
               "classes_used": int(np.unique(labels).size), "generalization": round(g, 6),
               "null_generalization": round(g0, 6), "criterion": round(value, 6),
               "seconds": round(time.perf_counter() - t0, 3)}
        table.append(row)
        if progress is not None:
            progress(f"k {k:4d} ({stage}): criterion {value:.4f}  generalization {g:.4f}")
        return est, row

    short: dict[int, HUME] = {}
    for k in geometric_grid(lo, hi, grid_ratio):
        short[k] = run(k, "coarse", coarse_iterations)[0]
    best = _best(table)
    grid = [r["k"] for r in table]
    i = grid.index(best)
    left, right = grid[max(0, i - 1)], grid[min(len(grid) - 1, i + 1)]
    for k in _between(left, right, best):
        short[k] = run(k, "fine", coarse_iterations)[0]
    k_best = _best(table)
    est = run(k_best, "full", None)[0] if fit_final else short[k_best]
    return KSelection(k_=k_best, labels_=np.asarray(est.labels_, dtype=np.int64),
                      estimator_=est, table=table, k_range=(lo, hi),
                      seconds=time.perf_counter() - start)


def _best(table: Sequence[dict[str, Any]]) -> int:
    """k of the highest criterion, the larger k on ties (separated classes: every merge of
    them is predicted perfectly too, the finest such labeling is the answer)."""
    return int(max(table, key=lambda r: (r["criterion"], r["k"]))["k"])


def _between(left: int, right: int, best: int, most: int = 4) -> list[int]:
    """Up to ``most`` ints strictly between left and right, except best, spread evenly."""
    inside = [k for k in range(left + 1, right) if k != best]
    if len(inside) <= most:
        return inside
    picks = np.unique(np.round(np.linspace(0, len(inside) - 1, most)).astype(int))
    return [inside[j] for j in picks]
