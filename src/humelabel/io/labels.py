"""Label files: integer class ids from .npy/.npz/.safetensors or one-per-line text, and class
names from JSON."""

from __future__ import annotations

import json
import math
import os

import numpy as np

from .arrays import (
    _ARRAY_EXTS,
    _TEXT_EXTS,
    InputError,
    PathLike,
    _check_numeric,
    _load_raw,
    check_file,
    file_ext,
    first_nonfinite_row,
    read_text_lines,
    split_key,
)

__all__ = ["load_class_names", "load_labels"]


def _parse_label_text(shown: str, fpath: str) -> np.ndarray:
    # Hand-written instead of np.loadtxt so that errors can name the offending line and so
    # whole-number floats ("3.0") are accepted while "3.5" is rejected with a clear message.
    lines = read_text_lines(shown, fpath)
    values: list[int] = []
    for lineno, raw in enumerate(lines, start=1):
        text = raw.strip()
        if not text:
            raise InputError(shown, f"line {lineno} is empty (expected one integer per line)")
        try:
            values.append(int(text))
            continue
        except ValueError:
            pass
        try:
            val = float(text)
        except ValueError:
            raise InputError(
                shown, f"line {lineno}: {text[:40]!r} is not an integer (expected one per line)"
            ) from None
        if not math.isfinite(val):
            raise InputError(shown, f"line {lineno}: label is NaN or inf")
        if not val.is_integer():
            raise InputError(shown, f"line {lineno}: label {text[:40]!r} is not a whole number")
        values.append(int(val))
    if not values:
        raise InputError(shown, "contains no labels")
    try:
        return np.asarray(values, dtype=np.int64)
    except OverflowError as exc:
        raise InputError(shown, "has labels outside the int64 range") from exc


def load_labels(path: PathLike) -> np.ndarray:
    """Load integer class labels.

    Args:
        path: ``.npy`` / ``.npz`` / ``.safetensors`` (``:key`` selection as in
            :func:`load_matrix`) holding a 1-D array or a 2-D array with one column, or a
            ``.txt`` / ``.csv`` file with one integer per line (no header; trailing blank lines
            are ignored). Float labels are accepted when they are whole numbers.

    Returns:
        ``int64`` array of shape ``(n,)`` with ``n >= 1``. Negative values are allowed.

    Raises:
        InputError: any unusable file or non-integer / non-finite label.
    """
    shown = os.fspath(path)
    fpath, _ = split_key(path)
    if file_ext(fpath) in _TEXT_EXTS:
        check_file(shown, fpath)
        return _parse_label_text(shown, fpath)
    if file_ext(fpath) not in _ARRAY_EXTS:
        if not os.path.exists(fpath):
            raise InputError(shown, "file not found")
        raise InputError(
            shown,
            f"unsupported label file extension {file_ext(fpath) or '(none)'!r} (expected "
            ".npy, .npz, .safetensors, .txt or .csv)",
        )
    shown, arr = _load_raw(path)
    _check_numeric(shown, arr)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise InputError(
            shown, f"expected 1-D labels (or one column), got shape {tuple(arr.shape)}"
        )
    if arr.shape[0] == 0:
        raise InputError(shown, "contains no labels")
    if arr.dtype.kind == "f":
        row = first_nonfinite_row(arr)
        if row is not None:
            raise InputError(shown, f"contains NaN or inf labels (first at index {row})")
        whole = np.floor(arr) == arr
        if not whole.all():
            idx = int(np.argmin(whole))
            raise InputError(
                shown, f"labels must be integers, got {float(arr[idx])!r} at index {idx}"
            )
        if np.abs(arr).max() >= 2.0**63:
            raise InputError(shown, "has labels outside the int64 range")
    elif arr.dtype.kind == "u" and arr.dtype.itemsize >= 8 and arr.max() > np.iinfo(np.int64).max:
        raise InputError(shown, "has labels outside the int64 range")
    return np.asarray(arr, dtype=np.int64)


def load_class_names(path: PathLike) -> dict[int, str]:
    """Class names from a JSON file: a list (index = class id) or an object (id -> name)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except FileNotFoundError:
        raise InputError(path, "file not found") from None
    except (OSError, ValueError) as exc:
        raise InputError(path, f"not a readable JSON file ({exc})") from exc
    if isinstance(data, list):
        return {i: str(name) for i, name in enumerate(data)}
    if isinstance(data, dict):
        try:
            return {int(key): str(name) for key, name in data.items()}
        except ValueError:
            raise InputError(path, "object keys must be integer class ids") from None
    raise InputError(path, "expected a JSON list or object of class names")
