"""``humelabel predict``: label new rows of phi1 with a fitted run, without refitting."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..io import check_output_file, load_matrix, save_npy_atomic, write_json_atomic
from ..io.rundir import file_record, provenance
from ..runs.model import load_model
from .common import EXIT_OK, output_parent

__all__ = ["add_commands"]


def add_commands(sub: Any) -> None:
    """Register ``humelabel predict`` on the subparsers ``sub``."""
    parser = sub.add_parser(
        "predict",
        parents=[output_parent("FILE", "labels to write (.npy); a JSON record of the run is "
                               "written beside it (same name, .json)")],
        help="label new rows with a fitted run (a fit, or a combined multi-seed run)",
        description="Label the rows of --phi1 with the task encoder of a fit output directory "
        "(model.safetensors), or with every run of a multi-seed output combined as it was "
        "(alignment onto the reference run, majority vote). Writes int64 labels to --out.",
    )
    parser.add_argument("--model", required=True, metavar="RUN_DIR",
                        help="output directory of humelabel fit (one seed or --seeds) or run")
    parser.add_argument("--phi1", required=True, metavar="FILE",
                        help="rows to label, shape (m, d1) with the d1 of the fit")
    parser.set_defaults(handler=_cmd_predict)


def _cmd_predict(args: argparse.Namespace, argv: Sequence[str]) -> int:
    from ..io import InputError

    if not args.out.endswith(".npy"):
        raise InputError(args.out, "output must be a .npy file")
    summary_path = Path(args.out).with_suffix(".json")
    for path in (args.out, summary_path):
        check_output_file(path, args.overwrite, "predict", inputs=[args.phi1],
                          record=summary_path)
    model = load_model(args.model)
    phi1 = load_matrix(args.phi1, mmap=True)
    if phi1.shape[1] != model.n_features_in_:
        raise InputError(args.phi1, f"has {phi1.shape[1]} features, the model expects "
                         f"{model.n_features_in_}")
    labels = np.asarray(model.predict(phi1), dtype=np.int64)
    save_npy_atomic(args.out, labels)
    write_json_atomic(summary_path, {**provenance(argv, "predict"),
                                     "model": os.path.abspath(args.model),
                                     "inputs": {"phi1": file_record(args.phi1, phi1)},
                                     "labels": os.path.abspath(args.out),
                                     "rows": int(labels.shape[0])})
    if not args.quiet:
        sizes = np.bincount(labels)
        print(f"wrote {args.out}: {labels.shape[0]} rows, class sizes "
              + ", ".join(f"{c}:{int(s)}" for c, s in enumerate(sizes)))
    return EXIT_OK
