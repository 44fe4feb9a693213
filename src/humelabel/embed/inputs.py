"""Raw inputs of the embedding commands: texts from .txt/.csv/.jsonl, images from folders/lists.

Every problem is an :class:`humelabel.io.InputError` with a one-line message naming the file
(and line) at fault. Row order is the order of the file, or for an image folder the sorted
relative paths, so that the embedding rows, labels and report line up.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..io import InputError, file_sha256
from ..io.arrays import check_file, file_ext, read_text_lines

__all__ = [
    "IMAGE_EXTENSIONS",
    "TEXT_FORMATS",
    "ImageInput",
    "TextInput",
    "is_image_input",
    "list_images",
    "read_column",
    "read_texts",
]

#: Text input formats by extension.
TEXT_FORMATS = (".txt", ".csv", ".jsonl")

#: File extensions recognised as images in a folder.
IMAGE_EXTENSIONS = (
    ".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm",
)

#: Default column of .csv/.jsonl inputs.
DEFAULT_TEXT_COLUMN = "text"
DEFAULT_PATH_COLUMN = "path"


@dataclass
class TextInput:
    """Texts read from one file.

    Attributes:
        texts: the n texts, in file order.
        source: provenance for the metadata: path, format, column, sha256 of the file.
        checksum: sha256 over the texts themselves (format-independent), hex.
        labels: the ``label_column`` values (strings) when one was requested, else None.
    """

    texts: list[str]
    source: dict[str, Any]
    checksum: str
    labels: list[str] | None = None


@dataclass
class ImageInput:
    """Image files to embed.

    Attributes:
        files: absolute paths, (n,), in row order.
        names: the same files relative to ``root`` (POSIX separators), shown in reports.
        root: the folder given, or the folder of the list file.
        source: provenance for the metadata: path, kind (folder/list), sha256 of a list file.
        checksum: sha256 over (relative name, sha256 of contents) of every file, hex.
    """

    files: list[str]
    names: list[str]
    root: str
    source: dict[str, Any]
    checksum: str = ""
    file_hashes: list[str] = field(default_factory=list)


def _jsonl_records(shown: str, path: str) -> list[tuple[int, dict[str, Any]]]:
    records = []
    for lineno, line in enumerate(read_text_lines(shown, path), start=1):
        if not line.strip():
            raise InputError(shown, f"line {lineno} is empty (expected one JSON object a line)")
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(shown, f"line {lineno}: not valid JSON ({exc.msg})") from None
        if not isinstance(obj, dict):
            raise InputError(
                shown, f"line {lineno}: expected a JSON object, got {type(obj).__name__}"
            )
        records.append((lineno, obj))
    return records


def _csv_records(shown: str, path: str) -> tuple[list[str], list[tuple[int, dict[str, Any]]]]:
    csv.field_size_limit(min(sys.maxsize, 2**31 - 1))
    try:
        with open(path, encoding="utf-8-sig", newline="") as fh:
            reader = csv.DictReader(fh)
            header = list(reader.fieldnames or [])
            rows = [(reader.line_num, row) for row in reader]
    except UnicodeDecodeError as exc:
        raise InputError(shown, "is not a UTF-8 text file") from exc
    except csv.Error as exc:
        raise InputError(shown, f"not a valid CSV file ({exc})") from exc
    except OSError as exc:
        raise InputError(shown, f"cannot read file ({exc.strerror or exc})") from exc
    if not header:
        raise InputError(shown, "is empty (expected a header line naming the columns)")
    return header, rows


def _pick_column(shown: str, available: list[str], column: str | None, default: str,
                 *, only: bool = True) -> str:
    """The column to read: ``column``, else ``default`` if present, else (with ``only``) the
    only column. A .jsonl file has keys, not a header: its one key is no stand-in for
    ``default`` (a file of ``{"label": 3}`` records would be embedded as texts "3")."""
    if column is not None:
        if column not in available:
            raise InputError(
                shown, f"has no column {column!r} (columns: {', '.join(available) or 'none'})"
            )
        return column
    if default in available:
        return default
    if only and len(available) == 1:
        return available[0]
    raise InputError(
        shown,
        f"has no column {default!r}; choose one with --column (columns: {', '.join(available)})",
    )


def read_column(
    path: str | os.PathLike[str], column: str | None, *, default: str,
    extra_column: str | None = None,
) -> tuple[list[str], dict[str, Any], list[str] | None]:
    """Read one string column from a .txt (the whole line), .csv (header) or .jsonl file.

    Args:
        path: the file.
        column: column (csv) or key (jsonl) to read; None picks ``default`` or the only one.
            Must be None for .txt.
        default: the column used when ``column`` is None and the file has it.
        extra_column: a second column to read alongside (e.g. true labels), or None.

    Returns:
        ``(values (n,), source record, extra values (n,) or None)``. Values are strings;
        numbers in .jsonl are converted with ``str``.

    Raises:
        InputError: missing/unreadable file, unsupported extension, missing column, empty
            file, or an empty or non-string value (naming its line).
    """
    shown = os.fspath(path)
    fpath = shown
    ext = file_ext(fpath)
    if ext not in TEXT_FORMATS:
        if not os.path.exists(fpath):
            raise InputError(shown, "file not found")
        raise InputError(
            shown,
            f"unsupported input extension {ext or '(none)'!r} (expected .txt, .csv or .jsonl)",
        )
    check_file(shown, fpath)
    source: dict[str, Any] = {"path": shown, "file": os.path.abspath(fpath),
                              "format": ext[1:], "sha256": file_sha256(fpath)}
    extra: list[str] | None = None
    if ext == ".txt":
        if column is not None:
            raise InputError(
                f"--column {column}", f"{shown} is a .txt file (one value a line, no columns)"
            )
        if extra_column is not None:
            raise InputError(shown, "a .txt file has no columns to read labels from")
        values = []
        for lineno, line in enumerate(read_text_lines(shown, fpath), start=1):
            if not line.strip():
                raise InputError(shown, f"line {lineno} is empty (every line is one row)")
            values.append(line.rstrip("\r"))
    else:
        if ext == ".csv":
            header, records = _csv_records(shown, fpath)
        else:
            records = _jsonl_records(shown, fpath)
            header = list(records[0][1]) if records else []
        if not records:
            raise InputError(shown, "contains no rows")
        column = _pick_column(shown, header, column, default, only=ext == ".csv")
        source["column"] = column
        values = [_cell(shown, lineno, rec, column) for lineno, rec in records]
        if extra_column is not None:
            if extra_column not in header:
                raise InputError(
                    shown, f"has no column {extra_column!r} (columns: {', '.join(header)})"
                )
            source["label_column"] = extra_column
            extra = [_cell(shown, lineno, rec, extra_column) for lineno, rec in records]
    if not values:
        raise InputError(shown, "contains no rows")
    return values, source, extra


def _cell(shown: str, lineno: int, record: dict[str, Any], column: str) -> str:
    if column not in record or record[column] is None:
        raise InputError(shown, f"line {lineno}: no value in column {column!r}")
    value = record[column]
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise InputError(
            shown, f"line {lineno}: column {column!r} holds {type(value).__name__}, not text"
        )
    value = str(value)
    if not value.strip():
        raise InputError(shown, f"line {lineno}: column {column!r} is empty")
    return value


def texts_checksum(texts: list[str]) -> str:
    """sha256 (hex) of a list of texts: each UTF-8 text prefixed with its byte length."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8")
        digest.update(len(data).to_bytes(8, "little"))
        digest.update(data)
    return digest.hexdigest()


def read_texts(
    path: str | os.PathLike[str], column: str | None = None, label_column: str | None = None
) -> TextInput:
    """Read the texts to embed (see :func:`read_column`; default column ``text``)."""
    texts, source, labels = read_column(
        path, column, default=DEFAULT_TEXT_COLUMN, extra_column=label_column
    )
    return TextInput(texts=texts, source=source, checksum=texts_checksum(texts), labels=labels)


def _is_image_name(name: str) -> bool:
    return file_ext(name) in IMAGE_EXTENSIONS


def is_image_input(path: str | os.PathLike[str], column: str | None = None) -> bool:
    """True for a folder, or for a list file whose first few rows name existing image files."""
    spath = os.fspath(path)
    if os.path.isdir(spath):
        return True
    if file_ext(spath) not in TEXT_FORMATS or not os.path.isfile(spath):
        return False
    try:
        values, _, _ = read_column(spath, column, default=DEFAULT_PATH_COLUMN)
    except InputError:
        return False
    base = os.path.dirname(os.path.abspath(spath))
    head = [os.path.expanduser(v.strip()) for v in values[:5]]
    return all(_is_image_name(v) and os.path.isfile(os.path.join(base, v)) for v in head)


def _walk_images(root: str) -> list[str]:
    """Image files under ``root`` (recursively, hidden entries skipped), sorted relative paths."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in filenames:
            if not name.startswith(".") and _is_image_name(name):
                found.append(os.path.relpath(os.path.join(dirpath, name), root))
    return sorted(Path(p).as_posix() for p in found)


def list_images(
    path: str | os.PathLike[str], column: str | None = None, *, hash_files: bool = True
) -> ImageInput:
    """The images to embed: every image under a folder, or the files named by a list.

    Args:
        path: a folder (searched recursively; nested class folders are allowed and their names
            ignored; rows are the sorted relative paths), or a .txt/.csv/.jsonl list of image
            paths (one a row, relative to the list's folder; ``column`` as in
            :func:`read_column`, default ``path``).
        column: column of a .csv/.jsonl list.
        hash_files: compute the content checksum (reads every file once).

    Raises:
        InputError: no images, a listed file missing or not an image file.
    """
    shown = os.fspath(path)
    if not os.path.exists(shown):
        raise InputError(shown, "not found")
    if os.path.isdir(shown):
        if column is not None:
            raise InputError(f"--column {column}", f"{shown} is a folder, not a list file")
        root = os.path.abspath(shown)
        names = _walk_images(root)
        if not names:
            raise InputError(
                shown, f"contains no image files ({', '.join(IMAGE_EXTENSIONS)}) in any subfolder"
            )
        files = [os.path.join(root, n) for n in names]
        source: dict[str, Any] = {"path": shown, "kind": "folder", "root": root}
    else:
        values, source, _ = read_column(shown, column, default=DEFAULT_PATH_COLUMN)
        source["kind"] = "list"
        root = os.path.dirname(os.path.abspath(shown))
        files, names = [], []
        for row, value in enumerate(values, start=1):
            rel = os.path.expanduser(value.strip())
            full = os.path.normpath(os.path.join(root, rel))
            if not os.path.isfile(full):
                raise InputError(shown, f"row {row}: image file {value.strip()!r} not found")
            if not _is_image_name(full):
                raise InputError(
                    shown, f"row {row}: {value.strip()!r} is not an image file "
                    f"(expected {', '.join(IMAGE_EXTENSIONS)})"
                )
            files.append(full)
            names.append(Path(rel).as_posix())
    result = ImageInput(files=files, names=names, root=root, source=source)
    if hash_files:
        digest = hashlib.sha256()
        for name, full in zip(names, files, strict=True):
            try:
                file_hash = file_sha256(full)
            except OSError as exc:
                raise InputError(full, f"cannot read file ({exc.strerror or exc})") from exc
            result.file_hashes.append(file_hash)
            digest.update(name.encode("utf-8") + b"\0" + file_hash.encode("ascii") + b"\n")
        result.checksum = digest.hexdigest()
    return result
