"""Input loading, validation and atomic output writing.

This is the bottom layer of ``humelabel``: it imports only numpy, safetensors and the
standard library. Every problem with user input is reported as an :class:`InputError` whose
message is a single line of the form ``<path>: <problem>``.

Supported array files:

* ``.npy`` -- one array (``np.load`` with ``allow_pickle=False``; never unpickles anything).
* ``.npz`` -- an archive holding exactly one array, or ``file.npz:key`` to select one.
* ``.safetensors`` -- exactly one tensor, or ``file.safetensors:key`` to select one.

Label files may additionally be ``.txt`` / ``.csv`` with one integer per line.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import secrets
import shutil
import warnings
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = [
    "InputError",
    "atomic_output_dir",
    "check_same_rows",
    "file_sha256",
    "l2_normalize",
    "load_labels",
    "load_matrix",
    "save_npy_atomic",
    "write_json_atomic",
    "write_text_atomic",
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


def _check_file(shown: str, fpath: str) -> None:
    """Raise InputError unless ``fpath`` is an existing regular file."""
    if not os.path.exists(fpath):
        raise InputError(shown, "file not found")
    if not os.path.isfile(fpath):
        raise InputError(shown, "is not a regular file")
    if not os.access(fpath, os.R_OK):
        raise InputError(shown, "file is not readable (permission denied)")


def _ext(fpath: str) -> str:
    return os.path.splitext(fpath)[1].lower()


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
            return npz[key]
    except InputError:
        raise
    except ValueError as exc:
        msg = str(exc).lower()
        if "pickle" in msg or "object" in msg:
            raise _pickle_error(shown) from exc
        raise InputError(shown, f"corrupt .npz archive ({_describe(exc)})") from exc
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, OSError, ...
        raise InputError(shown, f"corrupt .npz archive ({_describe(exc)})") from exc


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
    ext = _ext(fpath)
    if ext not in _ARRAY_EXTS:
        if not os.path.exists(fpath):
            raise InputError(shown, "file not found")
        raise InputError(
            shown,
            f"unsupported file extension {ext or '(none)'!r} (expected .npy, .npz or .safetensors)",
        )
    _check_file(shown, fpath)
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


def _first_nonfinite_row(x: np.ndarray) -> int | None:
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
    row = _first_nonfinite_row(arr)
    if row is not None:
        raise InputError(shown, f"contains NaN or inf (first in row {row})")
    if isinstance(arr, np.memmap) and arr.dtype in (np.dtype(np.float16), np.dtype(np.float32)):
        return arr
    with np.errstate(over="ignore"):  # overflow is detected and reported just below
        out = np.ascontiguousarray(arr, dtype=np.float32)
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 4:
        # float64 values beyond ~3.4e38 turn into inf when converted to float32.
        row = _first_nonfinite_row(out)
        if row is not None:
            raise InputError(shown, f"has values too large for float32 (first in row {row})")
    return out


def _parse_label_text(shown: str, fpath: str) -> np.ndarray:
    # Hand-written instead of np.loadtxt so that errors can name the offending line and so
    # whole-number floats ("3.0") are accepted while "3.5" is rejected with a clear message.
    try:
        with open(fpath, encoding="utf-8-sig") as fh:
            lines = fh.read().splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(shown, "is not a UTF-8 text file") from exc
    except OSError as exc:
        raise InputError(shown, f"cannot read file ({_describe(exc)})") from exc
    while lines and not lines[-1].strip():
        lines.pop()
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
    if _ext(fpath) in _TEXT_EXTS:
        _check_file(shown, fpath)
        return _parse_label_text(shown, fpath)
    if _ext(fpath) not in _ARRAY_EXTS:
        if not os.path.exists(fpath):
            raise InputError(shown, "file not found")
        raise InputError(
            shown,
            f"unsupported label file extension {_ext(fpath) or '(none)'!r} (expected "
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
        row = _first_nonfinite_row(arr)
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
    # Squared norms accumulated in float64: float32 squares overflow for |x| > ~1.8e19.
    sq = np.einsum("...i,...i->...", x32, x32, dtype=np.float64)
    norms = np.sqrt(sq)[..., None]
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


# --------------------------------------------------------------------------------------------
# Atomic outputs
# --------------------------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
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


def _mkdir_unique(parent: Path, prefix: str) -> Path:
    """Create a fresh directory ``parent/<prefix><random>`` honouring the umask.

    Used instead of ``tempfile.mkdtemp``, whose 0o700 mode would end up on the final output.
    """
    for _ in range(100):
        candidate = parent / f"{prefix}{secrets.token_hex(6)}"
        try:
            os.mkdir(candidate, 0o777)
        except FileExistsError:
            continue
        return candidate
    raise FileExistsError(f"could not create a unique directory in {parent}")


def _missing_parents(directory: Path) -> list[Path]:
    """Ancestors of ``directory`` (itself excluded) that do not exist, outermost first."""
    missing = []
    for parent in directory.parents:
        if parent.exists():
            break
        missing.append(parent)
    return missing[::-1]


def _remove_tree(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path)


@contextlib.contextmanager
def atomic_output_dir(out: PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Build an output directory in a hidden temporary sibling and move it into place.

    Usage::

        with atomic_output_dir("runs/x", overwrite=args.overwrite) as tmp:
            save_npy_atomic(tmp / "labels.npy", labels)

    On normal exit the temporary directory becomes ``out`` (an existing ``out`` is replaced
    only when it is empty or ``overwrite`` is true: the old one is renamed aside, the new one
    renamed into place, then the old one deleted). On an exception the temporary directory is
    deleted, ``out`` is left as it was (absent, or as it existed before) and missing parent
    directories created here are removed again (best effort).

    Args:
        out: final output directory.
        overwrite: allow replacing an existing non-empty ``out``.

    Yields:
        Path of the temporary directory (same parent as ``out``, named ``.<name>.tmp-<hex>``).

    Raises:
        InputError: ``out`` exists and is not a directory, or is non-empty without
            ``overwrite``, or would be a directory that contains the working directory.
    """
    shown = os.fspath(out)
    final = Path(os.path.abspath(shown))
    if not final.name:
        raise InputError(shown, "is not a usable output directory name")
    if final.exists() or final.is_symlink():
        if not final.is_dir():
            raise InputError(shown, "exists and is not a directory")
        if any(final.iterdir()):
            if not overwrite:
                raise InputError(shown, "exists and is not empty (use --overwrite)")
            cwd = Path(os.getcwd()).resolve()
            resolved = final.resolve()
            if cwd == resolved or resolved in cwd.parents:
                raise InputError(
                    shown, "refusing to overwrite a directory containing the working directory"
                )

    created = _missing_parents(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        tmp = _mkdir_unique(final.parent, f".{final.name}.tmp-")
        yield tmp
        _commit_dir(tmp, final, shown, overwrite)
    except BaseException:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        for parent in reversed(created):  # innermost first; only succeeds when empty
            try:
                parent.rmdir()
            except OSError:
                break
        raise


def _commit_dir(tmp: Path, final: Path, shown: str, overwrite: bool) -> None:
    """Move ``tmp`` to ``final`` (see :func:`atomic_output_dir`)."""
    if not (final.exists() or final.is_symlink()):
        os.rename(tmp, final)
    elif final.is_dir() and not final.is_symlink() and not any(final.iterdir()):
        os.rename(tmp, final)  # POSIX rename atomically replaces an empty directory
    else:
        if not overwrite or not final.is_dir():
            raise InputError(shown, "exists and is not empty (use --overwrite)")
        aside = final.parent / f".{final.name}.old-{secrets.token_hex(6)}"
        os.rename(final, aside)
        try:
            os.rename(tmp, final)
        except BaseException:
            os.rename(aside, final)
            raise
        try:
            _remove_tree(aside)
        except OSError as exc:
            warnings.warn(
                f"{shown}: replaced, but could not delete the old copy at {aside} ({exc})",
                stacklevel=3,
            )
    _fsync_dir(final.parent)


def _atomic_write(path: PathLike, write: Callable[[IO[bytes]], None]) -> None:
    """Write a file via a temporary sibling, fsync, then ``os.replace`` it into place.

    The temporary file is opened with ``os.open`` (mode 0o666 minus umask) rather than
    ``tempfile``, whose 0o600 mode would carry over to the final file.
    """
    target = Path(path)
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
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(target.parent)


def save_npy_atomic(path: PathLike, array: np.ndarray) -> None:
    """Atomically write ``array`` (any shape, non-object dtype) to the ``.npy`` file ``path``.

    The name is used as given (no ``.npy`` suffix is appended). Parent directories are created.
    """
    arr = np.asarray(array)

    def write(fh: IO[bytes]) -> None:
        np.save(fh, arr, allow_pickle=False)

    _atomic_write(path, write)


def _to_jsonable(obj: Any) -> Any:
    """Recursively convert numpy values, tuples and paths to JSON types; NaN/inf -> None."""
    if isinstance(obj, dict):
        return {str(k) if not isinstance(k, str) else k: _to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_to_jsonable(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _to_jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return _to_jsonable(obj.item())
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
    text = json.dumps(_to_jsonable(obj), indent=2, allow_nan=False) + "\n"
    write_text_atomic(path, text)


def write_text_atomic(path: PathLike, text: str) -> None:
    """Atomically write ``text`` (UTF-8) to ``path``."""
    data = text.encode("utf-8")

    def write(fh: IO[bytes]) -> None:
        fh.write(data)

    _atomic_write(path, write)


def package_versions(packages: tuple[str, ...]) -> dict[str, str | None]:
    """Installed versions of ``packages`` (None where a package is absent), for run records."""
    import importlib.metadata

    found: dict[str, str | None] = {}
    for name in packages:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found


def write_bytes_atomic(path: PathLike, data: bytes) -> None:
    """Atomically write ``data`` to ``path`` (e.g. a rendered PNG)."""

    def write(fh: IO[bytes]) -> None:
        fh.write(data)

    _atomic_write(path, write)


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
