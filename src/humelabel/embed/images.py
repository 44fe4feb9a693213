"""Image embeddings: one small interface over Hugging Face, timm, open_clip and torchvision.

An :class:`ImageModel` is a torch module with two functions: ``preprocess`` turns a list of RGB
PIL images into a batch tensor (b, 3, H, W), ``features`` turns that batch into features (b, d).
:func:`image_encoder` runs any of them over image files in batches; it does not care where the
weights came from. Loading weights is the separate, small :func:`load_image_model`, which reads
a model spec:

==============================  ==============================================================
``hf:NAME_OR_FOLDER``           transformers ``AutoModel`` + ``AutoImageProcessor`` (DINOv2,
                                CLIP, SigLIP, ViT, ResNet, ...); a bare name or a folder with
                                a ``config.json`` means the same
``timm:NAME[@FILE]``            ``timm.create_model(NAME, pretrained=True, num_classes=0)``
``open_clip:ARCH@PRETRAINED``   ``open_clip.create_model_and_transforms`` (a pretrained tag or
                                a checkpoint file); ``encode_image``
``torchvision:NAME[@WEIGHTS]``  ``torchvision.models.get_model`` (default weights), head removed
==============================  ==============================================================

``@random`` (:data:`RANDOM_WEIGHTS`) builds the timm, open_clip or torchvision architecture
with random weights instead, initialised from the fixed seed :data:`RANDOM_SEED` (so a resumed
run continues with the same network), and records ``random_weights: true`` in the metadata:
for tests and smoke runs, never a silent fallback.

Each backend is an optional extra (``hf``, ``timm``, ``open_clip``, ``torchvision``); nothing is
downloaded unless ``allow_download`` is set. Features: CLIP-like models give their projected
image embedding, ViT-like backbones (DINOv2, ViT, DeiT, BEiT) their final CLS token, other
backbones their pooled output.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..io import InputError
from ._deps import ModelUnavailable, hub_offline, quiet_root_logging, quiet_transformers, require
from .store import ComputeFn

__all__ = [
    "BACKENDS",
    "RANDOM_SEED",
    "RANDOM_WEIGHTS",
    "ImageModel",
    "hf_image_model",
    "image_encoder",
    "load_image_model",
    "open_rgb",
    "parse_image_spec",
    "torch_image_model",
]

BACKENDS = ("hf", "timm", "open_clip", "torchvision")

#: The weights of a spec (``timm:resnet18@random``) that mean "this architecture, random init".
RANDOM_WEIGHTS = "random"
#: The torch seed of that initialisation.
RANDOM_SEED = 0

#: transformers model types whose image feature is the final CLS token.
CLS_MODEL_TYPES = frozenset({
    "vit", "dinov2", "dinov2_with_registers", "deit", "beit", "data2vec-vision", "vit_msn",
    "vit_mae", "dinov3_vit",
})


@dataclass
class ImageModel:
    """A loaded image encoder.

    Attributes:
        module: the torch module (moved to the device and dtype by :func:`image_encoder`).
        preprocess: list of b RGB ``PIL.Image`` -> float tensor (b, 3, H, W).
        features: tensor (b, 3, H, W) -> tensor (b, d).
        info: provenance for the metadata (backend, model id or path, pooling, ...).
    """

    module: Any
    preprocess: Callable[[list[Any]], Any]
    features: Callable[[Any], Any]
    info: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Wrappers (shared by the loaders and by tests that build models with random weights)
# --------------------------------------------------------------------------------------------


def _hf_pooling(model: Any) -> str:
    if hasattr(model, "get_image_features"):
        return "image_features"
    model_type = getattr(getattr(model, "config", None), "model_type", "")
    return "cls" if model_type in CLS_MODEL_TYPES else "pooler"


def hf_image_model(model: Any, processor: Any, info: dict[str, Any] | None = None) -> ImageModel:
    """Wrap a transformers vision model and its image processor.

    Features: ``get_image_features`` when the model has it (CLIP, SigLIP: the projected
    embedding), else ``image_embeds`` when the output has it, else the CLS token
    ``last_hidden_state[:, 0]`` for ViT-like models (:data:`CLS_MODEL_TYPES`), else the
    ``pooler_output`` flattened (or the mean over tokens / positions when there is none).
    """
    import torch

    pooling = _hf_pooling(model)

    def preprocess(images: list[Any]) -> torch.Tensor:
        return processor(images=images, return_tensors="pt")["pixel_values"]

    def features(pixels: torch.Tensor) -> torch.Tensor:
        if pooling == "image_features":
            out = model.get_image_features(pixel_values=pixels)
            return out if isinstance(out, torch.Tensor) else out.pooler_output
        out = model(pixel_values=pixels)
        embeds = getattr(out, "image_embeds", None)
        if embeds is not None:
            return embeds
        hidden = out.last_hidden_state
        if pooling == "cls" and hidden.ndim == 3:
            return hidden[:, 0]
        pooled = getattr(out, "pooler_output", None)
        if pooled is not None:
            return pooled.flatten(1)
        return hidden.mean(dim=1) if hidden.ndim == 3 else hidden.flatten(2).mean(dim=2)

    return ImageModel(model, preprocess, features,
                      {"backend": "hf", "pooling": pooling, **(info or {})})


def torch_image_model(
    module: Any,
    transform: Callable[[Any], Any],
    info: dict[str, Any],
    features: Callable[[Any], Any] | None = None,
) -> ImageModel:
    """Wrap a torch module with a per-image transform (timm, open_clip, torchvision).

    Args:
        module: the network.
        transform: one RGB PIL image -> tensor (3, H, W) (e.g. a torchvision transform).
        info: provenance (``backend`` at least).
        features: batch -> features; default ``module(batch)`` flattened to (b, d).
    """
    import torch

    def preprocess(images: list[Any]) -> torch.Tensor:
        return torch.stack([transform(img) for img in images])

    def default_features(pixels: torch.Tensor) -> torch.Tensor:
        return module(pixels).flatten(1)

    return ImageModel(module, preprocess, features or default_features, dict(info))


def _drop_classifier(module: Any) -> str | None:
    """Replace the last ``nn.Linear`` of a classification network by ``nn.Identity``.

    Returns the name of the replaced submodule (None when there is no linear layer), so the
    network outputs its penultimate features.
    """
    import torch

    last = None
    for name, sub in module.named_modules():
        if isinstance(sub, torch.nn.Linear):
            last = name
    if last is None:
        return None
    parent = module
    *path, leaf = last.split(".")
    for part in path:
        parent = getattr(parent, part)
    setattr(parent, leaf, torch.nn.Identity())
    return last


# --------------------------------------------------------------------------------------------
# Loading weights
# --------------------------------------------------------------------------------------------


def parse_image_spec(spec: str) -> tuple[str, str, str | None]:
    """``"timm:vit_small_patch14_dinov2@weights.safetensors"`` -> ``(backend, name, weights)``.

    A spec without one of the :data:`BACKENDS` prefixes means ``hf``.
    """
    backend, sep, rest = spec.partition(":")
    if not sep or backend not in BACKENDS:
        backend, rest = "hf", spec
    if backend == "hf":
        return backend, rest, None
    name, at, weights = rest.partition("@")
    return backend, name, (weights if at else None)


def _offline_error(what: str, name: str, exc: BaseException | None = None) -> ModelUnavailable:
    detail = f" ({type(exc).__name__})" if exc is not None else ""
    return ModelUnavailable(
        what, f"model {name!r} is not available offline{detail}: its weights are neither a "
        "local file or folder nor in the local cache; give a local copy, or add --allow-download",
    )


def _load_error(what: str, name: str, exc: BaseException) -> ModelUnavailable:
    detail = " ".join(str(exc).split())[:200]
    return ModelUnavailable(what, f"cannot load model {name!r} ({type(exc).__name__}: {detail})")


def _load_hf(name: str, allow_download: bool, what: str) -> ImageModel:
    transformers = require("transformers", what)
    require("PIL", what)
    local = os.path.isdir(os.path.expanduser(name))
    source = os.path.abspath(os.path.expanduser(name)) if local else name
    if not local and (name.startswith((".", "/", "~")) or name.count("/") >= 2):
        raise ModelUnavailable(what, "model folder not found")
    try:
        with hub_offline(not allow_download), quiet_transformers():
            processor = transformers.AutoImageProcessor.from_pretrained(
                source, local_files_only=not allow_download)
            model = transformers.AutoModel.from_pretrained(
                source, local_files_only=not allow_download)
    except Exception as exc:
        if local:
            raise _load_error(what, source, exc) from exc
        if not allow_download:
            raise _offline_error(what, source, exc) from exc
        raise _load_error(what, source, exc) from exc
    info = {"model_id": None if local else name, "model_path": source if local else None,
            "model_class": type(model).__name__}
    return hf_image_model(model, processor, info)


@contextlib.contextmanager
def _seeded(enabled: bool) -> Iterator[None]:
    """Build inside the block from torch seed :data:`RANDOM_SEED` (when ``enabled``), leaving the
    caller's random state as it was."""
    if not enabled:
        yield
        return
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)
        yield


def _weights_info(weights: str | None) -> dict[str, Any]:
    if weights == RANDOM_WEIGHTS:
        return {"weights": RANDOM_WEIGHTS, "random_weights": True, "random_seed": RANDOM_SEED}
    return {"weights": weights, "random_weights": False}


def _local_file(weights: str, what: str) -> str:
    path = os.path.expanduser(weights)
    if not os.path.isfile(path):
        raise ModelUnavailable(what, f"weights file {weights!r} not found")
    return os.path.abspath(path)


def _load_timm(name: str, weights: str | None, allow_download: bool, what: str) -> ImageModel:
    timm = require("timm", what)
    random = weights == RANDOM_WEIGHTS
    kwargs: dict[str, Any] = {}
    if weights is not None and not random:
        kwargs["pretrained_cfg_overlay"] = {"file": _local_file(weights, what)}
    try:
        with hub_offline(not allow_download), _seeded(random):
            model = timm.create_model(name, pretrained=not random, num_classes=0, **kwargs)
    except Exception as exc:
        if weights is None and not allow_download and "nknown model" not in str(exc):
            raise _offline_error(what, name, exc) from exc
        raise _load_error(what, name, exc) from exc
    config = timm.data.resolve_data_config({}, model=model)
    transform = timm.data.create_transform(**config)
    return torch_image_model(model, transform, {"backend": "timm", "model_id": name,
                                                **_weights_info(weights)})


def _load_open_clip(name: str, weights: str | None, allow_download: bool,
                    what: str) -> ImageModel:
    open_clip = require("open_clip", what)
    if weights is None:  # open_clip itself would build random weights without a word
        raise ModelUnavailable(what, "open_clip needs @PRETRAINED: a pretrained tag (e.g. "
                               "ViT-B-32@laion2b_s34b_b79k), a checkpoint file, or @random")
    random = weights == RANDOM_WEIGHTS
    try:
        with hub_offline(not allow_download), _seeded(random), quiet_root_logging():
            model, _, transform = open_clip.create_model_and_transforms(
                name, pretrained=None if random else weights)
    except Exception as exc:
        if not allow_download and not random and not os.path.isfile(weights):
            raise _offline_error(what, f"{name}@{weights}", exc) from exc
        raise _load_error(what, name, exc) from exc
    return torch_image_model(model, transform,
                             {"backend": "open_clip", "model_id": name,
                              **_weights_info(weights)},
                             features=lambda x: model.encode_image(x))


def _load_torchvision(name: str, weights: str | None, allow_download: bool,
                      what: str) -> ImageModel:
    tv = require("torchvision", what)
    import torch

    random = weights == RANDOM_WEIGHTS
    try:
        enum = tv.models.get_model_weights(name)
        chosen = enum[weights] if weights and not random else enum.DEFAULT
    except (ValueError, KeyError) as exc:
        raise _load_error(what, f"{name}@{weights or 'DEFAULT'}", exc) from exc
    cached = os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(chosen.url))
    if not random and not allow_download and not os.path.isfile(cached):
        raise _offline_error(what, f"{name}@{chosen.name}")
    with _seeded(random):  # random: the architecture only, with the default preprocessing
        model = tv.models.get_model(name, weights=None if random else chosen)
    head = _drop_classifier(model)
    return torch_image_model(model, chosen.transforms(),
                             {"backend": "torchvision", "model_id": name,
                              **_weights_info(weights if random else chosen.name),
                              "removed_head": head})


def load_image_model(
    spec: str, *, allow_download: bool = False, what: str | None = None
) -> ImageModel:
    """Load the image model named by ``spec`` (see the module docstring), offline by default.

    Raises:
        MissingDependency: the backend's package is not installed (names the extra).
        ModelUnavailable: weights not available offline, or not loadable.
    """
    what = what or f"--model {spec}"
    backend, name, weights = parse_image_spec(spec)
    if not name:
        raise ModelUnavailable(what, "no model name after the backend prefix")
    if backend == "hf":
        model = _load_hf(name, allow_download, what)
    else:
        require("PIL", what)
        loader = {"timm": _load_timm, "open_clip": _load_open_clip,
                  "torchvision": _load_torchvision}[backend]
        model = loader(name, weights, allow_download, what)
    model.info.setdefault("model", spec)
    return model


# --------------------------------------------------------------------------------------------
# Running a model over files
# --------------------------------------------------------------------------------------------


def open_rgb(path: str) -> Any:
    """Open an image file as an RGB ``PIL.Image`` (grayscale, palette, alpha: converted)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(path, f"cannot read image ({type(exc).__name__}: {exc})") from exc


def check_images(files: list[str]) -> None:
    """InputError naming the first file that is no image PIL can open (header only: cheap),
    so a bad file fails the command before any work, not in the middle of it."""
    from PIL import Image

    for path in files:
        try:
            with Image.open(path):
                pass
        except (OSError, ValueError, Image.DecompressionBombError) as exc:
            raise InputError(path, f"cannot read image ({type(exc).__name__}: {exc})") from exc


def image_encoder(
    model: ImageModel, files: list[str], *, batch_size: int, device: Any, dtype: Any
) -> ComputeFn:
    """A ``compute(start, stop, advance)`` function (see :mod:`.store`) over image ``files``.

    Moves the model to ``device`` and ``dtype`` (torch dtype) in eval mode; each call reads
    ``files[start:stop]`` in batches of ``batch_size`` and returns float32 features
    (stop - start, d).
    """
    import torch

    model.module.to(device=device, dtype=dtype).eval()

    def compute(start: int, stop: int, advance: Callable[[int], None]) -> np.ndarray:
        rows = []
        for lo in range(start, stop, batch_size):
            hi = min(stop, lo + batch_size)
            images = [open_rgb(f) for f in files[lo:hi]]
            with torch.inference_mode():
                pixels = model.preprocess(images).to(device=device, dtype=dtype)
                feats = model.features(pixels)
            rows.append(feats.float().cpu().numpy().reshape(hi - lo, -1))
            advance(hi - lo)
        return np.concatenate(rows, axis=0)

    return compute
