"""One seed, fitted and recorded: the run directory that ``fit`` and every run of
``fit --seeds``, ``--select`` and ``run`` write, and whether an existing one can be reused.

:func:`fit_one` fits HUME on validated inputs and returns the estimator, metrics and the
run's ``config.json`` record; :func:`write_run` writes the run directory atomically;
:func:`existing_run` reads back a finished run and checks that it was made with the same
settings (the resume rule of the multi-seed commands).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.metrics import evaluate
from ..core.presets import resolve
from ..estimator import HUME, describe_init
from ..io import (
    InputError,
    atomic_output_dir,
    save_npy_atomic,
    to_jsonable,
    write_bytes_atomic,
    write_json_atomic,
    write_text_atomic,
)
from ..io.rundir import CONFIG, HISTORY, LABELS, METRICS, MODEL, jsonl, provenance, read_run

__all__ = ["DIAGNOSE_SPLITS", "FitInputs", "FitSettings", "RunFiles", "array_record", "difference",
           "existing_run", "expected_signature", "fit_one", "recorded", "signature",
           "write_run"]

#: Number of seeded splits used by ``diagnose`` to score the found and the true labeling.
DIAGNOSE_SPLITS = 20


@dataclass
class FitInputs:
    """Everything a fit needs, loaded and validated.

    ``phi1`` (n, d1), ``phi2`` (n, d2); inductive: ``phi1_eval`` (m, d1), ``phi2_eval``
    (m, d2); ``truth`` (n or m,) for metrics; ``files``: a record per role (path, shape,
    sha256, key) as :func:`humelabel.io.rundir.file_record` makes; ``overrides``: the
    hyperparameters set on top of the preset.
    """

    phi1: np.ndarray
    phi2: np.ndarray
    phi1_eval: np.ndarray | None = None
    phi2_eval: np.ndarray | None = None
    truth: np.ndarray | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def inductive(self) -> bool:
        return self.phi1_eval is not None

    @property
    def eval_phi2(self) -> np.ndarray:
        """phi2 of the rows that are labeled: (m, d2) inductive, else (n, d2)."""
        return self.phi2_eval if self.phi2_eval is not None else self.phi2

    @property
    def eval_role(self) -> str:
        return "phi2_eval" if self.inductive else "phi2"

    def fill_files(self) -> None:
        """Records for arrays given without a file (the Python API): checksum of the bytes."""
        for role in ("phi1", "phi2", "phi1_eval", "phi2_eval", "truth"):
            array = getattr(self, role)
            if array is not None and role not in self.files:
                self.files[role] = array_record(array)


def array_record(array: np.ndarray) -> dict[str, Any]:
    """Provenance of an in-memory array: no path, its shape, dtype and sha256 of its bytes."""
    arr = np.ascontiguousarray(array)
    return {"path": None, "file": None, "key": None, "shape": list(arr.shape),
            "dtype": str(arr.dtype), "sha256": hashlib.sha256(arr.tobytes()).hexdigest()}


@dataclass
class FitSettings:
    """The settings of every run of a command besides its seed."""

    k: int
    preset: str = "fast"
    normalize: bool = True
    phi2_scaling: str = "global"
    device: str = "auto"
    diagnose: bool = False
    argv: Sequence[str] | None = None


def _diagnose(est: HUME, inputs: FitInputs, seed: int) -> dict[str, Any]:
    """Objective (lower is better) of the found and of the true labeling on the same splits.

    Transductive: scored on the fit-set phi2 with ``predict(phi1)``. Inductive: on phi2_eval
    with ``labels_``. True class ids are remapped to ``0..c-1`` first (any integers allowed).
    """
    assert inputs.truth is not None
    if inputs.inductive:
        phi2, found = inputs.phi2_eval, est.labels_
    else:
        phi2, found = inputs.phi2, est.predict(inputs.phi1)
    truth = np.unique(inputs.truth, return_inverse=True)[1].reshape(-1)
    score = {"num_splits": DIAGNOSE_SPLITS, "seed": seed}
    return {
        "objective_found": est.score_labeling(phi2, found, **score),
        "objective_truth": est.score_labeling(phi2, truth, **score),
        "objective_num_splits": DIAGNOSE_SPLITS,
        "objective_seed": seed,
        "objective_data": inputs.eval_role,
    }


def _device_name(est: HUME) -> str | None:
    """The GPU's name when the fit ran on CUDA, else None."""
    if est.device_.type != "cuda":
        return None
    import torch

    return torch.cuda.get_device_name(est.device_)


def fit_one(settings: FitSettings, inputs: FitInputs, seed: int, *, verbose: bool = False,
            overrides: dict[str, Any] | None = None
            ) -> tuple[HUME, dict[str, Any] | None, dict[str, Any]]:
    """Fit HUME with one seed: the estimator, metrics (with truth; plus the found-vs-truth
    objective with ``diagnose``) and the run's config.json record.

    ``overrides`` are set on top of ``inputs.overrides`` (a configuration of a grid).
    """
    hyper = {**inputs.overrides, **(overrides or {})}
    est = HUME(n_classes=settings.k, preset=settings.preset, **hyper,
               normalize=settings.normalize, phi2_scaling=settings.phi2_scaling,
               random_state=seed, device=settings.device, verbose=verbose)
    start = time.perf_counter()
    est.fit(inputs.phi1, inputs.phi2, inputs.phi1_eval, inputs.phi2_eval)
    fit_s = time.perf_counter() - start
    metrics: dict[str, Any] | None = None
    if inputs.truth is not None:
        metrics = evaluate(inputs.truth, est.labels_)
        if settings.diagnose:
            metrics.update(_diagnose(est, inputs, est.seed_))
    config = {
        **provenance(settings.argv, "fit"),
        "k": settings.k, "preset": settings.preset, "hyperparameters": est.params_,
        "overrides": recorded(hyper), "seed": est.seed_, "device": str(est.device_),
        "device_requested": settings.device, "device_name": _device_name(est),
        "normalize": settings.normalize, "phi2_scaling": settings.phi2_scaling,
        "mode": "inductive" if inputs.inductive else "transductive",
        "diagnose": settings.diagnose, "inputs": inputs.files, "fit_seconds": fit_s,
    }
    return est, metrics, config


def recorded(hyper: dict[str, Any]) -> dict[str, Any]:
    """Hyperparameters as a run records them: an ``init`` labeling by its digest
    (:func:`humelabel.estimator.describe_init`)."""
    return {**hyper, "init": describe_init(hyper["init"])} if "init" in hyper else dict(hyper)


@dataclass
class RunFiles:
    """The contents of one run directory, ready to be written anywhere (by the process that
    fitted it or, with the Ray backend, by the driver that received it)."""

    labels: np.ndarray
    model: bytes
    config: dict[str, Any]
    history: str
    metrics: dict[str, Any] | None = None

    @classmethod
    def of(cls, est: HUME, config: dict[str, Any], metrics: dict[str, Any] | None
           ) -> RunFiles:
        """The files of a fitted estimator's run."""
        return cls(labels=np.asarray(est.labels_, dtype=np.int64), model=est.model_bytes(),
                   config=config, history=jsonl(est.history_), metrics=metrics)

    def write(self, out: str | Path, overwrite: bool, inputs: Sequence[str] = (),
              extra: Callable[[Path], None] | None = None) -> None:
        """Write the run directory ``out`` atomically; ``inputs`` are files it must never
        replace; ``extra(tmp)`` writes more files into it before it is committed."""
        with atomic_output_dir(out, "fit", overwrite=overwrite, inputs=inputs) as tmp:
            if extra is not None:
                extra(Path(tmp))
            save_npy_atomic(tmp / LABELS, self.labels)
            write_bytes_atomic(tmp / MODEL, self.model)
            write_json_atomic(tmp / CONFIG, self.config)
            write_text_atomic(tmp / HISTORY, self.history)
            if self.metrics is not None:
                write_json_atomic(tmp / METRICS, self.metrics)


def write_run(out: str | Path, overwrite: bool, est: HUME, config: dict[str, Any],
              metrics: dict[str, Any] | None, inputs: Sequence[str] = (),
              extra: Callable[[Path], None] | None = None) -> None:
    """Write one run directory (labels, model, config, history, metrics) atomically;
    ``inputs`` are files it must never replace; ``extra(tmp)`` writes more files into the
    directory before it is committed."""
    RunFiles.of(est, config, metrics).write(out, overwrite, inputs, extra)


# --------------------------------------------------------------------------------------------
# Resume: does a run directory match what this command would write?
# --------------------------------------------------------------------------------------------


def signature(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that determine a run, from its config.json, for resume matching.

    ``hyperparameters`` are the ones the search ran with (recorded after resolving the preset),
    so a run made before a preset's values changed does not match.
    """
    inputs = config.get("inputs") or {}
    hyper = config.get("hyperparameters")
    if isinstance(hyper, dict):  # runs made before size_floor existed had none
        hyper = {"size_floor": 0.0, **hyper}
    return json.loads(json.dumps(to_jsonable({
        "k": config.get("k"),
        "hyperparameters": hyper if isinstance(hyper, dict) else {},
        "seed": config.get("seed"),
        "normalize": config.get("normalize"),
        "phi2_scaling": config.get("phi2_scaling"),
        "mode": config.get("mode"),
        "inputs": {role: (inputs.get(role) or {}).get("sha256")
                   for role in ("phi1", "phi2", "phi1_eval", "phi2_eval")},
    })))


def expected_signature(settings: FitSettings, inputs: FitInputs, seed: int,
                       overrides: dict[str, Any]) -> dict[str, Any]:
    """The signature a run of this command would record (see :func:`signature`)."""
    hyper = recorded(resolve(settings.preset, {**inputs.overrides, **overrides}))
    hyper["subset_size"] = min(int(hyper["subset_size"]), inputs.phi1.shape[0])  # as HUME.fit
    return signature({
        "k": settings.k, "hyperparameters": hyper, "seed": seed,
        "normalize": settings.normalize, "phi2_scaling": settings.phi2_scaling,
        "mode": "inductive" if inputs.inductive else "transductive", "inputs": inputs.files,
    })


def difference(found: dict[str, Any], expected: dict[str, Any]) -> str | None:
    """First setting of ``expected`` that ``found`` differs in (``name found != expected``),
    None when they match. Only the keys of ``expected`` count (a run may record more)."""
    for key, value in expected.items():
        other = found.get(key)
        if isinstance(value, dict) and isinstance(other, dict):
            for sub, sub_value in value.items():
                if other.get(sub) != sub_value:
                    return f"{key}.{sub} {other.get(sub)} != {sub_value}"
        elif other != value:
            return f"{key} {other} != {value}"
    return None


def existing_run(run_dir: Path, settings: FitSettings, inputs: FitInputs, seed: int,
                 overrides: dict[str, Any], n_eval: int, overwrite: bool) -> np.ndarray | None:
    """Labels (n_eval,) of a finished run made with these settings; None to (re)fit it.

    Raises:
        InputError: the run is unusable or was made with other settings, without
            ``overwrite``.
    """
    try:
        record = read_run(run_dir, n_eval, settings.k)
    except InputError as exc:
        problem = exc.problem
    else:
        diff = difference(signature(record.config),
                          expected_signature(settings, inputs, seed, overrides))
        if diff is None:
            return record.labels
        problem = f"was made with other settings ({diff})"
    if overwrite:
        return None
    raise InputError(run_dir, f"{problem}; use --overwrite to redo it, or another --out")
