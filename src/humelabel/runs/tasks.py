"""The tasks of the multi-seed commands and the backends that run them.

A :class:`Task` fits one seed (and/or scores a labeling). :func:`compute_task` does the work
and writes nothing; :func:`commit_task` writes its run directory and score.json.
:func:`do_task` does both, in the worker (the local process pool, where every worker sees the
output directory); with the Ray backend the workers compute and this process commits each
result as it arrives (:func:`run_tasks`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io.rundir import LABELS
from . import ray_backend
from .fitting import RunFiles, fit_one, recorded
from .jobs import Workers, execute
from .scoring import score_record, write_score

__all__ = ["BACKENDS", "Task", "commit_task", "compute_task", "do_task", "run_tasks"]

#: Executors of the runs: this machine's processes, or a Ray cluster.
BACKENDS = ("local", "ray")


@dataclass(frozen=True)
class Task:
    """One unit of work: fit seed ``seed`` (``fit``) into ``run_dir`` (when given), then score
    its labels (or ``labels``, or the labels already in ``run_dir``); with ``run_dir`` the
    score is cached in ``run_dir/score.json``."""

    name: str
    run_dir: str | None = None
    seed: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    fit: bool = False
    labels: np.ndarray | None = None


def compute_task(task: Task, state: dict[str, Any]) -> dict[str, Any]:
    """Run one task without writing anything: ``{"name", "labels", "score", "seconds",
    "fitted", "files", "score_record"}`` (``files``: the run directory to write, for a fit
    with a ``run_dir``; ``score_record``: score.json's record); :func:`commit_task` writes
    them."""
    start = time.perf_counter()
    files = None
    if task.fit:
        est, metrics, config = fit_one(state["settings"], state["inputs"], task.seed,
                                       verbose=state["verbose"], overrides=task.overrides)
        labels = np.asarray(est.labels_, dtype=np.int64)
        if task.run_dir is not None:
            config["part_of"] = {"out": state["out"], "seed": task.seed,
                                 "grid_overrides": recorded(task.overrides)}
            files = RunFiles.of(est, config, metrics)
    elif task.labels is not None:
        labels = task.labels
    else:
        assert task.run_dir is not None
        labels = np.load(Path(task.run_dir) / LABELS, allow_pickle=False)
    record = None
    if "scorer" in state:  # a lone run is not scored: there is nothing to choose
        record = score_record(state["score_key"], labels,
                              state["scorer"].fold_accuracies(labels))
    score = None if record is None else record["score"]
    return {"name": task.name, "labels": labels, "score": score,
            "seconds": time.perf_counter() - start, "fitted": task.fit, "files": files,
            "score_record": record}


def commit_task(task: Task, result: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    """Write what :func:`compute_task` returned into ``task.run_dir`` (the run directory,
    atomically, then score.json) and return the result without the files."""
    files, record = result.pop("files"), result.pop("score_record")
    if task.run_dir is not None:
        if files is not None:
            files.write(task.run_dir, True, state["protect"])
        if record is not None:
            write_score(task.run_dir, record)
    return result


def do_task(task: Task, state: dict[str, Any]) -> dict[str, Any]:
    """Run one task and write its outputs (in the worker process); returns ``{"name",
    "labels", "score", "seconds", "fitted"}``."""
    return commit_task(task, compute_task(task, state), state)


def run_tasks(tasks: Sequence[Task], jobs: int, state: dict[str, Any],
              on_done: Callable[[Task, dict[str, Any]], None], backend: str = "local",
              address: str | None = None, workers: Workers | None = None) -> None:
    """Run ``tasks`` with ``backend``: ``local`` (:func:`humelabel.runs.jobs.execute`, or the
    open pool ``workers`` (started with ``state``) when given; each worker writes its
    outputs) or ``ray`` (:func:`humelabel.runs.ray_backend.execute`, this process writes each
    task's outputs as its result arrives); then ``on_done``."""
    if backend == "local" and workers is not None:
        workers.run(do_task, tasks, on_done)
    elif backend == "local":
        execute(do_task, tasks, jobs, state, on_done)
    elif backend == "ray":
        ray_backend.execute(compute_task, tasks, jobs, state,
                            lambda t, r: on_done(t, commit_task(t, r, state)),
                            address=address)
    else:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
