"""The continuation candidate's fits (:mod:`humelabel.runs.candidates`), which wait for the
other candidates of their seed: their start is the best-scoring uniform-prior run."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .candidates import continuation_start, is_continuation, starts
from .tasks import Task

__all__ = ["continuation_tasks", "remembered"]


def remembered(score_many: Callable[[list[np.ndarray]], list[float]]
               ) -> Callable[[list[np.ndarray]], list[float]]:
    """``score_many`` that scores a labeling seen in an earlier call from memory (the
    continuation's start is chosen by scores the final pick reads again)."""
    cache: dict[bytes, float] = {}

    def scores(labelings: list[np.ndarray]) -> list[float]:
        keys = [np.ascontiguousarray(labels, dtype=np.int64).tobytes() for labels in labelings]
        new = [i for i, key in enumerate(keys) if key not in cache]
        fresh = (dict(zip(new, score_many([labelings[i] for i in new]), strict=True))
                 if new else {})
        cache.update((keys[i], value) for i, value in fresh.items())
        return [fresh[i] if i in fresh else cache[key] for i, key in enumerate(keys)]

    return scores


def continuation_tasks(runs: Sequence[Any], seeds: Sequence[int],
                       score_many: Callable[[list[np.ndarray]], list[float]],
                       existing: Callable[[Any], np.ndarray | None]) -> list[Task]:
    """The fits of the continuation runs among ``runs`` (:class:`humelabel.runs.multiseed.
    SeedRun` objects, the others fitted; each's ``overrides["init"]`` set to its seed's
    best-scoring uniform-prior run, the first on ties); a finished one with the same start is
    reused (``existing(run)``: its labels or None; raises on other settings)."""
    tasks = []
    for seed in seeds:
        mine = [r for r in runs if r.seed == seed]
        if not any(is_continuation(r.overrides) for r in mine):
            continue
        first = [mine[i] for i in starts([r.overrides for r in mine])]
        start = continuation_start([r.labels for r in first],
                                   score_many([r.labels for r in first]))
        for run in runs:
            if run.seed != seed or not is_continuation(run.overrides):
                continue
            run.overrides = {**run.overrides, "init": start}
            if run.run_dir is not None and run.run_dir.exists():
                found = existing(run)
                if found is not None:
                    run.labels, run.reused = found, True
                    continue
            tasks.append(Task(name=run.name, seed=run.seed, overrides=run.overrides, fit=True,
                              run_dir=str(run.run_dir) if run.run_dir is not None else None))
    return tasks
