"""The multi-seed library (:mod:`humelabel.runs.multiseed`, :mod:`humelabel.runs.jobs`):
the Python API equals ``fit --seeds``, ``predict --model`` reproduces a combination, and
workers die with their parent."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from test_cli_runs import D1, D2, K, data, fit_argv, run_ok  # noqa: F401 (fixture)

from humelabel.runs.multiseed import fit_seeds
from humelabel.runs.scoring import ScoreOptions

TINY_HYPER = {"iterations": 3, "inner_steps": 3, "num_subsets": 2, "subset_size": 50}


def predict(model: Path, phi1: Path, out: Path, capsys: pytest.CaptureFixture[str]
            ) -> np.ndarray:
    run_ok(["predict", "--model", str(model), "--phi1", str(phi1), "--out", str(out),
            "--quiet"], capsys)
    return np.load(out)


def test_predict_on_fit_seeds_reproduces_the_vote(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    out = tmp_path / "multi"
    run_ok(fit_argv(data, out, "--seeds", "0-2"), capsys)
    assert (out / "alignment.json").is_file()
    np.testing.assert_array_equal(predict(out, data["phi1"], tmp_path / "p.npy", capsys),
                                  np.load(out / "labels.npy"))


def test_predict_on_inductive_fit_seeds_reproduces_the_eval_vote(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    rng = np.random.default_rng(1)
    for role, dim in (("phi1_eval", D1), ("phi2_eval", D2)):
        data[role] = tmp_path / f"{role}.npy"
        np.save(data[role], rng.normal(size=(30, dim)).astype(np.float32))
    out = tmp_path / "multi"
    run_ok(fit_argv(data, out, "--seeds", "0-2", "--phi1-eval", str(data["phi1_eval"]),
                    "--phi2-eval", str(data["phi2_eval"])), capsys)
    np.testing.assert_array_equal(predict(out, data["phi1_eval"], tmp_path / "p.npy", capsys),
                                  np.load(out / "labels.npy"))


def test_python_api_equals_fit_seeds(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]  # noqa: F811
) -> None:
    out = tmp_path / "cli"
    run_ok(fit_argv(data, out, "--seeds", "0-2"), capsys)
    phi1, phi2 = np.load(data["phi1"]), np.load(data["phi2"])
    result = fit_seeds(phi1, phi2, K, [0, 1, 2], overrides=TINY_HYPER,
                       score=ScoreOptions(n_folds=3))
    np.testing.assert_array_equal(result.labels_, np.load(out / "labels.npy"))
    np.testing.assert_array_equal(result.agreement_, np.load(out / "agreement.npy"))
    for run in result.runs:
        np.testing.assert_array_equal(run.labels, np.load(out / run.name / "labels.npy"))
    # With out=..., the same files as the command (and a second call reuses every run).
    api = tmp_path / "api"
    fit_seeds(phi1, phi2, K, [0, 1, 2], overrides=TINY_HYPER, score=ScoreOptions(n_folds=3),
              out=api)
    assert (api / "labels.npy").read_bytes() == (out / "labels.npy").read_bytes()
    again = fit_seeds(phi1, phi2, K, [0, 1, 2], overrides=TINY_HYPER,
                      score=ScoreOptions(n_folds=3), out=api)
    assert all(run.reused for run in again.runs)


class _FixedScores:
    """A select scorer that prefers the labeling at a given position (no fold noise)."""

    def __init__(self, best: int):
        self.best = best
        self.calls: list[int] = []

    def score_many(self, labelings: list[np.ndarray]) -> list[float]:
        self.calls.append(len(labelings))
        return [1.0 if i == self.best else 0.0 for i in range(len(labelings))]


def test_select_scorer_ranks_the_grid(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    phi1, phi2 = rng.normal(size=(60, D1)), rng.normal(size=(60, D2))
    grid = [{"tau_end": None}, {"tau_end": 0.05}]
    for best in (0, 1):
        scorer = _FixedScores(best)
        result = fit_seeds(phi1, phi2, K, [0], overrides=TINY_HYPER, grid=grid,
                           select_scorer=scorer, out=tmp_path / str(best))
        # Every configuration is scored by the select scorer (one call, both combinations),
        # the run of the one it prefers is the result, and a lone seed needs no
        # generalization score.
        assert scorer.calls == [2]
        assert result.selected == ["tauendnone", "tauend0.05"][best]
        assert [run.name for run in result.runs] == [f"grid/{result.selected}/runs/0"]
        assert result.runs[0].score is None
        np.testing.assert_array_equal(result.labels_, result.runs[0].labels)
        rows = (tmp_path / str(best) / "select.csv").read_text().splitlines()
        assert rows[0] == "config,seed,tau_end,runs,score,margin,eligible,selected"
        # One run each; the picked row is the only selected one.
        cells = [row.split(",") for row in rows[1:]]
        assert [c[1] for c in cells] == ["0", "0"] and [c[3] for c in cells] == ["1", "1"]
        assert cells[best][-1] == "1" and cells[1 - best][-1] == "0"
    # Each configuration reached its run: the scheduled one ends at its tau_end.
    for config, tau in (("tauendnone", 0.3), ("tauend0.05", 0.05)):
        history = (tmp_path / "0" / "grid" / config / "runs" / "0" / "history.jsonl")
        assert json.loads(history.read_text().splitlines()[-1])["tau"] == pytest.approx(tau)


class _ScoresByPosition:
    """A select scorer that gives the labeling at position i the score ``values[i]``."""

    def __init__(self, values: list[float]):
        self.values = values

    def score_many(self, labelings: list[np.ndarray]) -> list[float]:
        assert len(labelings) == len(self.values)
        return list(self.values)


def test_select_scorer_picks_per_seed_and_votes_the_picks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    phi1, phi2 = rng.normal(size=(60, D1)), rng.normal(size=(60, D2))
    grid = [{"tau_end": None}, {"tau_end": 0.05}]
    # Positions: configuration-major, seeds in order: seed 4 prefers the schedule.
    scorer = _ScoresByPosition([0.9, 0.1, 0.9, 0.1, 0.9, 0.1])
    result = fit_seeds(phi1, phi2, K, [3, 4, 5], overrides=TINY_HYPER, grid=grid,
                       select_scorer=scorer, out=tmp_path / "out")
    assert result.picks == ["tauendnone", "tauend0.05", "tauendnone"]
    assert [run.name for run in result.runs] == [
        "grid/tauendnone/runs/3", "grid/tauend0.05/runs/4", "grid/tauendnone/runs/5"]
    # No generalization score is computed: the reference is ranked by agreement and score.
    assert all(run.score is None for run in result.all_runs)
    assert result.selected == result.picks[result.ensemble.reference]
    from humelabel.runs.select import reference_scores

    np.testing.assert_allclose(result.ensemble.scores, reference_scores(
        [run.labels for run in result.runs], [0.9, 0.9, 0.9]))
    config = json.loads((tmp_path / "out" / "config.json").read_text())
    assert config["picks"] == {"3": "tauendnone", "4": "tauend0.05", "5": "tauendnone"}
    assert "one candidate per seed" in result.record()["combination"]
    rows = (tmp_path / "out" / "select.csv").read_text().splitlines()
    assert len(rows) == 1 + 6
    assert sum(row.endswith(",1") for row in rows[1:]) == 3


def _children(pid: int) -> list[int]:
    """Pids whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of ``pid`` so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
def test_workers_exit_when_the_parent_is_killed(
    data: dict[str, Path], tmp_path: Path  # noqa: F811
) -> None:
    argv = [a for a in fit_argv(data, tmp_path / "out", "--seeds", "0-3", "--jobs", "2")
            if a != "--quiet"]
    argv[argv.index("--iterations") + 1] = "100000"  # a fit far longer than the test
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    parent = subprocess.Popen([sys.executable, "-m", "humelabel", *argv], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    workers: list[int] = []
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and parent.poll() is None:
            workers = [pid for pid in _children(parent.pid)
                       if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]
            if len(workers) == 2:
                break
            time.sleep(0.2)
        assert len(workers) == 2, parent.stderr.read() if parent.poll() is not None else ""
        # Kill the parent only once both workers are inside a fit: a worker still waiting
        # for a task would exit on its closed queue even without a watchdog. Starting a
        # worker (imports, state) is a few seconds of CPU; 8 s leaves a margin.
        while time.monotonic() < deadline and min(map(_cpu_seconds, workers)) < 8:
            time.sleep(0.2)
        assert min(map(_cpu_seconds, workers)) >= 8
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and any(_alive(pid) for pid in workers):
            time.sleep(0.2)
        assert not any(_alive(pid) for pid in workers)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        for pid in workers:  # a surviving worker must not keep fitting after the test
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_continuation_starts_from_its_seeds_best_uniform_run(tmp_path: Path) -> None:
    from humelabel.estimator import describe_init
    from humelabel.runs.candidates import CONTINUE

    rng = np.random.default_rng(0)
    phi1, phi2 = rng.normal(size=(60, D1)), rng.normal(size=(60, D2))
    grid = [{"tau_end": None}, {"tau_end": 0.05},
            {"prior": "ratio", "size_floor": 0.2, "init": CONTINUE}]

    class ByTau:  # prefers what it sees first: the constant-tau run of each seed
        def score_many(self, labelings):
            return [1.0 - 0.01 * i for i in range(len(labelings))]

    out = tmp_path / "out"
    result = fit_seeds(phi1, phi2, K, [0, 1], overrides=TINY_HYPER, grid=grid,
                       select_scorer=ByTau(), out=out)
    for seed in (0, 1):
        run = json.loads((out / "grid" / "priorratio_floor0.2_initpick" / "runs" / str(seed)
                          / "config.json").read_text())
        start = np.load(out / "grid" / "tauendnone" / "runs" / str(seed) / "labels.npy")
        assert run["hyperparameters"]["init"] == describe_init(start)
        assert run["part_of"]["grid_overrides"]["init"] == describe_init(start)
        assert len(json.dumps(run)) < 20_000  # the labeling is not written out
    rows = (out / "select.csv").read_text().splitlines()
    assert rows[0].split(",")[-3:] == ["margin", "eligible", "selected"]
    # Called again: every run reused, the continuation's start found the same.
    again = fit_seeds(phi1, phi2, K, [0, 1], overrides=TINY_HYPER, grid=grid,
                      select_scorer=ByTau(), out=out)
    assert all(run.reused for run in again.all_runs)
    np.testing.assert_array_equal(again.labels_, result.labels_)
    with pytest.raises(ValueError, match="needs select_scorer"):
        fit_seeds(phi1, phi2, K, [0], overrides=TINY_HYPER, grid=grid)


def test_both_rounds_of_a_continuation_share_one_pool(tmp_path: Path, monkeypatch) -> None:
    import humelabel.runs.multiseed as multiseed
    import humelabel.runs.tasks as tasks
    from humelabel.runs.candidates import CONTINUE
    from humelabel.runs.jobs import Workers

    opened = []

    class Counted(Workers):
        def __enter__(self):
            opened.append(self.jobs)
            return super().__enter__()

    def no_new_pool(*args, **kwargs):
        raise AssertionError("a round started a pool of its own")

    rng = np.random.default_rng(0)
    phi1, phi2 = rng.normal(size=(60, D1)), rng.normal(size=(60, D2))
    grid = [{"tau_end": None}, {"tau_end": 0.05}, {"prior": "ratio"},
            {"prior": "ratio", "size_floor": 0.2, "init": CONTINUE}]

    class Largest:  # each labeling's score its own: the size of its largest cluster
        def __init__(self):
            self.scored: list[bytes] = []
            self.calls: list[int] = []

        def score_many(self, labelings):
            self.scored += [lab.tobytes() for lab in labelings]
            self.calls.append(len(labelings))
            return [float(np.bincount(lab).max()) for lab in labelings]

    here = fit_seeds(phi1, phi2, K, [0], overrides=TINY_HYPER, grid=grid,
                     select_scorer=Largest(), jobs=1)
    monkeypatch.setattr(multiseed, "Workers", Counted)
    monkeypatch.setattr(tasks, "execute", no_new_pool)
    scorer = Largest()
    pooled = fit_seeds(phi1, phi2, K, [0], overrides=TINY_HYPER, grid=grid,
                       select_scorer=scorer, jobs=2, out=tmp_path / "out")
    assert opened == [2]  # rounds: the two starts, then the continuation and the ratio run
    for one, other in zip(here.all_runs, pooled.all_runs, strict=True):
        np.testing.assert_array_equal(one.labels, other.labels)
    np.testing.assert_array_equal(here.labels_, pooled.labels_)
    # With workers each run is scored as it arrives, and once: the continuation's start and
    # the pick read the scores from memory.
    assert sorted(scorer.scored) == sorted({run.labels.tobytes() for run in pooled.all_runs})
    assert set(scorer.calls) == {1}
