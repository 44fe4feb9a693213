"""Training the self-supervised encoder on the user's images, with a checkpoint every epoch.

:func:`train_encoder` trains one of :data:`.ssl_nets.METHODS` on pixels held in memory. Each
epoch is reproducible on its own: its shuffling and augmentations are drawn after seeding torch
with a function of (seed, epoch), and the learning rate is a function of the global step, so an
interrupted training resumed from the checkpoint of the last finished epoch ends with the same
weights as an uninterrupted one (on the CPU; on a GPU up to its non-deterministic kernels).
Checkpoints hold the whole objective (backbone, heads, momentum networks, queue) and the
optimizer state as tensors in ``checkpoint.safetensors`` plus a JSON sidecar
``checkpoint.json`` (epoch, loss history, optimizer hyperparameters, the sha256 of the tensors
and the fingerprint of the job); nothing is pickled.

Augmentations (kornia, on batches of tensors): the SimCLR recipe for small images, random
resized crop (scale 0.2-1), horizontal flip, colour jitter (0.4, 0.4, 0.4, 0.1; p 0.8),
grayscale (p 0.2); at sides above 32 also Gaussian blur (p 0.5).
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..io import InputError, file_sha256, write_bytes_atomic, write_json_atomic
from ..io.rundir import save_model_bytes
from ._deps import require

__all__ = ["SSLSettings", "TrainResult", "checkpoint_dir", "train_encoder"]


@dataclass(frozen=True)
class SSLSettings:
    """Training settings of ``--model ssl:METHOD`` (recorded in the metadata and weights).

    Attributes:
        epochs: passes over the images.
        batch_size: images per step (two views each); capped at the number of images.
        lr: peak learning rate of AdamW (linear warm-up over the first epoch, cosine decay).
        weight_decay: AdamW weight decay.
        seed: seed of the initial weights, the shuffling and the augmentations.
        widths: channels of the three ResNet stages (the feature dimension is the last).
        temperature: contrastive temperature of SimCLR / MoCo (None: 0.5 / 0.2).
    """

    epochs: int = 50
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    widths: tuple[int, ...] = (32, 64, 128)
    temperature: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "widths": list(self.widths)}


@dataclass
class TrainResult:
    """A trained encoder.

    Attributes:
        backbone: the :class:`.ssl_nets.SmallResNet` (eval mode, on the CPU).
        mean, std: per-channel pixel statistics (3,) of the training images (0..1 scale),
            the normalisation the backbone expects.
        history: one dict per epoch (``epoch``, ``loss``, ``seconds``).
        resumed_epochs: epochs found done in a checkpoint.
        seconds: training time of this call.
    """

    backbone: Any
    mean: list[float]
    std: list[float]
    history: list[dict[str, Any]]
    resumed_epochs: int
    seconds: float


def checkpoint_dir(out: str | Path) -> Path:
    """Work folder of the training behind embedding ``X.npy``: ``.X.npy.train`` beside it."""
    path = Path(out)
    return path.with_name(f".{path.name}.train")


def make_augment(size: int, device: Any = "cpu") -> Any:
    """The random view of a batch (b, 3, S, S) in [0, 1] (kornia on ``device``; draws from
    torch's global RNG)."""
    require("kornia", "--model ssl")
    import kornia.augmentation as K
    from torch import nn

    steps: list[nn.Module] = [
        K.RandomResizedCrop((size, size), scale=(0.2, 1.0)),
        K.RandomHorizontalFlip(),
        K.ColorJitter(0.4, 0.4, 0.4, 0.1, p=0.8),
        K.RandomGrayscale(p=0.2),
    ]
    if size > 32:
        kernel = 2 * (size // 20) + 1  # about a tenth of the side, odd
        steps.append(K.RandomGaussianBlur((kernel, kernel), (0.1, 2.0), p=0.5))
    return nn.Sequential(*steps).to(device)


def _lr(step: int, steps_per_epoch: int, total: int, peak: float) -> float:
    warm = min(steps_per_epoch, max(1, total // 10))
    if step < warm:
        return peak * (step + 1) / warm
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def _save_checkpoint(work: Path, key: str, epoch: int, method: Any, opt: Any,
                     history: list[dict[str, Any]]) -> None:
    import torch

    tensors = {f"model/{k}": v.detach().cpu().numpy() for k, v in method.state_dict().items()}
    state = opt.state_dict()
    scalars: dict[str, Any] = {}
    for idx, entry in state["state"].items():
        for name, value in entry.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{idx}/{name}"] = value.detach().cpu().numpy()
            else:
                scalars[f"{idx}/{name}"] = value
    write_bytes_atomic(work / "checkpoint.safetensors",
                       save_model_bytes(tensors, {"format": "humelabel-ssl-checkpoint"}))
    write_json_atomic(work / "checkpoint.json", {
        "key": key, "epoch": epoch, "history": history, "param_groups": state["param_groups"],
        "scalars": scalars, "sha256": file_sha256(work / "checkpoint.safetensors")})


def _load_checkpoint(work: Path, key: str, method: Any, opt: Any
                     ) -> tuple[int, list[dict[str, Any]]]:
    """(finished epochs, history) from the work folder; (0, []) when there is no usable one."""
    from safetensors.torch import load_file

    try:
        meta = json.loads((work / "checkpoint.json").read_text(encoding="utf-8"))
        if meta.get("key") != key or file_sha256(work / "checkpoint.safetensors") != meta["sha256"]:
            return 0, []
        tensors = load_file(str(work / "checkpoint.safetensors"))
    except (OSError, ValueError, KeyError, TypeError):
        return 0, []
    method.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model/")})
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim/"):
            _, idx, field = name.split("/", 2)
            state.setdefault(int(idx), {})[field] = value
    for name, value in meta.get("scalars", {}).items():
        idx, field = name.split("/", 1)
        state.setdefault(int(idx), {})[field] = value
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    return int(meta["epoch"]), list(meta["history"])


def train_encoder(
    pixels: np.ndarray, method_name: str, settings: SSLSettings, *, work: Path | None,
    key: str, device: Any = "cpu", progress: bool = True,
) -> TrainResult:
    """Train ``method_name`` on ``pixels`` (n, S, S, 3) uint8; checkpoint into ``work``.

    Args:
        pixels: the training images (:func:`.pixels.load_pixels`), n >= 2.
        method_name: a key of :data:`.ssl_nets.METHODS`.
        settings: see :class:`SSLSettings`.
        work: checkpoint folder (created; an existing one is resumed when its ``key`` matches,
            else emptied); None: no checkpoints.
        key: fingerprint of the job (inputs and settings): a checkpoint of another job is
            never resumed.
        device: torch device of the training.
        progress: tqdm bar on stderr with the contrastive loss.
    """
    import torch
    from tqdm.auto import tqdm

    from .ssl_nets import build_method

    n, size = pixels.shape[0], pixels.shape[1]
    if n < 2:
        raise InputError("--model ssl", f"needs at least 2 images to train, got {n}")
    t0 = time.perf_counter()
    torch.manual_seed(settings.seed)
    method = build_method(method_name, size, tuple(settings.widths),
                          settings.temperature).to(device)
    params = [p for p in method.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    x = torch.from_numpy(np.ascontiguousarray(pixels)).permute(0, 3, 1, 2).contiguous()
    scaled = x.double() / 255.0
    mean = scaled.mean(dim=(0, 2, 3))
    std = scaled.std(dim=(0, 2, 3)).clamp_min(1e-3)
    del scaled
    mean_t = mean.float().view(1, 3, 1, 1).to(device)
    std_t = std.float().view(1, 3, 1, 1).to(device)
    start, history = 0, []
    if work is not None:
        if work.is_dir():
            start, history = _load_checkpoint(work, key, method, opt)
            if start == 0:
                shutil.rmtree(work)
        work.mkdir(parents=True, exist_ok=True)
    augment = make_augment(size, device)
    batch = min(settings.batch_size, n)
    steps = max(1, n // batch)
    total = settings.epochs * steps
    with tqdm(total=total, initial=start * steps, desc=f"train ssl:{method_name}", unit="step",
              disable=not progress, dynamic_ncols=True, leave=False) as bar:
        for epoch in range(start, settings.epochs):
            e0 = time.perf_counter()
            # One seed per epoch: the epoch replays identically after a resume.
            torch.manual_seed(settings.seed * 1_000_003 + epoch + 1)
            perm = torch.randperm(n)
            method.train()
            losses = []
            for s in range(steps):
                step = epoch * steps + s
                for group in opt.param_groups:
                    group["lr"] = _lr(step, steps, total, settings.lr)
                xb = x[perm[s * batch:(s + 1) * batch]].to(device).float() / 255.0
                v1 = (augment(xb) - mean_t) / std_t
                v2 = (augment(xb) - mean_t) / std_t
                loss = method.loss(v1, v2)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                method.after_step((step + 1) / total)
                losses.append(float(loss.detach()))
                bar.update()
                bar.set_postfix(epoch=epoch + 1, loss=f"{losses[-1]:.4f}")
            history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)),
                            "seconds": time.perf_counter() - e0})
            if work is not None:
                _save_checkpoint(work, key, epoch + 1, method, opt, history)
    backbone = method.backbone.cpu().eval()
    return TrainResult(backbone=backbone, mean=mean.tolist(), std=std.tolist(),
                       history=history, resumed_epochs=start,
                       seconds=time.perf_counter() - t0)
