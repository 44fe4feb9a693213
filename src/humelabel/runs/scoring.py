"""The generalization score of a run and its cache, ``score.json`` in the run directory.

A score depends on the labels and on :func:`score_key` (method, folds, penalty, phi2 by
checksum and key); a cached score is reused only when both match.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from ..io import refresh_manifest, write_json_atomic
from ..io.rundir import SCORE
from .ensemble import GeneralizationScorer

__all__ = ["SCORE_METHOD", "ScoreOptions", "cached_score", "labels_sha256", "score_key",
           "score_record", "write_score"]

#: Identifies the generalization score's definition in score caches; change it whenever the
#: definition in :mod:`humelabel.runs.ensemble` changes, so that old caches are not reused.
SCORE_METHOD = "cv-logreg-whitened-lbfgs-v1"


class ScoreOptions:
    """Settings of the generalization score: ``n_folds`` folds, inverse penalty ``C``."""

    def __init__(self, n_folds: int = 10, C: float = 0.1):  # noqa: N803 (scikit-learn's name)
        self.n_folds = int(n_folds)
        self.C = float(C)

    def scorer(self, phi2: np.ndarray) -> GeneralizationScorer:
        """A scorer fitted (phi2 (n, d2) whitened) once, for every labeling to be scored."""
        return GeneralizationScorer(self.n_folds, C=self.C, random_state=0).fit(phi2)


def labels_sha256(labels: np.ndarray) -> str:
    """Checksum of a labeling (n,) as int64."""
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()


def score_key(options: ScoreOptions, phi2_sha256: str, phi2_key: str | None) -> dict[str, Any]:
    """What a cached score depends on, besides the labels (phi2: file checksum and key)."""
    return {"method": SCORE_METHOD, "n_folds": options.n_folds,
            "C": options.C if math.isfinite(options.C) else "inf",
            "random_state": 0, "phi2_sha256": phi2_sha256, "phi2_key": phi2_key}


def cached_score(run_dir: str | Path, key: dict[str, Any], labels: np.ndarray) -> float | None:
    """The score stored in ``run_dir/score.json`` if it was computed with ``key`` on labels."""
    try:
        record = json.loads((Path(run_dir) / SCORE).read_text())
    except (OSError, ValueError):
        return None
    if (not isinstance(record, dict) or record.get("key") != key
            or record.get("labels_sha256") != labels_sha256(labels)):
        return None
    score = record.get("score")
    return float(score) if isinstance(score, (int, float)) and math.isfinite(score) else None


def score_record(key: dict[str, Any], labels: np.ndarray, folds: np.ndarray) -> dict[str, Any]:
    """``score.json``: mean of the fold accuracies (F,), the folds, the key, the labels' hash."""
    return {"score": float(folds.mean()), "fold_accuracies": folds.tolist(), "key": key,
            "labels_sha256": labels_sha256(labels)}


def write_score(run_dir: str | Path, record: dict[str, Any]) -> None:
    """Cache ``record`` in ``run_dir/score.json`` and add it to the run's manifest."""
    write_json_atomic(Path(run_dir) / SCORE, record)
    refresh_manifest(run_dir)
