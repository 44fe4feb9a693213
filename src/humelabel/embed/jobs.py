"""From raw inputs to an embedding file: the jobs behind ``humelabel embed`` and ``run``.

:func:`embed_texts` and :func:`embed_images` load the model, compute the rows through the
resumable store (:mod:`.store`), optionally L2-normalise them and write ``X.npy`` plus
``X.meta.json``. :func:`cached_embedding` does the same into a cache folder, keyed by the
job's fingerprint, and returns a finished file without recomputing it.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..io import InputError, file_sha256, l2_normalize
from .classical import is_classical
from .inputs import ImageInput, TextInput
from .ssl import is_ssl
from .ssl_train import SSLSettings
from .store import compute_rows, fingerprint_key, read_meta, write_embedding
from .tfidf import TfidfSettings, tfidf_embed

__all__ = [
    "DTYPES",
    "EmbedOptions",
    "cached_embedding",
    "embed_images",
    "embed_texts",
    "is_tfidf",
    "resolve_device_dtype",
]

#: Output dtypes of ``--dtype``.
DTYPES = ("float32", "float16")

#: Packages whose versions are recorded, per backend.
_PACKAGES = {
    "sentence-transformers": ("sentence-transformers", "transformers"),
    "tfidf": ("scikit-learn",),
    "hf": ("transformers", "pillow"),
    "timm": ("timm", "pillow"),
    "open_clip": ("open_clip_torch", "pillow"),
    "torchvision": ("torchvision", "pillow"),
    "classical": ("scikit-image", "scikit-learn", "pillow"),
    "ssl": ("kornia", "pillow"),
}


@dataclass
class EmbedOptions:
    """How to embed (shared by both modalities; recorded in the metadata).

    Attributes:
        batch_size: rows per forward pass.
        device: ``auto`` (CUDA when available), ``cpu``, ``cuda``, ``cuda:1``...
        dtype: output dtype, ``float32`` or ``float16``. With ``float16`` the model also runs
            in half precision on a GPU; on the CPU it runs in float32 and only the output is
            stored in float16.
        normalize: L2-normalise the rows (TF-IDF rows always are).
        allow_download: let the backend download weights that are not available locally.
        progress: show a progress bar on stderr.
        shard_size: rows per checkpoint of a resumable run (default: 1024 texts or
            16 batches of images).
        tfidf: settings of the ``tfidf`` model.
        ssl: training settings of ``ssl:METHOD`` models.
    """

    batch_size: int = 64
    device: str = "auto"
    dtype: str = "float32"
    normalize: bool = False
    allow_download: bool = False
    progress: bool = True
    shard_size: int | None = None
    tfidf: TfidfSettings = field(default_factory=TfidfSettings)
    ssl: SSLSettings = field(default_factory=SSLSettings)


def is_tfidf(spec: str) -> bool:
    """True for the model-free TF-IDF space."""
    return spec.lower() == "tfidf"


def resolve_device_dtype(options: EmbedOptions) -> tuple[Any, Any]:
    """(torch device, torch compute dtype) of the options; InputError naming ``--device``."""
    import torch

    from ..core.device import resolve_device

    try:
        device = resolve_device(options.device)
    except ValueError as exc:
        raise InputError(f"--device {options.device}", str(exc)) from exc
    except RuntimeError as exc:
        raise InputError(f"--device {options.device}",
                         "not a torch device (expected auto, cpu, cuda, cuda:N, ...)") from exc
    half = options.dtype == "float16" and device.type in ("cuda", "mps")
    return device, (torch.float16 if half else torch.float32)


def _finish(matrix: np.ndarray, options: EmbedOptions, normalized_by_model: bool
            ) -> tuple[np.ndarray, str]:
    if options.normalize:
        return l2_normalize(matrix).astype(options.dtype), "l2"
    return matrix.astype(options.dtype, copy=False), ("l2 (model)" if normalized_by_model
                                                       else "none")


def _common_meta(options: EmbedOptions, device: Any, compute_dtype: Any) -> dict[str, Any]:
    return {"device": str(device), "compute_dtype": str(compute_dtype).replace("torch.", ""),
            "batch_size": options.batch_size}


def embed_texts(
    inputs: TextInput, spec: str, out: str | os.PathLike[str], options: EmbedOptions,
    *, what: str | None = None, extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Embed texts with a sentence-transformers model or ``tfidf``; write ``out`` and metadata.

    Args:
        inputs: the texts (:func:`.inputs.read_texts`).
        spec: ``tfidf``, a sentence-transformers hub id or alias, or a local folder.
        out: the ``.npy`` file to write (its metadata goes to ``X.meta.json``).
        options: see :class:`EmbedOptions`.
        what: how the model is named in error messages.
        extra: more fields for the metadata.

    Returns:
        The metadata written.
    """
    what = what or f"--model {spec}"
    start = time.perf_counter()
    base = {"modality": "text", "model": spec, "input": inputs.source,
            "checksum": inputs.checksum}
    if is_tfidf(spec):
        if len(inputs.texts) < 2:
            raise InputError(inputs.source["path"], "TF-IDF needs at least 2 texts")
        try:
            matrix, info = tfidf_embed(inputs.texts, options.tfidf)
        except ValueError as exc:  # e.g. empty vocabulary
            raise InputError(inputs.source["path"], f"TF-IDF failed: {exc}") from exc
        meta = {**base, "backend": "tfidf", "normalization": "l2",
                "tfidf": {**options.tfidf.as_dict(), **info}, "device": "cpu",
                "compute_dtype": "float32", "resumed_rows": 0}
        matrix = matrix.astype(options.dtype)
    else:
        from .text import load_sentence_model, resolve_text_model, sentence_encoder

        device, compute_dtype = resolve_device_dtype(options)
        _, info = resolve_text_model(spec)
        # What the rows depend on (not where the input file lies, nor the output dtype).
        fingerprint = {"modality": "text", "model": spec, "checksum": inputs.checksum,
                       "model_id": info.get("model_id"), "model_path": info.get("model_path"),
                       "compute_dtype": str(compute_dtype), "n": len(inputs.texts),
                       "batch_size": options.batch_size}  # padding per batch moves the rows
        model, info = load_sentence_model(spec, device=str(device),
                                          allow_download=options.allow_download, what=what)
        if str(compute_dtype) == "torch.float16":
            model.half()
        compute = sentence_encoder(model, inputs.texts, batch_size=options.batch_size)
        shard = options.shard_size or max(1024, options.batch_size)
        matrix, run = compute_rows(
            len(inputs.texts), compute, out, {**fingerprint, "shard_size": shard},
            shard_size=shard, dtype=np.float32, progress=options.progress,
            desc=f"embed {spec}", unit="text",
        )
        matrix, normalization = _finish(matrix, options, info.get("normalizes", False))
        meta = {**base, "backend": "sentence-transformers", **info,
                "normalization": normalization, **_common_meta(options, device, compute_dtype),
                "resumed_rows": run["resumed_rows"], "shard_size": shard}
    meta["seconds"] = time.perf_counter() - start
    meta.update(extra or {})
    return write_embedding(out, matrix, meta, packages=_PACKAGES[meta["backend"]])


def embed_images(
    inputs: ImageInput, spec: str, out: str | os.PathLike[str], options: EmbedOptions,
    *, what: str | None = None, model: Any = None, extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Embed image files with an image model; write ``out`` and metadata.

    Args:
        inputs: the files (:func:`.inputs.list_images`).
        spec: model spec (:func:`.images.load_image_model`).
        out: the ``.npy`` file to write.
        options: see :class:`EmbedOptions`.
        what: how the model is named in error messages.
        model: an already built :class:`.images.ImageModel` to use instead of loading
            ``spec`` (e.g. one with random weights in tests); ``spec`` then only names it.
        extra: more fields for the metadata.

    Returns:
        The metadata written.
    """
    from .images import check_images, image_encoder, load_image_model

    what = what or f"--model {spec}"
    start = time.perf_counter()
    device, compute_dtype = resolve_device_dtype(options)
    base = {"modality": "images", "model": spec, "input": inputs.source,
            "checksum": inputs.checksum}
    fingerprint = {"modality": "images", "model": spec, "checksum": inputs.checksum,
                   "compute_dtype": str(compute_dtype), "n": len(inputs.files),
                   "batch_size": options.batch_size}
    prepared = None
    # Classical views and ssl training read every image before the rows are computed: a bad
    # file must fail first. Other models are loaded first (a missing model fails first).
    if model is None and (is_classical(spec) or is_ssl(spec)):
        check_images(inputs.files)
    if model is None and is_classical(spec):
        from .classical import classical_model

        model = classical_model(spec, inputs.files, what=what, progress=options.progress)
    elif model is None and is_ssl(spec):
        from .ssl import prepare_ssl

        prepared = prepare_ssl(spec, inputs.files, inputs.checksum, out, options.ssl,
                               device=device, progress=options.progress, what=what)
        model = prepared.model
        fingerprint["weights_sha256"] = prepared.weights_sha256  # the rows follow the weights
    else:
        if model is None:
            model = load_image_model(spec, allow_download=options.allow_download, what=what)
        check_images(inputs.files)
    compute = image_encoder(model, inputs.files, batch_size=options.batch_size, device=device,
                            dtype=compute_dtype)
    shard = options.shard_size or 16 * options.batch_size
    matrix, run = compute_rows(
        len(inputs.files), compute, out, {**fingerprint, "shard_size": shard},
        shard_size=shard, dtype=np.float32, progress=options.progress,
        desc=f"embed {spec}", unit="image",
    )
    matrix, normalization = _finish(matrix, options, False)
    backend = model.info.get("backend", "hf")
    meta = {**base, **model.info, "backend": backend, "normalization": normalization,
            **_common_meta(options, device, compute_dtype), "resumed_rows": run["resumed_rows"],
            "shard_size": shard, "root": inputs.root, "files": inputs.names,
            "seconds": time.perf_counter() - start, **(extra or {})}
    if prepared is not None and prepared.weights is not None:
        from .ssl import write_encoder

        meta["weights"] = os.fspath(write_encoder(out, prepared.weights))
    written = write_embedding(out, matrix, meta, packages=_PACKAGES.get(backend, ()))
    if prepared is not None and prepared.work is not None:
        shutil.rmtree(prepared.work, ignore_errors=True)  # the output is complete
    return written


def _slug(spec: str) -> str:
    tail = spec.rstrip("/").replace("\\", "/").split("/")[-1] or "model"
    return re.sub(r"[^A-Za-z0-9._-]+", "-", tail)[:40]


def cache_fingerprint(modality: str, spec: str, checksum: str, options: EmbedOptions
                      ) -> dict[str, Any]:
    """What a cached embedding depends on (model, inputs' checksum, output-affecting options)."""
    fingerprint: dict[str, Any] = {"modality": modality, "model": spec, "checksum": checksum,
                                   "dtype": options.dtype, "normalize": options.normalize}
    if modality == "text" and is_tfidf(spec):
        fingerprint["tfidf"] = options.tfidf.as_dict()
        return fingerprint
    # A model's rows depend (slightly: padding, batched kernels) on the batch size.
    fingerprint["batch_size"] = options.batch_size
    if is_ssl(spec):
        fingerprint["ssl"] = options.ssl.as_dict()
        weights = os.path.expanduser(spec[4:])
        if os.path.isfile(weights):
            fingerprint["weights_sha256"] = file_sha256(weights)
    if os.path.isdir(os.path.expanduser(spec.split(":", 1)[-1])):
        fingerprint["model_path"] = os.path.abspath(os.path.expanduser(spec.split(":", 1)[-1]))
    return fingerprint


def cached_embedding(
    inputs: TextInput | ImageInput, spec: str, cache_dir: str | os.PathLike[str],
    options: EmbedOptions, *, what: str | None = None,
) -> tuple[Path, dict[str, Any], bool]:
    """The embedding of ``inputs`` with ``spec`` from ``cache_dir``, computed when missing.

    The file is ``<cache_dir>/<modality>-<model>-<key>.npy`` where ``key`` hashes
    :func:`cache_fingerprint`; it is reused when its metadata has that key and the sha256 of the
    file still matches, else recomputed (an interrupted computation resumes from its shards).

    Returns:
        ``(path, metadata, hit)``; ``hit`` is True when nothing had to be computed.
    """
    modality = "text" if isinstance(inputs, TextInput) else "images"
    fingerprint = cache_fingerprint(modality, spec, inputs.checksum, options)
    key = fingerprint_key(fingerprint)[:20]
    path = Path(cache_dir) / f"{modality}-{_slug(spec)}-{key}.npy"
    meta = read_meta(path)
    if (meta is not None and meta.get("cache_key") == key
            and meta.get("sha256") == file_sha256(path)):
        return path, meta, True
    try:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(os.fspath(cache_dir),
                         f"cannot create cache folder ({exc.strerror or exc})") from exc
    extra = {"cache_key": key}
    if isinstance(inputs, TextInput):
        meta = embed_texts(inputs, spec, path, options, what=what, extra=extra)
    else:
        meta = embed_images(inputs, spec, path, options, what=what, extra=extra)
    return path, meta, False
