"""The rule every hyperparameter of :class:`HUME` must follow (checked before any work)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from ..core.inner import INNER_SOLVERS
from ..core.objective import OUTER_LOSSES, PRIORS
from ._data import INITS

__all__ = ["check_init_labels", "check_params", "check_prior", "describe_init"]


def describe_init(init: Any) -> Any:
    """``init`` as a run records it: a name as it is, a labeling as ``"labels sha256:<16 hex
    digits>"`` of its int64 bytes (so config.json and the model file stay small, and two runs
    started from the same labeling record the same string)."""
    if init is None or isinstance(init, str):
        return init
    digest = hashlib.sha256(np.ascontiguousarray(np.asarray(init, dtype=np.int64)).tobytes())
    return f"labels sha256:{digest.hexdigest()[:16]}"


def check_init_labels(init: Any, n: int, n_classes: int) -> np.ndarray:
    """A labeling ``init`` of the n fit rows as int64 (n,) with ids in 0..n_classes-1, or
    ValueError naming the problem."""
    labels = np.asarray(init)
    if labels.shape != (n,) or labels.dtype.kind not in "iu":
        raise ValueError(f"init as a labeling must be integers of shape ({n},) (one class id "
                         f"per row of phi1), got {labels.dtype} {labels.shape}")
    if labels.min() < 0 or labels.max() >= n_classes:
        raise ValueError(f"init labels must be class ids in 0..{n_classes - 1}, got "
                         f"{labels.min()}..{labels.max()}")
    return labels.astype(np.int64)


def check_prior(prior: Any, n_classes: int | None = None) -> str | tuple[float, ...]:
    """``prior`` as :func:`humelabel.core.objective.combine_terms` takes it: a name of PRIORS,
    or class proportions (k positive finite numbers, rescaled to sum to 1) as a tuple.

    Raises ValueError naming the problem (and, given ``n_classes``, a length mismatch).
    """
    if isinstance(prior, str):
        if prior not in PRIORS:
            raise ValueError(f"prior must be one of {PRIORS} or class proportions, got "
                             f"{prior!r}")
        return prior
    try:
        values = np.asarray(prior, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"prior must be one of {PRIORS} or class proportions, got "
                         f"{prior!r}") from exc
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"prior proportions must be a 1-D sequence of at least 2 numbers, got "
                         f"shape {values.shape}")
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError("prior proportions must be positive and finite")
    if n_classes is not None and values.size != n_classes:
        raise ValueError(f"prior has {values.size} proportions but n_classes is {n_classes}")
    return tuple(float(v) for v in values / values.sum())


def check_params(params: dict[str, Any]) -> None:
    """ValueError naming the first hyperparameter of ``params`` (resolved) that breaks its rule."""
    requirements = {
        "tau": (params["tau"] > 0, "> 0"),
        "entropy_weight": (params["entropy_weight"] >= 0, ">= 0"),
        "outer_lr": (params["outer_lr"] > 0, "> 0"),
        "inner_lr": (params["inner_lr"] > 0, "> 0"),
        "inner_steps": (int(params["inner_steps"]) >= 1, ">= 1"),
        "iterations": (int(params["iterations"]) >= 1, ">= 1"),
        "num_subsets": (int(params["num_subsets"]) >= 1, ">= 1"),
        "subset_size": (int(params["subset_size"]) >= 2, ">= 2"),
        "train_fraction": (0 < params["train_fraction"] < 1, "strictly between 0 and 1"),
        "alpha": (params["alpha"] > 0, "> 0"),
        "logit_scale": (params["logit_scale"] > 0, "> 0"),
        "split_pool": (int(params["split_pool"]) >= 0, ">= 0"),
        "outer_loss": (params["outer_loss"] in OUTER_LOSSES, f"one of {OUTER_LOSSES}"),
        "init": (not isinstance(params["init"], str) or params["init"] in INITS,
                 f"one of {INITS} or a labeling of phi1's rows"),
        "size_floor": (0 <= params["size_floor"] < 1, ">= 0 and < 1"),
        "inner": (params["inner"] in INNER_SOLVERS, f"one of {INNER_SOLVERS}"),
    }
    tau_end = params["tau_end"]
    requirements["tau_end"] = (tau_end is None or (np.isfinite(tau_end) and tau_end > 0),
                               "None or > 0")
    graph = params["graph_neighbors"]
    requirements["graph_neighbors"] = (
        graph is None or (isinstance(graph, (int, np.integer)) and not isinstance(graph, bool)
                          and graph >= 1), "None or an integer >= 1")
    for name, (ok, rule) in requirements.items():
        if not ok:
            raise ValueError(f"{name} must be {rule}, got {params[name]!r}")
    if tau_end is not None and params["anneal"]:
        raise ValueError("tau_end and anneal both schedule tau: give one of them")
    params["prior"] = check_prior(params["prior"])
