"""``humelabel fit``: one search, or many with ``--seeds`` / ``--select``.

Everything is validated and loaded before any fitting starts (:func:`validate_fit`); the run
directory is written by :func:`write_fit_run` through :mod:`humelabel.io.rundir`.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.presets import PRESETS
from ..estimator import HUME, PHI2_SCALINGS
from ..io import (
    InputError,
    check_output_dir,
    check_same_rows,
    load_labels,
    load_matrix,
)
from ..io.rundir import file_record
from ..runs.fitting import DIAGNOSE_SPLITS, FitInputs, FitSettings, fit_one, write_run
from .common import (
    EXIT_OK,
    CliError,
    add_hyperparameter_options,
    check_device,
    check_hyperparameters,
    hyperparameter_overrides,
    metrics_line,
    output_parent,
    seed,
)

__all__ = ["DIAGNOSE_SPLITS", "FitInputs", "add_commands", "fit_and_record", "validate_fit",
           "write_fit_run"]

#: Fewest rows per class on average: a larger k is refused (memory and time grow with k per
#: row, and such a labeling is no human labeling HUME could find).
MIN_ROWS_PER_CLASS = 5


def check_k(k: int, n_rows: int | None = None, shown: str = "") -> None:
    """InputError unless ``2 <= k`` and, with ``n_rows``, ``k <= n_rows / MIN_ROWS_PER_CLASS``."""
    if k < 2:
        raise InputError(f"--k {k}", "must be at least 2")
    if n_rows is None:
        return
    if k > n_rows:
        raise InputError(shown, f"has {n_rows} rows, fewer than --k {k}")
    if k > max(2, n_rows // MIN_ROWS_PER_CLASS):
        raise InputError(f"--k {k}", f"is too large for the {n_rows} rows of {shown}: at most "
                         f"rows / {MIN_ROWS_PER_CLASS} = {max(2, n_rows // MIN_ROWS_PER_CLASS)}"
                         " classes")


def check_truth(shown: str, truth: np.ndarray) -> None:
    """True labels are class ids: non-negative integers below the number of rows."""
    if truth.min() < 0:
        raise InputError(shown, f"has negative class ids (first at index {int(np.argmin(truth))})")
    if truth.max() >= truth.shape[0]:
        raise InputError(shown, f"has class id {int(truth.max())}, not below the number of "
                         f"rows ({truth.shape[0]}): expected ids 0..C-1")


def add_commands(sub: Any) -> argparse.ArgumentParser:
    """Register ``humelabel fit`` on the subparsers ``sub``; returns its parser."""
    fit = sub.add_parser(
        "fit", parents=[output_parent()],
        help="search for the labeling of phi1 that a linear model on phi2 learns best",
        description="Search for the labeling of phi1 on which a linear classifier in phi2 "
        "generalizes best, and write labels, model, config and history to --out. Feature "
        "files: .npy, .npz or .safetensors (FILE:KEY selects one array of a multi-array file).",
    )
    data = fit.add_argument_group("data")
    data.add_argument("--phi1", required=True, metavar="FILE",
                      help="representation to label, shape (n, d1)")
    data.add_argument("--phi2", required=True, metavar="FILE",
                      help="second representation of the same rows, shape (n, d2)")
    data.add_argument("--phi1-eval", metavar="FILE",
                      help="inductive mode: rows to label, shape (m, d1) (needs --phi2-eval)")
    data.add_argument("--phi2-eval", metavar="FILE",
                      help="inductive mode: phi2 of the evaluation rows, shape (m, d2)")
    data.add_argument("--truth", metavar="FILE",
                      help="true labels of the evaluated rows (.npy/.npz/.safetensors/.txt/"
                      ".csv); writes metrics.json")
    fit.add_argument("-k", "--k", required=True, type=int, metavar="K",
                     help="number of classes to find")
    fit.add_argument("--seed", type=seed, default=0, help="random seed (default: %(default)s)")
    fit.add_argument("--preset", choices=tuple(PRESETS), default="fast",
                     help="hyperparameters to start from: fast (closed-form inner solver), or "
                     "the published paper / imagenet (default: %(default)s)")
    fit.add_argument("--device", default="auto",
                     help="auto, cpu, cuda, cuda:1, ... (default: %(default)s)")
    fit.add_argument("--no-normalize", dest="normalize", action="store_false",
                     help="do not L2-normalise the rows of phi1")
    fit.add_argument("--phi2-scaling", choices=PHI2_SCALINGS, default="global",
                     help="rescaling of phi2 (default: %(default)s)")
    fit.add_argument("--diagnose", action="store_true",
                     help="with --truth: add the objective of the found and of the true "
                     "labeling to metrics.json (found > truth: optimisation failure)")
    add_hyperparameter_options(fit)
    return fit


def input_paths(args: argparse.Namespace) -> list[str]:
    """The input files of a fit command (to protect them from its output)."""
    return [path for path in (args.phi1, args.phi2, args.phi1_eval, args.phi2_eval, args.truth)
            if path is not None]


def validate_fit(args: argparse.Namespace, *, check_out: bool = True) -> FitInputs:
    """Check all arguments and load all files, before any fitting.

    Raises:
        InputError, CliError: any problem, with a one-line message naming the file or option.
    """
    # Cheap argument checks first, so mistakes are reported without loading anything.
    if (args.phi1_eval is None) != (args.phi2_eval is None):
        given, missing = (
            ("--phi1-eval", "--phi2-eval") if args.phi1_eval is not None
            else ("--phi2-eval", "--phi1-eval")
        )
        raise CliError(f"{given} given without {missing} (give both or neither)")
    check_k(args.k)
    if args.diagnose and args.truth is None:
        raise InputError("--diagnose", "needs --truth")
    overrides = hyperparameter_overrides(args)
    check_hyperparameters(args.preset, overrides)
    check_device(args.device)
    if check_out:
        check_output_dir(args.out, args.overwrite, "fit", input_paths(args))

    # Load and cross-check the files.
    phi1 = load_matrix(args.phi1)
    phi2 = load_matrix(args.phi2)
    check_same_rows((args.phi1, phi1), (args.phi2, phi2))
    check_k(args.k, phi1.shape[0], args.phi1)
    inputs = FitInputs(phi1=phi1, phi2=phi2, overrides=overrides)
    eval_ref = (args.phi1, phi1)
    if args.phi1_eval is not None:
        phi1_eval = load_matrix(args.phi1_eval)
        phi2_eval = load_matrix(args.phi2_eval)
        check_same_rows((args.phi1_eval, phi1_eval), (args.phi2_eval, phi2_eval))
        for path, arr, ref_path, ref in (
            (args.phi1_eval, phi1_eval, args.phi1, phi1),
            (args.phi2_eval, phi2_eval, args.phi2, phi2),
        ):
            if arr.shape[1] != ref.shape[1]:
                raise InputError(
                    path, f"has {arr.shape[1]} features but {ref_path} has {ref.shape[1]}"
                )
        inputs.phi1_eval, inputs.phi2_eval = phi1_eval, phi2_eval
        eval_ref = (args.phi1_eval, phi1_eval)
    if args.truth is not None:
        inputs.truth = load_labels(args.truth)
        check_same_rows(eval_ref, (args.truth, inputs.truth))
        check_truth(args.truth, inputs.truth)

    for role in ("phi1", "phi2", "phi1_eval", "phi2_eval", "truth"):
        path, array = getattr(args, role), getattr(inputs, role)
        if path is not None:
            inputs.files[role] = file_record(path, array)
    return inputs


def write_fit_run(out: str, overwrite: bool, est: HUME, config: dict[str, Any],
                  metrics: dict[str, Any] | None, inputs: Sequence[str] = ()) -> None:
    """Write one run directory (labels, model, config, history, metrics) atomically."""
    write_run(out, overwrite, est, config, metrics, inputs)


def _summary(out: str, labels: np.ndarray, k: int, metrics: dict[str, Any] | None) -> str:
    """The few lines printed on stdout after a fit."""
    sizes = np.bincount(labels, minlength=k)
    lines = [
        f"wrote {out}",
        f"{labels.shape[0]} rows, class sizes: "
        + ", ".join(f"{c}:{int(s)}" for c, s in enumerate(sizes)),
    ]
    if metrics is not None:
        lines.append(metrics_line(metrics))
        if "objective_found" in metrics:
            found = metrics["objective_found"]["loss"]
            truth = metrics["objective_truth"]["loss"]
            verdict = (
                "found > truth: optimisation failure" if found > truth
                else "found <= truth: the objective prefers the found labeling"
            )
            lines.append(f"objective found {found:.4f}  truth {truth:.4f}  ({verdict})")
    return "\n".join(lines)


def fit_and_record(
    args: argparse.Namespace, argv: Sequence[str], inputs: FitInputs, seed: int, verbose: bool
) -> tuple[HUME, dict[str, Any] | None, dict[str, Any]]:
    """Fit HUME on validated inputs with one seed (:func:`humelabel.runs.fitting.fit_one`):
    the estimator, metrics (with --truth, plus the found-vs-truth objective with --diagnose)
    and the run's config.json record."""
    settings = FitSettings(k=args.k, preset=args.preset, normalize=args.normalize,
                           phi2_scaling=args.phi2_scaling, device=args.device,
                           diagnose=args.diagnose, argv=argv)
    return fit_one(settings, inputs, seed, verbose=verbose)


def cmd_fit(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel fit`` with one seed (:mod:`.runs` dispatches ``--seeds``/``--select``)."""
    inputs = validate_fit(args)
    est, metrics, config = fit_and_record(args, argv, inputs, args.seed, not args.quiet)
    write_fit_run(args.out, args.overwrite, est, config, metrics, input_paths(args))
    if not args.quiet:
        print(_summary(args.out, est.labels_, args.k, metrics))
    return EXIT_OK
