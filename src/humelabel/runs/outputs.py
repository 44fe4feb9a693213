"""The top level of a combined output: labels.npy, agreement.npy, runs.csv, alignment.json,
metrics.json (with truth), select.csv (``--select``) and config.json, written last.

:func:`commit_top_level` writes them next to the runs already in the directory, each file
atomically and ``config.json`` last (whenever it exists the top-level files belong together),
and records them in the directory's manifest, so ``--overwrite`` knows them as ours.
"""

from __future__ import annotations

import csv
import io
import os
import secrets
import shutil
import statistics
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

from ..analysis.metrics import evaluate
from ..io import save_npy_atomic, write_json_atomic, write_manifest, write_text_atomic
from ..io.rundir import AGREEMENT, ALIGNMENT, CONFIG, LABELS, METRICS, RUNS_CSV, SELECT_CSV
from .ensemble import Ensemble

__all__ = ["TOP_LEVEL_FILES", "alignment_record", "commit_top_level", "csv_text",
           "is_multi_seed_dir",
           "ensemble_metrics", "run_rows", "spearman", "top_level_writers"]

#: Files a combination writes at the top of an output directory (config.json last).
TOP_LEVEL_FILES = (LABELS, AGREEMENT, RUNS_CSV, ALIGNMENT, SELECT_CSV, METRICS, CONFIG)

#: ``writer(path)`` writes one file at ``path``.
Writer = Callable[[Path], None]


def is_multi_seed_dir(out: str | Path) -> bool:
    """Whether ``out`` holds the runs of an earlier multi-seed command (``runs/`` or
    ``grid/``): such a directory is resumed, not checked as a new output."""
    return (Path(out) / "runs").is_dir() or (Path(out) / "grid").is_dir()


def csv_text(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """CSV with a header; floats with 6 significant digits."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n",
                            extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: (f"{value:.6g}" if isinstance(value, float) else value)
                         for key, value in row.items()})
    return buffer.getvalue()


def run_rows(names: Sequence[str], seeds: Sequence[int | None], ens: Ensemble,
             truth: np.ndarray | None) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of runs.csv (one per run) and its columns."""
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


def spearman(a: np.ndarray, b: np.ndarray) -> tuple[float | None, float | None]:
    """Spearman's rho and p-value, None when undefined (fewer than 3 runs or a constant)."""
    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return None, None
    result = spearmanr(a, b)
    return float(result.statistic), float(result.pvalue)


def ensemble_metrics(ens: Ensemble, truth: np.ndarray, rows: list[dict[str, Any]]
                     ) -> dict[str, Any]:
    """metrics.json of a combination: the vote's metrics, the runs' median, correlation of
    score and accuracy across runs (``rows`` from :func:`run_rows` with truth)."""
    metrics: dict[str, Any] = evaluate(truth, ens.labels)
    accs = [row["acc"] for row in rows]
    metrics["runs"] = {
        "n": len(rows),
        "median": {key: statistics.median(row[key] for row in rows)
                   for key in ("acc", "nmi", "ari")},
        "min_acc": min(accs), "max_acc": max(accs),
        "reference": {key: rows[ens.reference][key] for key in ("acc", "nmi", "ari")},
    }
    rho, p = spearman(ens.scores, np.asarray(accs))
    metrics["score_acc_spearman"] = rho
    metrics["score_acc_spearman_p"] = p
    metrics["mean_agreement"] = float(ens.agreement.mean())
    return metrics


def alignment_record(ens: Ensemble, runs: Sequence[str], n_classes: int) -> dict[str, Any]:
    """``alignment.json``: the reference (index into ``runs``), k, and per run its folder
    (relative to the output directory, or absolute) and its map onto the reference's ids,
    so :func:`humelabel.runs.model.load_model` predicts new rows like the combination."""
    return {"reference": int(ens.reference), "n_classes": int(n_classes),
            "runs": [{"run": str(run), "map": [int(c) for c in ens.maps[i]]}
                     for i, run in enumerate(runs)]}


def top_level_writers(ens: Ensemble, runs_csv: str, alignment: dict[str, Any],
                      metrics: dict[str, Any] | None, config: dict[str, Any],
                      extra: dict[str, str] | None = None) -> dict[str, Writer]:
    """Writers of the top-level files, ``config.json`` last; ``extra``: more text files."""
    files: dict[str, Writer] = {
        LABELS: lambda p: save_npy_atomic(p, ens.labels),
        AGREEMENT: lambda p: save_npy_atomic(p, ens.agreement),
        RUNS_CSV: lambda p: write_text_atomic(p, runs_csv),
        ALIGNMENT: lambda p: write_json_atomic(p, alignment),
    }
    for name, text in (extra or {}).items():
        files[name] = lambda p, text=text: write_text_atomic(p, text)
    if metrics is not None:
        files[METRICS] = lambda p: write_json_atomic(p, metrics)
    files[CONFIG] = lambda p: write_json_atomic(p, config)
    return files


def commit_top_level(out: Path, files: dict[str, Writer], command: str = "fit",
                     fill: Callable[[Path], None] | None = None,
                     known: Sequence[str] = ()) -> None:
    """Write the top-level files of ``out`` (which holds runs already), each atomically.

    Everything is first written into a hidden staging folder inside ``out`` (``files``, then
    ``fill(stage)`` for more, e.g. a report); then the old ``config.json`` is removed, the
    others are renamed into place, stale top-level files of an earlier invocation (of
    :data:`TOP_LEVEL_FILES` and ``known``) are removed, ``config.json`` comes last, and the
    manifest of ``command`` lists the top-level files and the run folders.
    """
    stage = out / f".top.tmp-{secrets.token_hex(6)}"
    stage.mkdir()
    try:
        for name, write in files.items():
            write(stage / name)
        if fill is not None:
            fill(stage)
        written = sorted(p.name for p in stage.iterdir())
        (out / CONFIG).unlink(missing_ok=True)
        for name in dict.fromkeys([*TOP_LEVEL_FILES, *known, *written]):
            if name == CONFIG:
                continue
            if name in written:
                os.replace(stage / name, out / name)
            elif (out / name).is_file():
                (out / name).unlink()
        os.replace(stage / CONFIG, out / CONFIG)
        write_manifest(out, command, files=written,
                       dirs=[name for name in ("runs", "grid") if (out / name).is_dir()])
    finally:
        shutil.rmtree(stage, ignore_errors=True)
