"""Many runs to one labeling on the command line: ``fit --seeds/--select``, ``ensemble``
(and ``reliable``, :mod:`.reliable`).

Argument parsing and messages only; the work is :func:`humelabel.runs.multiseed.fit_seeds`
and :func:`humelabel.runs.combine.combine_runs`. Same conventions as the rest of the CLI:
everything is validated before any work, bad input prints one line
``humelabel: error: <file>: <problem>`` and exits 2, outputs are atomic.

Multi-seed output directory (``fit --seeds``)::

    DIR/runs/<seed>/     one complete ``fit`` output per seed (labels.npy, model.safetensors,
                         config.json, history.jsonl, metrics.json with --truth) plus
                         score.json (its generalization score, a cache)
    DIR/labels.npy       the majority vote (int64, one per evaluated row)
    DIR/agreement.npy    per row, the fraction of runs that agree with the vote (float64)
    DIR/runs.csv         seed, score, reference, agreement_with_vote[, acc, nmi, ari], run
    DIR/alignment.json   each run's map onto the reference's ids (``predict --model DIR``)
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
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..io import (
    InputError,
    check_output_dir,
    check_same_rows,
    load_labels,
    load_matrix,
    probe_output_dir,
)
from ..io.rundir import file_record
from ..runs.combine import combine_runs, expand_run_dirs
from ..runs.ensemble import Ensemble
from ..runs.multiseed import fit_seeds
from ..runs.outputs import is_multi_seed_dir
from ..runs.scoring import SCORE_METHOD, ScoreOptions
from ..runs.seeds import parse_seeds
from ..runs.select import SELECT_FACTORS, grid
from . import reliable
from .common import (
    EXIT_OK,
    CliError,
    add_backend_options,
    check_backend,
    hyperparameter_overrides,
    metrics_line,
    output_parent,
    progress,
    sizes_line,
)
from .fit import check_k, check_truth, cmd_fit, input_paths, validate_fit

__all__ = ["SCORE_METHOD", "add_commands", "add_fit_options", "cmd_fit_many"]


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
    add_backend_options(group)
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
        if args.k == "auto":
            raise CliError("--k auto runs with one --seed: choose k first, then run --seeds "
                           "or --select with that k")
        return cmd_fit_many(args, argv)
    return cmd_fit(args, argv)


def add_commands(sub: Any) -> None:
    """Register ``humelabel ensemble`` and ``humelabel reliable`` on the subparsers ``sub``."""
    ens = sub.add_parser(
        "ensemble", parents=[output_parent()],
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
    ens.add_argument("--truth", metavar="FILE", help="true labels; writes metrics.json")
    ens.add_argument("-k", "--k", type=int, metavar="K",
                     help="number of classes (default: from the runs' config.json)")
    ens.add_argument("--jobs", type=int, default=1, metavar="N",
                     help="score runs in parallel processes (default: %(default)s)")
    _add_score_options(ens)
    ens.set_defaults(handler=_cmd_ensemble)

    reliable.add_commands(sub)


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




def _score_options(args: argparse.Namespace) -> ScoreOptions:
    return ScoreOptions(args.score_folds, C=args.score_c)


def check_resumable(out: Path) -> None:
    """A non-empty ``out`` must be a multi-seed directory to be resumed."""
    if out.is_dir() and any(out.iterdir()) and not is_multi_seed_dir(out):
        raise InputError(out, "exists, is not empty and holds no runs/ of an earlier "
                         "multi-seed fit (choose another --out)")


def summary(out: str, ens: Ensemble, k: int, names: Sequence[str],
            metrics: dict[str, Any] | None) -> str:
    """The lines printed after a combination."""
    lines = [
        f"wrote {out}",
        f"{len(names)} runs, reference {names[ens.reference]} (score "
        f"{ens.scores[ens.reference]:.4f}), mean agreement with the vote "
        f"{ens.agreement.mean():.3f}",
        sizes_line(ens.labels, k),
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


def _grid(args: argparse.Namespace, overrides: dict[str, Any]) -> list[dict[str, float]]:
    values = {}
    for name in SELECT_FACTORS:
        given = getattr(args, f"select_{name}")
        option = f"--select-{name.replace('_', '-')}"
        values[name] = _float_list(option, given) if given is not None else None
        if name != "entropy_weight" and any(v <= 0 for v in values[name] or ()):
            raise InputError(f"{option} {given}", "values must be > 0")
    return grid(args.preset, overrides, values)


def cmd_fit_many(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel fit --seeds ...`` and ``humelabel fit --select ...``."""
    # Cheap checks first, then everything validate_fit checks (it loads the inputs), except
    # that an existing DIR may be resumed.
    seeds = _seeds_from_args(args, argv)
    _check_jobs(args.jobs)
    check_backend(args)
    _check_score_options(args)
    configs = _grid(args, hyperparameter_overrides(args)) if args.select else None
    check_resumable(Path(args.out))
    if not is_multi_seed_dir(Path(args.out)):  # a new output: may it be written?
        check_output_dir(args.out, args.overwrite, "fit", input_paths(args))
    inputs = validate_fit(args, check_out=False)
    _check_score_options(args, inputs.eval_phi2.shape[0], getattr(args, inputs.eval_role))
    probe_output_dir(args.out)  # last: validation writes nothing
    result = fit_seeds(
        inputs.phi1, inputs.phi2, args.k, seeds, phi1_eval=inputs.phi1_eval,
        phi2_eval=inputs.phi2_eval, truth=inputs.truth, out=args.out,
        overwrite=args.overwrite, jobs=args.jobs, preset=args.preset,
        overrides=inputs.overrides, normalize=args.normalize, phi2_scaling=args.phi2_scaling,
        device=args.device, diagnose=args.diagnose, grid=configs,
        score=_score_options(args), files=inputs.files, argv=argv,
        protect=input_paths(args), verbose=not args.quiet,
        progress=lambda message: progress(args.quiet, message), backend=args.backend,
        address=args.address)
    if not args.quiet:
        text = summary(args.out, result.ensemble, args.k, [r.name for r in result.runs],
                       result.metrics)
        if configs is not None:
            text += f"\nselected configuration {result.selected} (of {len(configs)})"
        print(text)
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# ensemble
# --------------------------------------------------------------------------------------------


def _cmd_ensemble(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel ensemble RUN_DIR... --phi2 F --out DIR``."""
    _check_jobs(args.jobs)
    _check_score_options(args)
    if args.k is not None:
        check_k(args.k)
    run_dirs = expand_run_dirs(args.run_dirs)
    protect = [*args.run_dirs, args.phi2, *([args.truth] if args.truth else [])]
    check_output_dir(args.out, args.overwrite, "ensemble", protect)
    phi2 = load_matrix(args.phi2)
    _check_score_options(args, phi2.shape[0], args.phi2)
    truth = None
    files = {"phi2": file_record(args.phi2, phi2)}
    if args.truth is not None:
        truth = load_labels(args.truth)
        check_same_rows((args.phi2, phi2), (args.truth, truth))
        check_truth(args.truth, truth)
        files["truth"] = file_record(args.truth, truth)
    if args.k is not None:
        check_k(args.k, phi2.shape[0], args.phi2)
    ens, k, names, metrics = combine_runs(
        run_dirs, phi2, args.out, phi2_record=files["phi2"], k=args.k, truth=truth,
        files=files, score=_score_options(args), jobs=args.jobs, overwrite=args.overwrite,
        protect=protect, argv=argv, progress=lambda message: progress(args.quiet, message))
    if not args.quiet:
        print(summary(args.out, ens, k, names, metrics))
    return EXIT_OK
