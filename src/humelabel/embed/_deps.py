"""Optional dependencies of the embedding commands, and the one-line errors they raise.

The embedding backends live in optional extras (``pip install "humelabel[text]"`` and so on):
a missing package is reported as an :class:`humelabel.io.InputError` naming the extra to
install, never as an ``ImportError`` traceback.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
from collections.abc import Iterator
from types import ModuleType

from ..io import InputError

__all__ = [
    "EXTRAS",
    "MissingDependency",
    "ModelUnavailable",
    "hub_offline",
    "quiet_root_logging",
    "quiet_transformers",
    "require",
]

#: Import name -> (PyPI package, humelabel extra that installs it).
EXTRAS: dict[str, tuple[str, str]] = {
    "sentence_transformers": ("sentence-transformers", "text"),
    "PIL": ("pillow", "images"),
    "transformers": ("transformers", "hf"),
    "timm": ("timm", "timm"),
    "open_clip": ("open_clip_torch", "open-clip"),
    "torchvision": ("torchvision", "torchvision"),
    "skimage.feature": ("scikit-image", "classical"),
    "kornia": ("kornia", "ssl"),
}


class MissingDependency(InputError):
    """An optional package needed for the requested model is not installed."""


class ModelUnavailable(InputError):
    """The requested model cannot be loaded (not available offline, not a model folder...)."""


def require(module: str, what: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependency` naming the extra to install.

    Args:
        module: import name, a key of :data:`EXTRAS` (e.g. ``"sentence_transformers"``).
        what: the option or value that needs it, shown first in the message
            (e.g. ``"--model all-MiniLM-L6-v2"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package, extra = EXTRAS.get(module, (module, None))
        hint = f'pip install "humelabel[{extra}]"' if extra else f"pip install {package}"
        raise MissingDependency(
            what, f"needs the optional package {package}, which is not installed ({hint})"
        ) from exc


@contextlib.contextmanager
def hub_offline(enabled: bool = True) -> Iterator[None]:
    """Forbid Hugging Face Hub downloads inside the block (when ``enabled``).

    Sets ``HF_HUB_OFFLINE=1`` for libraries imported later and, since ``huggingface_hub``
    reads that variable once at import, also its already-imported constant; both are
    restored afterwards. Libraries that download through the hub (timm, open_clip) then
    load only from the local cache.
    """
    if not enabled:
        yield
        return
    old_env = os.environ.get("HF_HUB_OFFLINE")
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = None
    old_const = None
    with contextlib.suppress(ImportError):
        constants = importlib.import_module("huggingface_hub.constants")
        old_const = getattr(constants, "HF_HUB_OFFLINE", None)
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        if old_env is None:
            os.environ.pop("HF_HUB_OFFLINE", None)
        else:
            os.environ["HF_HUB_OFFLINE"] = old_env
        if constants is not None:
            constants.HF_HUB_OFFLINE = old_const


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' warnings and weight-loading bars inside the block (if installed)."""
    try:
        logging = importlib.import_module("transformers.utils.logging")
    except ImportError:
        yield
        return
    level = logging.get_verbosity()
    logging.set_verbosity_error()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        logging.set_verbosity(level)
        logging.enable_progress_bar()


@contextlib.contextmanager
def quiet_root_logging() -> Iterator[None]:
    """Keep libraries that log through the root logger (open_clip) off stderr inside the block.

    A module-level ``logging.error`` with no handler configured would call ``basicConfig`` and
    print its line beside the CLI's one-line error; a ``NullHandler`` on the root logger, for
    the block only, prevents that. An application that configured logging keeps its handlers
    and gets the records.
    """
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    handler = logging.NullHandler()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
