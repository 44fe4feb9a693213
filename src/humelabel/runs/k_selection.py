"""The result of :func:`humelabel.runs.choose_k.choose_k`: :class:`KSelection` (the chosen k,
its labeling and the per-candidate table), the table's columns and :func:`read_table`."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..estimator import HUME
from .k_grid import DEFAULT_K_RANGE, best_row
from .outputs import csv_text

__all__ = ["COLUMNS", "CRITERIA", "KSelection", "RULES", "WEAK_SCORE", "read_table"]

#: Below this best ``joint`` score the pick is weakly supported (:attr:`KSelection.weak`):
#: seeds and views agree little at every k. Measured (docs/method.md, "Coarse to fine"):
#: 0.083-0.090 on TREC and its 4-class subset, whose curves are flat and whose picks are noise;
#: 0.181-0.597 on the twelve other datasets and subsets.
WEAK_SCORE = 0.125
#: Columns of :meth:`KSelection.csv` (``k_selection.csv``).
COLUMNS = ("k", "stage", "iterations", "seeds", "criterion", "classes_used", "stability",
           "stability_min", "seed_ami", "cross_ari", "seconds")
#: Criteria of :func:`~humelabel.runs.choose_k.choose_k`, with the rule each one applies.
RULES = {"cross_view": "cross-view stability: ARI of short runs labelling phi1 and phi2",
         "joint": "seed AMI of short runs labelling phi1 x ARI with the run labelling phi2"}
CRITERIA = tuple(RULES)


def read_table(path: str | Path) -> list[dict[str, Any]]:
    """The rows of a ``k_selection.csv`` (:meth:`KSelection.csv`), values as written (str)."""
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@dataclass
class KSelection:
    """Result of :func:`~humelabel.runs.choose_k.choose_k`.

    Attributes:
        k_: the chosen number of classes.
        labels_: (n,) int64 labeling of the full run at ``k_``.
        estimator_: the fitted :class:`HUME` of that run.
        table: one dict per scored candidate (columns :data:`COLUMNS`), in the order they
            ran; the full run's row has stage ``"full"`` and no stability.
        k_range: the (lo, hi) searched (hi capped at rows / 5).
        criterion: the criterion that chose ``k_`` (a key of :data:`RULES`).
        seconds: wall time of the whole selection.
    """

    k_: int
    labels_: np.ndarray
    estimator_: HUME
    table: list[dict[str, Any]] = field(default_factory=list)
    k_range: tuple[int, int] = DEFAULT_K_RANGE
    criterion: str = "cross_view"
    seconds: float = 0.0

    @property
    def best_score(self) -> float:
        """The short runs' criterion at their pick (the highest of the coarse and fine
        stages, the scale :data:`WEAK_SCORE` was measured on)."""
        return float(best_row([r for r in self.table
                               if r["stage"] in ("coarse", "fine")])["stability"])

    @property
    def weak(self) -> bool:
        """Whether the ``joint`` pick is weakly supported: its score is below
        :data:`WEAK_SCORE`, so seeds and views agree little at any k (always False for
        ``cross_view``, whose scale differs)."""
        return self.criterion == "joint" and self.best_score < WEAK_SCORE

    def csv(self) -> str:
        """The table as CSV text (``k_selection.csv``)."""
        return csv_text(self.table, COLUMNS)

    def note(self) -> str | None:
        """A one-line warning for a weakly supported pick (:attr:`weak`), else None."""
        if not self.weak:
            return None
        return (f"the criterion is at most {self.best_score:.3f} over k (below "
                f"{WEAK_SCORE}): seeds and views agree little at any k, so k = {self.k_} is "
                "weakly supported; read k_selection.png and pass --k if you know it")

    def record(self) -> dict[str, Any]:
        """JSON-ready summary: chosen k, range, rule, best score and whether it is weak,
        seconds, short runs."""
        short = sum(int(r["seeds"]) for r in self.table if r["stage"] != "full")
        return {"k": int(self.k_), "k_range": list(self.k_range),
                "criterion": RULES[self.criterion], "best_score": round(self.best_score, 6),
                "weak": self.weak, "short_runs": short, "seconds": round(self.seconds, 3)}
