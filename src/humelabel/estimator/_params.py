"""The rule every hyperparameter of :class:`HUME` must follow (checked before any work)."""

from __future__ import annotations

from typing import Any

from ..core.inner import INNER_SOLVERS
from ..core.objective import OUTER_LOSSES, PRIORS
from ._data import INITS

__all__ = ["check_params"]


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
        "init": (params["init"] in INITS, f"one of {INITS}"),
        "inner": (params["inner"] in INNER_SOLVERS, f"one of {INNER_SOLVERS}"),
        "prior": (params["prior"] in PRIORS, f"one of {PRIORS}"),
    }
    for name, (ok, rule) in requirements.items():
        if not ok:
            raise ValueError(f"{name} must be {rule}, got {params[name]!r}")
