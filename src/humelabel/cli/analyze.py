"""Evidence on the command line: ``analyze correlation``, ``plot`` and ``baseline``.

Registered into :func:`humelabel.cli.build_parser` by :func:`add_commands`. Same conventions as
the rest of the CLI: everything is validated before any work, bad input prints one line
``humelabel: error: <file>: <problem>`` and exits 2, output directories appear atomically.

``analyze correlation`` writes correlation.json (Pearson and Spearman correlation of objective
and distance, overall and per way of perturbing, with settings and inputs), correlation.csv
(one row per labeling) and correlation.png (the scatter plot). ``plot`` writes history.png,
cluster_sizes.png, k_selection.png for a ``--k auto`` run and, with true labels,
confusion.png. ``baseline`` writes labels.npy,
config.json and, with true labels, metrics.json.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..analysis.baselines import kmeans_labels, linear_probe_labels
from ..analysis.correlation import DEFAULT_FRACTIONS, correlation_analysis
from ..analysis.metrics import evaluate
from ..analysis.plots import (
    plot_cluster_sizes,
    plot_confusion,
    plot_correlation,
    plot_history,
    plot_k_selection,
)
from ..core.presets import PRESETS
from ..estimator import HUME, PHI2_SCALINGS
from ..io import (
    InputError,
    atomic_output_dir,
    check_output_dir,
    check_same_rows,
    l2_normalize,
    load_class_names,
    load_labels,
    load_matrix,
    save_npy_atomic,
    write_json_atomic,
    write_text_atomic,
)
from ..io.rundir import file_record, provenance, read_histories, read_json
from ..runs.choose_k import read_table
from .common import (
    EXIT_OK,
    CliError,
    add_hyperparameter_options,
    check_device,
    check_hyperparameters,
    finite_float,
    hyperparameter_overrides,
    metrics_line,
    output_parent,
    seed,
)
from .fit import check_k, check_truth

__all__ = ["add_commands"]

BASELINES = ("kmeans", "probe")


def add_commands(sub: Any) -> None:
    """Register ``analyze``, ``plot`` and ``baseline`` on the subparsers ``sub``."""
    analyze = sub.add_parser(
        "analyze", help="analyses of the HUME objective on labeled data (correlation)",
        description="Analyses that test the paper's claims on a dataset with known labels.")
    kinds = analyze.add_subparsers(dest="analysis", required=True, metavar="ANALYSIS")
    corr = kinds.add_parser(
        "correlation", parents=[output_parent()],
        help="does the objective grow with the distance to the true labeling?",
        description="Build labelings at controlled distances from the truth (reassign a "
        "growing random fraction of points; merge pairs of classes; split classes in two along "
        "their 2-means split in phi1; merge and split at once, keeping k classes), score "
        "each with the search's own objective (Eq. 7, "
        "averaged over the same seeded splits) and report the Pearson correlation between the "
        "objective and the distance (1 - ACC) over the k-class labelings and over all, with a "
        "scatter plot. Paper: rho = 0.93 on CIFAR-10.")
    corr.add_argument("--phi1", required=True, metavar="FILE",
                      help="representation the labelings live on (used to split classes)")
    corr.add_argument("--phi2", required=True, metavar="FILE",
                      help="representation the objective trains the linear model on")
    corr.add_argument("--truth", required=True, metavar="FILE", help="true labels, (n,)")
    corr.add_argument("--preset", choices=tuple(PRESETS), default="fast",
                      help="objective settings to start from (default: %(default)s; paper "
                      "uses the unrolled solver: slow on a CPU)")
    corr.add_argument("--splits", type=int, default=10, metavar="N",
                      help="seeded splits the objective is averaged over (default: "
                      "%(default)s)")
    corr.add_argument("--fractions", type=finite_float, nargs="+", default=list(DEFAULT_FRACTIONS),
                      metavar="F", help="fractions of points to reassign (default: 0 0.05 "
                      "0.1 0.2 ... 1)")
    corr.add_argument("--max-merges", type=int, default=4, metavar="N",
                      help="merge 1..N pairs of classes, and 1..N merge+split steps "
                      "(default: %(default)s)")
    corr.add_argument("--max-splits", type=int, default=4, metavar="N",
                      help="split 1..N classes in two (default: %(default)s)")
    corr.add_argument("--repeats", type=int, default=3, metavar="N",
                      help="random labelings per setting (default: %(default)s)")
    corr.add_argument("--seed", type=seed, default=0, help="random seed (default: %(default)s)")
    corr.add_argument("--device", default="auto", help="auto, cpu, cuda, ... (default: auto)")
    corr.add_argument("--phi2-scaling", choices=PHI2_SCALINGS, default="global",
                      help="rescaling of phi2 (default: %(default)s)")
    corr.add_argument("--title", default="", help="title prefix of the plot")
    add_hyperparameter_options(corr)
    corr.set_defaults(handler=_cmd_correlation)

    plot = sub.add_parser(
        "plot",
        parents=[output_parent(help_text="output directory (default: RUN_DIR/plots)",
                               required=False)],
        help="plots of a finished run: objective per step, cluster sizes, k curve, confusion",
        description="Read a run directory (humelabel fit, fit --seeds, ensemble or run) and "
        "write history.png (objective, generalization loss and entropy per step, from "
        "history.jsonl), cluster_sizes.png, k_selection.png (the criterion against k, for a "
        "--k auto run) and, with true labels, confusion.png.")
    plot.add_argument("run_dir", metavar="RUN_DIR", help="output directory of a run")
    plot.add_argument("--truth", metavar="FILE",
                      help="true labels (default: the --truth the run was given, if any)")
    plot.add_argument("--class-names", metavar="FILE",
                      help="JSON list or object of class names for the confusion matrix")
    plot.set_defaults(handler=_cmd_plot)

    base = sub.add_parser(
        "baseline", parents=[output_parent(quiet=True)],
        help="reference labelings: k-means (floor) or a supervised probe (ceiling)",
        description="k-means on one or more representations (rows L2-normalised, spaces "
        "side by side), or the supervised linear probe (logistic regression on the true "
        "labels: cross-validated predictions, or train -> --phi-eval). Writes labels.npy, "
        "config.json and, with true labels, metrics.json.")
    base.add_argument("method", choices=BASELINES, help="kmeans or probe")
    base.add_argument("--phi", required=True, nargs="+", metavar="FILE",
                      help="representation(s) (n, d); several are concatenated")
    base.add_argument("-k", "--k", type=int, metavar="K",
                      help="number of clusters (kmeans; default: classes in --truth)")
    base.add_argument("--truth", metavar="FILE",
                      help="true labels (probe: required, its training labels)")
    base.add_argument("--phi-eval", nargs="+", metavar="FILE",
                      help="probe, inductive: representation(s) of the rows to predict")
    base.add_argument("--truth-eval", metavar="FILE",
                      help="probe, inductive: true labels of --phi-eval (for metrics)")
    base.add_argument("--folds", type=int, default=5, metavar="N",
                      help="probe, transductive: cross-validation folds (default: %(default)s)")
    base.add_argument("--C", dest="c", type=float, default=10.0, metavar="X",
                      help="probe: inverse regularisation strength (default: %(default)s)")
    base.add_argument("--seed", type=seed, default=0, help="random seed (default: %(default)s)")
    base.add_argument("--no-normalize", dest="normalize", action="store_false",
                      help="do not L2-normalise rows")
    base.set_defaults(handler=_cmd_baseline)


def _class_ids(path: str, labels: np.ndarray) -> np.ndarray:
    """labels (n,) as consecutive ids 0..k-1 (sorted original ids); at least 2 classes."""
    classes, ids = np.unique(labels, return_inverse=True)
    if classes.size < 2:
        raise InputError(path, "holds a single class; need at least 2")
    return ids.astype(np.int64)


# --------------------------------------------------------------------------------------------
# analyze correlation
# --------------------------------------------------------------------------------------------


def _cmd_correlation(args: argparse.Namespace, argv: Sequence[str]) -> int:
    for flag, value, low in (("--splits", args.splits, 1), ("--repeats", args.repeats, 1),
                             ("--max-merges", args.max_merges, 0),
                             ("--max-splits", args.max_splits, 0)):
        if value < low:
            raise InputError(f"{flag} {value}", f"must be at least {low}")
    bad = [f for f in args.fractions if not 0.0 <= f <= 1.0]
    if bad:
        raise InputError(f"--fractions {bad[0]}", "must be between 0 and 1")
    overrides = hyperparameter_overrides(args)
    check_hyperparameters(args.preset, overrides)
    check_device(args.device)
    corr_inputs = [args.phi1, args.phi2, args.truth]
    check_output_dir(args.out, args.overwrite, "analyze correlation", corr_inputs)
    phi1, phi2 = load_matrix(args.phi1), load_matrix(args.phi2)
    truth_raw = load_labels(args.truth)
    check_same_rows((args.phi1, phi1), (args.phi2, phi2), (args.truth, truth_raw))
    check_truth(args.truth, truth_raw)
    truth = _class_ids(args.truth, truth_raw)
    k = int(truth.max()) + 1
    model = HUME(k, preset=args.preset, **overrides, phi2_scaling=args.phi2_scaling,
                 random_state=args.seed, device=args.device)
    start = time.perf_counter()
    bar = tqdm(total=0, desc="scoring labelings", unit="labeling", disable=args.quiet)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    result = correlation_analysis(
        phi1, phi2, truth, model, num_splits=args.splits, seed=args.seed, progress=progress,
        fractions=args.fractions, max_merges=args.max_merges, max_splits=args.max_splits,
        repeats=args.repeats)
    bar.close()
    seconds = time.perf_counter() - start
    summary = {
        "pearson": result.pearson, "pearson_p": result.pearson_p,
        "n_labelings": len(result.records), "correlations": result.stats,
        "distance": "1 - Hungarian-matched accuracy to the truth",
        "headline": "pearson/pearson_p: whole objective over the labelings with k classes "
                    "(reassign, merge+split); all groups under correlations",
        "objective": "Eq. 7 on hard labels, lower is better ('loss'); 'generalization' is "
                     "its first term alone",
        "k": k, "preset": args.preset, "overrides": overrides,
        "hyperparameters": model.resolved_params(), "splits": args.splits,
        "fractions": args.fractions, "max_merges": args.max_merges,
        "max_splits": args.max_splits, "repeats": args.repeats, "seed": args.seed,
        "phi2_scaling": args.phi2_scaling, "seconds": seconds,
        "inputs": {role: file_record(path, arr) for role, path, arr in (
            ("phi1", args.phi1, phi1), ("phi2", args.phi2, phi2),
            ("truth", args.truth, truth_raw))},
        **provenance(argv, "analyze correlation"),
    }
    table = io.StringIO()
    fields = ["family", "amount", "repeat", "classes", "acc", "distance", "nmi", "loss",
              "generalization", "entropy"]
    writer = csv.DictWriter(table, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: record[key] for key in fields} for record in result.records)
    with atomic_output_dir(args.out, "analyze correlation", args.overwrite,
                           corr_inputs) as tmp:
        write_text_atomic(tmp / "correlation.csv", table.getvalue())
        plot_correlation(result.records, tmp / "correlation.png", stats=result.stats,
                         title=args.title)
        write_json_atomic(tmp / "correlation.json", summary)
    if not args.quiet:
        for term, name in (("loss", "objective"), ("generalization", "generalization term")):
            same_k, overall = result.stats[term]["k_classes"], result.stats[term]["all"]
            families = ", ".join(f"{family} {values['pearson']:.2f}" for family, values
                                 in result.stats[term].items()
                                 if family not in ("all", "k_classes"))
            print(f"{name}: Pearson rho over k-class labelings = {same_k['pearson']:.3f} "
                  f"(p = {same_k['pearson_p']:.2e}), over all = {overall['pearson']:.3f} "
                  f"(p = {overall['pearson_p']:.2e}) [{families}]")
        print(f"{len(result.records)} labelings in {seconds:.1f} s -> {args.out}")
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------


def _run_config(run_dir: Path) -> dict[str, Any]:
    """config.json of a run ({} without one); InputError when it or its k is malformed."""
    config = read_json(run_dir / "config.json", required=False)
    for key in ("k", "n_classes"):
        value = config.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 1):
            raise InputError(str(run_dir / "config.json"),
                             f"{key} is {value!r}, not a positive integer")
    if not isinstance(config.get("inputs") or {}, dict):
        raise InputError(str(run_dir / "config.json"), "inputs is not a JSON object")
    return config


def _cmd_plot(args: argparse.Namespace, argv: Sequence[str]) -> int:
    run_dir = Path(args.run_dir)
    if not run_dir.is_dir():
        raise InputError(args.run_dir, "not a directory")
    labels_path = run_dir / "labels.npy"
    if not labels_path.is_file():
        raise InputError(args.run_dir, "has no labels.npy (not a humelabel output directory)")
    labels = load_labels(labels_path)
    if labels.min() < 0:
        raise InputError(str(labels_path), "holds negative cluster ids")
    config = _run_config(run_dir)
    k = int(config.get("k") or config.get("n_classes") or labels.max() + 1)
    k = max(k, int(labels.max()) + 1)
    truth_path = args.truth
    if truth_path is None:
        recorded = (config.get("inputs") or {}).get("truth") or {}
        if (isinstance(recorded, dict) and isinstance(recorded.get("file"), str)
                and Path(recorded["file"]).is_file()):
            truth_path = recorded["file"]
    truth = None
    if truth_path is not None:
        truth = load_labels(truth_path)
        check_same_rows((str(labels_path), labels), (truth_path, truth))
        check_truth(truth_path, truth)
    names = None
    if args.class_names is not None:
        mapping = load_class_names(args.class_names)
        if truth is not None:
            missing = sorted(set(np.unique(truth).tolist()) - set(mapping))
            if missing:
                raise InputError(args.class_names, f"has no name for class {missing[0]}")
            names = [mapping[int(c)] for c in np.unique(truth)]
    histories = read_histories(run_dir)
    out = args.out if args.out is not None else str(run_dir / "plots")
    plot_inputs = [p for p in (args.run_dir, truth_path, args.class_names) if p is not None]
    check_output_dir(out, args.overwrite, "plot", plot_inputs)
    written = []
    with atomic_output_dir(out, "plot", args.overwrite, plot_inputs) as tmp:
        if histories:
            plot_history(histories, tmp / "history.png")
            written.append("history.png")
        plot_cluster_sizes(labels, k, tmp / "cluster_sizes.png")
        written.append("cluster_sizes.png")
        if (run_dir / "k_selection.csv").is_file():  # a --k auto run: the criterion per k
            plot_k_selection(read_table(run_dir / "k_selection.csv"), k,
                             tmp / "k_selection.png", title=run_dir.name)
            written.append("k_selection.png")
        if truth is not None:
            plot_confusion(truth, labels, tmp / "confusion.png", class_names=names,
                           title=run_dir.name)
            written.append("confusion.png")
    if not args.quiet:
        note = "" if histories else " (no history.jsonl in the run: no history plot)"
        print(f"wrote {', '.join(written)} to {out}{note}")
    return EXIT_OK


# --------------------------------------------------------------------------------------------
# baseline
# --------------------------------------------------------------------------------------------


def _load_spaces(paths: Sequence[str], normalize: bool) -> np.ndarray:
    """The representations side by side, each L2-normalised per row first (if asked)."""
    arrays = [load_matrix(path) for path in paths]
    check_same_rows(*zip(paths, arrays, strict=True))
    parts = []
    for array in arrays:
        x = np.asarray(array, dtype=np.float32)
        if normalize:
            x = l2_normalize(x)
        parts.append(x)
    return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]


def _cmd_baseline(args: argparse.Namespace, argv: Sequence[str]) -> int:
    if args.method == "probe" and args.truth is None:
        raise CliError("baseline probe needs --truth (the probe trains on the true labels)")
    if args.method == "kmeans" and args.phi_eval is not None:
        raise CliError("--phi-eval applies to the probe only")
    if args.truth_eval is not None and args.phi_eval is None:
        raise CliError("--truth-eval given without --phi-eval")
    if args.folds < 2:
        raise InputError(f"--folds {args.folds}", "must be at least 2")
    if not args.c > 0:  # also NaN
        raise InputError(f"--C {args.c}", "must be > 0")
    if args.k is not None:
        check_k(args.k)
    base_inputs = [*args.phi, *(args.phi_eval or []),
                   *(p for p in (args.truth, args.truth_eval) if p is not None)]
    check_output_dir(args.out, args.overwrite, f"baseline {args.method}", base_inputs)
    x = _load_spaces(args.phi, args.normalize)
    truth = load_labels(args.truth) if args.truth is not None else None
    if truth is not None:
        check_same_rows((args.phi[0], x), (args.truth, truth))
        check_truth(args.truth, truth)
        if args.method == "probe":
            _class_ids(args.truth, truth)  # the probe needs two classes to learn
    start = time.perf_counter()
    scored = truth
    if args.method == "kmeans":
        k = args.k if args.k is not None else (
            int(np.unique(truth).size) if truth is not None else None)
        if k is None:
            raise CliError("baseline kmeans needs -k (or --truth to count the classes)")
        if args.k is None and k < 2:
            raise InputError(args.truth, "holds a single class; give -k (at least 2)")
        check_k(k, x.shape[0], args.phi[0])
        labels = kmeans_labels(x, k, normalize=False, random_state=args.seed)
    else:
        counts = np.unique(truth, return_counts=True)[1]
        if args.phi_eval is None and counts.min() < args.folds:
            raise InputError(args.truth, f"a class has {counts.min()} rows, fewer than "
                             f"--folds {args.folds}")
        x_eval = None
        if args.phi_eval is not None:
            x_eval = _load_spaces(args.phi_eval, args.normalize)
            if x_eval.shape[1] != x.shape[1]:
                raise InputError(args.phi_eval[0], f"has {x_eval.shape[1]} features but "
                                 f"--phi has {x.shape[1]}")
            scored = load_labels(args.truth_eval) if args.truth_eval is not None else None
            if scored is not None:
                check_same_rows((args.phi_eval[0], x_eval), (args.truth_eval, scored))
                check_truth(args.truth_eval, scored)
        labels = linear_probe_labels(x, truth, x_eval=x_eval, normalize=False,
                                     folds=args.folds, c=args.c, random_state=args.seed)
        k = int(np.unique(truth).size)
    seconds = time.perf_counter() - start
    metrics = evaluate(scored, labels) if scored is not None else None
    config = {"method": args.method, "k": k, "normalize": args.normalize, "seed": args.seed,
              "folds": args.folds, "C": args.c, "seconds": seconds,
              "inputs": {"phi": args.phi, "phi_eval": args.phi_eval, "truth": args.truth,
                         "truth_eval": args.truth_eval},
              **provenance(argv, f"baseline {args.method}")}
    with atomic_output_dir(args.out, f"baseline {args.method}", args.overwrite,
                           base_inputs) as tmp:
        save_npy_atomic(tmp / "labels.npy", labels)
        if metrics is not None:
            write_json_atomic(tmp / "metrics.json", metrics)
        write_json_atomic(tmp / "config.json", config)
    if not args.quiet:
        line = f"  {metrics_line(metrics)}" if metrics is not None else ""
        print(f"{args.method}: {labels.size} rows in {seconds:.1f} s{line} -> {args.out}",
              file=sys.stdout)
    return EXIT_OK
