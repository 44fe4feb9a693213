"""Persistence of a fitted :class:`~humelabel.estimator.HUME`: safetensors bytes and back."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ..core.device import resolve_device
from ..core.search import ANNEAL_STEPS, ANNEAL_TAU_FACTOR
from ..io import InputError
from ..io.rundir import load_model_file, save_model_bytes
from ._params import describe_init


def final_tau(params: dict[str, Any]) -> float:
    """The tau of the last search step under the resolved hyperparameters (for model files
    written before ``tau_final`` was stored)."""
    tau = float(params["tau"])
    if params.get("anneal"):
        passed = sum(1 for step in ANNEAL_STEPS if step < int(params["iterations"]))
        tau /= ANNEAL_TAU_FACTOR ** passed
    return tau


def model_bytes(est: Any) -> bytes:
    """safetensors bytes of the fitted ``est``: ``coef`` (k, d1), ``phi2_center_<i>`` (d2_i,),
    ``phi2_scale`` (n_spaces,), and as metadata the constructor parameters, the resolved
    hyperparameters, the seed and the final tau. Same fit -> same bytes."""
    from .._version import __version__

    check_is_fitted(est, "coef_")
    multi = isinstance(est.phi2_center_, list)
    centers = est.phi2_center_ if multi else [est.phi2_center_]
    factors = est.phi2_scale_ if multi else [est.phi2_scale_]
    tensors = {"coef": np.asarray(est.coef_, dtype=np.float32),
               "phi2_scale": np.asarray(factors, dtype=np.float32).reshape(-1)}
    for i, center in enumerate(centers):
        tensors[f"phi2_center_{i}"] = np.asarray(center, dtype=np.float32)
    metadata = {
        "format": "humelabel", "humelabel_version": __version__,
        "params": json.dumps({**est.get_params(), "init": describe_init(est.init)},
                             sort_keys=True),
        "resolved": json.dumps(est.params_, sort_keys=True),
        "seed": str(est.seed_), "n_spaces": str(len(centers)), "multi_space": str(multi),
        "normalize": json.dumps(bool(est.normalize)), "phi2_scaling": est.phi2_scaling,
        "tau_final": repr(float(est.tau_)),
    }
    return save_model_bytes(tensors, metadata)


def load_estimator(cls: type, path: str | os.PathLike[str]) -> Any:
    """A fitted ``cls`` (HUME) from a model file written by :func:`model_bytes`.

    Raises:
        InputError: the file is missing, not safetensors, or not a complete humelabel model.
    """
    tensors, metadata = load_model_file(path)
    try:
        params = json.loads(metadata["params"])
        resolved = json.loads(metadata["resolved"])
        n_spaces = int(metadata["n_spaces"])
        multi = metadata["multi_space"] == "True"
        centers = [tensors[f"phi2_center_{i}"] for i in range(n_spaces)]
        coef, factors = tensors["coef"], tensors["phi2_scale"]
        seed = int(metadata["seed"])
        tau_final = (float(metadata["tau_final"]) if "tau_final" in metadata
                     else final_tau(resolved))
        if coef.ndim != 2 or factors.shape != (n_spaces,):
            raise ValueError("tensor shapes disagree")
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise InputError(path, f"model metadata incomplete ({type(exc).__name__}: "
                         f"{exc})") from exc
    est = cls(**{k: v for k, v in params.items() if k in cls._get_param_names()})
    est.coef_ = np.asarray(coef, dtype=np.float32)
    est.params_ = resolved
    est.seed_ = seed
    est.tau_ = tau_final
    est.n_features_in_ = int(coef.shape[1])
    try:  # predict needs no device; scoring uses the saved one where it exists
        est.device_ = resolve_device(est.device)
    except (ValueError, RuntimeError):
        est.device_ = resolve_device("cpu")
    est.phi2_center_ = [np.asarray(c) for c in centers] if multi else np.asarray(centers[0])
    scales = [np.float32(f) for f in factors]
    est.phi2_scale_ = scales if multi else scales[0]
    est.history_ = []
    return est
