"""Input arrays: loading and validation of feature and label files.

Part of the bottom layer of ``humelabel`` (:mod:`humelabel.io`): it imports only numpy,
safetensors and the standard library. Every problem with user input is reported as an
:class:`InputError` whose message is a single line of the form ``<path>: <problem>``.

Supported array files:

* ``.npy`` -- one array (``np.load`` with ``allow_pickle=False``; never unpickles anything).
* ``.npz`` -- an archive holding exactly one array, or ``file.npz:key`` to select one.
* ``.safetensors`` -- exactly one tensor, or ``file.safetensors:key`` to select one.

Label files may additionally be ``.txt`` / ``.csv`` with one integer per line.
"""

from __future__ import annotations

import hashlib
import os
import zipfile

import numpy as np

__all__ = [
    "InputError",
    "check_file",
    "check_same_rows",
    "file_ext",
    "file_sha256",
    "l2_normalize",
    "load_matrix",
    "read_text_lines",
    "split_key",
]

PathLike = str | os.PathLike[str]

_ARRAY_EXTS = (".npy", ".npz", ".safetensors")
_KEYED_EXTS = (".npz", ".safetensors")
_TEXT_EXTS = (".txt", ".csv")
_NPY_MAGIC = b"\x93NUMPY"
# Target size of one chunk when scanning arrays for NaN/inf (bytes of the source dtype).
_CHUNK_BYTES = 64 * 1024 * 1024


class InputError(ValueError):
    """A user-supplied file or argument is unusable.

    The message is one line: ``<path>: <problem>``.
    """

    def __init__(self, path: PathLike | str, problem: str) -> None:
        self.path = os.fspath(path)
        self.problem = " ".join(str(problem).split())  # force a single line
        super().__init__(f"{self.path}: {self.problem}")


# --------------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------------


def split_key(path: PathLike) -> tuple[str, str | None]:
    """Split ``file.npz:key`` / ``file.safetensors:key`` into ``(file, key)``.

    A path that exists as given is never split, so file names containing ``:`` still work.
    """
    s = os.fspath(path)
    if os.path.exists(s) or ":" not in s:
        return s, None
    base, key = s.rsplit(":", 1)
    if base.lower().endswith(_KEYED_EXTS):
        return base, key
    return s, None


def check_file(shown: str, fpath: str) -> None:
    """Raise InputError unless ``fpath`` is an existing regular file."""
    if not os.path.exists(fpath):
        raise InputError(shown, "file not found")
    if not os.path.isfile(fpath):
        raise InputError(shown, "is not a regular file")
    if not os.access(fpath, os.R_OK):
        raise InputError(shown, "file is not readable (permission denied)")


def file_ext(fpath: str) -> str:
    """The lower-cased extension of ``fpath`` (``".npy"``; ``""`` without one)."""
    return os.path.splitext(fpath)[1].lower()


def read_text_lines(shown: str, path: str) -> list[str]:
    """Lines of a UTF-8 file (BOM allowed, any line ends) without line ends; trailing blank
    lines dropped. InputError (naming ``shown``) when it is not UTF-8 or cannot be read."""
    try:
        with open(path, encoding="utf-8-sig", newline=None) as fh:
            lines = fh.read().split("\n")
    except UnicodeDecodeError as exc:
        raise InputError(shown, "is not a UTF-8 text file") from exc
    except OSError as exc:
        raise InputError(shown, f"cannot read file ({exc.strerror or exc})") from exc
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def _pickle_error(shown: str) -> InputError:
    return InputError(shown, "contains pickled/object data, which is never loaded")


def _describe(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _load_npy(shown: str, fpath: str, mmap: bool) -> np.ndarray:
    with open(fpath, "rb") as fh:
        head = fh.read(len(_NPY_MAGIC))
    if head != _NPY_MAGIC:
        # np.load would fall back to unpickling for anything without the .npy magic; we
        # check the magic ourselves so garbage is not misreported as pickled data.
        if head[:1] == b"\x80":  # pickle protocol >= 2 starts with the PROTO opcode
            raise _pickle_error(shown)
        raise InputError(shown, "is not a valid .npy file (bad magic bytes)")
    try:
        arr = np.load(fpath, allow_pickle=False, mmap_mode="r" if mmap else None)
    except ValueError as exc:
        msg = str(exc).lower()
        if "pickle" in msg or "object" in msg:
            raise _pickle_error(shown) from exc
        raise InputError(shown, f"corrupt or truncated .npy file ({_describe(exc)})") from exc
    except Exception as exc:  # any other failure of the reader means an unusable file
        raise InputError(shown, f"cannot read .npy file ({_describe(exc)})") from exc
    return arr


def _pick_key(shown: str, names: list[str], key: str | None, noun: str) -> str:
    """The member of a multi-array file to load: ``key``, or the only one when key is None."""
    if key is None:
        if len(names) != 1:
            listed = ", ".join(names) if names else "none"
            raise InputError(
                shown, f"holds {len(names)} {noun}s ({listed}); select one with {shown}:KEY"
            )
        return names[0]
    if key not in names:
        raise InputError(shown, f"has no {noun} {key!r} (available: {', '.join(names) or 'none'})")
    return key


def _load_npz(shown: str, fpath: str, key: str | None) -> np.ndarray:
    if not zipfile.is_zipfile(fpath):
        raise InputError(shown, "is not a valid .npz archive")
    try:
        with np.load(fpath, allow_pickle=False) as npz:
            names = list(npz.files)
            key = _pick_key(shown, names, key, "array")
            member = npz[key]
    except InputError:
        raise
    except ValueError as exc:
        msg = str(exc).lower()
        if "pickle" in msg or "object" in msg:
            raise _pickle_error(shown) from exc
        raise InputError(shown, f"corrupt .npz archive ({_describe(exc)})") from exc
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, OSError, ...
        raise InputError(shown, f"corrupt .npz archive ({_describe(exc)})") from exc
    if not isinstance(member, np.ndarray):  # np.load returns raw bytes for a non-.npy member
        raise InputError(shown, f"member {key!r} is not a .npy array")
    return member


def _load_safetensors(shown: str, fpath: str, key: str | None) -> np.ndarray:
    from safetensors import safe_open

    try:
        with safe_open(fpath, framework="np") as st:
            names = list(st.keys())
            key = _pick_key(shown, names, key, "tensor")
            return st.get_tensor(key)
    except InputError:
        raise
    except Exception as exc:  # SafetensorError and friends: corrupt or unsupported file
        problem = f"corrupt or unsupported .safetensors file ({_describe(exc)})"
        raise InputError(shown, problem) from exc


def _load_raw(path: PathLike, *, mmap: bool = False) -> tuple[str, np.ndarray]:
    """Load one array from an .npy/.npz/.safetensors file without further validation.

    Returns ``(shown_path, array)``; ``shown_path`` is the path as given (with any ``:key``).
    """
    shown = os.fspath(path)
    fpath, key = split_key(path)
    ext = file_ext(fpath)
    if ext not in _ARRAY_EXTS:
        if not os.path.exists(fpath):
            raise InputError(shown, "file not found")
        raise InputError(
            shown,
            f"unsupported file extension {ext or '(none)'!r} (expected .npy, .npz or .safetensors)",
        )
    check_file(shown, fpath)
    if ext == ".npy":
        return shown, _load_npy(shown, fpath, mmap)
    if ext == ".npz":
        return shown, _load_npz(shown, fpath, key)
    return shown, _load_safetensors(shown, fpath, key)


def _check_numeric(shown: str, arr: np.ndarray) -> None:
    if arr.dtype.hasobject:
        raise _pickle_error(shown)
    if arr.dtype.kind not in "iuf":  # bool, complex, strings, structured, datetimes: rejected
        raise InputError(
            shown, f"has non-numeric dtype {arr.dtype} (expected integer or floating-point)"
        )


def first_nonfinite_row(x: np.ndarray) -> int | None:
    """Index of the first row of ``x`` (shape ``(n, ...)``) holding NaN/inf, else None.

    Works through ``x`` in row chunks of about ``_CHUNK_BYTES`` so that a memory-mapped array
    is never materialised (or up-cast) whole.
    """
    if x.dtype.kind != "f" or x.shape[0] == 0:
        return None
    row_bytes = max(1, int(np.prod(x.shape[1:], dtype=np.int64)) * x.dtype.itemsize)
    step = max(1, _CHUNK_BYTES // row_bytes)
    for start in range(0, x.shape[0], step):
        chunk = np.asarray(x[start : start + step])
        finite = np.isfinite(chunk)
        if not finite.all():
            bad = ~finite.reshape(chunk.shape[0], -1).all(axis=1)
            return start + int(np.argmax(bad))
    return None


def load_matrix(path: PathLike, *, mmap: bool = False) -> np.ndarray:
    """Load and validate a 2-D numeric matrix of shape ``(rows, features)``.

    Args:
        path: ``.npy``, ``.npz`` or ``.safetensors`` file; ``file.npz:key`` /
            ``file.safetensors:key`` selects one array of a multi-array file.
        mmap: memory-map ``.npy`` files (ignored for ``.npz`` / ``.safetensors``, which are
            always read into memory).

    Returns:
        Array of shape ``(n, d)`` with ``n >= 1`` and ``d >= 1``. Normally a fresh
        C-contiguous ``float32`` array. **Exception:** with ``mmap=True`` and an ``.npy`` file of
        native-endian ``float16`` or ``float32`` dtype, the read-only ``np.memmap`` itself is
        returned unchanged (dtype float16 or float32); the caller should convert it to float32
        chunk by chunk (e.g. ``np.asarray(x[i:j], dtype=np.float32)``).

    Raises:
        InputError: missing/unreadable/corrupt file, unsupported extension, pickled/object
            data, non-numeric dtype (only integer and floating dtypes are accepted; bool is
            not), not 2-D, zero rows or columns, NaN/inf, or values that overflow float32.
    """
    shown, arr = _load_raw(path, mmap=mmap)
    _check_numeric(shown, arr)
    if arr.ndim != 2:
        raise InputError(
            shown, f"expected a 2-D array (rows x features), got shape {tuple(arr.shape)}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InputError(shown, f"is empty: got shape {tuple(arr.shape)} (need rows and columns)")

    # Chunked scan of the source dtype: a float16 memmap is never up-cast whole.
    row = first_nonfinite_row(arr)
    if row is not None:
        raise InputError(shown, f"contains NaN or inf (first in row {row})")
    if isinstance(arr, np.memmap) and arr.dtype in (np.dtype(np.float16), np.dtype(np.float32)):
        return arr
    with np.errstate(over="ignore"):  # overflow is detected and reported just below
        out = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 4:
        # float64 values beyond ~3.4e38 turn into inf when converted to float32.
        row = first_nonfinite_row(out)
        if row is not None:
            raise InputError(shown, f"has values too large for float32 (first in row {row})")
    return out






def check_same_rows(*named: tuple[str, np.ndarray]) -> None:
    """Check that all arrays have the same number of rows (length of axis 0).

    Args:
        *named: ``(path, array)`` pairs; the first pair is the reference.

    Raises:
        InputError: ``<path>: has N rows but <first path> has M`` for the first mismatch.
    """
    if not named:
        return
    ref_path, ref = named[0]
    n_ref = int(np.shape(ref)[0])
    for path, arr in named[1:]:
        n = int(np.shape(arr)[0])
        if n != n_ref:
            raise InputError(path, f"has {n} rows but {os.fspath(ref_path)} has {n_ref}")


def l2_normalize(x: np.ndarray, eps: float = 1e-12) -> np.ndarray:
    """Scale each row (last axis) of ``x`` to unit Euclidean norm.

    Args:
        x: array of shape ``(n, d)`` (any ``(..., d)`` works), any real dtype.
        eps: rows with norm below ``eps`` are divided by ``eps`` instead, so all-zero rows
            stay zero.

    Returns:
        New ``float32`` array of the same shape.
    """
    x32 = np.asarray(x, dtype=np.float32)
    with np.errstate(over="ignore"):  # float32 squares overflow for |x| > ~1.8e19: see below
        norms = np.linalg.norm(x32, axis=-1, keepdims=True)
    if not np.isfinite(norms).all():  # then accumulate the squares in float64
        norms = np.sqrt(np.einsum("...i,...i->...", x32, x32, dtype=np.float64))[..., None]
    return (x32 / np.maximum(norms, eps)).astype(np.float32, copy=False)


def file_sha256(path: PathLike, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in ``chunk_size`` blocks.

    Hand-rolled loop because ``hashlib.file_digest`` needs Python 3.11 (we support 3.10).
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_size):
            digest.update(block)
    return digest.hexdigest()


