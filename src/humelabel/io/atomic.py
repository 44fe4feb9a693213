"""Atomic outputs, and the checks that let ``--overwrite`` replace only what it wrote.

Every output directory is built in a hidden temporary sibling and renamed into place, so a
reader sees either the old directory or the complete new one. Each one holds ``manifest.json``
naming the command that wrote it and every file and folder it wrote. ``--overwrite`` replaces a
directory only when the manifest says the same command wrote it and the directory holds nothing
else (no file of the user's is ever deleted), and never when it holds one of the command's
inputs. Single files are written through a temporary sibling and ``os.replace``.

Part of the bottom layer (:mod:`humelabel.io`): standard library and numpy only.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path

from .arrays import InputError, PathLike, split_key
from .files import fsync_dir
from .manifest import foreign_entry, read_manifest, write_manifest

__all__ = [
    "atomic_output_dir",
    "check_output_dir",
    "check_output_file",
    "probe_output_dir",
]



# --------------------------------------------------------------------------------------------
# Manifests: which command wrote a directory, and what
# --------------------------------------------------------------------------------------------














def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _resolved(path: PathLike) -> Path:
    return Path(os.path.realpath(split_key(path)[0]))


def _check_creatable(shown: str, path: Path) -> None:
    """Fail unless ``path`` (absolute) could be created: its nearest existing ancestor must be a
    directory this process may write into. Nothing is created to find out."""
    ancestor = path.parent
    while not (ancestor.exists() or ancestor.is_symlink()) and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise InputError(shown, f"cannot be created: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise InputError(shown, f"cannot be created: no permission to write into {ancestor}")


def check_output_dir(out: PathLike, overwrite: bool, command: str,
                     inputs: Iterable[PathLike] = ()) -> None:
    """Fail unless ``out`` may be (re)written as the output directory of ``command``.

    Raises InputError when ``out`` is no usable name, exists as a non-directory, is a non-empty
    directory without ``overwrite``, holds anything the same command did not write (by its
    manifest), holds or is one of ``inputs``, or contains the working directory.
    """
    shown = os.fspath(out)
    if not shown.strip():
        raise InputError(repr(shown), "is not a usable output directory name")
    final = Path(os.path.abspath(shown))
    if not final.name or final.name in (".", ".."):
        raise InputError(shown, "is not a usable output directory name")
    resolved = Path(os.path.realpath(final))
    for given in inputs:
        if _inside(_resolved(given), resolved):
            raise InputError(shown, f"holds the input {os.fspath(given)}; choose another --out")
    _check_creatable(shown, final)
    if not (final.exists() or final.is_symlink()):
        return
    if not final.is_dir():
        raise InputError(shown, "exists and is not a directory")
    if not any(final.iterdir()):
        return
    if not overwrite:
        raise InputError(shown, "exists and is not empty (use --overwrite)")
    if final.is_symlink():
        raise InputError(shown, "is a symbolic link; refusing to replace it")
    cwd = Path(os.getcwd()).resolve()
    if _inside(cwd, resolved):
        raise InputError(shown, "refusing to overwrite a directory containing the working "
                         "directory")
    foreign = foreign_entry(final, command)
    if foreign is not None:
        raise InputError(shown, f"holds {foreign}, which 'humelabel {command}' did not write; "
                         "refusing to replace it (choose another --out)")


def probe_output_dir(out: PathLike) -> None:
    """Prove that ``out``'s folder can be written, before long work: create the missing parent
    folders and a temporary sibling of ``out``, then remove all of them again."""
    shown = os.fspath(out)
    final = Path(os.path.abspath(shown))
    created = _missing_parents(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        _mkdir_unique(final.parent, f".{final.name}.probe-").rmdir()
    except OSError as exc:
        raise InputError(shown, f"cannot be written ({exc.strerror or exc})") from exc
    finally:
        for parent in reversed(created):
            with contextlib.suppress(OSError):
                parent.rmdir()


def check_output_file(out: PathLike, overwrite: bool, command: str,
                      inputs: Iterable[PathLike] = (), record: PathLike | None = None) -> None:
    """Fail unless the single file ``out`` may be (re)written by ``command``.

    An existing ``out`` is replaced only with ``overwrite``, when it is none of ``inputs``, no
    other output's manifest lists it, and (when given) its companion ``record`` (a JSON file
    written next to it) says ``command`` wrote it.
    """
    shown = os.fspath(out)
    if not shown.strip():
        raise InputError(repr(shown), "is not a usable output file name")
    path = Path(os.path.abspath(shown))
    if shown.endswith(("/", os.sep)) or path.is_dir():
        raise InputError(shown, "is a directory (expected a file name)")
    resolved = Path(os.path.realpath(path))
    for given in inputs:
        if _resolved(given) == resolved:
            raise InputError(shown, f"is one of this command's inputs ({os.fspath(given)})")
    if path.parent.is_dir():
        manifest = read_manifest(path.parent)
        if manifest is not None and path.name in manifest["files"]:
            raise InputError(shown, f"belongs to the output of 'humelabel "
                             f"{manifest.get('command')}' in {path.parent}; choose another file")
    elif path.parent.exists():
        raise InputError(shown, f"{path.parent} is not a directory")
    _check_creatable(shown, path)
    if not (path.exists() or path.is_symlink()):
        return
    if not overwrite:
        raise InputError(shown, "exists (use --overwrite)")
    if record is not None:
        try:
            kind = json.loads(Path(record).read_text(encoding="utf-8")).get("kind")
        except (OSError, ValueError, AttributeError):
            kind = None
        if kind != command:
            raise InputError(shown, f"exists and was not written by 'humelabel {command}' (no "
                             f"matching {Path(record).name}); refusing to replace it")


# --------------------------------------------------------------------------------------------
# Atomic directories and files
# --------------------------------------------------------------------------------------------




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
def atomic_output_dir(out: PathLike, command: str, overwrite: bool = False,
                      inputs: Iterable[PathLike] = ()) -> Iterator[Path]:
    """Build the output directory of ``command`` in a hidden temporary sibling, then move it
    into place with its manifest.

    Usage::

        with atomic_output_dir("runs/x", "fit", overwrite=args.overwrite) as tmp:
            save_npy_atomic(tmp / "labels.npy", labels)

    :func:`check_output_dir` decides first whether ``out`` may be written. On normal exit the
    manifest is written and the temporary directory becomes ``out`` (a replaced ``out`` is
    renamed aside, the new one renamed into place, then the old one deleted: it held only
    files of the same command). On an exception the temporary directory is deleted, ``out`` is
    left as it was and parent directories created here are removed again (best effort).

    Yields:
        Path of the temporary directory (same parent as ``out``, named ``.<name>.tmp-<hex>``).
    """
    shown = os.fspath(out)
    check_output_dir(out, overwrite, command, inputs)
    final = Path(os.path.abspath(shown))
    created = _missing_parents(final)
    tmp: Path | None = None
    try:
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            tmp = _mkdir_unique(final.parent, f".{final.name}.tmp-")
        except OSError as exc:  # unwritable in a way no permission bit shows (e.g. /proc)
            raise InputError(shown, f"cannot be created ({exc.strerror or exc})") from exc
        yield tmp
        write_manifest(tmp, command)
        check_output_dir(out, overwrite, command, inputs)  # unchanged meanwhile?
        _commit_dir(tmp, final, shown)
    except BaseException:
        if tmp is not None and tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        for parent in reversed(created):  # innermost first; only succeeds when empty
            try:
                parent.rmdir()
            except OSError:
                break
        raise


def _commit_dir(tmp: Path, final: Path, shown: str) -> None:
    """Move ``tmp`` to ``final`` (already checked to be absent, empty or ours)."""
    if not (final.exists() or final.is_symlink()):
        os.rename(tmp, final)
    elif final.is_dir() and not final.is_symlink() and not any(final.iterdir()):
        os.rename(tmp, final)  # POSIX rename atomically replaces an empty directory
    else:
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
    fsync_dir(final.parent)












