"""Many seeds (and configurations) of HUME combined into one labeling: :func:`fit_seeds`.

With an output directory ``out`` every run is a complete run directory, written atomically as
soon as its seed finishes, with its generalization score cached next to it::

    out/runs/<seed>/                 labels.npy, model.safetensors, config.json, ..., score.json
    out/grid/<config>/runs/<seed>/   the same, with a grid of configurations (select)

Called again with the same settings it reuses every finished run whose config.json matches
(:func:`humelabel.runs.fitting.existing_run`) and fits only the missing ones. The
generalization scorer (phi2 whitened) is fitted once per call and shared by every run and
process. :meth:`MultiSeedResult.save` writes the combination at the top of ``out``
(:mod:`humelabel.runs.outputs`), ``config.json`` last.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io.rundir import SELECT_CSV, provenance
from . import ray_backend
from .candidates import is_continuation, score_margin, starts
from .continuation import continuation_tasks, remembered
from .ensemble import Ensemble, combine_labelings
from .fitting import FitInputs, FitSettings, existing_run
from .jobs import Workers, one_core
from .outputs import (
    alignment_record,
    commit_top_level,
    csv_text,
    ensemble_metrics,
    run_rows,
    top_level_writers,
)
from .scoring import ScoreOptions, cached_score, score_key
from .select import pick_per_seed, select, select_columns, select_metrics, tag
from .tasks import BACKENDS, Task, do_task, run_tasks

__all__ = ["BACKENDS", "MultiSeedResult", "ScoreOptions", "SeedRun", "Task", "do_task",
           "fit_seeds", "run_tasks", "score_labelings"]


def score_labelings(labelings: Sequence[np.ndarray], state: dict[str, Any], jobs: int,
                    backend: str = "local", address: str | None = None) -> list[float]:
    """Generalization scores of labelings (each (n,)) with the scorer of ``state``."""
    tasks = [Task(name=str(i), labels=np.asarray(lab)) for i, lab in enumerate(labelings)]
    scores: dict[str, float] = {}
    run_tasks(tasks, jobs, state, lambda t, r: scores.__setitem__(t.name, r["score"]),
              backend, address)
    return [scores[t.name] for t in tasks]


@dataclass
class SeedRun:
    """One run: ``name`` (e.g. ``runs/3`` or ``grid/<config>/runs/3``), its seed, folder
    (None without an output directory), grid overrides, labels (n_eval,) and score."""

    name: str
    seed: int
    run_dir: Path | None
    overrides: dict[str, Any]
    config_tag: str | None = None
    labels: np.ndarray | None = None
    score: float | None = None
    reused: bool = False


@dataclass
class MultiSeedResult:
    """What :func:`fit_seeds` found.

    Attributes:
        runs: the combined runs (with a grid: the selected configuration's).
        ensemble: their combination (labels, agreement, reference, maps, ...).
        all_runs: every run (every configuration's).
        metrics: with truth, the combination's metrics.json.
        select_rows: with a grid, one row of select.csv per configuration (per
            configuration and seed with a select scorer).
        selected: with a grid, the kept configuration's tag (with a select scorer: the
            reference run's); picks: with a select scorer, each seed's.
    """

    runs: list[SeedRun]
    ensemble: Ensemble
    all_runs: list[SeedRun]
    n_classes: int
    seeds: list[int]
    settings: FitSettings
    inputs: FitInputs
    score_key: dict[str, Any]
    jobs: int
    seconds: float
    metrics: dict[str, Any] | None = None
    configs: list[dict[str, float]] | None = None
    select_rows: list[dict[str, Any]] | None = None
    selected: str | None = None
    picks: list[str] | None = None
    backend: str = "local"
    select_score: str = "generalization score"

    @property
    def labels_(self) -> np.ndarray:
        """(n_eval,) int64 the majority vote."""
        return self.ensemble.labels

    @property
    def agreement_(self) -> np.ndarray:
        """(n_eval,) float64 fraction of runs that agree with the vote, per row."""
        return self.ensemble.agreement

    def runs_csv(self) -> str:
        rows, columns = run_rows([r.name for r in self.runs], [r.seed for r in self.runs],
                                 self.ensemble, self.inputs.truth)
        for row, run in zip(rows, self.runs, strict=True):
            if run.score is None:  # a lone run, not scored
                row["score"] = ""
        return csv_text(rows, columns)

    def alignment(self) -> dict[str, Any]:
        """alignment.json: run folders relative to the output directory, and their maps."""
        return alignment_record(self.ensemble, [r.name for r in self.runs], self.n_classes)

    def config(self) -> dict[str, Any]:
        """The top-level config.json of ``fit --seeds`` / ``--select``."""
        s, inputs = self.settings, self.inputs
        config: dict[str, Any] = {
            **provenance(s.argv, "select" if self.configs is not None else "multi-seed"),
            "k": s.k, "preset": s.preset, "overrides": inputs.overrides, "seeds": self.seeds,
            "jobs": self.jobs, "backend": self.backend,
            "mode": "inductive" if inputs.inductive else "transductive",
            "normalize": s.normalize, "phi2_scaling": s.phi2_scaling,
            "device_requested": s.device, "inputs": inputs.files,
            "score": {**self.score_key, "data": inputs.eval_role},
            "runs": [{"run": r.name, "seed": r.seed, "score": r.score, "reused": r.reused}
                     for r in self.runs],
            "reference": self.runs[self.ensemble.reference].name, "seconds": self.seconds,
        }
        if self.configs is not None:
            config["grid"] = self.configs
            config["select_score"] = self.select_score
            config["selected"] = {"config": self.selected,
                                  **next(c for c in self.configs if tag(c) == self.selected)}
            if self.picks is not None:
                config["picks"] = dict(zip(map(str, self.seeds), self.picks, strict=True))
        return config

    def record(self) -> dict[str, Any]:
        """A short account of the combination (for ``run``'s config.json)."""
        ens = self.ensemble
        return {
            "seeds": self.seeds,
            "combination": "single run" if len(self.runs) == 1 else (
                f"{len(self.runs)} runs: "
                + ("one candidate per seed, reference by agreement and score"
                   if self.picks is not None else "generalization score")
                + ", Hungarian alignment, majority vote"),
            "generalization_scores": [r.score for r in self.runs],
            "reference_scores": ens.scores.tolist(),
            "reference_seed_index": int(ens.reference),
            "mean_agreement": float(ens.agreement.mean()), "score": self.score_key,
            "runs": [{"run": r.name, "seed": r.seed, "score": r.score, "reused": r.reused}
                     for r in self.runs],
            "fit_seconds": self.seconds,
        }

    def save(self, out: str | os.PathLike[str], *, command: str = "fit",
             config: dict[str, Any] | None = None, fill: Callable[[Path], None] | None = None,
             known: Sequence[str] = ()) -> None:
        """Write the top level of ``out`` (whose runs are there already), config.json last.

        ``config`` replaces the default :meth:`config`; ``fill(folder)`` writes more files
        (e.g. a report) among them; ``known``: names of such files an earlier call may have
        left, removed when not written again; the manifest is ``command``'s.
        """
        extra = {}
        metrics = self.metrics
        if self.select_rows is not None:
            columns = select_columns(self.configs or [], self.picks is not None) + (
                ["acc", "nmi", "ari"] if self.inputs.truth is not None else [])
            extra[SELECT_CSV] = csv_text(self.select_rows, columns)
        writers = top_level_writers(self.ensemble, self.runs_csv(), self.alignment(), metrics,
                                    config if config is not None else self.config(), extra)
        commit_top_level(Path(out), writers, command, fill, known)


def _plan(out: Path | None, seeds: Sequence[int], configs: list[dict[str, float]] | None
          ) -> list[SeedRun]:
    runs = []
    for config in configs or [{}]:
        name = tag(config) if configs is not None else None
        prefix = f"grid/{name}/" if name is not None else ""
        for seed in seeds:
            runs.append(SeedRun(name=f"{prefix}runs/{seed}", seed=seed, overrides=config,
                                run_dir=out / prefix / "runs" / str(seed) if out else None,
                                config_tag=name))
    return runs


def fit_seeds(
    phi1: np.ndarray, phi2: np.ndarray, n_classes: int, seeds: Sequence[int], *,
    phi1_eval: np.ndarray | None = None, phi2_eval: np.ndarray | None = None,
    truth: np.ndarray | None = None, out: str | os.PathLike[str] | None = None,
    overwrite: bool = False, jobs: int = 1, preset: str = "fast",
    overrides: dict[str, Any] | None = None, normalize: bool = True,
    phi2_scaling: str = "global", device: str = "auto", diagnose: bool = False,
    grid: list[dict[str, float]] | None = None, score: ScoreOptions | None = None,
    files: dict[str, dict[str, Any]] | None = None, argv: Sequence[str] | None = None,
    protect: Sequence[str] = (), verbose: bool = False,
    progress: Callable[[str], None] | None = None, save: bool = True,
    backend: str = "local", address: str | None = None, select_scorer: Any = None,
) -> MultiSeedResult:
    """Fit HUME once per seed (per configuration of ``grid``) and combine the runs.

    Args:
        phi1: (n, d1) the representation to label; phi2: (n, d2) the second view.
        n_classes: k. seeds: the seeds (R of them).
        phi1_eval, phi2_eval: (m, d1), (m, d2) inductive mode: the rows to label.
        truth: (n or m,) true labels, for metrics only.
        out: output directory; runs are written to and reused from ``out/runs/<seed>/``
            (``out/grid/<config>/runs/<seed>/`` with ``grid``), and with ``save`` the
            combination to the top. ``overwrite`` redoes runs made with other settings
            (else they raise InputError before anything is fitted).
        jobs: processes (one torch thread each; the results do not depend on it).
        backend: ``local`` (``jobs`` processes here) or ``ray``: every run is a Ray task
            (one CPU, one torch thread; the same results) on the cluster at ``address``
            (``host:port``; default: a new local cluster), the inputs sent once, each run
            written here as it arrives, a task whose worker died retried
            (:mod:`humelabel.runs.ray_backend`; needs ``pip install 'humelabel[ray]'``).
        grid: configurations (dicts of hyperparameters) to select from by the score of
            their combined labeling (:mod:`humelabel.runs.select`).
        select_scorer: instead of the generalization score of each configuration's vote,
            per seed the configuration whose run this scores best, then those runs voted
            (:func:`humelabel.runs.select.pick_per_seed`): an
            object with ``score_many(labelings) -> list[float]`` (each labeling's score its
            own: with ``jobs`` > 1 or Ray each run is scored as it arrives), e.g. a fitted
            :class:`humelabel.runs.learnability.LearnabilityScorer` (``humelabel run``).
            A continuation configuration of the grid
            (:func:`humelabel.runs.candidates.is_continuation`, needs it) is fitted after the
            others, started from its seed's best-scoring uniform-prior run.
        score: the generalization score's settings; files: input records for config.json
            (default: checksums of the arrays); argv: the command, for provenance;
            protect: files the outputs must never replace; progress: called with messages.

    Returns:
        The combination (``labels_`` (n_eval,), ``agreement_``) and every run.
    """
    start = time.perf_counter()
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == "ray":
        ray_backend.import_ray()  # before any work: the one-line error when it is missing
    continuing = grid is not None and any(is_continuation(c) for c in grid)
    if continuing:
        if select_scorer is None:
            raise ValueError("a continuation candidate needs select_scorer: it starts from "
                             "the run that scores best")
        if not starts(grid):
            raise ValueError("a continuation candidate needs a uniform-prior candidate to "
                             "start from")
    score = score or ScoreOptions()
    inputs = FitInputs(phi1=phi1, phi2=phi2, phi1_eval=phi1_eval, phi2_eval=phi2_eval,
                       truth=truth, files=dict(files or {}), overrides=dict(overrides or {}))
    inputs.fill_files()
    settings = FitSettings(k=n_classes, preset=preset, normalize=normalize,
                           phi2_scaling=phi2_scaling, device=device, diagnose=diagnose,
                           argv=argv)
    out_path = Path(out) if out is not None else None
    runs = _plan(out_path, seeds, grid)
    record = inputs.files[inputs.eval_role]
    key = score_key(score, record["sha256"], record.get("key"))
    n_eval = inputs.eval_phi2.shape[0]
    # Runs need the generalization score only to pick each combination's reference run: not
    # for a lone run, nor when select_scorer picks per seed (it orders the references).
    needs_scores = not ((grid is None and len(runs) == 1) or select_scorer is not None)
    tasks: list[Task] = []
    for run in runs:  # which runs exist already, and do they match? (before any work)
        if is_continuation(run.overrides):  # its start is known after the others' fits
            continue
        if run.run_dir is not None and run.run_dir.exists():
            found = existing_run(run.run_dir, settings, inputs, run.seed, run.overrides,
                                 n_eval, overwrite)
            if found is not None:
                run.labels, run.reused = found, True
                run.score = cached_score(run.run_dir, key, found)
                if run.score is None and needs_scores:
                    tasks.append(Task(name=run.name, run_dir=str(run.run_dir), labels=found))
                continue
        tasks.append(Task(name=run.name, seed=run.seed, overrides=run.overrides, fit=True,
                          run_dir=str(run.run_dir) if run.run_dir is not None else None))
    # Longest first, so that the others fill the remaining workers: a fit with phi1's graph
    # view builds the view and solves two inner problems per split (about 1.3 plain fits).
    tasks.sort(key=lambda t: not (t.fit and t.overrides.get("graph_neighbors") is not None))
    # With a continuation the first round fits only its starts; the other candidates share
    # the second round with it, so that no worker idles while it waits for its start.
    deferred: list[Task] = []
    if continuing:
        first = {tag(grid[i]) for i in starts(grid)}
        second = {r.name for r in runs if r.config_tag not in first}
        deferred = [t for t in tasks if t.name in second]
        tasks = [t for t in tasks if t.name not in second]
    if out_path is not None:
        (out_path / ("grid" if grid is not None else "runs")).mkdir(parents=True,
                                                                     exist_ok=True)
    state: dict[str, Any] = {
        "settings": settings, "inputs": inputs, "score_key": key, "protect": list(protect),
        "verbose": verbose and jobs == 1 and backend == "local",
        "out": os.path.abspath(out) if out else None,
    }
    if (tasks and needs_scores) or (grid is not None and select_scorer is None):
        state["scorer"] = score.scorer(inputs.eval_phi2)  # whitened once for every run
    say = progress or (lambda message: None)
    where = f"jobs {jobs}" if backend == "local" else f"on Ray ({address or 'local cluster'})"
    say(f"{len(runs)} runs: {sum(r.reused for r in runs)} finished earlier, "
        f"{sum(t.fit for t in tasks)} to fit, {where}")
    by_name = {run.name: run for run in runs}
    done = [0, len(tasks)]
    score_many = None if select_scorer is None else remembered(select_scorer.score_many)
    elsewhere = jobs > 1 or backend != "local"  # the fits run in other processes

    def on_done(task: Task, result: dict[str, Any]) -> None:
        run = by_name[task.name]
        run.labels, run.score = result["labels"], result["score"]
        done[0] += 1
        verb = "fitted" if result["fitted"] else "scored"
        scored = "" if result["score"] is None else f", score {result['score']:.4f}"
        say(f"[{done[0]}/{done[1]}] {task.name}: {verb} in {result['seconds']:.1f} s"
            + scored)
        if score_many is not None and result["fitted"] and elsewhere:
            # Scored here as it arrives, while the workers fit the others (in one process
            # while they do: the cores are theirs): the continuation's start and the final
            # pick read the score from memory (``remembered``).
            with one_core(select_scorer, done[0] < done[1]):
                score_many([run.labels])

    session = (ray_backend.connect(address) if backend == "ray" and (tasks or grid)
               else contextlib.nullcontext())
    select_rows, selected, picks, ens = None, None, None, None
    # Locally, one pool for both rounds (a second would start its processes again), as wide
    # as the wider round.
    widest = max(len(tasks), len(deferred) + sum(is_continuation(r.overrides) for r in runs))
    pool = (Workers(max(1, min(jobs, widest)), state) if backend == "local"
            else contextlib.nullcontext())
    with session:  # one Ray connection for the runs and the grid's combinations
        with pool as workers:
            run_tasks(tasks, jobs, state, on_done, backend, address, workers)
            later = [] if score_many is None else continuation_tasks(
                runs, seeds, score_many, lambda run: existing_run(
                    run.run_dir, settings, inputs, run.seed, run.overrides, n_eval,
                    overwrite))
            if later or deferred:
                done[1] += len(later) + len(deferred)
                say(f"{len(later)} continuation runs to fit, each from its seed's "
                    f"best-scoring uniform-prior run, beside {len(deferred)} more")
                run_tasks([*later, *deferred], jobs, state, on_done, backend, address,
                          workers)
        if grid is not None and score_many is not None:
            say(f"scoring {len(grid)} configurations x {len(seeds)} seeds with "
                f"{type(select_scorer).__name__}")
            select_rows, picks, ens = pick_per_seed(
                grid, {tag(c): [r.labels for r in runs if r.config_tag == tag(c)]
                       for c in grid}, n_classes, score_many, seeds, truth,
                [score_margin(c) for c in grid])
            selected = picks[ens.reference]
        elif grid is not None:
            members = {tag(c): ([r.labels for r in runs if r.config_tag == tag(c)],
                                [0.0 if r.score is None else r.score
                                 for r in runs if r.config_tag == tag(c)])
                       for c in grid}
            select_rows, selected, _ = select(
                grid, members, n_classes,
                lambda labs: score_labelings(labs, state, jobs, backend, address), truth)
    if picks is not None:
        chosen = [by_name[f"grid/{name}/runs/{seed}"]
                  for name, seed in zip(picks, seeds, strict=True)]
    else:
        chosen = [run for run in runs if run.config_tag == selected]
        ens = combine_labelings([r.labels for r in chosen],
                                [0.0 if r.score is None else r.score for r in chosen],
                                n_classes=n_classes)
    metrics = None
    if truth is not None:
        rows, _ = run_rows([r.name for r in chosen], [r.seed for r in chosen], ens, truth)
        metrics = ensemble_metrics(ens, truth, rows)
        if select_rows is not None:
            metrics["select"] = select_metrics(select_rows)
    result = MultiSeedResult(
        runs=chosen, ensemble=ens, all_runs=runs, n_classes=n_classes, seeds=list(seeds),
        settings=settings, inputs=inputs, score_key=key, jobs=jobs,
        seconds=time.perf_counter() - start, metrics=metrics, configs=grid,
        select_rows=select_rows, selected=selected, picks=picks, backend=backend,
        select_score=("generalization score" if select_scorer is None
                      else type(select_scorer).__name__))
    if out_path is not None and save:
        result.save(out_path)
    return result
