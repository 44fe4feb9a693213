"""The run directory: the one module that knows its file names, stamps and reads it back.

A run directory is what ``humelabel fit`` writes (one seed)::

    labels.npy          (n_eval,) int64 hard labels
    model.safetensors   the fitted task encoder and phi2 scaling (HUME.load reads it)
    config.json         settings, inputs (path, shape, sha256), provenance stamp
    history.jsonl       one JSON object per outer step
    metrics.json        with --truth only
    manifest.json       what was written, by which command (see :mod:`humelabel.io.atomic`)

A multi-seed directory (``fit --seeds``, ``run``) holds ``runs/<seed>/`` (each a run
directory) and the combination at the top: labels.npy, agreement.npy, runs.csv, alignment.json
(each run's cluster -> reference cluster map, used to predict new rows), metrics.json, and
config.json written last.
"""

from __future__ import annotations

import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .arrays import InputError, PathLike, file_sha256, split_key
from .files import read_safetensors, to_jsonable
from .labels import load_labels

__all__ = [
    "AGREEMENT", "ALIGNMENT", "CONFIG", "HISTORY", "LABELS", "METRICS", "MODEL", "PROG",
    "RECORDED_PACKAGES", "RUNS_CSV", "SCORE", "SELECT_CSV", "RunRecord", "file_record",
    "git_commit", "jsonl", "load_model_file", "package_versions", "provenance", "read_histories",
    "read_history", "read_json",
    "read_run", "save_model_bytes",
]

PROG = "humelabel"

LABELS = "labels.npy"
MODEL = "model.safetensors"
CONFIG = "config.json"
HISTORY = "history.jsonl"
METRICS = "metrics.json"
SCORE = "score.json"
AGREEMENT = "agreement.npy"
ALIGNMENT = "alignment.json"
RUNS_CSV = "runs.csv"
SELECT_CSV = "select.csv"

#: Packages whose versions every output records.
RECORDED_PACKAGES = ("humelabel", "numpy", "scipy", "scikit-learn", "torch", "safetensors")


# --------------------------------------------------------------------------------------------
# Provenance
# --------------------------------------------------------------------------------------------


def package_versions(packages: Sequence[str] = RECORDED_PACKAGES) -> dict[str, str | None]:
    """Installed versions of ``packages`` (None where a package is absent)."""
    found: dict[str, str | None] = {}
    for name in packages:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def git_commit(path: PathLike | None = None) -> str | None:
    """The git commit of the checkout holding ``path`` (default: this package), or None."""
    where = Path(path) if path is not None else Path(__file__).resolve().parent
    try:
        result = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"],
                                capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and len(commit) == 40 else None


def provenance(argv: Sequence[str] | None, kind: str) -> dict[str, Any]:
    """The stamp every output records: what ran, when, with which versions."""
    stamp: dict[str, Any] = {"kind": kind}
    if argv is not None:
        stamp.update(command=shlex.join([PROG, *argv]), argv=[PROG, *argv])
    from .. import __version__

    stamp.update(
        created_utc=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        humelabel_version=__version__, git_commit=git_commit(), versions=package_versions(),
        python=platform.python_version(), platform=platform.platform(),
    )
    return stamp


def file_record(path: str, array: Any) -> dict[str, Any]:
    """Provenance of one input: path as given, resolved file, key, shape, dtype, sha256."""
    fpath, key = split_key(path)
    return {"path": path, "file": os.path.abspath(fpath), "key": key,
            "shape": list(np.shape(array)), "dtype": str(getattr(array, "dtype", "")),
            "sha256": file_sha256(fpath)}


def jsonl(records: Sequence[dict[str, Any]]) -> str:
    """One strict-JSON object per line; numpy values become numbers, non-finite floats null."""
    return "".join(json.dumps(to_jsonable(record), allow_nan=False) + "\n" for record in records)


# --------------------------------------------------------------------------------------------
# The model file
# --------------------------------------------------------------------------------------------


def save_model_bytes(tensors: dict[str, np.ndarray], metadata: dict[str, str]) -> bytes:
    """safetensors bytes of ``tensors`` with ``metadata``, the same bytes for the same input.

    safetensors (0.8) writes the metadata in the order of a Rust HashMap, which changes from
    process to process, so the header is rewritten here with the metadata keys sorted and the
    tensor entries in file order (the data bytes are untouched; safe_open reads it as before).
    """
    from safetensors.numpy import save

    ordered = {key: np.ascontiguousarray(tensors[key]) for key in sorted(tensors)}
    raw = save(ordered, metadata={key: str(metadata[key]) for key in sorted(metadata)})
    size = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + size])
    meta = header.pop("__metadata__", {})
    entries = sorted(header.items(), key=lambda item: (item[1]["data_offsets"], item[0]))
    text = json.dumps({"__metadata__": {key: meta[key] for key in sorted(meta)},
                       **dict(entries)}, separators=(",", ":"), ensure_ascii=False).encode()
    text += b" " * (-len(text) % 8)  # safetensors aligns the data start to 8 bytes
    return len(text).to_bytes(8, "little") + text + raw[8 + size:]


def load_model_file(path: PathLike) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Tensors and metadata of a model file written by :func:`save_model_bytes`."""
    shown = os.fspath(path)
    if not Path(shown).is_file():
        raise InputError(shown, "file not found" if not Path(shown).exists()
                         else "is not a regular file")
    tensors, metadata = read_safetensors(shown, framework="np", kind="model file")
    if metadata.get("format") != "humelabel":
        raise InputError(shown, "is not a humelabel model (no format=humelabel metadata)")
    return tensors, metadata


# --------------------------------------------------------------------------------------------
# Reading a run back
# --------------------------------------------------------------------------------------------


def read_json(path: PathLike, *, required: bool = True) -> dict[str, Any]:
    """A JSON object from ``path``; InputError when it is missing (if required) or malformed."""
    shown = os.fspath(path)
    if not Path(shown).is_file():
        if required:
            raise InputError(shown, "file not found")
        return {}
    try:
        data = json.loads(Path(shown).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(shown, f"is not valid JSON ({type(exc).__name__})") from exc
    if not isinstance(data, dict):
        raise InputError(shown, "is not a JSON object")
    return data


def read_history(path: PathLike) -> list[dict[str, Any]]:
    """The records of a history.jsonl (one JSON object a line); InputError when malformed."""
    shown = os.fspath(path)
    try:
        records = [json.loads(line) for line in Path(shown).read_text().splitlines()
                   if line.strip()]
    except (OSError, ValueError) as exc:
        raise InputError(shown, f"not a readable history.jsonl ({exc})") from exc
    for number, record in enumerate(records, 1):
        if not isinstance(record, dict):
            raise InputError(shown, f"record {number} is not a JSON object")
    return records


def read_histories(run_dir: PathLike) -> dict[str, list[dict[str, Any]]]:
    """history.jsonl of a single run, or of every run under runs/ (named by seed) or
    grid/<config>/runs/ (named by configuration and seed); {} when there is none."""
    run_dir = Path(run_dir)
    if (run_dir / HISTORY).is_file():
        return {run_dir.name: read_history(run_dir / HISTORY)}
    found = sorted(run_dir.glob(f"runs/*/{HISTORY}")) or sorted(
        run_dir.glob(f"grid/*/runs/*/{HISTORY}"))

    def name(path: Path) -> str:
        parts = path.relative_to(run_dir).parts
        return "seed " + parts[-2] if parts[0] == "runs" else f"{parts[1]} seed {parts[-2]}"

    def key(path: Path) -> tuple[int, int, str]:
        seed = path.parent.name
        return len(path.parts), int(seed) if seed.isdigit() else 0, str(path)

    return {name(path): read_history(path) for path in sorted(found, key=key)}


@dataclass
class RunRecord:
    """A finished run directory read back: its folder, config.json and labels (n,)."""

    path: Path
    config: dict[str, Any]
    labels: np.ndarray

    @property
    def seed(self) -> int | None:
        seed = self.config.get("seed")
        return seed if isinstance(seed, int) else None

    @property
    def k(self) -> int | None:
        k = self.config.get("k")
        return k if isinstance(k, int) else None


def read_run(run_dir: PathLike, n_rows: int | None = None, k: int | None = None) -> RunRecord:
    """config.json and labels of a finished run directory; InputError when unusable.

    Checks that labels are non-negative, below ``k`` when given (else below the recorded k),
    and ``n_rows`` long when given.
    """
    path = Path(run_dir)
    labels_path = path / LABELS
    if not labels_path.is_file():
        raise InputError(path, f"is not a run directory (no {LABELS})")
    config = read_json(path / CONFIG, required=False)
    labels = load_labels(labels_path)
    if n_rows is not None and labels.shape[0] != n_rows:
        raise InputError(labels_path, f"has {labels.shape[0]} labels, expected {n_rows}")
    limit = k if k is not None else config.get("k") if isinstance(config.get("k"), int) else None
    if labels.min() < 0 or (limit is not None and labels.max() >= limit):
        raise InputError(labels_path, f"has labels outside 0..{(limit or 0) - 1}")
    return RunRecord(path=path, config=config, labels=labels)
