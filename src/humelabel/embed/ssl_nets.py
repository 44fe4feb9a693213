"""The networks and objectives of the self-supervised encoder (``--model ssl:METHOD``).

Backbone: a small ResNet (basic blocks, batch norm, three stages that each halve the
resolution) whose stem depends on the working side ``S`` (:func:`.pixels.choose_size`): at
``S`` = 32 a 3x3 stride-1 stem as for CIFAR, at 64 and 96 a stride-2 stem, so the first stage
sees 32 or 48 pixels. The representation is the global average of the last stage,
``widths[-1]`` dimensions.

Objectives (one module each, holding the backbone and whatever else it trains):

* :class:`SimCLR` (Chen et al. 2020): MLP projection, NT-Xent over the 2b views.
* :class:`MoCo` (v2, Chen et al. 2020): MLP projection, momentum key encoder, a queue of
  negatives; batch norm of the key encoder over shuffled sub-batches (one device, so the
  "shuffling BN" of the paper is done by splitting the batch).
* :class:`BYOL` (Grill et al. 2020): projection and predictor MLPs, momentum target network,
  target momentum rising from ``base_momentum`` to 1 on a cosine.

These are written here rather than taken from a library: the maintained SSL libraries
(lightly, solo-learn) depend on torchvision, which this package does not require next to the
user's torch, and each objective is a few lines of torch. The augmentations are kornia's.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["BYOL", "METHODS", "MoCo", "SimCLR", "SmallResNet", "build_method"]


class _Block(nn.Module):
    """Basic residual block: two 3x3 convolutions with batch norm; a 1x1 shortcut on change."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x))


class SmallResNet(nn.Module):
    """ResNet for (b, 3, S, S) images -> (b, widths[-1]) features.

    Args:
        size: working side S (32: stride-1 CIFAR stem; larger: stride-2 stem).
        widths: channels of the stem-following stages; each stage halves the resolution.
    """

    def __init__(self, size: int = 32, widths: tuple[int, ...] = (32, 64, 128)) -> None:
        super().__init__()
        self.size, self.widths = size, tuple(widths)
        stem = max(8, widths[0] // 2)
        layers: list[nn.Module] = [nn.Conv2d(3, stem, 3, 1 if size <= 32 else 2, 1, bias=False),
                                   nn.BatchNorm2d(stem), nn.ReLU(inplace=True)]
        self.stem = nn.Sequential(*layers)
        blocks, cin = [], stem
        for w in widths:
            blocks.append(_Block(cin, w, 2))
            cin = w
        self.stages = nn.Sequential(*blocks)
        self.dim = widths[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.stem(x)).mean(dim=(2, 3))

    def config(self) -> dict[str, Any]:
        """What :meth:`__init__` needs to rebuild the network (stored with the weights)."""
        return {"arch": "small_resnet", "size": self.size, "widths": list(self.widths)}


def _mlp(din: int, hidden: int, dout: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(din, hidden, bias=False), nn.BatchNorm1d(hidden),
                         nn.ReLU(inplace=True), nn.Linear(hidden, dout))


def _ema(target: nn.Module, online: nn.Module, momentum: float) -> None:
    with torch.no_grad():
        for t, o in zip(target.parameters(), online.parameters(), strict=True):
            t.mul_(momentum).add_(o.detach(), alpha=1 - momentum)
        for t, o in zip(target.buffers(), online.buffers(), strict=True):
            t.copy_(o)


def _frozen_copy(module: nn.Module) -> nn.Module:
    twin = copy.deepcopy(module)
    for p in twin.parameters():
        p.requires_grad_(False)
    return twin


class SimCLR(nn.Module):
    """NT-Xent loss of two views (b, 3, S, S) each; ``temperature`` 0.5 as for CIFAR."""

    def __init__(self, backbone: SmallResNet, proj_dim: int = 128,
                 temperature: float = 0.5) -> None:
        super().__init__()
        self.backbone, self.temperature = backbone, temperature
        self.head = _mlp(backbone.dim, backbone.dim, proj_dim)

    def loss(self, v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
        b = v1.shape[0]
        z = F.normalize(self.head(self.backbone(torch.cat([v1, v2]))), dim=1)  # (2b, p)
        sim = z @ z.T / self.temperature
        sim.fill_diagonal_(float("-inf"))
        target = torch.cat([torch.arange(b, 2 * b), torch.arange(0, b)]).to(z.device)
        return F.cross_entropy(sim, target)

    def after_step(self, progress: float) -> None:
        """Nothing to update (no momentum network)."""


class MoCo(nn.Module):
    """MoCo v2: InfoNCE of queries against momentum keys and a queue (symmetrised)."""

    def __init__(self, backbone: SmallResNet, proj_dim: int = 128, temperature: float = 0.2,
                 queue: int = 4096, momentum: float = 0.99, bn_splits: int = 4) -> None:
        super().__init__()
        self.backbone, self.temperature, self.momentum = backbone, temperature, momentum
        self.bn_splits = bn_splits
        self.head = _mlp(backbone.dim, backbone.dim, proj_dim)
        self.key_backbone = _frozen_copy(self.backbone)
        self.key_head = _frozen_copy(self.head)
        self.register_buffer("queue", F.normalize(torch.randn(queue, proj_dim), dim=1))
        self.register_buffer("queue_ptr", torch.zeros(1, dtype=torch.long))

    def _keys(self, x: torch.Tensor) -> torch.Tensor:
        """Keys of x with batch norm over shuffled sub-batches (no leak through BN stats)."""
        perm = torch.randperm(x.shape[0], device=x.device)
        parts = [self.key_head(self.key_backbone(c)) for c in
                 x[perm].chunk(min(self.bn_splits, max(1, x.shape[0] // 2)))]
        keys = torch.empty_like(torch.cat(parts))
        keys[perm] = torch.cat(parts)
        return F.normalize(keys, dim=1)

    def _infonce(self, q: torch.Tensor, k: torch.Tensor, queue: torch.Tensor) -> torch.Tensor:
        pos = (q * k).sum(dim=1, keepdim=True)
        logits = torch.cat([pos, q @ queue.T], dim=1) / self.temperature
        return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long,
                                                   device=q.device))

    def loss(self, v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
        q = F.normalize(self.head(self.backbone(torch.cat([v1, v2]))), dim=1)
        q1, q2 = q.chunk(2)
        with torch.no_grad():
            _ema(self.key_backbone, self.backbone, self.momentum)
            _ema(self.key_head, self.head, self.momentum)
            k1, k2 = self._keys(v1), self._keys(v2)
        queue = self.queue.clone()  # the negatives of this step (the buffer moves on below)
        loss = 0.5 * (self._infonce(q1, k2, queue) + self._infonce(q2, k1, queue))
        self._enqueue(torch.cat([k1, k2]))
        return loss

    @torch.no_grad()
    def _enqueue(self, keys: torch.Tensor) -> None:
        n, ptr = self.queue.shape[0], int(self.queue_ptr)
        keys = keys[:n]
        idx = (torch.arange(keys.shape[0], device=keys.device) + ptr) % n
        self.queue[idx] = keys
        self.queue_ptr[0] = (ptr + keys.shape[0]) % n

    def after_step(self, progress: float) -> None:
        """The key encoder is updated at the start of each loss (as in the paper)."""


class BYOL(nn.Module):
    """BYOL: predict the target projection of one view from the other (symmetrised)."""

    def __init__(self, backbone: SmallResNet, proj_dim: int = 128, hidden: int = 512,
                 base_momentum: float = 0.99) -> None:
        super().__init__()
        self.backbone, self.base_momentum = backbone, base_momentum
        self.head = _mlp(backbone.dim, hidden, proj_dim)
        self.predictor = _mlp(proj_dim, hidden, proj_dim)
        self.target_backbone = _frozen_copy(self.backbone)
        self.target_head = _frozen_copy(self.head)

    def loss(self, v1: torch.Tensor, v2: torch.Tensor) -> torch.Tensor:
        both = torch.cat([v1, v2])
        p1, p2 = F.normalize(self.predictor(self.head(self.backbone(both))), dim=1).chunk(2)
        with torch.no_grad():
            z1, z2 = F.normalize(self.target_head(self.target_backbone(both)), dim=1).chunk(2)
        return (2 - 2 * (p1 * z2).sum(dim=1)).mean() + (2 - 2 * (p2 * z1).sum(dim=1)).mean()

    def after_step(self, progress: float) -> None:
        """Move the target network towards the online one; momentum 1 at the end."""
        m = 1 - (1 - self.base_momentum) * (math.cos(math.pi * progress) + 1) / 2
        _ema(self.target_backbone, self.backbone, m)
        _ema(self.target_head, self.head, m)


#: ``--model ssl:NAME`` -> objective.
METHODS: dict[str, type[nn.Module]] = {"simclr": SimCLR, "moco": MoCo, "byol": BYOL}


def build_method(name: str, size: int, widths: tuple[int, ...],
                 temperature: float | None = None) -> nn.Module:
    """A fresh objective ``name`` around a fresh :class:`SmallResNet` (uses torch's RNG);
    ``temperature`` overrides the contrastive temperature (SimCLR, MoCo; BYOL has none)."""
    kwargs = {} if temperature is None or name == "byol" else {"temperature": temperature}
    return METHODS[name](SmallResNet(size, widths), **kwargs)
