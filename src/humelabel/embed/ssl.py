"""``--model ssl:METHOD`` and ``--model ssl:WEIGHTS``: a self-supervised encoder of the images.

``ssl:simclr``, ``ssl:moco`` or ``ssl:byol`` trains that objective (:mod:`.ssl_nets`) on
exactly the images being embedded (:mod:`.ssl_train`: checkpoints every epoch, resumes after
an interruption), embeds them with the trained backbone and writes its weights next to the
output, ``X.encoder.safetensors`` beside ``X.npy`` (:func:`encoder_path`). ``ssl:PATH`` with
such a file embeds new images with those weights, no training.

The weights file holds the backbone's tensors and, in its metadata (``format`` =
``humelabel-ssl-encoder``), the network config, the pixel normalisation and the training
record (method, settings, loss per epoch, checksum of the training images). Its bytes depend
only on the weights and that record, not on the process (sorted header).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io import InputError
from ..io.files import read_safetensors
from ..io.rundir import save_model_bytes
from ._deps import ModelUnavailable, require
from .images import ImageModel
from .pixels import choose_size, load_pixels, square
from .ssl_train import SSLSettings, checkpoint_dir, train_encoder

__all__ = [
    "ENCODER_FORMAT",
    "PreparedEncoder",
    "encoder_bytes",
    "encoder_path",
    "is_ssl",
    "load_encoder",
    "parse_ssl_spec",
    "prepare_ssl",
    "ssl_image_model",
    "write_encoder",
]

#: ``format`` metadata of a weights file.
ENCODER_FORMAT = "humelabel-ssl-encoder"


def is_ssl(spec: str) -> bool:
    """True for ``ssl:...`` model specs."""
    return spec.startswith("ssl:")


def parse_ssl_spec(spec: str, what: str) -> tuple[str, str]:
    """``ssl:simclr`` -> ``("train", "simclr")``; ``ssl:PATH`` -> ``("load", PATH)``."""
    from .ssl_nets import METHODS

    name = spec[4:] if is_ssl(spec) else spec
    if name.lower() in METHODS:
        return "train", name.lower()
    if not name:
        raise ModelUnavailable(what, f"no method or weights file after ssl: (methods: "
                               f"{', '.join(METHODS)}, or a .safetensors file)")
    path = os.path.expanduser(name)
    if not name.lower().endswith(".safetensors"):
        raise ModelUnavailable(what, f"unknown method {name!r} (expected {', '.join(METHODS)}, "
                               "or the .safetensors weights of an earlier ssl training)")
    if not os.path.isfile(path):
        raise ModelUnavailable(what, f"weights file {name!r} not found")
    return "load", os.path.abspath(path)


def encoder_path(out: str | os.PathLike[str]) -> Path:
    """Weights file written beside embedding ``X.npy``: ``X.encoder.safetensors``."""
    path = Path(out)
    stem = path.name[:-4] if path.name.lower().endswith(".npy") else path.name
    return path.with_name(f"{stem}.encoder.safetensors")


def encoder_bytes(backbone: Any, mean: list[float], std: list[float],
                  record: dict[str, Any]) -> bytes:
    """safetensors bytes of the backbone's state (tensors ``backbone/<name>``) + metadata."""
    tensors = {f"backbone/{k}": v.detach().cpu().numpy() for k, v in backbone.state_dict().items()}
    meta = {"format": ENCODER_FORMAT, "config": json.dumps(backbone.config(), sort_keys=True),
            "mean": json.dumps(mean), "std": json.dumps(std),
            "training": json.dumps(record, sort_keys=True, default=str)}
    return save_model_bytes(tensors, meta)


def write_encoder(out: str | os.PathLike[str], weights: bytes) -> Path:
    """Write the weights file of embedding ``out`` atomically; returns its path."""
    from ..io import write_bytes_atomic

    path = encoder_path(out)
    try:
        write_bytes_atomic(path, weights)
    except OSError as exc:
        raise InputError(os.fspath(path), f"cannot write ({exc.strerror or exc})") from exc
    return path


def load_encoder(path: str, what: str) -> tuple[Any, list[float], list[float], dict[str, Any]]:
    """(backbone in eval mode, mean (3,), std (3,), training record) of a weights file."""
    from .ssl_nets import SmallResNet

    tensors, meta = read_safetensors(path, framework="pt", kind="safetensors file")
    if meta.get("format") != ENCODER_FORMAT:
        raise InputError(path, f"is not a humelabel ssl encoder (no format={ENCODER_FORMAT} "
                         "metadata)")
    try:
        config = json.loads(meta["config"])
        backbone = SmallResNet(int(config["size"]), tuple(int(w) for w in config["widths"]))
        backbone.load_state_dict({k[9:]: v for k, v in tensors.items()
                                  if k.startswith("backbone/")})
        mean, std = json.loads(meta["mean"]), json.loads(meta["std"])
        record = json.loads(meta.get("training", "{}"))
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise InputError(path, f"damaged ssl encoder ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:160]})") from exc
    return backbone.eval(), list(mean), list(std), record


def ssl_image_model(backbone: Any, mean: list[float], std: list[float],
                    info: dict[str, Any]) -> ImageModel:
    """The backbone as an :class:`.images.ImageModel`: PIL images -> (b, 3, S, S) normalised
    -> global-average features (b, widths[-1])."""
    import torch

    size = backbone.size
    m = torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1)

    def preprocess(images: list[Any]) -> torch.Tensor:
        arr = np.stack([square(img, size) for img in images])
        return (torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255.0 - m) / s

    return ImageModel(backbone, preprocess, lambda x: backbone(x),
                      {"backend": "ssl", **backbone.config(), **info})


@dataclass
class PreparedEncoder:
    """An ssl model ready to embed, and what the job writes once the rows are done.

    Attributes:
        model: the encoder as an image model.
        weights: bytes of the weights file to write (None when loaded from one).
        weights_sha256: sha256 of those bytes or of the loaded file (part of the fingerprint).
        work: the training's checkpoint folder, removed once the output is written.
    """

    model: ImageModel
    weights: bytes | None
    weights_sha256: str
    work: Path | None


def prepare_ssl(spec: str, files: list[str], checksum: str, out: str | os.PathLike[str],
                settings: SSLSettings, *, device: Any, progress: bool,
                what: str) -> PreparedEncoder:
    """Train (``ssl:METHOD``) or load (``ssl:PATH``) the encoder for embedding ``files``.

    Training reads the images at their working side (:func:`.pixels.choose_size`) into
    memory and trains with checkpoints in ``.X.npy.train`` beside ``out``
    (:func:`.ssl_train.checkpoint_dir`); the job fingerprint is the method, the settings, the
    side and the images' ``checksum``.
    """
    mode, name = parse_ssl_spec(spec, what)
    if mode == "load":
        backbone, mean, std, record = load_encoder(name, what)
        with open(name, "rb") as fh:
            digest = hashlib.sha256(fh.read()).hexdigest()
        info = {"weights": name, "weights_sha256": digest,
                "trained": {k: record.get(k) for k in ("method", "settings", "epochs_done",
                                                       "checksum")}}
        return PreparedEncoder(ssl_image_model(backbone, mean, std, info), None, digest, None)
    require("kornia", what)
    require("PIL", what)
    size = choose_size(files)
    from .store import fingerprint_key

    job = {"method": name, "settings": settings.as_dict(), "size": size,
           "checksum": checksum, "n": len(files)}
    key = fingerprint_key(job)
    pixels = load_pixels(files, size, progress=progress)
    work = checkpoint_dir(out)
    result = train_encoder(pixels, name, settings, work=work, key=key, device=device,
                           progress=progress)
    record = {"method": name, "settings": settings.as_dict(), "size": size, "checksum": checksum,
              "n": len(files), "epochs_done": len(result.history),
              "loss": [round(h["loss"], 6) for h in result.history]}
    weights = encoder_bytes(result.backbone, result.mean, result.std, record)
    digest = hashlib.sha256(weights).hexdigest()
    info = {"method": name, "ssl": settings.as_dict(), "history": result.history,
            "resumed_epochs": result.resumed_epochs,
            "train_seconds": round(sum(h["seconds"] for h in result.history), 3),
            "weights_sha256": digest}
    model = ssl_image_model(result.backbone, result.mean, result.std, info)
    return PreparedEncoder(model, weights, digest, work)
