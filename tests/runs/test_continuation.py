"""The continuation candidate's fits: scores remembered across calls, and each seed's start."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from humelabel.runs.candidates import CONTINUATION_FLOOR, CONTINUE
from humelabel.runs.continuation import continuation_tasks, remembered


def test_remembered_scores_only_labelings_it_has_not_seen():
    calls = []

    def score_many(labelings):
        calls.append(len(labelings))
        return [float(labels.sum()) for labels in labelings]

    scores = remembered(score_many)
    a, b, c = np.array([0, 1, 1]), np.array([1, 1, 1]), np.array([0, 0, 1])
    assert scores([a, b]) == [2.0, 3.0]
    assert scores([b, c, a.astype(np.int32)]) == [3.0, 1.0, 2.0]  # same ids, same labeling
    assert scores([a]) == [2.0]
    assert calls == [2, 1]  # nothing new, no call


def _run(seed, overrides, labels=None):
    return SimpleNamespace(name=f"{seed}-{len(overrides)}", seed=seed, overrides=overrides,
                           labels=labels, run_dir=None, reused=False)


def test_each_seed_continues_from_its_best_scoring_uniform_prior_run():
    cont = {"prior": "ratio", "size_floor": CONTINUATION_FLOOR, "init": CONTINUE}
    plain, ratio = np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])
    graph = np.array([1, 1, 0, 0])
    runs = []
    for seed in (0, 1):
        runs += [_run(seed, {"tau_end": 0.1}, plain), _run(seed, {"graph_neighbors": 30}, graph),
                 _run(seed, {"prior": "ratio"}, ratio), _run(seed, dict(cont))]
    # Seed 0 scores the graph run best, seed 1 ties (the first wins); the ratio run, best of
    # all, is no start: its prior is not uniform.
    table = {(0, plain.tobytes()): 0.5, (0, graph.tobytes()): 0.7,
             (1, plain.tobytes()): 0.6, (1, graph.tobytes()): 0.6}
    seen = []

    def score_many(labelings):
        seed = len(seen)
        seen.append(len(labelings))
        return [table[(seed, labels.tobytes())] for labels in labelings]

    tasks = continuation_tasks(runs, [0, 1], score_many, lambda run: None)
    assert seen == [2, 2]
    assert [t.seed for t in tasks] == [0, 1] and all(t.fit for t in tasks)
    np.testing.assert_array_equal(tasks[0].overrides["init"], graph)
    np.testing.assert_array_equal(tasks[1].overrides["init"], plain)
    assert tasks[0].overrides["size_floor"] == CONTINUATION_FLOOR
    assert runs[3].overrides["init"] is tasks[0].overrides["init"]


def test_no_start_no_continuation():
    runs = [_run(0, {"prior": "ratio"}, np.zeros(3, dtype=np.int64)),
            _run(0, {"prior": "ratio", "init": CONTINUE})]
    with pytest.raises(ValueError, match="uniform-prior candidate"):
        continuation_tasks(runs, [0], lambda labs: [0.0] * len(labs), lambda run: None)
