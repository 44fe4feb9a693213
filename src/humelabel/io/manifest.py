"""The manifest: which command wrote an output directory, and which files and folders.

Every output directory of humelabel holds ``manifest.json``. ``--overwrite`` replaces a
directory only when its manifest says the same command wrote it and nothing else is in it
(:func:`foreign_entry`), so no file of the user's is ever deleted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .arrays import PathLike
from .files import write_json_atomic

__all__ = ["MANIFEST", "foreign_entry", "read_manifest", "refresh_manifest", "write_manifest"]


#: Name of the manifest in every output directory humelabel writes.
MANIFEST = "manifest.json"


MANIFEST_FORMAT = "humelabel-output-v1"


def _listing(directory: Path) -> tuple[list[str], list[str]]:
    """Files and folders under ``directory`` (relative POSIX paths, sorted), manifest excluded."""
    files, dirs = [], []
    for root, subdirs, names in os.walk(directory):
        base = Path(root).relative_to(directory)
        dirs.extend((base / d).as_posix() for d in subdirs)
        files.extend((base / n).as_posix() for n in names)
    return sorted(f for f in files if f != MANIFEST), sorted(dirs)


def write_manifest(directory: PathLike, command: str, files: Iterable[str] | None = None,
                   dirs: Iterable[str] | None = None) -> None:
    """Write ``directory/manifest.json``: ``command`` wrote ``files`` and ``dirs`` (relative
    paths; default: everything in ``directory``)."""
    if files is None or dirs is None:
        found_files, found_dirs = _listing(Path(directory))
        files = found_files if files is None else sorted(files)
        dirs = found_dirs if dirs is None else sorted(dirs)
    files, dirs = sorted(files), sorted(dirs)
    write_json_atomic(Path(directory) / MANIFEST, {
        "format": MANIFEST_FORMAT, "command": command, "files": files, "dirs": dirs})


def refresh_manifest(directory: PathLike) -> None:
    """Rewrite the manifest of ``directory`` after its command added a file (a score cache)."""
    manifest = read_manifest(directory)
    if manifest is None:
        raise FileNotFoundError(f"{directory} has no {MANIFEST}")
    write_manifest(directory, str(manifest["command"]))


def read_manifest(directory: PathLike) -> dict[str, Any] | None:
    """The manifest of ``directory``, or None when it has none or an unreadable one."""
    try:
        record = json.loads((Path(directory) / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (not isinstance(record, dict) or record.get("format") != MANIFEST_FORMAT
            or not isinstance(record.get("files"), list)
            or not isinstance(record.get("dirs"), list)):
        return None
    return record


def foreign_entry(directory: Path, command: str | None) -> str | None:
    """The first thing under ``directory`` that no manifest of humelabel accounts for.

    ``directory`` must carry a manifest (of ``command``, when given); a sub-folder with a
    manifest of its own (a seed's run inside a multi-seed run) is checked the same way, with
    any command. Returns a relative path or a reason, None when everything is ours.
    """
    manifest = read_manifest(directory)
    if manifest is None:
        return f"{MANIFEST} (missing: not written by humelabel)"
    if command is not None and manifest.get("command") != command:
        return f"{MANIFEST} (written by 'humelabel {manifest.get('command')}', not by this command)"
    files, dirs = set(manifest["files"]), set(manifest["dirs"])
    for root, subdirs, names in os.walk(directory):
        base = Path(root).relative_to(directory)
        for sub in list(subdirs):
            rel = (base / sub).as_posix()
            if (Path(root) / sub / MANIFEST).is_file():  # a nested output of ours
                subdirs.remove(sub)
                problem = foreign_entry(Path(root) / sub, None)
                if problem is not None:
                    return f"{rel}/{problem}"
            elif rel not in dirs and not any(d.startswith(rel + "/") for d in dirs):
                if not _is_container(Path(root) / sub):
                    return rel
        for name in names:
            rel = (base / name).as_posix()
            if rel != MANIFEST and rel not in files:
                return rel
    return None


def _is_container(folder: Path) -> bool:
    """A folder that holds only outputs of ours (e.g. ``runs/`` of a multi-seed fit)."""
    entries = list(folder.iterdir())

    def ours(entry: Path) -> bool:
        if not entry.is_dir() or entry.is_symlink():
            return False
        return (entry / MANIFEST).is_file() or _is_container(entry)

    return bool(entries) and all(ours(entry) for entry in entries)
