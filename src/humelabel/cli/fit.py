"""``humelabel fit``: one search, or many with ``--seeds`` / ``--select``.

Everything is validated and loaded before any fitting starts (:func:`validate_fit`); the run
directory is written by :func:`write_fit_run` through :mod:`humelabel.io.rundir`.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
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
    write_text_atomic,
)
from ..io.rundir import file_record
from ..runs.choose_k import (
    CRITERIA,
    DEFAULT_CRITERION,
    DEFAULT_K_RANGE,
    KSelection,
    choose_k,
    parse_k_range,
)
from ..runs.fitting import DIAGNOSE_SPLITS, FitInputs, FitSettings, fit_one, write_run
from .common import (
    EXIT_OK,
    CliError,
    add_hyperparameter_options,
    check_device,
    check_hyperparameters,
    hyperparameter_overrides,
    metrics_line,
    note,
    output_parent,
    seed,
    sizes_line,
)

__all__ = ["DIAGNOSE_SPLITS", "FitInputs", "add_commands", "fit_and_record", "validate_fit",
           "write_fit_run"]

#: Fewest rows per class on average: a larger k is refused (memory and time grow with k per
#: row, and such a labeling is no human labeling HUME could find).
MIN_ROWS_PER_CLASS = 5


def _check_prior_length(args: argparse.Namespace) -> None:
    """--prior FILE must give one proportion per class (and needs a fixed k)."""
    prior = getattr(args, "prior", None)
    if prior is None or isinstance(prior, str):
        return
    if args.k == "auto":
        raise CliError("--prior with class proportions needs a fixed --k, not auto")
    if len(prior) != args.k:
        raise CliError(f"--prior: gives {len(prior)} class proportions but --k is {args.k}")


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


def k_value(text: str) -> int | str:
    """argparse type of ``--k``: an integer, or ``auto`` (choose k without labels)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer or 'auto'") from None


def add_k_criterion(parser: argparse.ArgumentParser) -> None:
    """``--k-criterion`` of ``fit`` and ``run``."""
    parser.add_argument("--k-criterion", choices=CRITERIA, default=DEFAULT_CRITERION,
                        help="criterion of --k auto: cross_view (ARI of a short run labelling "
                        "phi1 and one labelling phi2) or joint (seed AMI of two short runs "
                        "labelling phi1 x that cross-view ARI); docs/method.md "
                        "(default: %(default)s)")


def k_range_value(text: str) -> tuple[int, int]:
    """argparse type of ``--k-range``: ``LO-HI`` with ``2 <= LO < HI``."""
    try:
        return parse_k_range(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


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
    fit.add_argument("-k", "--k", required=True, type=k_value, metavar="K",
                     help="number of classes to find, or 'auto' (EXPERIMENTAL; measured in "
                     "docs/results/k_selection_run_joint.md): choose it without labels by "
                     "--k-criterion over --k-range (short runs per candidate, two seeds "
                     "labelling phi1 and one with the views exchanged, the same on settled "
                     "runs around their pick, then one full run at the best; writes "
                     "k_selection.csv and k_selection.png)")
    fit.add_argument("--k-range", type=k_range_value, metavar="LO-HI",
                     default=DEFAULT_K_RANGE, help="candidates of --k auto (default: "
                     f"{DEFAULT_K_RANGE[0]}-{DEFAULT_K_RANGE[1]}, capped at rows / "
                     f"{MIN_ROWS_PER_CLASS})")
    add_k_criterion(fit)
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
    if args.k != "auto":
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
    if args.k == "auto":
        top = max(2, phi1.shape[0] // MIN_ROWS_PER_CLASS)
        if args.k_range[0] > top:
            raise InputError(f"--k-range {args.k_range[0]}-{args.k_range[1]}",
                             f"starts above rows / {MIN_ROWS_PER_CLASS} = {top} for the "
                             f"{phi1.shape[0]} rows of {args.phi1}")
    else:
        check_k(args.k, phi1.shape[0], args.phi1)
    _check_prior_length(args)
    graph = overrides.get("graph_neighbors")
    if graph is not None and graph >= phi1.shape[0] - 1:
        raise InputError(f"--graph-neighbors {graph}", f"must be below rows - 1 = "
                         f"{phi1.shape[0] - 1} for the {phi1.shape[0]} rows of {args.phi1}")
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
    lines = [f"wrote {out}", sizes_line(labels, k)]
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


def select_k(args: argparse.Namespace, inputs: FitInputs) -> KSelection:
    """``--k auto``: :func:`humelabel.runs.choose_k.choose_k` with the command's settings
    (short and confirm runs only; the full run at the chosen k is the command's usual
    fit)."""

    def make(k: int, short: Mapping[str, Any] | None, seed: int) -> HUME:
        hyper = {**inputs.overrides, **(short or {})}
        return HUME(k, preset=args.preset, **hyper, normalize=args.normalize,
                    phi2_scaling=args.phi2_scaling, random_state=seed, device=args.device)

    def say(line: str) -> None:
        if not args.quiet:
            print(line, flush=True)

    return choose_k(inputs.phi1, inputs.phi2, args.k_range, random_state=args.seed,
                    criterion=args.k_criterion, make_estimator=make, fit_final=False,
                    progress=say)


def cmd_fit(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel fit`` with one seed (:mod:`.runs` dispatches ``--seeds``/``--select``)."""
    inputs = validate_fit(args)
    extra = None
    if args.k == "auto":
        from ..analysis.plots import plot_k_selection

        chosen = select_k(args, inputs)
        args.k = chosen.k_
        if (message := chosen.note()) is not None:
            note(message)

        def extra(tmp: Any) -> None:
            write_text_atomic(tmp / "k_selection.csv", chosen.csv())
            plot_k_selection(chosen.table, chosen.k_, tmp / "k_selection.png")

    est, metrics, config = fit_and_record(args, argv, inputs, args.seed, not args.quiet)
    if extra is not None:
        config["k_selection"] = chosen.record()
    write_run(args.out, args.overwrite, est, config, metrics, input_paths(args), extra=extra)
    if not args.quiet:
        if extra is not None:
            print(f"chose k = {args.k} (criterion per k in {args.out}/k_selection.csv)")
        print(_summary(args.out, est.labels_, args.k, metrics))
    return EXIT_OK
