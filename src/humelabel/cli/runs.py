"""Many runs to one labeling on the command line: ``fit --seeds/--select``, ``ensemble``,
``reliable``.

Registered into :func:`humelabel.cli.build_parser` by :func:`add_fit_options` (options of
``humelabel fit``) and :func:`add_commands` (the ``ensemble`` and ``reliable`` subcommands).
Same conventions as the rest of the CLI: everything is validated before any work, bad input
prints one line ``humelabel: error: <file>: <problem>`` and exits 2, outputs are atomic.

Multi-seed output directory (``fit --seeds``)::

    DIR/runs/<seed>/     one complete ``fit`` output per seed (labels.npy, model.safetensors,
                         config.json, history.jsonl, metrics.json with --truth) plus
                         score.json (its generalization score, a cache)
    DIR/labels.npy       the majority vote (int64, one per evaluated row)
    DIR/agreement.npy    per row, the fraction of runs that agree with the vote (float64)
    DIR/runs.csv         seed, score, reference, agreement_with_vote[, acc, nmi, ari], run
    DIR/metrics.json     with --truth: the vote's ACC/NMI/ARI, the runs' median, Spearman
                         correlation of score and ACC across runs
    DIR/config.json      every setting, the seeds and their runs; written last

Each run directory is written atomically as soon as its seed finishes, so an interrupted
command keeps its finished seeds; run again (same settings) it reuses every run whose
config.json matches (same inputs by sha256, k, preset, hyperparameters, seed, phi1
normalisation, phi2 scaling, mode) and fits only the missing seeds. A run made with other
settings is an error unless ``--overwrite`` is given, which redoes it. The top-level files are
written at the end, each atomically, ``config.json`` last: a directory whose ``config.json``
exists is complete. With ``--select`` the runs live in ``DIR/grid/<config>/runs/<seed>/`` and
``DIR/select.csv`` lists every configuration of the grid with its score.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import math
import multiprocessing
import os
import secrets
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.stats import spearmanr

from ..analysis.metrics import evaluate
from ..core.presets import resolve
from ..io import (
    InputError,
    atomic_output_dir,
    check_output_dir,
    check_same_rows,
    file_sha256,
    load_labels,
    load_matrix,
    refresh_manifest,
    save_npy_atomic,
    split_key,
    write_json_atomic,
    write_manifest,
    write_text_atomic,
)
from ..io.rundir import file_record, provenance
from ..runs.ensemble import Ensemble, GeneralizationScorer, combine_labelings
from ..runs.reliable import neighbor_agreement, reliable_accuracy, select_reliable
from ..runs.seeds import parse_seeds
from .common import (
    EXIT_OK,
    PROG,
    CliError,
    hyperparameter_overrides,
    metrics_line,
    progress,
)
from .fit import FitInputs, cmd_fit, fit_and_record, input_paths, validate_fit, write_fit_run

__all__ = ["SCORE_METHOD", "add_commands", "add_fit_options", "cmd_fit_many"]

#: Identifies the generalization score's definition in score caches; change it whenever the
#: definition in :mod:`humelabel.ensemble` changes, so that old caches are not reused.
SCORE_METHOD = "cv-logreg-whitened-lbfgs-v1"

#: Default factors of the ``--select`` grid, applied to the resolved base values.
SELECT_FACTORS = {"tau": (0.5, 1.0, 2.0), "entropy_weight": (0.5, 1.0, 2.0),
                  "outer_lr": (0.3, 1.0, 3.0)}
_GRID_TAGS = {"tau": "tau", "entropy_weight": "ew", "outer_lr": "lr"}

#: Files this module writes at the top of an output directory (config.json last).
TOP_LEVEL_FILES = ("labels.npy", "agreement.npy", "runs.csv", "select.csv", "metrics.json",
                   "config.json")



# --------------------------------------------------------------------------------------------
# Argument helpers
# --------------------------------------------------------------------------------------------




def _float_list(option: str, text: str) -> list[float]:
    values = []
    for part in text.split(","):
        try:
            value = float(part)
        except ValueError:
            raise InputError(f"{option} {text}", f"{part!r} is not a number") from None
        if not math.isfinite(value) or value < 0:
            raise InputError(f"{option} {text}", f"{part!r} must be a finite number >= 0")
        values.append(value)
    return values


def _add_score_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "generalization score",
        "k-fold cross-validated accuracy of multinomial logistic regression on phi2 "
        "(whitened) predicting a run's labels; picks the reference run",
    )
    group.add_argument("--score-folds", type=int, default=10, metavar="N",
                       help="cross-validation folds (default: %(default)s)")
    group.add_argument("--score-c", type=float, default=0.1, metavar="C",
                       help="inverse L2 penalty, scikit-learn's C on whitened phi2 "
                       "(default: %(default)s; inf for none)")


def add_fit_options(fit: argparse.ArgumentParser) -> None:
    """Options of ``humelabel fit`` for many seeds and label-free configuration selection."""
    group = fit.add_argument_group(
        "many runs",
        "run several seeds (and configurations), keep each run in DIR/runs/<seed>/ and "
        "combine them by majority vote after Hungarian alignment to the best-scoring run; "
        "an interrupted command, run again, skips the finished seeds",
    )
    group.add_argument("--seeds", metavar="LIST",
                       help="seeds to run, e.g. 0-19 or 0,3,5-7 (instead of --seed)")
    group.add_argument("--jobs", type=int, default=1, metavar="N",
                       help="runs in parallel processes, one torch thread each "
                       "(default: %(default)s)")
    group.add_argument("--select", action="store_true",
                       help="sweep a grid of tau, entropy weight and outer lr and keep the "
                       "configuration whose labeling has the best generalization score "
                       "(labels never used)")
    for name, factors in SELECT_FACTORS.items():
        shown = "/".join(f"{f:g}" for f in factors)
        group.add_argument(f"--select-{name.replace('_', '-')}", metavar="LIST",
                           dest=f"select_{name}",
                           help=f"comma-separated values of {name} for --select (default: "
                           f"{shown} x the preset's or the option's value)")
    _add_score_options(fit)
    fit.set_defaults(handler=_cmd_fit_any)


def _cmd_fit_any(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel fit``: one seed, or many with ``--seeds`` / ``--select``."""
    if args.seeds is not None or args.select:
        return cmd_fit_many(args, argv)
    return cmd_fit(args, argv)


def add_commands(sub: Any) -> None:
    """Register ``humelabel ensemble`` and ``humelabel reliable`` on the subparsers ``sub``."""
    ens = sub.add_parser(
        "ensemble",
        help="combine finished runs: align to the best-scoring run and vote",
        description="Combine runs made earlier (fit output directories, or multi-seed "
        "directories whose runs/ are all used): score each run's labels by its generalization "
        "score on --phi2, align every run to the best one (Hungarian) and take a per-point "
        "majority vote. Writes labels.npy, agreement.npy, runs.csv, config.json and, with "
        "--truth, metrics.json to --out.",
    )
    ens.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                     help="a fit output directory, or a directory with runs/<seed>/ in it")
    ens.add_argument("--phi2", required=True, metavar="FILE",
                     help="phi2 of the rows the runs labeled (phi2-eval for inductive runs)")
    ens.add_argument("--out", required=True, metavar="DIR", help="output directory")
    ens.add_argument("--truth", metavar="FILE", help="true labels; writes metrics.json")
    ens.add_argument("-k", "--k", type=int, metavar="K",
                     help="number of classes (default: from the runs' config.json)")
    ens.add_argument("--jobs", type=int, default=1, metavar="N",
                     help="score runs in parallel processes (default: %(default)s)")
    ens.add_argument("--overwrite", action="store_true",
                     help="replace DIR if it exists and is not empty")
    ens.add_argument("--quiet", action="store_true", help="no progress and no summary")
    _add_score_options(ens)
    ens.set_defaults(handler=_cmd_ensemble)

    rel = sub.add_parser(
        "reliable",
        help="pick points whose combined label is very likely right (for semi-supervision)",
        description="Keep points on which the majority of aligned runs agree and whose "
        "nearest neighbours in --phi mostly share the label, rank them and write the top N "
        "per class as CSV (index, label, run_agreement, neighbor_agreement).",
    )
    rel.add_argument("--runs", required=True, metavar="DIR",
                     help="output of fit --seeds or ensemble (labels.npy and agreement.npy)")
    rel.add_argument("--phi", required=True, metavar="FILE",
                     help="representation for the nearest neighbours, shape (n, d)")
    rel.add_argument("--per-class", required=True, type=int, metavar="N",
                     help="points to keep per class")
    rel.add_argument("--truth", metavar="FILE", help="true labels: report the accuracy")
    rel.add_argument("--neighbors", type=int, default=10, metavar="K",
                     help="nearest neighbours per point (default: %(default)s)")
    rel.add_argument("--min-run-agreement", type=float, default=0.5, metavar="X",
                     help="keep points whose run agreement is above X (default: %(default)s, "
                     "a strict majority)")
    rel.add_argument("--min-neighbor-agreement", type=float, default=0.5, metavar="X",
                     help="keep points whose neighbour agreement is above X (default: "
                     "%(default)s)")
    rel.add_argument("--no-normalize", dest="normalize", action="store_false",
                     help="do not L2-normalise the rows of --phi (default: cosine neighbours)")
    rel.add_argument("--out", metavar="FILE",
                     help="CSV to write (default: DIR/reliable.csv); a JSON summary is "
                     "written next to it")
    rel.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    rel.add_argument("--quiet", action="store_true", help="no summary")
    rel.set_defaults(handler=_cmd_reliable)


def _check_score_options(args: argparse.Namespace, n_rows: int | None = None,
                         shown: str = "") -> None:
    """The score's options; with ``n_rows``, also that the scored data has enough rows."""
    if args.score_folds < 2:
        raise InputError(f"--score-folds {args.score_folds}", "must be at least 2")
    if not args.score_c > 0 or math.isnan(args.score_c):
        raise InputError(f"--score-c {args.score_c}", "must be > 0 (inf for no penalty)")
    if n_rows is not None and n_rows < args.score_folds:
        raise InputError(shown, f"has {n_rows} rows, fewer than --score-folds "
                         f"{args.score_folds}")


def _check_jobs(jobs: int) -> None:
    if jobs < 1:
        raise InputError(f"--jobs {jobs}", "must be at least 1")


# --------------------------------------------------------------------------------------------
# Scores and their cache
# --------------------------------------------------------------------------------------------


def _labels_sha256(labels: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(labels, dtype=np.int64).tobytes()).hexdigest()


def _score_key(args: argparse.Namespace, phi2_sha256: str, phi2_key: str | None
               ) -> dict[str, Any]:
    """What a cached score depends on, besides the labels (phi2: file checksum and key)."""
    return {"method": SCORE_METHOD, "n_folds": int(args.score_folds),
            "C": float(args.score_c) if math.isfinite(args.score_c) else "inf",
            "random_state": 0, "phi2_sha256": phi2_sha256, "phi2_key": phi2_key}


def _cached_score(run_dir: Path, key: dict[str, Any], labels: np.ndarray) -> float | None:
    """The score stored in ``run_dir/score.json`` if it was computed with ``key`` on labels."""
    try:
        record = json.loads((run_dir / "score.json").read_text())
    except (OSError, ValueError):
        return None
    if (not isinstance(record, dict) or record.get("key") != key
            or record.get("labels_sha256") != _labels_sha256(labels)):
        return None
    score = record.get("score")
    return float(score) if isinstance(score, (int, float)) and math.isfinite(score) else None


def _score_record(key: dict[str, Any], labels: np.ndarray, folds: np.ndarray) -> dict[str, Any]:
    return {"score": float(folds.mean()), "fold_accuracies": folds.tolist(), "key": key,
            "labels_sha256": _labels_sha256(labels)}


# --------------------------------------------------------------------------------------------
# Worker side: one fit or one score, in this process or in a pool process
# --------------------------------------------------------------------------------------------

#: Per-process state set by :func:`_init_worker` (inputs, settings, lazily a scorer).
_STATE: dict[str, Any] = {}


@dataclass(frozen=True)
class _Task:
    """One unit of work: fit seed ``seed`` into ``run_dir`` (``fit``), then score its labels
    (or ``labels`` when given, or the labels already in ``run_dir``). With ``run_dir`` the
    score is cached in ``run_dir/score.json``."""

    name: str
    run_dir: str | None = None
    seed: int = 0
    overrides: dict[str, Any] = field(default_factory=dict)
    fit: bool = False
    labels: np.ndarray | None = None


def _init_worker(state: dict[str, Any]) -> None:
    """Pool initializer (also called in-process): one torch thread, shared inputs."""
    torch.set_num_threads(1)
    _STATE.clear()
    _STATE.update(state)


def _scorer() -> GeneralizationScorer:
    if "scorer" not in _STATE:
        settings = _STATE["score"]
        _STATE["scorer"] = GeneralizationScorer(
            settings["n_folds"], C=settings["C"], random_state=0
        ).fit(_STATE["score_phi2"])
    return _STATE["scorer"]


def _fit_run(task: _Task) -> np.ndarray:
    """Fit one seed and write its run directory atomically; return its labels."""
    args: argparse.Namespace = _STATE["args"]
    inputs: FitInputs = _STATE["inputs"]
    run_inputs = replace(inputs, overrides={**inputs.overrides, **task.overrides})
    est, metrics, config = fit_and_record(args, _STATE["argv"], run_inputs, task.seed,
                                          _STATE["verbose"])
    config["part_of"] = {"out": os.path.abspath(args.out), "seed": task.seed,
                         "grid_overrides": task.overrides}
    assert task.run_dir is not None
    write_fit_run(task.run_dir, True, est, config, metrics, _STATE["input_paths"])
    return np.asarray(est.labels_, dtype=np.int64)


def _do_task(task: _Task) -> dict[str, Any]:
    """Run one task; returns ``{"name", "labels", "score", "seconds", "fitted"}``."""
    start = time.perf_counter()
    if task.fit:
        labels = _fit_run(task)
    elif task.labels is not None:
        labels = task.labels
    else:
        assert task.run_dir is not None
        labels = np.load(Path(task.run_dir) / "labels.npy", allow_pickle=False)
    record = _score_record(_STATE["score_key"], labels, _scorer().fold_accuracies(labels))
    if task.run_dir is not None:  # the score cache of a run of ours
        write_json_atomic(Path(task.run_dir) / "score.json", record)
        refresh_manifest(task.run_dir)
    return {"name": task.name, "labels": labels, "score": record["score"],
            "seconds": time.perf_counter() - start, "fitted": task.fit}


def _execute(tasks: Sequence[_Task], jobs: int, state: dict[str, Any],
             on_done: Callable[[_Task, dict[str, Any]], None]) -> None:
    """Run ``tasks`` here (``jobs == 1``) or in ``jobs`` spawned processes.

    Every process uses one torch thread, so results do not depend on ``jobs``. On an
    exception or Ctrl-C, pending tasks are cancelled; finished ones have been written.
    """
    if not tasks:
        return
    if jobs == 1 or len(tasks) == 1:
        threads = torch.get_num_threads()
        _init_worker(state)
        try:
            for task in tasks:
                on_done(task, _do_task(task))
        finally:
            _STATE.clear()
            torch.set_num_threads(threads)
        return
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(tasks)), mp_context=context,
                               initializer=_init_worker, initargs=(state,))
    try:
        futures = {pool.submit(_do_task, task): task for task in tasks}
        for future in as_completed(futures):
            on_done(futures[future], future.result())
    except BaseException:
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


# --------------------------------------------------------------------------------------------
# Run directories: what exists, does it match
# --------------------------------------------------------------------------------------------


def _json_round_trip(obj: Any) -> Any:
    """``obj`` as it reads back from config.json (tuples -> lists, numpy -> Python, ...)."""
    from ..io import to_jsonable as _to_jsonable

    return json.loads(json.dumps(_to_jsonable(obj)))


def _signature(config: dict[str, Any]) -> dict[str, Any]:
    """The settings that determine a run, from its config.json, for resume matching.

    ``hyperparameters`` are the ones the search ran with (recorded after resolving the preset),
    so a run made before a preset's values changed does not match.
    """
    inputs = config.get("inputs") or {}
    hyper = config.get("hyperparameters")
    return _json_round_trip({
        "k": config.get("k"),
        "hyperparameters": hyper if isinstance(hyper, dict) else {},
        "seed": config.get("seed"),
        "normalize": config.get("normalize"),
        "phi2_scaling": config.get("phi2_scaling"),
        "mode": config.get("mode"),
        "inputs": {role: (inputs.get(role) or {}).get("sha256")
                   for role in ("phi1", "phi2", "phi1_eval", "phi2_eval")},
    })


def _expected_signature(args: argparse.Namespace, inputs: FitInputs, seed: int,
                        overrides: dict[str, Any]) -> dict[str, Any]:
    """The signature a run of this command would record (see :func:`_signature`)."""
    hyper = resolve(args.preset, {**inputs.overrides, **overrides})
    hyper["subset_size"] = min(int(hyper["subset_size"]), inputs.phi1.shape[0])  # as HUME.fit
    return _signature({
        "k": args.k, "hyperparameters": hyper, "seed": seed, "normalize": args.normalize,
        "phi2_scaling": args.phi2_scaling,
        "mode": "inductive" if inputs.inductive else "transductive", "inputs": inputs.files,
    })


def _difference(found: dict[str, Any], expected: dict[str, Any]) -> str | None:
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


def _read_run(run_dir: Path, n_rows: int, k: int | None) -> tuple[dict[str, Any], np.ndarray]:
    """config.json and labels of a finished run directory (InputError when unusable)."""
    config_path, labels_path = run_dir / "config.json", run_dir / "labels.npy"
    if not labels_path.is_file():
        raise InputError(run_dir, "is not a run directory (no labels.npy)")
    try:
        config = json.loads(config_path.read_text()) if config_path.is_file() else {}
    except (OSError, ValueError) as exc:
        raise InputError(config_path, f"unreadable ({exc})") from exc
    if not isinstance(config, dict):
        raise InputError(config_path, "is not a JSON object")
    labels = load_labels(labels_path)
    if labels.shape[0] != n_rows:
        raise InputError(labels_path, f"has {labels.shape[0]} labels, expected {n_rows}")
    if labels.min() < 0 or (k is not None and labels.max() >= k):
        raise InputError(labels_path, f"has labels outside 0..{(k or 0) - 1}")
    return config, labels


@dataclass
class _Run:
    """One run of a multi-seed command (R of them)."""

    name: str  # e.g. "runs/3" or "grid/tau0.1_ew10_lr0.01/runs/3"
    seed: int
    run_dir: Path
    overrides: dict[str, Any]
    config_tag: str | None = None
    labels: np.ndarray | None = None
    score: float | None = None
    reused: bool = False


def _grid(args: argparse.Namespace, overrides: dict[str, Any]) -> list[dict[str, float]]:
    """The --select grid: one dict of tau / entropy_weight / outer_lr per configuration."""
    base = resolve(args.preset, overrides)
    axes = {}
    for name, factors in SELECT_FACTORS.items():
        given = getattr(args, f"select_{name}")
        option = f"--select-{name.replace('_', '-')}"
        values = (_float_list(option, given) if given is not None
                  else [float(base[name]) * f for f in factors])
        if name != "entropy_weight" and any(v <= 0 for v in values):
            raise InputError(f"{option} {given}", "values must be > 0")
        axes[name] = sorted(set(values))
    grid = [{"tau": t, "entropy_weight": e, "outer_lr": lr}
            for t in axes["tau"] for e in axes["entropy_weight"] for lr in axes["outer_lr"]]
    return grid


def _tag(config: dict[str, float]) -> str:
    return "_".join(f"{_GRID_TAGS[name]}{value:.6g}" for name, value in config.items())


def _multi_seed_dir(out: Path) -> bool:
    return (out / "runs").is_dir() or (out / "grid").is_dir()


def _check_resumable(out: Path) -> None:
    """A non-empty ``out`` must be a multi-seed directory to be resumed."""
    if out.is_dir() and any(out.iterdir()) and not _multi_seed_dir(out):
        raise InputError(out, "exists, is not empty and holds no runs/ of an earlier "
                         "multi-seed fit (choose another --out)")


# --------------------------------------------------------------------------------------------
# Combination and top-level outputs
# --------------------------------------------------------------------------------------------


def _csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: (f"{value:.6g}" if isinstance(value, float) else value)
                         for key, value in row.items()})
    return buffer.getvalue()


def _run_rows(names: Sequence[str], seeds: Sequence[int | None], ens: Ensemble,
              truth: np.ndarray | None) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of runs.csv and its columns."""
    columns = ["seed", "score", "reference", "agreement_with_vote"]
    if truth is not None:
        columns += ["acc", "nmi", "ari"]
    columns.append("run")
    rows = []
    for i, name in enumerate(names):
        row: dict[str, Any] = {"seed": "" if seeds[i] is None else seeds[i],
                               "score": float(ens.scores[i]),
                               "reference": int(i == ens.reference),
                               "agreement_with_vote": float(ens.run_agreement[i]), "run": name}
        if truth is not None:
            metrics = evaluate(truth, ens.aligned[i])
            row.update(acc=metrics["acc"], nmi=metrics["nmi"], ari=metrics["ari"])
        rows.append(row)
    return rows, columns


def _ensemble_metrics(ens: Ensemble, truth: np.ndarray, rows: list[dict[str, Any]]
                      ) -> dict[str, Any]:
    """metrics.json of a combination: the vote's metrics, the runs' median, correlation."""
    metrics: dict[str, Any] = evaluate(truth, ens.labels)
    accs = [row["acc"] for row in rows]
    metrics["runs"] = {
        "n": len(rows),
        "median": {key: statistics.median(row[key] for row in rows)
                   for key in ("acc", "nmi", "ari")},
        "min_acc": min(accs), "max_acc": max(accs),
        "reference": {key: rows[ens.reference][key] for key in ("acc", "nmi", "ari")},
    }
    rho, p = _spearman(ens.scores, np.asarray(accs))
    metrics["score_acc_spearman"] = rho
    metrics["score_acc_spearman_p"] = p
    metrics["mean_agreement"] = float(ens.agreement.mean())
    return metrics


def _spearman(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None]:
    """Spearman's rho and p-value, None when undefined (fewer than 3 runs or a constant)."""
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None, None
    result = spearmanr(a, b)
    return float(result.statistic), float(result.pvalue)


def _commit_top_level(out: Path, files: dict[str, Callable[[Path], None]]) -> None:
    """Write the top-level files of ``out`` (which holds runs already), each atomically.

    All files are first written into a hidden staging folder inside ``out``; then the old
    ``config.json`` is removed, the others are renamed into place, stale top-level files of
    an earlier invocation are removed, and ``config.json`` comes last: whenever config.json
    exists, the top-level files belong together.
    """
    stage = out / f".top.tmp-{secrets.token_hex(6)}"
    stage.mkdir()
    try:
        for name, write in files.items():
            write(stage / name)
        (out / "config.json").unlink(missing_ok=True)
        for name in TOP_LEVEL_FILES:
            if name == "config.json":
                continue
            if name in files:
                os.replace(stage / name, out / name)
            else:
                (out / name).unlink(missing_ok=True)
        os.replace(stage / "config.json", out / "config.json")
        write_manifest(out, "fit", files=list(files),
                       dirs=[name for name in ("runs", "grid") if (out / name).is_dir()])
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _writers(ens: Ensemble, runs_csv: str, metrics: dict[str, Any] | None,
             config: dict[str, Any], extra: dict[str, str] | None = None
             ) -> dict[str, Callable[[Path], None]]:
    files: dict[str, Callable[[Path], None]] = {
        "labels.npy": lambda p: save_npy_atomic(p, ens.labels),
        "agreement.npy": lambda p: save_npy_atomic(p, ens.agreement),
        "runs.csv": lambda p: write_text_atomic(p, runs_csv),
    }
    for name, text in (extra or {}).items():
        files[name] = lambda p, text=text: write_text_atomic(p, text)
    if metrics is not None:
        files["metrics.json"] = lambda p: write_json_atomic(p, metrics)
    files["config.json"] = lambda p: write_json_atomic(p, config)
    return files


def _summary(out: str, ens: Ensemble, k: int, names: Sequence[str],
             metrics: dict[str, Any] | None) -> str:
    sizes = np.bincount(ens.labels, minlength=k)
    lines = [
        f"wrote {out}",
        f"{len(names)} runs, reference {names[ens.reference]} (score "
        f"{ens.scores[ens.reference]:.4f}), mean agreement with the vote "
        f"{ens.agreement.mean():.3f}",
        f"{ens.labels.shape[0]} rows, class sizes: "
        + ", ".join(f"{c}:{int(s)}" for c, s in enumerate(sizes)),
    ]
    if metrics is not None:
        median = metrics["runs"]["median"]
        lines.append(f"vote: {metrics_line(metrics)}")
        lines.append(f"median run: ACC {median['acc']:.4f}  NMI {median['nmi']:.4f}  "
                     f"ARI {median['ari']:.4f}")
        rho = metrics["score_acc_spearman"]
        if rho is not None:
            lines.append(f"Spearman(score, ACC) across runs: {rho:.3f}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# fit --seeds / --select
# --------------------------------------------------------------------------------------------


def _seeds_from_args(args: argparse.Namespace, argv: Sequence[str]) -> list[int]:
    if args.seeds is None:
        return [args.seed]
    if any(a == "--seed" or a.startswith("--seed=") for a in argv):
        raise CliError("--seed and --seeds exclude each other (give one)")
    try:
        return parse_seeds(args.seeds)
    except ValueError as exc:
        raise InputError(f"--seeds {args.seeds}", str(exc)) from exc


def cmd_fit_many(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel fit --seeds ...`` and ``humelabel fit --select ...``."""
    # Cheap checks first, then everything _validate_fit checks (it loads the inputs), except
    # that an existing DIR may be resumed.
    seeds = _seeds_from_args(args, argv)
    _check_jobs(args.jobs)
    _check_score_options(args)
    given = hyperparameter_overrides(args)
    configs: list[dict[str, Any]] = _grid(args, given) if args.select else [{}]
    out = Path(args.out)
    _check_resumable(out)
    inputs = validate_fit(args, check_out=False)
    score_role = "phi2_eval" if inputs.inductive else "phi2"
    score_phi2 = inputs.phi2_eval if inputs.inductive else inputs.phi2
    assert score_phi2 is not None
    _check_score_options(args, score_phi2.shape[0], getattr(args, score_role))
    n_eval = score_phi2.shape[0]
    runs: list[_Run] = []
    for config in configs:
        tag = _tag(config) if args.select else None
        base = out / "grid" / tag if tag is not None else out
        for seed in seeds:
            name = f"grid/{tag}/runs/{seed}" if tag is not None else f"runs/{seed}"
            runs.append(_Run(name=name, seed=seed, run_dir=base / "runs" / str(seed),
                             overrides=config, config_tag=tag))

    # Which runs exist already, and do they match?
    key = _score_key(args, inputs.files[score_role]["sha256"], inputs.files[score_role]["key"])
    tasks: list[_Task] = []
    for run in runs:
        if run.run_dir.exists():
            found = _existing_run(run, args, inputs, n_eval)
            if found is not None:
                run.labels, run.reused = found, True
                run.score = _cached_score(run.run_dir, key, found)
                if run.score is None:
                    tasks.append(_Task(name=run.name, run_dir=str(run.run_dir)))
                continue
        tasks.append(_Task(name=run.name, run_dir=str(run.run_dir), seed=run.seed,
                           overrides=run.overrides, fit=True))

    (out / "runs" if not args.select else out / "grid").mkdir(parents=True, exist_ok=True)
    state = {
        "args": argparse.Namespace(**{k: v for k, v in vars(args).items() if k != "handler"}),
        "argv": list(argv), "inputs": inputs, "score": {"n_folds": args.score_folds,
                                                        "C": args.score_c},
        "score_key": key, "score_phi2": score_phi2,
        "verbose": not args.quiet and args.jobs == 1, "input_paths": input_paths(args),
    }
    by_name = {run.name: run for run in runs}
    reused = sum(run.reused for run in runs)
    progress(args.quiet, f"{len(runs)} runs: {reused} finished earlier, "
              f"{sum(t.fit for t in tasks)} to fit, jobs {args.jobs}")
    start = time.perf_counter()
    done = [0]

    def on_done(task: _Task, result: dict[str, Any]) -> None:
        run = by_name[task.name]
        run.labels, run.score = result["labels"], result["score"]
        done[0] += 1
        verb = "fitted and scored" if result["fitted"] else "scored"
        progress(args.quiet, f"[{done[0]}/{len(tasks)}] {task.name}: {verb} in "
                  f"{result['seconds']:.1f} s, score {result['score']:.4f}")

    _execute(tasks, args.jobs, state, on_done)

    # Combine: per configuration, then (with --select) keep the best configuration.
    select_rows, chosen_tag = None, None
    if args.select:
        select_rows, chosen_tag = _select(configs, runs, args, state)
    chosen = [run for run in runs if run.config_tag == chosen_tag]
    ens = combine_labelings([run.labels for run in chosen], [run.score for run in chosen],
                            n_classes=args.k)
    rows, columns = _run_rows([run.name for run in chosen], [run.seed for run in chosen],
                              ens, inputs.truth)
    metrics = _ensemble_metrics(ens, inputs.truth, rows) if inputs.truth is not None else None
    extra = {}
    if select_rows is not None:
        select_columns = ["config", "tau", "entropy_weight", "outer_lr", "runs", "score",
                          "selected"] + (["acc", "nmi", "ari"] if inputs.truth is not None
                                         else [])
        extra["select.csv"] = _csv(select_rows, select_columns)
        if metrics is not None:
            metrics["select"] = _select_metrics(select_rows)
    config = {
        **provenance(argv, "select" if args.select else "multi-seed"),
        "k": args.k, "preset": args.preset, "overrides": inputs.overrides,
        "seeds": seeds, "jobs": args.jobs,
        "mode": "inductive" if inputs.inductive else "transductive",
        "normalize": args.normalize, "phi2_scaling": args.phi2_scaling,
        "device_requested": args.device, "inputs": inputs.files,
        "score": {**key, "data": score_role},
        "runs": [{"run": run.name, "seed": run.seed, "score": run.score,
                  "reused": run.reused} for run in chosen],
        "reference": chosen[ens.reference].name,
        "seconds": time.perf_counter() - start,
    }
    if args.select:
        config["grid"] = configs
        config["selected"] = {"config": chosen_tag,
                              **next(c for c in configs if _tag(c) == chosen_tag)}
    _commit_top_level(out, _writers(ens, _csv(rows, columns), metrics, config, extra))
    if not args.quiet:
        text = _summary(args.out, ens, args.k, [run.name for run in chosen], metrics)
        if args.select:
            text += f"\nselected configuration {chosen_tag} (of {len(configs)})"
        print(text)
    return EXIT_OK


def _existing_run(run: _Run, args: argparse.Namespace, inputs: FitInputs, n_eval: int
                  ) -> np.ndarray | None:
    """Labels of a finished, matching run; None to (re)fit it; InputError on a mismatch
    without --overwrite."""
    problem = None
    try:
        config, labels = _read_run(run.run_dir, n_eval, args.k)
    except InputError as exc:
        config, labels, problem = {}, None, exc.problem
    if problem is None:
        difference = _difference(_signature(config),
                                 _expected_signature(args, inputs, run.seed, run.overrides))
        if difference is None:
            return labels
        problem = f"was made with other settings ({difference})"
    if args.overwrite:
        return None
    raise InputError(run.run_dir, f"{problem}; use --overwrite to redo it, or another --out")


def _select(configs: list[dict[str, Any]], runs: list[_Run], args: argparse.Namespace,
            state: dict[str, Any]) -> tuple[list[dict[str, Any]], str]:
    """Score every configuration's combined labeling; return select.csv rows and the best."""
    inputs: FitInputs = state["inputs"]
    rows, combined = [], {}
    score_tasks = []
    for config in configs:
        tag = _tag(config)
        members = [run for run in runs if run.config_tag == tag]
        ens = combine_labelings([run.labels for run in members],
                                [run.score for run in members], n_classes=args.k)
        combined[tag] = (ens, members)
        if len(members) > 1:  # the vote differs from every run: score it
            score_tasks.append(_Task(name=tag, labels=ens.labels))
    scores = {tag: float(ens.scores[0]) for tag, (ens, members) in combined.items()
              if len(members) == 1}

    def on_done(task: _Task, result: dict[str, Any]) -> None:
        scores[task.name] = result["score"]

    _execute(score_tasks, args.jobs, state, on_done)
    for config in configs:
        tag = _tag(config)
        ens, members = combined[tag]
        row: dict[str, Any] = {"config": tag, **config, "runs": len(members),
                               "score": scores[tag], "selected": 0}
        if inputs.truth is not None:
            metrics = evaluate(inputs.truth, ens.labels)
            row.update(acc=metrics["acc"], nmi=metrics["nmi"], ari=metrics["ari"])
        rows.append(row)
    best = max(range(len(rows)), key=lambda i: (rows[i]["score"], -i))
    rows[best]["selected"] = 1
    return rows, rows[best]["config"]


def _select_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How close the label-free pick comes to the best configuration by ground truth."""
    chosen = next(row for row in rows if row["selected"])
    best = max(rows, key=lambda row: row["acc"])
    accs = sorted((row["acc"] for row in rows), reverse=True)
    rho, p = _spearman(np.array([r["score"] for r in rows]), np.array([r["acc"] for r in rows]))
    return {"configs": len(rows), "selected": chosen["config"], "selected_acc": chosen["acc"],
            "best_config_by_truth": best["config"], "best_acc": best["acc"],
            "selected_acc_rank": accs.index(chosen["acc"]) + 1,
            "median_config_acc": statistics.median(accs),
            "score_acc_spearman": rho, "score_acc_spearman_p": p}


# --------------------------------------------------------------------------------------------
# ensemble
# --------------------------------------------------------------------------------------------


def _expand_run_dirs(paths: Sequence[str]) -> list[Path]:
    """Run directories named on the command line; a directory with runs/ gives all of them."""
    found: list[Path] = []
    for given in paths:
        path = Path(given)
        if not path.is_dir():
            raise InputError(given, "not found" if not path.exists() else "is not a directory")
        if (path / "runs").is_dir():
            members = [p for p in (path / "runs").iterdir()
                       if p.is_dir() and not p.name.startswith(".")]
            members.sort(key=lambda p: (not p.name.isdigit(), int(p.name) if p.name.isdigit()
                                        else 0, p.name))
            if not members:
                raise InputError(path / "runs", "holds no run directories")
            found.extend(members)
        elif (path / "labels.npy").is_file():
            found.append(path)
        else:
            raise InputError(given, "is not a run directory (no labels.npy) and has no runs/")
    if len({p.resolve() for p in found}) != len(found):
        raise CliError("a run directory is given twice")
    return found


def _cmd_ensemble(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel ensemble RUN_DIR... --phi2 F --out DIR``."""
    _check_jobs(args.jobs)
    _check_score_options(args)
    if args.k is not None and args.k < 2:
        raise InputError(f"--k {args.k}", "must be at least 2")
    run_dirs = _expand_run_dirs(args.run_dirs)
    check_output_dir(args.out, args.overwrite, "ensemble", [*args.run_dirs, args.phi2,
                     *([args.truth] if args.truth else [])])
    phi2 = load_matrix(args.phi2)
    _check_score_options(args, phi2.shape[0], args.phi2)
    truth = None
    if args.truth is not None:
        truth = load_labels(args.truth)
        check_same_rows((args.phi2, phi2), (args.truth, truth))
    loaded = [_read_run(path, phi2.shape[0], args.k) for path in run_dirs]
    ks = {config.get("k") for config, _ in loaded if isinstance(config.get("k"), int)}
    k = args.k
    if k is None:
        if len(ks) > 1:
            raise CliError(f"the runs were made with different k ({sorted(ks)}); give --k")
        k = ks.pop() if ks else int(max(int(lab.max()) for _, lab in loaded)) + 1
        for path, (_, labels) in zip(run_dirs, loaded, strict=True):
            if labels.max() >= k:
                raise InputError(path / "labels.npy", f"has labels outside 0..{k - 1}")
    phi2_file, phi2_key = split_key(args.phi2)
    key = _score_key(args, file_sha256(phi2_file), phi2_key)
    names = [str(path) for path in run_dirs]
    scores: dict[str, float] = {}
    tasks = []
    for path, (_, labels) in zip(run_dirs, loaded, strict=True):
        cached = _cached_score(path, key, labels)
        if cached is not None:
            scores[str(path)] = cached
        else:  # run directories given here are read, never written
            tasks.append(_Task(name=str(path), labels=labels))
    state = {"score": {"n_folds": args.score_folds, "C": args.score_c}, "score_key": key,
             "score_phi2": phi2}
    start = time.perf_counter()

    def on_done(task: _Task, result: dict[str, Any]) -> None:
        scores[task.name] = result["score"]
        progress(args.quiet, f"[{len(scores)}/{len(names)}] {task.name}: score "
                  f"{result['score']:.4f} ({result['seconds']:.1f} s)")

    _execute(tasks, args.jobs, state, on_done)
    ens = combine_labelings([labels for _, labels in loaded], [scores[n] for n in names],
                            n_classes=k)
    seeds = [config.get("seed") if isinstance(config.get("seed"), int) else None
             for config, _ in loaded]
    rows, columns = _run_rows(names, seeds, ens, truth)
    metrics = _ensemble_metrics(ens, truth, rows) if truth is not None else None
    inputs = {"phi2": file_record(args.phi2, phi2)}
    if truth is not None:
        inputs["truth"] = file_record(args.truth, truth)
    config = {
        **provenance(argv, "ensemble"), "k": k, "inputs": inputs,
        "score": {**key, "data": "phi2"},
        "runs": [{"run": os.path.abspath(n), "seed": s, "score": scores[n]}
                 for n, s in zip(names, seeds, strict=True)],
        "reference": os.path.abspath(names[ens.reference]),
        "seconds": time.perf_counter() - start,
    }
    with atomic_output_dir(args.out, "ensemble", args.overwrite,
                           [*args.run_dirs, args.phi2, *([args.truth] if args.truth else [])]
                           ) as tmp:
        for name, write in _writers(ens, _csv(rows, columns), metrics, config).items():
            write(tmp / name)
    if not args.quiet:
        print(_summary(args.out, ens, k, names, metrics))
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# reliable
# --------------------------------------------------------------------------------------------


def _cmd_reliable(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel reliable --runs DIR --phi F --per-class N [--truth F]``."""
    if args.per_class < 1:
        raise InputError(f"--per-class {args.per_class}", "must be at least 1")
    if args.neighbors < 1:
        raise InputError(f"--neighbors {args.neighbors}", "must be at least 1")
    for option, value in (("--min-run-agreement", args.min_run_agreement),
                          ("--min-neighbor-agreement", args.min_neighbor_agreement)):
        if not 0 <= value < 1:
            raise InputError(f"{option} {value}", "must be in [0, 1)")
    runs = Path(args.runs)
    if not runs.is_dir():
        raise InputError(args.runs, "not found" if not runs.exists() else "is not a directory")
    for name in ("labels.npy", "agreement.npy"):
        if not (runs / name).is_file():
            raise InputError(args.runs, f"has no {name} (expected the output of fit --seeds "
                             "or ensemble)")
    out = Path(args.out) if args.out is not None else runs / "reliable.csv"
    summary_path = out.with_suffix(".json")
    for path in (out, summary_path):
        if path.is_dir():
            raise InputError(path, "is a directory")
        if path.exists() and not args.overwrite:
            raise InputError(path, "exists (use --overwrite)")
    labels = load_labels(runs / "labels.npy")
    agreement = _load_vector(runs / "agreement.npy", labels.shape[0])
    phi = load_matrix(args.phi)
    check_same_rows((runs / "labels.npy", labels), (args.phi, phi))
    if args.neighbors >= phi.shape[0]:
        raise InputError(f"--neighbors {args.neighbors}",
                         f"must be below the number of rows ({phi.shape[0]})")
    if labels.min() < 0:
        raise InputError(runs / "labels.npy", "has negative labels")
    truth = None
    if args.truth is not None:
        truth = load_labels(args.truth)
        check_same_rows((runs / "labels.npy", labels), (args.truth, truth))

    k = max(_recorded_k(runs) or 0, int(labels.max()) + 1)
    neigh, dist = neighbor_agreement(phi, labels, args.neighbors, normalize=args.normalize)
    picked = select_reliable(labels, agreement, neigh, args.per_class,
                             min_run_agreement=args.min_run_agreement,
                             min_neighbor_agreement=args.min_neighbor_agreement,
                             mean_distance=dist, n_classes=k)
    rows = [{"index": int(i), "label": int(c), "run_agreement": float(r),
             "neighbor_agreement": float(a)}
            for i, c, r, a in zip(picked.indices, picked.labels, picked.run_agreement,
                                  picked.neighbor_agreement, strict=True)]
    summary: dict[str, Any] = {
        **provenance(argv, "reliable"),
        "runs": os.path.abspath(args.runs), "per_class": args.per_class,
        "neighbors": args.neighbors, "normalize": args.normalize,
        "min_run_agreement": args.min_run_agreement,
        "min_neighbor_agreement": args.min_neighbor_agreement,
        "n": len(rows), "counts": picked.counts.tolist(), "eligible": picked.eligible.tolist(),
    }
    if truth is not None:
        summary.update(reliable_accuracy(truth, labels, picked))
    write_text_atomic(out, _csv(rows, ["index", "label", "run_agreement",
                                       "neighbor_agreement"]))
    write_json_atomic(summary_path, summary)
    short = [c for c in range(k) if picked.counts[c] < args.per_class]
    if short:
        print(f"{PROG}: note: {len(short)} of {k} classes have fewer than {args.per_class} "
              f"reliable points (fewest: {int(picked.counts.min())})", file=sys.stderr)
    if not args.quiet:
        lines = [f"wrote {out} ({len(rows)} points, up to {args.per_class} per class)"]
        if truth is not None:
            lines.append(f"accuracy {summary['accuracy']:.4f} on {summary['n']} points")
        print("\n".join(lines))
    return EXIT_OK


def _recorded_k(directory: Path) -> int | None:
    """``k`` from ``directory/config.json`` when it records one (classes may be empty)."""
    try:
        k = json.loads((directory / "config.json").read_text()).get("k")
    except (OSError, ValueError, AttributeError):
        return None
    return k if isinstance(k, int) and k >= 1 else None


def _load_vector(path: Path, n: int) -> np.ndarray:
    """A float vector of length n (agreement.npy): InputError when it is not one."""
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:  # unreadable, pickled, truncated: an unusable file
        raise InputError(path, f"cannot read .npy file ({type(exc).__name__})") from exc
    if arr.shape != (n,) or arr.dtype.kind != "f" or not np.all(np.isfinite(arr)):
        raise InputError(path, f"expected {n} finite floats, got shape {arr.shape} "
                         f"dtype {arr.dtype}")
    return arr.astype(np.float64)

