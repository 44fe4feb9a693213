"""Resumable, batched computation of an embedding matrix and its metadata file.

Rows are computed in shards of ``shard_size`` rows. Each finished shard is saved atomically
into a hidden work folder ``.<out>.partial/`` beside the output, together with the
*fingerprint* of the job (model, options, checksum of the inputs). Running the same job again
after an interruption finds the folder, checks the fingerprint and computes only the missing
shards. When all rows are done the matrix is written atomically to ``out``, its metadata to
``<out without .npy>.meta.json``, and the work folder is removed. A job with another
fingerprint never reuses shards: it starts afresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..io import InputError, file_sha256, package_versions, save_npy_atomic, write_json_atomic
from ..io.rundir import RECORDED_PACKAGES, provenance

__all__ = [
    "FORMAT",
    "compute_rows",
    "fingerprint_key",
    "meta_path",
    "partial_dir",
    "read_meta",
    "write_embedding",
]

#: ``format`` field of every metadata file written here.
FORMAT = "humelabel-embedding"

#: ``compute(start, stop, advance)`` returns rows ``start:stop`` as an array (stop-start, d)
#: and calls ``advance(m)`` after each batch of m rows (for the progress bar).
ComputeFn = Callable[[int, int, Callable[[int], None]], np.ndarray]


def meta_path(out: str | os.PathLike[str]) -> Path:
    """Metadata file of an embedding ``X.npy``: ``X.meta.json`` beside it."""
    path = Path(out)
    stem = path.name[:-4] if path.name.lower().endswith(".npy") else path.name
    return path.with_name(f"{stem}.meta.json")


def partial_dir(out: str | os.PathLike[str]) -> Path:
    """Hidden work folder of an unfinished embedding ``X.npy``: ``.X.npy.partial``."""
    path = Path(out)
    return path.with_name(f".{path.name}.partial")


def fingerprint_key(fingerprint: dict[str, Any]) -> str:
    """sha256 (hex) of the canonical JSON of a fingerprint."""
    text = json.dumps(fingerprint, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_meta(out: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The metadata of a finished embedding, or None when it or the matrix is missing/unreadable."""
    mpath = meta_path(out)
    if not (Path(out).is_file() and mpath.is_file()):
        return None
    try:
        meta = json.loads(mpath.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get("format") == FORMAT else None


def _load_shard(path: Path, rows: int) -> np.ndarray | None:
    """A finished shard with the expected number of rows, or None (missing or damaged)."""
    if not path.is_file():
        return None
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if arr.ndim != 2 or arr.shape[0] != rows or not np.isfinite(arr).all():
        return None
    return arr


def _prepare_work_dir(work: Path, key: str, fingerprint: dict[str, Any]) -> bool:
    """Create or validate the work folder; True when it holds shards of this same job."""
    marker = work / "fingerprint.json"
    if work.is_dir():
        try:
            same = json.loads(marker.read_text(encoding="utf-8")).get("key") == key
        except (OSError, ValueError, AttributeError):
            same = False
        if same:
            return True
        shutil.rmtree(work)
    work.mkdir(parents=True)
    write_json_atomic(marker, {"key": key, "fingerprint": fingerprint})
    return False


def compute_rows(
    n: int,
    compute: ComputeFn,
    out: str | os.PathLike[str],
    fingerprint: dict[str, Any],
    *,
    shard_size: int,
    dtype: np.dtype | str = np.float32,
    progress: bool = True,
    desc: str = "embedding",
    unit: str = "row",
) -> tuple[np.ndarray, dict[str, Any]]:
    """Compute the ``n`` rows of an embedding shard by shard, resuming finished shards.

    Args:
        n: number of rows.
        compute: see :data:`ComputeFn`.
        out: the final ``.npy`` path (its work folder is ``.<name>.partial`` beside it).
        fingerprint: JSON-able description of everything the rows depend on.
        shard_size: rows per checkpoint.
        dtype: dtype the rows are stored in.
        progress: show a tqdm bar on stderr.
        desc, unit: progress-bar labels.

    Returns:
        ``(matrix (n, d) of dtype, info)`` where info has ``resumed_rows`` (rows found done)
        and ``compute_seconds``. The work folder is left in place (see
        :func:`write_embedding`, which removes it once the output is written).
    """

    dtype = np.dtype(dtype)
    key = fingerprint_key(fingerprint)
    work = partial_dir(out)
    try:
        resumed = _prepare_work_dir(work, key, fingerprint)
    except OSError as exc:  # e.g. an output folder no permission bit marks as unwritable
        raise InputError(os.fspath(out), f"cannot write ({exc.strerror or exc})") from exc
    try:
        return _compute_shards(n, compute, work, shard_size, dtype, progress, desc, unit)
    except InputError:
        # Bad input (e.g. an unreadable image): nothing to resume once the input is fixed, as
        # its checksum changes. A folder this call created goes; an older one stays as it was.
        if not resumed:
            shutil.rmtree(work, ignore_errors=True)
        raise


def _compute_shards(n: int, compute: ComputeFn, work: Path, shard_size: int, dtype: np.dtype,
                    progress: bool, desc: str, unit: str
                    ) -> tuple[np.ndarray, dict[str, Any]]:
    """The shard loop of :func:`compute_rows` in the prepared work folder ``work``."""
    from tqdm.auto import tqdm

    starts = list(range(0, n, shard_size))
    shards: list[np.ndarray | None] = []
    for start in starts:
        stop = min(n, start + shard_size)
        shards.append(_load_shard(work / f"shard-{start:012d}.npy", stop - start))
    done = sum(s.shape[0] for s in shards if s is not None)
    dims = {s.shape[1] for s in shards if s is not None}
    if len(dims) > 1:  # damaged folder: start afresh
        shards = [None] * len(starts)
        done = 0
    t0 = time.perf_counter()
    with tqdm(total=n, initial=done, desc=desc, unit=unit, disable=not progress,
              dynamic_ncols=True, leave=False) as bar:
        for i, start in enumerate(starts):
            if shards[i] is not None:
                continue
            stop = min(n, start + shard_size)
            rows = np.asarray(compute(start, stop, bar.update))
            if rows.ndim != 2 or rows.shape[0] != stop - start:
                raise RuntimeError(
                    f"embedding backend returned shape {rows.shape} for {stop - start} rows"
                )
            rows = rows.astype(dtype, copy=False)
            save_npy_atomic(work / f"shard-{start:012d}.npy", rows)
            shards[i] = rows
    matrix = np.concatenate([s for s in shards if s is not None], axis=0).astype(dtype, copy=False)
    return matrix, {"resumed_rows": done, "compute_seconds": time.perf_counter() - t0}


def write_embedding(
    out: str | os.PathLike[str],
    matrix: np.ndarray,
    meta: dict[str, Any],
    *,
    packages: tuple[str, ...] = (),
) -> dict[str, Any]:
    """Write ``matrix`` to ``out`` and its metadata beside it, both atomically.

    The metadata gets the fields every embedding file has: ``format``, ``n``, ``dimension``,
    ``dtype``, ``row_norm`` (mean/min/max of the stored rows' L2 norms), ``sha256`` of the
    written ``.npy``, ``created_utc``, versions of humelabel, numpy, torch and ``packages``.
    The matrix is written first, the metadata last (a matrix without metadata is never taken
    as finished), then the work folder is removed.

    Returns:
        The metadata as written.
    """
    out = Path(out)
    norms = np.concatenate([  # in row chunks: never a float64 copy of the whole matrix
        np.sqrt(np.einsum("ij,ij->i", chunk, chunk, dtype=np.float64))
        for chunk in (np.asarray(matrix[i:i + 65536], dtype=np.float32)
                      for i in range(0, matrix.shape[0], 65536))
    ])
    full = {
        "format": FORMAT,
        "kind": "embed",
        **meta,
        "n": int(matrix.shape[0]),
        "dimension": int(matrix.shape[1]),
        "dtype": str(matrix.dtype),
        "row_norm": {"mean": float(norms.mean()), "min": float(norms.min()),
                     "max": float(norms.max())},
        **provenance(None, "embed"),
        "versions": package_versions((*RECORDED_PACKAGES, *packages)),
    }
    mpath = meta_path(out)
    with contextlib.suppress(FileNotFoundError):
        mpath.unlink()  # never leave old metadata beside a new matrix
    try:
        save_npy_atomic(out, matrix)
    except OSError as exc:
        raise InputError(os.fspath(out), f"cannot write ({exc.strerror or exc})") from exc
    full["sha256"] = file_sha256(out)
    write_json_atomic(mpath, full)
    shutil.rmtree(partial_dir(out), ignore_errors=True)
    return full
