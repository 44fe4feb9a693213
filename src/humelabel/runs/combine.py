"""Combine runs made earlier (``humelabel ensemble``): score, align, vote, write.

Runs are given by their folders (fit outputs, or multi-seed directories whose ``runs/`` are
all used); they are read, never written (a score cached in a run's score.json with the same
settings is reused). The output holds the combination only; its ``alignment.json`` names the
runs by absolute path.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import InputError, atomic_output_dir
from ..io.rundir import LABELS, RunRecord, provenance, read_run
from .ensemble import Ensemble, combine_labelings
from .jobs import execute
from .multiseed import Task, do_task
from .outputs import alignment_record, csv_text, ensemble_metrics, run_rows, top_level_writers
from .scoring import ScoreOptions, cached_score, score_key

__all__ = ["combine_runs", "expand_run_dirs"]


def expand_run_dirs(paths: Sequence[str | os.PathLike[str]]) -> list[Path]:
    """Run folders: each path is one (it has labels.npy) or holds ``runs/`` (all of them,
    seeds in numeric order).

    Raises:
        InputError: a path is neither, or a run is named twice.
    """
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            raise InputError(path, "not found" if not path.exists() else "is not a directory")
        if (path / "runs").is_dir():
            members = [p for p in (path / "runs").iterdir()
                       if p.is_dir() and not p.name.startswith(".")]
            members.sort(key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit()
                                        else 0, p.name))
            if not members:
                raise InputError(path / "runs", "holds no run directories")
            found.extend(members)
        elif (path / LABELS).is_file():
            found.append(path)
        else:
            raise InputError(path, "is not a run directory (no labels.npy) and has no runs/")
    if len({p.resolve() for p in found}) != len(found):
        raise InputError(" ".join(map(str, paths)), "a run directory is given twice")
    return found


def _k(records: list[RunRecord], k: int | None) -> int:
    if k is not None:
        return k
    ks = {record.k for record in records if record.k is not None}
    if len(ks) > 1:
        raise InputError("--k", f"the runs were made with different k ({sorted(ks)}); give it")
    k = ks.pop() if ks else int(max(int(r.labels.max()) for r in records)) + 1
    for record in records:
        if record.labels.max() >= k:
            raise InputError(record.path / LABELS, f"has labels outside 0..{k - 1}")
    return k


def combine_runs(run_dirs: Sequence[Path], phi2: np.ndarray, out: str | os.PathLike[str], *,
                 phi2_record: dict[str, Any], k: int | None = None,
                 truth: np.ndarray | None = None, files: dict[str, dict[str, Any]] | None = None,
                 score: ScoreOptions | None = None, jobs: int = 1, overwrite: bool = False,
                 protect: Sequence[str] = (), argv: Sequence[str] | None = None,
                 progress: Any = None) -> tuple[Ensemble, int, list[str], dict[str, Any] | None]:
    """Score the runs of ``run_dirs`` on ``phi2`` (n, d2), combine them, write ``out``.

    ``phi2_record``: its file record (sha256, key) for the score cache; ``files``: input
    records for config.json. Returns the Ensemble, k, the run names and metrics (with truth).
    """
    score = score or ScoreOptions()
    records = [read_run(path, phi2.shape[0], k) for path in run_dirs]
    k = _k(records, k)
    key = score_key(score, phi2_record["sha256"], phi2_record.get("key"))
    names = [str(path) for path in run_dirs]
    scores: dict[str, float] = {}
    tasks = []
    for name, record in zip(names, records, strict=True):
        cached = cached_score(record.path, key, record.labels)
        if cached is not None:
            scores[name] = cached
        else:  # run directories given here are read, never written
            tasks.append(Task(name=name, labels=record.labels))
    state = {"score_key": key}
    if tasks:
        state["scorer"] = score.scorer(phi2)
    start = time.perf_counter()

    def on_done(task: Task, result: dict[str, Any]) -> None:
        scores[task.name] = result["score"]
        if progress is not None:
            progress(f"[{len(scores)}/{len(names)}] {task.name}: score {result['score']:.4f} "
                     f"({result['seconds']:.1f} s)")

    execute(do_task, tasks, jobs, state, on_done)
    ens = combine_labelings([r.labels for r in records], [scores[n] for n in names],
                            n_classes=k)
    seeds = [record.seed for record in records]
    rows, columns = run_rows(names, seeds, ens, truth)
    metrics = ensemble_metrics(ens, truth, rows) if truth is not None else None
    absolute = [os.path.abspath(n) for n in names]
    config = {
        **provenance(argv, "ensemble"), "k": k, "inputs": files or {},
        "score": {**key, "data": "phi2"},
        "runs": [{"run": a, "seed": s, "score": scores[n]}
                 for a, n, s in zip(absolute, names, seeds, strict=True)],
        "reference": absolute[ens.reference], "seconds": time.perf_counter() - start,
    }
    writers = top_level_writers(ens, csv_text(rows, columns),
                                alignment_record(ens, absolute, k), metrics, config)
    with atomic_output_dir(out, "ensemble", overwrite, list(protect)) as tmp:
        for name, write in writers.items():
            write(tmp / name)
    return ens, k, names, metrics
