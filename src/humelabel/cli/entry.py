"""The ``humelabel`` command: the parser of every command group, ``evaluate``, ``demo``, and
the entry point that turns input errors into one line and exit code 2.

Exit codes: 0 success; 2 bad input or usage (one line ``humelabel: error: <message>`` on
stderr, nothing written); 130 interrupted (Ctrl-C). Any other exception is a bug and
propagates with its traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence

from .._version import __version__
from ..analysis.metrics import evaluate
from ..estimator import HUME
from ..io import InputError, load_labels
from . import analyze, embed, fit, predict, run, runs
from .common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    PROG,
    CliError,
    OneLineParser,
    check_device,
    error_line,
    metrics_line,
    seed,
)
from .fit import check_truth

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The ``humelabel`` argument parser with all its subcommands."""
    parser = OneLineParser(
        prog=PROG,
        description="Find the human labeling of unlabeled data with HUME "
        "(Gadetsky & Brbic, NeurIPS 2023).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fit_parser = fit.add_commands(sub)
    runs.add_fit_options(fit_parser)  # --seeds, --select, ...
    predict.add_commands(sub)

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
    demo.add_argument("--seed", type=seed, default=0, help="random seed (default: %(default)s)")
    demo.add_argument("--device", default="auto", help="auto, cpu, cuda, ... (default: auto)")
    demo.add_argument("--quiet", action="store_true", help="no progress bar")
    demo.set_defaults(handler=_cmd_demo)
    embed.add_commands(sub)  # embed text|images
    run.add_commands(sub)  # run
    runs.add_commands(sub)  # ensemble, reliable
    analyze.add_commands(sub)  # analyze, plot, baseline
    return parser


def _cmd_evaluate(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel evaluate``."""
    pred = load_labels(args.pred)
    truth = load_labels(args.truth)
    if pred.shape[0] != truth.shape[0]:
        raise InputError(
            args.pred, f"has {pred.shape[0]} labels but {args.truth} has {truth.shape[0]}"
        )
    check_truth(args.truth, truth)
    metrics = evaluate(truth, pred)
    print(json.dumps(metrics, indent=2) if args.json else metrics_line(metrics))
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel demo``: HUME vs k-means on the built-in digits example."""
    from ..analysis.baselines import kmeans_labels
    from ..io.examples import DEMO_SETTINGS, digits_two_views

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


def main(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` (default ``sys.argv[1:]``) and return the exit code.

    Input and usage errors print one line on stderr and return 2; Ctrl-C returns 130. Other
    exceptions (bugs) propagate.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return args.handler(args, argv)
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else (EXIT_OK if exc.code is None else 2)
    except (InputError, CliError) as exc:
        # Raised only by validation and by the output checks; the ValueErrors of validation
        # are turned into InputError where they are caught, so a ValueError from inside the
        # algorithm still surfaces as a bug with its traceback.
        return error_line(str(exc))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
