"""Command-line interface: ``humelabel fit`` and ``humelabel evaluate``.

The CLI holds no algorithm. It parses arguments, loads and validates every input through
:mod:`humelabel.io` *before* any fitting starts, runs :class:`humelabel.estimator.HUME`, and
writes all outputs atomically through :func:`humelabel.io.atomic_output_dir`.

Exit codes: 0 success; 2 bad input or usage (one line ``humelabel: error: <message>`` on
stderr, no output directory left behind); 130 interrupted (Ctrl-C). Any other exception is a
bug and propagates with its traceback.
"""

from __future__ import annotations

import argparse
import datetime
import importlib.metadata
import json
import math
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import __version__
from .estimator import HUME, INITS, PHI2_SCALINGS, resolve_device
from .inner import INNER_SOLVERS
from .io import (
    InputError,
    atomic_output_dir,
    check_same_rows,
    file_sha256,
    load_labels,
    load_matrix,
    package_versions,
    save_npy_atomic,
    split_key,
    write_json_atomic,
    write_text_atomic,
)
from .metrics import evaluate
from .objective import OUTER_LOSSES, PRIORS
from .presets import HYPERPARAMETERS, PRESETS

__all__ = ["INNER_SOLVERS", "CliError", "build_parser", "main"]

PROG = "humelabel"


#: Packages whose versions are recorded in ``config.json``.
RECORDED_PACKAGES = ("humelabel", "numpy", "scipy", "scikit-learn", "torch", "safetensors")

#: Number of seeded splits used by ``--diagnose`` to score the found and the true labeling.
DIAGNOSE_SPLITS = 20

#: Exit codes.
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_HYPERPARAMETER_HELP = {
    "tau": "temperature of the task encoder's sparsemax",
    "entropy_weight": "weight of the label-entropy regulariser",
    "outer_lr": "Adam learning rate of the task encoder (outer loop)",
    "inner_lr": "gradient-descent step size of the inner linear classifier",
    "inner_steps": "gradient steps of the inner classifier per split",
    "iterations": "outer optimisation steps",
    "num_subsets": "random train/test splits per outer step",
    "subset_size": "rows per random subset (clipped to the number of rows)",
    "train_fraction": "fraction of each subset used to train the inner classifier",
    "anneal": "anneal tau and the outer learning rate during the search",
    "fixed_inner_init": "reuse one inner-classifier initialisation for every split",
    "inner": "inner solver: unrolled gradient descent (the paper) or closed-form ridge",
    "alpha": "ridge regularisation relative to the per-sample covariance (inner=ridge)",
    "outer_loss": "generalisation loss on the test part: ce, nmse (1 - R^2) or mse",
    "logit_scale": "outputs x this are the logits of the ce outer loss (ridge outputs need >1)",
    "split_pool": "draw splits from a fixed pool of this many (0: fresh splits every time)",
    "init": "task-encoder start: random orthogonal, or k-means centroids of phi1",
    "prior": "class-proportion term: uniform (Eq. 7 entropy bonus) or ratio (gen / entropy)",
}

#: Allowed values of the string-valued hyperparameters.
_CHOICES = {"inner": INNER_SOLVERS, "outer_loss": OUTER_LOSSES, "init": INITS,
            "prior": PRIORS}


# --------------------------------------------------------------------------------------------
# Argument parsing
# --------------------------------------------------------------------------------------------


def _finite_float(text: str) -> float:
    """argparse type: a finite float (rejects nan/inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _option(name: str) -> str:
    """Command-line flag of a hyperparameter: ``entropy_weight`` -> ``--entropy-weight``."""
    return "--" + name.replace("_", "-")


def _add_hyperparameter_options(parser: argparse.ArgumentParser) -> None:
    """One option per name in :data:`humelabel.presets.HYPERPARAMETERS` (default: preset)."""
    group = parser.add_argument_group(
        "hyperparameters", "override the preset's values (default: the preset's value)"
    )
    for name in HYPERPARAMETERS:
        ref = PRESETS["paper"][name]
        shown = ", ".join(f"{preset} {values[name]}" for preset, values in PRESETS.items())
        help_text = f"{_HYPERPARAMETER_HELP.get(name, name)} (presets: {shown})"
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": help_text}
        if isinstance(ref, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif name in _CHOICES:
            kwargs["choices"] = _CHOICES[name]
        elif isinstance(ref, int):
            kwargs.update(type=int, metavar="N")
        elif isinstance(ref, float):
            kwargs.update(type=_finite_float, metavar="X")
        else:
            kwargs["metavar"] = "VALUE"
        group.add_argument(_option(name), **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The ``humelabel`` argument parser with its ``fit`` and ``evaluate`` subcommands."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Find the human labeling of unlabeled data with HUME "
        "(Gadetsky & Brbic, NeurIPS 2023).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    fit = sub.add_parser(
        "fit",
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
    fit.add_argument("--out", required=True, metavar="DIR", help="output directory")
    fit.add_argument("--overwrite", action="store_true",
                     help="replace DIR if it exists and is not empty")
    fit.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
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
    fit.add_argument("--quiet", action="store_true",
                     help="no progress bar and no summary")
    _add_hyperparameter_options(fit)
    importlib.import_module(f"{__package__}.cli_runs").add_fit_options(fit)  # --seeds, ...
    fit.set_defaults(handler=_cmd_fit)

    ev = sub.add_parser(
        "evaluate",
        help="compare predicted labels with true labels (ACC, NMI, ARI)",
        description="Hungarian-matched accuracy, NMI and ARI of predicted vs true labels.",
    )
    ev.add_argument("--pred", required=True, metavar="FILE", help="predicted labels")
    ev.add_argument("--truth", required=True, metavar="FILE", help="true labels")
    ev.add_argument("--json", action="store_true",
                    help="print all metrics (incl. per-class accuracy) as JSON")
    ev.set_defaults(handler=_cmd_evaluate)

    demo = sub.add_parser(
        "demo",
        help="run HUME on a built-in real example (scikit-learn's digits) next to k-means",
        description="Fit HUME on scikit-learn's handwritten digits (phi1: pixels, phi2: an "
        "RBF kernel map of them) with CPU-sized settings and print ACC/NMI/ARI next to "
        "k-means on each space. Needs no download.",
    )
    demo.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    demo.add_argument("--device", default="auto", help="auto, cpu, cuda, ... (default: auto)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(handler=_cmd_demo)
    importlib.import_module(f"{__package__}.cli_embed").add_commands(sub)  # embed, run
    importlib.import_module(f"{__package__}.cli_runs").add_commands(sub)  # ensemble, reliable
    importlib.import_module(f"{__package__}.cli_analyze").add_commands(sub)  # analyze, plot, ...
    return parser


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


@dataclass
class _FitInputs:
    """Everything ``fit`` needs, loaded and validated."""

    phi1: np.ndarray
    phi2: np.ndarray
    phi1_eval: np.ndarray | None = None
    phi2_eval: np.ndarray | None = None
    truth: np.ndarray | None = None
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)

    @property
    def inductive(self) -> bool:
        return self.phi1_eval is not None


class CliError(ValueError):
    """A problem with the command-line arguments themselves (message printed as is)."""


class _Probe(Exception):
    """Raised inside :func:`atomic_output_dir` to test the output directory and back out."""


def _check_output_dir(out: str, overwrite: bool) -> None:
    """Fail now (not after a long fit) if ``out`` cannot be written.

    Runs :func:`atomic_output_dir`'s own checks (non-empty without ``--overwrite``, not a
    directory, ...) and creates and removes its temporary directory, which also proves the
    parent directory is writable. Nothing is left behind.
    """
    try:
        with atomic_output_dir(out, overwrite=overwrite):
            raise _Probe
    except _Probe:
        pass
    except OSError as exc:
        raise InputError(out, f"cannot create output directory ({exc.strerror or exc})") from exc


def _file_record(path: str, array: np.ndarray) -> dict[str, Any]:
    """Provenance of one input: path as given, resolved file, key, shape, dtype, sha256."""
    fpath, key = split_key(path)
    return {
        "path": path,
        "file": os.path.abspath(fpath),
        "key": key,
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "sha256": file_sha256(fpath),
    }


def hyperparameter_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The hyperparameter options given on the command line (the rest take the preset's)."""
    return {name: getattr(args, name) for name in HYPERPARAMETERS
            if getattr(args, name) is not None}


def check_device(device: str) -> None:
    """Fail now, in one line naming ``--device``, if ``device`` is unusable here."""
    try:
        resolve_device(device)
    except ValueError as exc:  # e.g. CUDA requested but not available
        raise InputError(f"--device {device}", str(exc)) from exc
    except RuntimeError as exc:  # torch's answer to a string that names no device
        raise InputError(
            f"--device {device}", "not a torch device (expected auto, cpu, cuda, cuda:N, ...)"
        ) from exc


def _check_hyperparameters(args: argparse.Namespace, overrides: dict[str, Any]) -> None:
    """Validate the resolved hyperparameters; name the offending option in the error."""
    try:
        HUME(preset=args.preset, **overrides).resolved_params()
    except ValueError as exc:
        for name, value in overrides.items():  # find the option responsible
            try:
                HUME(preset=args.preset, **{name: value}).resolved_params()
            except ValueError as single:
                raise InputError(f"{_option(name)} {value}", str(single)) from exc
        raise InputError(f"--preset {args.preset}", str(exc)) from exc


def _validate_fit(args: argparse.Namespace) -> _FitInputs:
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
    if args.k < 2:
        raise InputError(f"--k {args.k}", "must be at least 2")
    if args.diagnose and args.truth is None:
        raise InputError("--diagnose", "needs --truth")
    overrides = hyperparameter_overrides(args)
    _check_hyperparameters(args, overrides)
    check_device(args.device)
    _check_output_dir(args.out, args.overwrite)

    # Load and cross-check the files.
    phi1 = load_matrix(args.phi1)
    phi2 = load_matrix(args.phi2)
    check_same_rows((args.phi1, phi1), (args.phi2, phi2))
    if phi1.shape[0] < args.k:
        raise InputError(args.phi1, f"has {phi1.shape[0]} rows, fewer than --k {args.k}")
    inputs = _FitInputs(phi1=phi1, phi2=phi2, overrides=overrides)
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

    for role in ("phi1", "phi2", "phi1_eval", "phi2_eval", "truth"):
        path, array = getattr(args, role), getattr(inputs, role)
        if path is not None:
            inputs.files[role] = _file_record(path, array)
    return inputs


# --------------------------------------------------------------------------------------------
# fit
# --------------------------------------------------------------------------------------------


def _package_versions() -> dict[str, str | None]:
    """Installed versions of the packages in :data:`RECORDED_PACKAGES` (None if absent)."""
    return package_versions(RECORDED_PACKAGES)


def _jsonl(records: Sequence[dict[str, Any]]) -> str:
    """One strict-JSON object per line; non-finite floats become null."""

    def clean(value: Any) -> Any:
        if isinstance(value, np.generic):
            value = value.item()
        if isinstance(value, float) and not math.isfinite(value):
            return None
        return value

    return "".join(
        json.dumps({key: clean(value) for key, value in record.items()}, allow_nan=False) + "\n"
        for record in records
    )


def _diagnose(est: HUME, inputs: _FitInputs, seed: int) -> dict[str, Any]:
    """Objective (lower is better) of the found and of the true labeling on the same splits.

    Transductive: scored on the fit-set phi2 with ``predict(phi1)``. Inductive: on phi2_eval
    with ``labels_``. True class ids are remapped to ``0..c-1`` first (any integers allowed).
    """
    assert inputs.truth is not None
    if inputs.inductive:
        phi2, found = inputs.phi2_eval, est.labels_
    else:
        phi2, found = inputs.phi2, est.predict(inputs.phi1)
    truth = np.unique(inputs.truth, return_inverse=True)[1].reshape(-1)
    score = {"num_splits": DIAGNOSE_SPLITS, "seed": seed}
    return {
        "objective_found": est.score_labeling(phi2, found, **score),
        "objective_truth": est.score_labeling(phi2, truth, **score),
        "objective_num_splits": DIAGNOSE_SPLITS,
        "objective_seed": seed,
        "objective_data": "phi2_eval" if inputs.inductive else "phi2",
    }


def _device_name(est: HUME) -> str | None:
    """The GPU's name when the fit ran on CUDA, else None."""
    if est.device_.type != "cuda":
        return None
    import torch

    return torch.cuda.get_device_name(est.device_)


def _config(
    args: argparse.Namespace, argv: Sequence[str], est: HUME, inputs: _FitInputs, fit_s: float
) -> dict[str, Any]:
    """Every setting of the run, for ``config.json``."""
    return {
        "command": shlex.join([PROG, *argv]),
        "argv": [PROG, *argv],
        "created_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "k": args.k,
        "preset": args.preset,
        "hyperparameters": est.params_,
        "overrides": inputs.overrides,
        "seed": est.seed_,
        "device": str(est.device_),
        "device_requested": args.device,
        "device_name": _device_name(est),
        "normalize": args.normalize,
        "phi2_scaling": args.phi2_scaling,
        "mode": "inductive" if inputs.inductive else "transductive",
        "diagnose": args.diagnose,
        "inputs": inputs.files,
        "versions": _package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "fit_seconds": fit_s,
    }


def _write_outputs(
    out: str,
    overwrite: bool,
    est: HUME,
    config: dict[str, Any],
    metrics: dict[str, Any] | None,
) -> None:
    """Write all output files into a temporary directory, then move it to ``out``.

    The model is serialised with ``safetensors.numpy.save`` and written with ``open`` rather
    than ``save_file``, which creates the file with mode 0600 instead of honouring the umask.
    """
    from safetensors.numpy import save

    model = {
        "coef": np.ascontiguousarray(est.coef_, dtype=np.float32),
        "phi2_center": np.ascontiguousarray(est.phi2_center_, dtype=np.float32),
        "phi2_scale": np.asarray([est.phi2_scale_], dtype=np.float32).reshape(1),
    }
    metadata = {
        "format": "humelabel",
        "humelabel_version": __version__,
        "normalize": json.dumps(bool(config["normalize"])),
        "phi2_scaling": str(config["phi2_scaling"]),
    }
    with atomic_output_dir(out, overwrite=overwrite) as tmp:
        save_npy_atomic(tmp / "labels.npy", np.asarray(est.labels_, dtype=np.int64))
        (tmp / "model.safetensors").write_bytes(save(model, metadata=metadata))
        write_json_atomic(tmp / "config.json", config)
        write_text_atomic(tmp / "history.jsonl", _jsonl(est.history_))
        if metrics is not None:
            write_json_atomic(tmp / "metrics.json", metrics)


def _summary(out: str, labels: np.ndarray, k: int, metrics: dict[str, Any] | None) -> str:
    """The few lines printed on stdout after a fit."""
    sizes = np.bincount(labels, minlength=k)
    lines = [
        f"wrote {out}",
        f"{labels.shape[0]} rows, class sizes: "
        + ", ".join(f"{c}:{int(s)}" for c, s in enumerate(sizes)),
    ]
    if metrics is not None:
        lines.append(_metrics_line(metrics))
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
    args: argparse.Namespace, argv: Sequence[str], inputs: _FitInputs, seed: int, verbose: bool
) -> tuple[HUME, dict[str, Any] | None, dict[str, Any]]:
    """Fit HUME on validated inputs with one seed: the estimator, metrics (with --truth, plus
    the found-vs-truth objective with --diagnose) and the run's config.json record. Shared by
    ``fit`` and every run of ``fit --seeds/--select``."""
    est = HUME(n_classes=args.k, preset=args.preset, **inputs.overrides,
               normalize=args.normalize, phi2_scaling=args.phi2_scaling, random_state=seed,
               device=args.device, verbose=verbose)
    start = time.perf_counter()
    est.fit(inputs.phi1, inputs.phi2, inputs.phi1_eval, inputs.phi2_eval)
    fit_s = time.perf_counter() - start
    metrics: dict[str, Any] | None = None
    if inputs.truth is not None:
        metrics = evaluate(inputs.truth, est.labels_)
        if args.diagnose:
            metrics.update(_diagnose(est, inputs, est.seed_))
    return est, metrics, _config(args, argv, est, inputs, fit_s)


def _cmd_fit(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel fit``."""
    if args.seeds is not None or args.select:  # many runs: humelabel.cli_runs
        return importlib.import_module(f"{__package__}.cli_runs").cmd_fit_many(args, argv)
    inputs = _validate_fit(args)
    est, metrics, config = fit_and_record(args, argv, inputs, args.seed, not args.quiet)
    _write_outputs(args.out, args.overwrite, est, config, metrics)
    if not args.quiet:
        print(_summary(args.out, est.labels_, args.k, metrics))
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------


def _metrics_line(metrics: dict[str, Any]) -> str:
    return f"ACC {metrics['acc']:.4f}  NMI {metrics['nmi']:.4f}  ARI {metrics['ari']:.4f}"


def _cmd_evaluate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel evaluate``."""
    pred = load_labels(args.pred)
    truth = load_labels(args.truth)
    if pred.shape[0] != truth.shape[0]:
        raise InputError(
            args.pred, f"has {pred.shape[0]} labels but {args.truth} has {truth.shape[0]}"
        )
    metrics = evaluate(truth, pred)
    print(json.dumps(metrics, indent=2) if args.json else _metrics_line(metrics))
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel demo``: HUME vs k-means on the built-in digits example."""
    from .baselines import kmeans_labels
    from .examples import DEMO_SETTINGS, digits_two_views

    check_device(args.device)
    phi1, phi2, truth = digits_two_views()
    k = int(truth.max()) + 1
    print(f"digits: n={len(truth)}, k={k}, phi1 {phi1.shape[1]}-d pixels, "
          f"phi2 {phi2.shape[1]}-d RBF kernel map; settings {DEMO_SETTINGS}")
    rows = []
    for name, space in (("k-means on phi1", phi1), ("k-means on phi2", phi2)):
        start = time.perf_counter()
        labels = kmeans_labels(space, k, random_state=args.seed)
        rows.append((name, evaluate(truth, labels), time.perf_counter() - start))
    start = time.perf_counter()
    est = HUME(k, **DEMO_SETTINGS, random_state=args.seed, device=args.device,
               verbose=not args.quiet).fit(phi1, phi2)
    rows.append(("HUME", evaluate(truth, est.labels_), time.perf_counter() - start))
    print(f"{'method':<18}{'ACC':>8}{'NMI':>8}{'ARI':>8}{'time (s)':>10}")
    for name, metrics, seconds in rows:
        print(f"{name:<18}{metrics['acc']:>8.3f}{metrics['nmi']:>8.3f}{metrics['ari']:>8.3f}"
              f"{seconds:>10.1f}")
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def _error(message: str) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    Input and usage errors print one line on stderr and return 2; Ctrl-C returns 130. Other
    exceptions (bugs) propagate.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else 2)
    try:
        return args.handler(args, argv)
    except (InputError, CliError) as exc:
        # Raised only by validation and by the output directory's own checks; the ValueErrors
        # of validation are turned into InputError where they are caught, so a ValueError
        # from inside the algorithm still surfaces as a bug with its traceback.
        return _error(str(exc))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
