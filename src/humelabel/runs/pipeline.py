"""The fitting step of ``humelabel run``: HUME with the best available defaults, over seeds.

Defaults: the ``fast`` preset when the installed version has one (``"fast" in
humelabel.PRESETS``), else the ``paper`` preset with CPU-sized settings
(:data:`CPU_SETTINGS`, minutes rather than hours on a laptop CPU).

Several seeds: the runs are combined by the authors' protocol (generalization score on phi2,
best run as reference, Hungarian alignment, majority vote) from :mod:`humelabel.ensemble` when
that module is installed. Without it only the first seed runs, and the returned info says so.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ..estimator import HUME

__all__ = ["CPU_SETTINGS", "default_settings", "ensemble_combiner", "fit_labels"]

#: ``paper`` preset overrides used when no ``fast`` preset exists.
CPU_SETTINGS: dict[str, Any] = dict(
    tau=0.1, outer_lr=0.01, inner_lr=0.01, iterations=100, inner_steps=30, num_subsets=2,
    subset_size=2000, anneal=False,
)


def default_settings() -> tuple[str, dict[str, Any]]:
    """``(preset, overrides)`` for HUME: ``("fast", {})`` if available, else CPU settings."""
    from ..core.presets import PRESETS

    if "fast" in PRESETS:
        return "fast", {}
    return "paper", dict(CPU_SETTINGS)


#: ``combiner(labelings, phi2, n_classes) -> (labels (n,), info)``.
Combiner = Callable[[list[np.ndarray], np.ndarray, int], tuple[np.ndarray, dict[str, Any]]]


def ensemble_combiner() -> Combiner | None:
    """The authors' combination protocol from :mod:`humelabel.ensemble`, when available.

    Scores every run by ``ensemble.generalization_score(phi2, labels)`` and combines them with
    ``ensemble.combine_labelings(labelings, scores, n_classes)`` (best run as reference,
    Hungarian alignment, majority vote). None when the module or those functions are absent.
    """
    try:
        module = importlib.import_module(f"{__package__}.ensemble")
    except ImportError:
        return None
    score = getattr(module, "generalization_score", None)
    combine = getattr(module, "combine_labelings", None)
    if not (callable(score) and callable(combine)):
        return None

    def combiner(labelings: list[np.ndarray], phi2: np.ndarray, n_classes: int
                 ) -> tuple[np.ndarray, dict[str, Any]]:
        scores = [float(score(phi2, labels)) for labels in labelings]
        result = combine(labelings, scores, n_classes)
        info = {"generalization_scores": scores,
                "reference_seed_index": int(getattr(result, "reference", -1)),
                "mean_agreement": float(np.mean(getattr(result, "agreement", np.nan)))}
        return np.asarray(result.labels, dtype=np.int64), info

    return combiner


def fit_labels(
    phi1: np.ndarray,
    phi2: np.ndarray,
    n_classes: int,
    *,
    seeds: list[int] | tuple[int, ...] = (0,),
    device: str = "auto",
    verbose: bool = False,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Find a labeling of ``phi1`` (n, d1) with ``phi2`` (n, d2): labels (n,) int64 and info.

    Runs every seed of ``seeds`` and combines the runs when a combiner exists
    (:func:`ensemble_combiner`), else runs only the first seed. Info records the preset, the
    hyperparameters used, the seeds requested and run, the combination method, the device,
    per-seed final loss and the wall time.
    """
    if not seeds:
        raise ValueError("need at least one seed")
    requested = [int(s) for s in seeds]
    preset, overrides = default_settings()
    combine = ensemble_combiner() if len(requested) > 1 else None
    seeds = requested if combine is not None else requested[:1]
    start = time.perf_counter()
    labelings, runs = [], []
    for s in seeds:
        est = HUME(n_classes, preset=preset, **overrides, random_state=s, device=device,
                   verbose=verbose).fit(phi1, phi2)
        labelings.append(est.labels_)
        last = est.history_[-1] if est.history_ else {}
        runs.append({"seed": s, "final_loss": last.get("loss")})
    info: dict[str, Any] = {
        "preset": preset, "overrides": overrides, "hyperparameters": est.params_,
        "device": str(est.device_), "seeds_requested": requested, "seeds": list(seeds),
        "runs": runs,
    }
    if combine is not None:
        labels, combined = combine(labelings, phi2, n_classes)
        info["combination"] = (f"{len(seeds)} runs: generalization score, Hungarian "
                               "alignment, majority vote (humelabel.ensemble)")
        info.update(combined)
    else:
        labels = np.asarray(labelings[0], dtype=np.int64)
        info["combination"] = "single run"
        if len(requested) > 1:
            info["note"] = (f"{len(requested)} seeds requested, but this version has no "
                            "humelabel.ensemble to combine runs: ran seed "
                            f"{requested[0]} only")
    info["fit_seconds"] = time.perf_counter() - start
    return labels, info
