"""Atomic file writes: a temporary sibling, fsync, then ``os.replace`` into place, so a reader
sees the old file or the complete new one; and the numpy-to-JSON converter."""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np

from .arrays import InputError, PathLike

__all__ = ["fsync_dir", "read_safetensors", "save_npy_atomic", "to_jsonable",
           "write_bytes_atomic", "write_json_atomic", "write_text_atomic"]


def fsync_dir(directory: Path) -> None:
    """Best-effort fsync of a directory so a rename in it is durable (POSIX only)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file via a temporary sibling, fsync, then ``os.replace`` it into place.

    The temporary file is opened with ``os.open`` (mode 0o666 minus umask) rather than
    ``tempfile``, whose 0o600 mode would carry over to the final file.
    """
    target = Path(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(100):
            tmp = target.parent / f".{target.name}.tmp-{secrets.token_hex(6)}"
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            break
        else:
            raise FileExistsError(f"could not create a temporary file next to {target}")
    except OSError as exc:  # an unwritable place: a problem of the output path, in one line
        raise InputError(os.fspath(path), f"cannot write ({exc.strerror or exc})") from exc
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(exc, OSError):  # e.g. disk full: one line naming the file
            raise InputError(os.fspath(path), f"cannot write ({exc.strerror or exc})") from exc
        raise
    fsync_dir(target.parent)


def save_npy_atomic(path: PathLike, array: np.ndarray) -> None:
    """Atomically write ``array`` (any shape, non-object dtype) to the ``.npy`` file ``path``.

    The name is used as given (no ``.npy`` suffix is appended). Parent directories are created.
    """
    arr = np.asarray(array)

    def write(fh: IO[bytes]) -> None:
        np.save(fh, arr, allow_pickle=False)

    _atomic_write(path, write)


def to_jsonable(obj: Any) -> Any:
    """Recursively convert numpy values, tuples and paths to JSON types; NaN/inf -> None."""
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, str) else k: to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, float):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def write_json_atomic(path: PathLike, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (``indent=2``, trailing newline).

    numpy scalars/arrays become Python numbers/lists, tuples become lists, paths become
    strings, and non-finite floats (NaN/inf, invalid in strict JSON) are written as ``null``.
    """
    text = json.dumps(to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    write_text_atomic(path, text)


def write_text_atomic(path: PathLike, text: str) -> None:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    data = text.encode("utf-8")

    def write(fh: IO[bytes]) -> None:
        fh.write(data)

    _atomic_write(path, write)


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
    """Atomically write ``data`` to ``path`` (e.g. a rendered PNG)."""

    def write(fh: IO[bytes]) -> None:
        fh.write(data)

    _atomic_write(path, write)


def read_safetensors(path: PathLike, *, framework: str, kind: str
                     ) -> tuple[dict[str, Any], dict[str, str]]:
    """(tensors, metadata) of a safetensors file; InputError ``not a readable KIND`` naming
    ``path`` when it cannot be parsed. ``framework``: ``"np"`` or ``"pt"``."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(os.fspath(path), framework=framework) as handle:
            metadata = dict(handle.metadata() or {})
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError) as exc:
        raise InputError(os.fspath(path),
                         f"not a readable {kind} ({type(exc).__name__})") from exc
    return tensors, metadata
