"""Image files -> fixed-size pixel arrays, shared by the classical views and the SSL encoder.

Both work on square images of one side ``size``: the shorter side is resized to ``size``
(bicubic) and the centre is cropped. :func:`choose_size` picks the side from the images
themselves (32 for thumbnails such as MNIST or CIFAR, 64 or 96 for larger photos), so small
images are not blown up and large ones are not trained on at full resolution on a CPU.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..io import InputError

__all__ = ["SIZES", "choose_size", "load_pixels", "square"]

#: Working sides: the first one at least the median shorter side, else the last.
SIZES = (32, 64, 96)


def choose_size(files: Sequence[str], sample: int = 256) -> int:
    """Working side for ``files``: the smallest of :data:`SIZES` at least 0.8 times the median
    shorter side of (up to) ``sample`` evenly spaced files (headers only), else the largest."""
    from PIL import Image

    if not files:
        raise ValueError("no files")
    step = max(1, len(files) // sample)
    sides = []
    for path in list(files)[::step][:sample]:
        try:
            with Image.open(path) as img:
                sides.append(min(img.size))
        except (OSError, ValueError) as exc:
            raise InputError(path, f"cannot read image ({type(exc).__name__}: {exc})") from exc
    median = float(np.median(sides))
    return next((s for s in SIZES if s >= 0.8 * median), SIZES[-1])


def square(img: Any, size: int) -> np.ndarray:
    """An RGB ``PIL.Image`` -> uint8 array (size, size, 3): shorter side resized, centre crop."""
    from PIL import Image

    w, h = img.size
    scale = size / min(w, h)
    nw, nh = max(size, round(w * scale)), max(size, round(h * scale))
    if (nw, nh) != (w, h):
        img = img.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    if (nw, nh) != (size, size):
        img = img.crop((left, top, left + size, top + size))
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def load_pixels(files: Sequence[str], size: int, progress: bool = False) -> np.ndarray:
    """Every file as :func:`square` pixels: uint8 array (n, size, size, 3).

    Holds all of them in memory (n * size * size * 3 bytes: 30 MB for 10,000 images at 32).
    """
    from tqdm.auto import tqdm

    from .images import open_rgb

    out = np.empty((len(files), size, size, 3), dtype=np.uint8)
    for i, path in enumerate(tqdm(files, desc="reading images", unit="image",
                                  disable=not progress, leave=False, dynamic_ncols=True)):
        out[i] = square(open_rgb(path), size)
    return out
