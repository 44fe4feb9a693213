"""Label new rows with what a run learned: one fitted model, or a combination of seeds.

A combined multi-seed run predicts as it labeled: every run's task encoder labels the rows,
each labeling is renamed onto the reference run by the map the combination found
(``alignment.json``), and the renamed labelings are put to the same majority vote (ties to the
reference run). On the rows the runs were fitted on this reproduces the combined labels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..estimator import HUME
from ..io import InputError
from ..io.rundir import ALIGNMENT, MODEL, read_json
from .ensemble import majority_vote

__all__ = ["CombinedModel", "load_model"]


@dataclass
class CombinedModel:
    """R fitted runs and their renaming onto the reference run (maps (R, k))."""

    models: list[HUME]
    maps: np.ndarray
    reference: int
    n_classes: int

    @property
    def n_features_in_(self) -> int:
        return self.models[0].n_features_in_

    def predict(self, phi1: Any) -> np.ndarray:
        """(m, d1) -> (m,) int64: the majority vote of the aligned predictions of every run."""
        aligned = np.stack([self.maps[r][model.predict(phi1)]
                            for r, model in enumerate(self.models)])
        return majority_vote(aligned, self.n_classes, prefer=self.reference)[0]


def load_model(run_dir: str | os.PathLike[str]) -> HUME | CombinedModel:
    """The model of a run directory: ``HUME`` for a single fit, ``CombinedModel`` for a
    multi-seed fit or ``run`` (its ``alignment.json`` names the runs and their maps).

    Raises:
        InputError: not a run directory of humelabel, or its files are unusable.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise InputError(path, "not found" if not path.exists() else "is not a directory")
    if (path / MODEL).is_file():
        return HUME.load(path / MODEL)
    if not (path / ALIGNMENT).is_file():
        raise InputError(path, f"has neither {MODEL} (a fit) nor {ALIGNMENT} (a combined "
                         "multi-seed run)")
    record = read_json(path / ALIGNMENT)
    try:
        runs = [str(entry["run"]) for entry in record["runs"]]
        maps = np.asarray([entry["map"] for entry in record["runs"]], dtype=np.int64)
        reference = int(record["reference"])
        n_classes = int(record["n_classes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(path / ALIGNMENT, f"malformed ({type(exc).__name__})") from exc
    if not runs or maps.shape != (len(runs), n_classes) or not 0 <= reference < len(runs):
        raise InputError(path / ALIGNMENT, "malformed (runs, maps and n_classes disagree)")
    models = [HUME.load(path / run / MODEL) for run in runs]
    if len({model.n_features_in_ for model in models}) != 1:
        raise InputError(path, "its runs expect different numbers of phi1 features")
    return CombinedModel(models=models, maps=maps, reference=reference, n_classes=n_classes)
