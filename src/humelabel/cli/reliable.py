"""``humelabel reliable``: points whose combined label is very likely right.

Reads the output of ``fit --seeds`` or ``ensemble`` (labels.npy, agreement.npy) and keeps the
points on which most runs agree and whose nearest neighbours share the label
(:mod:`humelabel.runs.reliable`), ranked by the agreements, then (``--confidence-spaces``)
by the cross-fitted confidence of :func:`humelabel.runs.refine.label_confidence`, then by
density.
"""

from __future__ import annotations

import argparse
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import (
    InputError,
    check_output_file,
    check_same_rows,
    load_labels,
    load_matrix,
    write_json_atomic,
    write_text_atomic,
)
from ..io.rundir import provenance
from ..runs.outputs import csv_text
from ..runs.reliable import (
    MIN_CANDIDATE_AGREEMENT,
    NEIGHBORS,
    RELIABLE_COLUMNS,
    ReliableSamples,
    candidate_agreement,
    reliable_accuracy,
    reliable_rows,
    reliable_samples,
)
from .common import EXIT_OK, note
from .fit import check_truth

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    """Register ``humelabel reliable`` on the subparsers ``sub``."""
    rel = sub.add_parser(
        "reliable",
        help="pick points whose combined label is very likely right (for semi-supervision)",
        description="Keep points on which the majority of aligned runs agree and whose "
        "nearest neighbours in --phi mostly share the label, rank them (agreements, then "
        "with --confidence-spaces how strongly a cross-fitted logistic regression supports "
        "the label, then density) and write the top N per class as CSV (index, label, "
        "run_agreement, neighbor_agreement, confidence).",
    )
    rel.add_argument("--runs", required=True, metavar="DIR",
                     help="output of fit --seeds or ensemble (labels.npy and agreement.npy)")
    rel.add_argument("--phi", required=True, metavar="FILE",
                     help="representation for the nearest neighbours, shape (n, d)")
    rel.add_argument("--per-class", required=True, type=int, metavar="N",
                     help="points to keep per class")
    rel.add_argument("--truth", metavar="FILE", help="true labels: report the accuracy")
    rel.add_argument("--neighbors", type=int, default=NEIGHBORS, metavar="K",
                     help="nearest neighbours per point (default: %(default)s)")
    rel.add_argument("--min-run-agreement", type=float, default=0.5, metavar="X",
                     help="keep points whose run agreement is above X (default: %(default)s, "
                     "a strict majority)")
    rel.add_argument("--min-neighbor-agreement", type=float, default=0.5, metavar="X",
                     help="keep points whose neighbour agreement is above X (default: "
                     "%(default)s)")
    rel.add_argument("--confidence-spaces", nargs="+", metavar="FILE", default=None,
                     help="rank points of equal agreement by the cross-fitted probability of "
                     "their label under a logistic regression over these spaces (give both "
                     "of the fit's spaces) before density. Measured with phi1 and phi2 on "
                     "the shared text data: 4 per class 87.5 -> 93.8 (AG News), 66.7 -> "
                     "83.3 (TREC), 85.0 -> 82.0 (Banking77) (docs/method.md, \"From many "
                     "runs to one labeling\"). Default: density only")
    rel.add_argument("--no-normalize", dest="normalize", action="store_false",
                     help="do not L2-normalise the rows of --phi (default: cosine neighbours)")
    rel.add_argument("--out", metavar="FILE",
                     help="CSV to write (default: DIR/reliable.csv); a JSON summary is "
                     "written next to it")
    rel.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    rel.add_argument("--quiet", action="store_true", help="no summary")
    rel.set_defaults(handler=_cmd_reliable)



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
    if args.out is not None and not args.out.strip():
        raise InputError(repr(args.out), "is not a usable output file name")
    out = Path(args.out) if args.out is not None else runs / "reliable.csv"
    summary_path = out.with_suffix(".json")
    inputs = [str(runs / "labels.npy"), str(runs / "agreement.npy"), args.phi,
              *(args.confidence_spaces or []), *([args.truth] if args.truth else [])]
    for path in (out, summary_path):
        check_output_file(path, args.overwrite, "reliable", inputs, record=summary_path)
    labels = load_labels(runs / "labels.npy")
    agreement = _load_vector(runs / "agreement.npy", labels.shape[0])
    phi = load_matrix(args.phi)
    check_same_rows((runs / "labels.npy", labels), (args.phi, phi))
    spaces = []
    if args.confidence_spaces is not None:
        spaces = [load_matrix(path) for path in args.confidence_spaces]
        for path, space in zip(args.confidence_spaces, spaces, strict=True):
            check_same_rows((runs / "labels.npy", labels), (path, space))
    if args.neighbors >= phi.shape[0]:
        raise InputError(f"--neighbors {args.neighbors}",
                         f"must be below the number of rows ({phi.shape[0]})")
    if labels.min() < 0:
        raise InputError(runs / "labels.npy", "has negative labels")
    truth = None
    if args.truth is not None:
        truth = load_labels(args.truth)
        check_same_rows((runs / "labels.npy", labels), (args.truth, truth))
        check_truth(args.truth, truth)

    k = max(_recorded_k(runs) or 0, int(labels.max()) + 1)
    picked, confidence = reliable_samples(
        labels, agreement, phi, args.per_class, spaces=spaces, n_neighbors=args.neighbors,
        normalize=args.normalize, min_run_agreement=args.min_run_agreement,
        min_neighbor_agreement=args.min_neighbor_agreement, n_classes=k)
    rows = reliable_rows(picked, confidence)
    summary: dict[str, Any] = {
        **provenance(argv, "reliable"),
        "runs": os.path.abspath(args.runs), "per_class": args.per_class,
        "neighbors": args.neighbors, "normalize": args.normalize,
        "confidence_spaces": [os.path.abspath(p) for p in args.confidence_spaces or []],
        "min_run_agreement": args.min_run_agreement,
        "min_neighbor_agreement": args.min_neighbor_agreement,
        **_picked_summary(picked, labels, truth),
    }
    write_text_atomic(out, csv_text(rows, RELIABLE_COLUMNS))
    write_json_atomic(summary_path, summary)
    _note_short(picked, args.per_class)
    if not args.quiet:
        lines = [f"wrote {out} ({len(rows)} points, up to {args.per_class} per class)"]
        if truth is not None:
            lines.append(f"accuracy {summary['accuracy']:.4f} on {summary['n']} points")
        print("\n".join(lines))
    return EXIT_OK


def reliable_outputs(labels: np.ndarray, agreement: np.ndarray, spaces: Sequence[np.ndarray],
                     per_class: int, k: int, truth: np.ndarray | None,
                     fitted: Sequence[np.ndarray] = (),
                     min_agreement: float | None = None) -> tuple[str, dict[str, Any], str]:
    """``humelabel run --reliable``: (reliable.csv text, reliable.json summary, a line to
    print) of a combination's labels (n,) and agreement (n,): neighbours in the first of
    ``spaces`` ((n, d_i) each), confidence over all of them; with ``fitted`` (every run
    fitted, each (n,)) only points that a share ``min_agreement`` of them give their label
    (``--reliable-min-agreement``)."""
    candidates = candidate_agreement(fitted, labels, k) if len(fitted) else None
    share = MIN_CANDIDATE_AGREEMENT if min_agreement is None else min_agreement
    picked, confidence = reliable_samples(labels, agreement, spaces[0], per_class,
                                          spaces=spaces, n_classes=k,
                                          candidate_agreement=candidates,
                                          min_candidate_agreement=share)
    summary: dict[str, Any] = {
        "per_class": per_class, "neighbors": NEIGHBORS, "normalize": True,
        "ranking": "run agreement + phi1 neighbour agreement, then the cross-fitted "
                   "confidence over both spaces, then density",
        "candidate_agreement": (None if candidates is None else
                                {"runs": len(fitted), "min": share}),
        **_picked_summary(picked, labels, truth)}
    _note_short(picked, per_class)
    line = f"reliable.csv: {summary['n']} points, up to {per_class} per cluster"
    if truth is not None:
        line += f", {100 * summary['accuracy']:.1f}% correct"
    return csv_text(reliable_rows(picked, confidence), RELIABLE_COLUMNS), summary, line


def _picked_summary(picked: ReliableSamples, labels: np.ndarray, truth: np.ndarray | None
                    ) -> dict[str, Any]:
    """What reliable.json records of a selection (points, per class, eligible per class) and,
    with truth (n,), its accuracy under the matching of the whole labeling (n,)."""
    summary: dict[str, Any] = {"n": int(picked.indices.size), "counts": picked.counts.tolist(),
                               "eligible": picked.eligible.tolist()}
    if truth is not None:
        summary.update(reliable_accuracy(truth, labels, picked))
    return summary


def _note_short(picked: ReliableSamples, per_class: int) -> None:
    """Say on stderr when some classes have fewer than ``per_class`` reliable points."""
    short = int((picked.counts < per_class).sum())
    if short:
        note(f"{short} of {picked.counts.size} classes have fewer than {per_class} reliable "
             f"points (fewest: {int(picked.counts.min())})")


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

