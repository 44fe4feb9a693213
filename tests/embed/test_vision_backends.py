"""End to end: the timm, open_clip and torchvision image backends through ``humelabel embed``.

These run in the vision environment (``bash scripts/setup-vision.sh``, then
``.venv-vision/bin/python -m pytest -q tests/embed``), where the three packages import beside
their torch; elsewhere each backend's tests skip, saying so. No weights can be downloaded: the
models are the backends' own architectures built locally with random weights (``NAME@random``:
seed 0), or with weights a test saves to a local file or to an empty torch hub cache. The
inputs are shared CIFAR-10 JPEGs and MNIST digits (grayscale PNGs, converted to RGB); a test
skips when ../shared/data is absent.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import torch
from embed_helpers import cifar_folder, mnist_folder

from humelabel.cli import main
from humelabel.embed import images as images_mod
from humelabel.embed import meta_path
from humelabel.embed.images import RANDOM_SEED, load_image_model
from humelabel.embed.store import partial_dir

pytest.importorskip("PIL")

#: backend -> (architecture, feature dimension, package recorded in the metadata's versions).
CASES = {
    "timm": ("resnet18", 512, "timm"),
    "open_clip": ("ViT-S-32-alt", 256, "open_clip_torch"),  # the smallest open_clip config
    "torchvision": ("resnet18", 512, "torchvision"),  # its fc Linear is removed
}


def backend_module(name: str) -> ModuleType:
    """Import ``name``, or skip: torchvision from PyPI, for one, fails to import beside a torch
    it was not built for (with an error that need not be an ImportError)."""
    try:
        return importlib.import_module(name)
    except Exception as exc:  # any failure to import means "not here"
        pytest.skip(f"{name} does not import here ({type(exc).__name__}); these tests run in "
                    "the vision environment: bash scripts/setup-vision.sh")


@pytest.fixture(params=sorted(CASES))
def backend(request: pytest.FixtureRequest) -> str:
    backend_module(request.param)
    return request.param


@pytest.fixture(scope="module")
def cifar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 CIFAR-10 test JPEGs (3 classes x 4) in class subfolders."""
    return cifar_folder(tmp_path_factory.mktemp("cifar"), per_class=4, classes=3)


@pytest.fixture(scope="module")
def mnist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The first 10 MNIST test digits as grayscale PNGs."""
    folder, _ = mnist_folder(tmp_path_factory.mktemp("mnist"), n=10)
    return folder


@pytest.fixture
def empty_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Empty Hugging Face hub and torch hub caches, so "offline" cannot find anything by
    chance; returns the torch hub folder."""
    constants = pytest.importorskip("huggingface_hub.constants")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return Path(torch.hub.get_dir())


def embed(argv: list[Any], capsys: pytest.CaptureFixture[str], code: int = 0) -> str:
    """``humelabel embed images ARGV``; assert the exit code; return stdout (or stderr)."""
    rc = main(["embed", "images", *map(str, argv)])
    captured = capsys.readouterr()
    assert rc == code, captured.err
    return captured.out if code == 0 else captured.err


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix in (".jpg", ".png"))


def reference(backend: str, files: list[Path], seed: int = RANDOM_SEED) -> np.ndarray:
    """Features computed by hand with the backend's own API: the architecture built from
    ``seed`` with random weights, its own preprocessing, its own feature function."""
    from PIL import Image

    arch = CASES[backend][0]
    torch.manual_seed(seed)
    if backend == "timm":
        timm = backend_module("timm")
        net = timm.create_model(arch, pretrained=False, num_classes=0)
        transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=net))
        forward = net
    elif backend == "open_clip":
        open_clip = backend_module("open_clip")
        net, _, transform = open_clip.create_model_and_transforms(arch, pretrained=None)
        forward = net.encode_image
    else:
        tv = backend_module("torchvision")
        net = tv.models.get_model(arch, weights=None)
        net.fc = torch.nn.Identity()  # the 1000-class Linear
        transform = tv.models.get_model_weights(arch).DEFAULT.transforms()
        forward = net
    net.eval()
    batch = torch.stack([transform(Image.open(f).convert("RGB")) for f in files])
    with torch.no_grad():
        return forward(batch).numpy()


def close(a: np.ndarray, b: np.ndarray, rel: float) -> None:
    np.testing.assert_allclose(a, b, rtol=rel, atol=rel * float(np.abs(b).max()))


def test_cifar_random_weights_through_the_cli(backend: str, cifar: Path, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """``--model BACKEND:ARCH@random --device cpu``: the rows are the backend's own features
    of a seed-0 network, and the metadata file says what was run."""
    arch, dim, package = CASES[backend]
    spec = f"{backend}:{arch}@random"
    out = tmp_path / "x.npy"
    stdout = embed(["--input", cifar, "--model", spec, "--out", out, "--device", "cpu",
                    "--batch-size", 5], capsys)
    assert stdout.startswith(f"wrote {out} (12 x {dim}, float32, normalization none)")
    x = np.load(out)
    assert x.shape == (12, dim) and x.dtype == np.float32 and np.isfinite(x).all()
    assert np.ptp(x, axis=0).max() > 0  # the images give different rows
    files = image_files(cifar)
    close(x, reference(backend, files), 1e-4)
    meta = json.loads(meta_path(out).read_text())
    assert meta["backend"] == backend and meta["model"] == spec and meta["model_id"] == arch
    assert meta["weights"] == "random" and meta["random_weights"] is True
    assert meta["random_seed"] == RANDOM_SEED
    assert meta["device"] == "cpu" and meta["compute_dtype"] == "float32"
    assert meta["modality"] == "images" and meta["n"] == 12 and meta["dimension"] == dim
    assert meta["dtype"] == "float32" and meta["batch_size"] == 5 and meta["resumed_rows"] == 0
    assert meta["files"] == [f.relative_to(cifar).as_posix() for f in files]
    assert package in meta["versions"] and "torch" in meta["versions"]
    if backend == "torchvision":
        assert meta["removed_head"] == "fc"


def test_mnist_float16(backend: str, mnist: Path, tmp_path: Path,
                       capsys: pytest.CaptureFixture[str]) -> None:
    """``--dtype float16``: float16 rows. On the CPU the model runs in float32 and only the
    output is stored in half precision (the documented promise); on a GPU (``--device auto``
    picks it) the model itself runs in float16."""
    arch, dim, _ = CASES[backend]
    spec = f"{backend}:{arch}@random"
    full, half = tmp_path / "full.npy", tmp_path / "half.npy"
    embed(["--input", mnist, "--model", spec, "--out", full, "--device", "cpu", "--quiet"],
          capsys)
    embed(["--input", mnist, "--model", spec, "--out", half, "--device", "auto", "--quiet",
           "--dtype", "float16"], capsys)
    a, b = np.load(full), np.load(half)
    assert a.shape == b.shape == (10, dim) and b.dtype == np.float16
    meta = json.loads(meta_path(half).read_text())
    assert meta["dtype"] == "float16"
    if torch.cuda.is_available():
        assert meta["device"].startswith("cuda") and meta["compute_dtype"] == "float16"
        b32 = b.astype(np.float32)
        cosine = (a * b32).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b32, axis=1))
        assert cosine.min() > 0.99
    else:
        assert meta["device"] == "cpu" and meta["compute_dtype"] == "float32"
        close(b.astype(np.float32), a, 2e-3)  # float32 rows, rounded to float16


def test_resume_after_interrupt(backend: str, mnist: Path, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C in the second shard keeps the first; the same command resumes from it, rebuilds
    the same seed-0 network and ends with the rows of an uninterrupted run."""
    arch, dim, _ = CASES[backend]
    spec = f"{backend}:{arch}@random"
    out = tmp_path / "x.npy"
    argv = ["--input", mnist, "--model", spec, "--out", out, "--device", "cpu",
            "--batch-size", 2, "--shard-size", 4]
    real_open = images_mod.open_rgb
    opened: list[str] = []

    def interrupting(path: str) -> Any:
        opened.append(path)
        if len(opened) == 7:  # the third image of the second shard
            raise KeyboardInterrupt
        return real_open(path)

    monkeypatch.setattr(images_mod, "open_rgb", interrupting)
    assert "interrupted" in embed(argv, capsys, code=130)
    assert not out.exists() and not meta_path(out).exists()
    assert len(list(partial_dir(out).glob("shard-*.npy"))) == 1
    monkeypatch.setattr(images_mod, "open_rgb", real_open)
    assert "resumed 4 finished rows" in embed(argv, capsys)
    meta = json.loads(meta_path(out).read_text())
    assert meta["resumed_rows"] == 4 and meta["shard_size"] == 4 and meta["n"] == 10
    assert not partial_dir(out).exists()
    whole = tmp_path / "whole.npy"
    embed([*argv[:5], whole, *argv[6:], "--quiet"], capsys)
    resumed = np.load(out)
    assert resumed.shape == (10, dim)
    close(resumed, np.load(whole), 1e-5)


def save_local_weights(backend: str, tmp_path: Path, hub: Path) -> tuple[str, Any]:
    """A seed-7 network of the backend saved where its loader reads local weights: a
    safetensors file (timm), a torch checkpoint (open_clip), the torch hub cache
    (torchvision's default weights). Returns (spec, the saved network)."""
    arch = CASES[backend][0]
    torch.manual_seed(7)
    if backend == "timm":
        from safetensors.torch import save_file

        net = backend_module("timm").create_model(arch, pretrained=False)
        path = tmp_path / f"{arch}.safetensors"
        save_file(net.state_dict(), path)
        return f"timm:{arch}@{path}", net
    if backend == "open_clip":
        net, _, _ = backend_module("open_clip").create_model_and_transforms(arch, pretrained=None)
        path = tmp_path / f"{arch}.pt"
        torch.save(net.state_dict(), path)
        return f"open_clip:{arch}@{path}", net
    tv = backend_module("torchvision")
    net = tv.models.get_model(arch, weights=None)
    url = tv.models.get_model_weights(arch).DEFAULT.url
    (hub / "checkpoints").mkdir(parents=True)
    torch.save(net.state_dict(), hub / "checkpoints" / os.path.basename(url))
    return f"torchvision:{arch}", net


def test_local_weights_load_offline(backend: str, tmp_path: Path, empty_caches: Path,
                                    mnist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The real weight-loading path of each backend, offline: the loaded network has the saved
    weights (less the removed classifier), and the metadata names them as not random."""
    spec, saved = save_local_weights(backend, tmp_path, empty_caches)
    model = load_image_model(spec)
    assert model.info["random_weights"] is False
    reference_state = saved.state_dict()
    loaded = model.module.state_dict()
    assert len(loaded) >= len(reference_state) - 2  # at most a classifier's weight and bias
    for key, value in loaded.items():
        assert torch.equal(value, reference_state[key]), key
    out = tmp_path / "x.npy"
    embed(["--input", mnist, "--model", spec, "--out", out, "--device", "cpu", "--quiet"],
          capsys)
    meta = json.loads(meta_path(out).read_text())
    assert meta["random_weights"] is False and meta["model"] == spec
    expected = {"timm": spec.split("@", 1)[-1], "open_clip": spec.split("@", 1)[-1],
                "torchvision": "IMAGENET1K_V1"}[backend]
    assert meta["weights"] == expected
    assert np.load(out).shape == (10, CASES[backend][1])


#: backend -> [(spec, start of the one-line error)], with empty caches.
ERRORS = {
    "timm": [
        ("timm:resnet18", "--model timm:resnet18: model 'resnet18' is not available offline"),
        ("timm:resnet18@missing.safetensors", "--model timm:resnet18@missing.safetensors: "
         "weights file 'missing.safetensors' not found"),
        ("timm:no_such_net@random", "--model timm:no_such_net@random: cannot load model"),
    ],
    "open_clip": [
        ("open_clip:ViT-S-32-alt", "--model open_clip:ViT-S-32-alt: open_clip needs "
         "@PRETRAINED"),
        ("open_clip:ViT-B-32@laion2b_s34b_b79k", "--model open_clip:ViT-B-32@laion2b_s34b_b79k: "
         "model 'ViT-B-32@laion2b_s34b_b79k' is not available offline"),
    ],
    "torchvision": [
        ("torchvision:resnet18", "--model torchvision:resnet18: model "
         "'resnet18@IMAGENET1K_V1' is not available offline"),
        ("torchvision:resnet18@NOPE", "--model torchvision:resnet18@NOPE: "
         "cannot load model"),
    ],
}


def test_offline_by_default_and_errors(backend: str, mnist: Path, tmp_path: Path,
                                       empty_caches: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Without local weights nothing is downloaded and nothing random is made up: one line
    on stderr, exit 2, no output."""
    out = tmp_path / "x.npy"
    for spec, start in ERRORS[backend]:
        err = embed(["--input", mnist, "--model", spec, "--out", out, "--device", "cpu"],
                    capsys, code=2)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"humelabel: error: {start}"), err
        assert ("--allow-download" in err) == ("not available offline" in start)
        assert not out.exists()


def test_cli_error_is_one_line_in_a_fresh_process(mnist: Path, tmp_path: Path) -> None:
    """open_clip logs a failed download through the root logger; in a real process (no
    pytest log capture) the command still prints its one line only."""
    backend_module("open_clip")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hf-cache"),
           "TORCH_HOME": str(tmp_path / "torch-home")}
    spec = "open_clip:ViT-B-32@laion2b_s34b_b79k"
    done = subprocess.run(
        [sys.executable, "-m", "humelabel", "embed", "images", "--input", str(mnist),
         "--model", spec, "--out", str(tmp_path / "x.npy")],
        capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith(f"humelabel: error: --model {spec}: model ")
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
