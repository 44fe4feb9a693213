"""Tests for image embeddings on real images (shared MNIST and CIFAR-10) with local models.

No pretrained image weights can be downloaded here: the pipeline runs on models with random
weights built from small configs, and the weight-loading function is tested on such a model
saved to a local folder, plus its offline and missing-package errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from embed_helpers import cifar_folder, mnist_folder, tiny_clip, tiny_dinov2

from humelabel.embed import (
    EmbedOptions,
    MissingDependency,
    ModelUnavailable,
    embed_images,
    list_images,
    meta_path,
    store,
)
from humelabel.embed import images as images_mod
from humelabel.embed.images import (
    _drop_classifier,
    hf_image_model,
    load_image_model,
    open_rgb,
    parse_image_spec,
    torch_image_model,
)
from humelabel.io import InputError

pytest.importorskip("PIL")
transformers = pytest.importorskip("transformers")

OPTIONS = EmbedOptions(device="cpu", batch_size=5, progress=False)


def direct_features(folder: Path, files: list[str], kind: str) -> np.ndarray:
    """Features computed by hand with transformers, for comparison."""
    from PIL import Image

    processor = transformers.AutoImageProcessor.from_pretrained(folder)
    model = transformers.AutoModel.from_pretrained(folder).eval()
    images = [Image.open(f).convert("RGB") for f in files]
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        if kind == "clip":
            out = model.get_image_features(pixel_values=pixels)
            out = out if isinstance(out, torch.Tensor) else out.pooler_output
        else:
            out = model(pixel_values=pixels).last_hidden_state[:, 0]
    return out.numpy()


def test_mnist_folder_with_local_dinov2(tmp_path: Path) -> None:
    folder, _ = mnist_folder(tmp_path / "mnist", n=12)
    model_dir = tiny_dinov2(tmp_path / "dino")
    images = list_images(folder)
    out = tmp_path / "dino.npy"
    meta = embed_images(images, f"hf:{model_dir}", out, OPTIONS)
    x = np.load(out)
    assert x.shape == (12, 32) and x.dtype == np.float32 and np.isfinite(x).all()
    np.testing.assert_allclose(x, direct_features(model_dir, images.files, "dino"), atol=1e-5)
    assert meta["backend"] == "hf" and meta["pooling"] == "cls"
    assert meta["model_class"] == "Dinov2Model" and meta["model_path"] == str(model_dir)
    assert meta["files"] == images.names and meta["checksum"] == images.checksum
    assert meta["n"] == 12 and meta["dimension"] == 32 and meta["normalization"] == "none"
    assert meta_path(out).is_file()


def test_cifar_nested_folders_with_local_clip(tmp_path: Path) -> None:
    folder = cifar_folder(tmp_path / "cifar", per_class=4, classes=2)
    model_dir = tiny_clip(tmp_path / "clip")
    images = list_images(folder)
    out = tmp_path / "clip.npy"
    meta = embed_images(images, str(model_dir), out,  # bare folder: Hugging Face backend
                        EmbedOptions(device="cpu", batch_size=3, normalize=True,
                                     dtype="float16", progress=False))
    x = np.load(out)
    assert x.shape == (8, 16) and x.dtype == np.float16
    assert meta["pooling"] == "image_features" and meta["normalization"] == "l2"
    expected = direct_features(model_dir, images.files, "clip")
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    np.testing.assert_allclose(x.astype(np.float32), expected, atol=2e-3)


def test_in_memory_model_with_random_weights_and_batch_invariance(tmp_path: Path) -> None:
    """The pipeline takes an already built model; batch size does not change the rows."""
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    folder, _ = mnist_folder(tmp_path / "mnist", n=9)
    torch.manual_seed(3)
    net = Dinov2Model(Dinov2Config(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=32, image_size=28, patch_size=7))
    processor = BitImageProcessor(size={"shortest_edge": 28},
                                  crop_size={"height": 28, "width": 28})
    model = hf_image_model(net, processor, {"note": "random"})
    images = list_images(folder)
    rows = []
    for batch in (1, 4, 9):
        out = tmp_path / f"b{batch}.npy"
        meta = embed_images(images, "random-dinov2", out,
                            EmbedOptions(device="cpu", batch_size=batch, progress=False),
                            model=model)
        rows.append(np.load(out))
        assert meta["note"] == "random" and meta["batch_size"] == batch
    np.testing.assert_allclose(rows[0], rows[1], atol=1e-5)
    np.testing.assert_allclose(rows[0], rows[2], atol=1e-5)


def test_image_resume_after_interrupt(tmp_path: Path, monkeypatch) -> None:
    folder, _ = mnist_folder(tmp_path / "mnist", n=10)
    model_dir = tiny_dinov2(tmp_path / "dino")
    images = list_images(folder)
    options = EmbedOptions(device="cpu", batch_size=2, shard_size=4, progress=False)
    opened: list[str] = []
    real_open = images_mod.open_rgb

    def failing_open(path: str):
        opened.append(path)
        if len(opened) == 6:  # in the second shard
            raise KeyboardInterrupt
        return real_open(path)

    monkeypatch.setattr(images_mod, "open_rgb", failing_open)
    out = tmp_path / "x.npy"
    with pytest.raises(KeyboardInterrupt):
        embed_images(images, f"hf:{model_dir}", out, options)
    assert [p.name for p in sorted(store.partial_dir(out).glob("shard-*"))] == [
        "shard-000000000000.npy"]
    opened.clear()
    monkeypatch.setattr(images_mod, "open_rgb", real_open)
    meta = embed_images(images, f"hf:{model_dir}", out, options)
    assert meta["resumed_rows"] == 4
    np.testing.assert_allclose(np.load(out), direct_features(model_dir, images.files, "dino"),
                               atol=1e-5)


def test_load_image_model_from_local_folder(tmp_path: Path) -> None:
    """The weight-loading path: a saved model loads offline with the weights it was saved with."""
    model_dir = tiny_dinov2(tmp_path / "dino", seed=5)
    saved = transformers.AutoModel.from_pretrained(model_dir)
    for spec in (f"hf:{model_dir}", str(model_dir)):
        model = load_image_model(spec)
        assert model.info["backend"] == "hf" and model.info["model_path"] == str(model_dir)
        for (name, a), (_, b) in zip(model.module.state_dict().items(),
                                     saved.state_dict().items(), strict=True):
            assert torch.equal(a, b), name


def test_load_image_model_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable) as info:
        load_image_model("hf:facebook/dinov2-small")
    message = str(info.value)
    assert message.startswith("--model hf:facebook/dinov2-small: model 'facebook/dinov2-small' "
                              "is not available offline")
    assert "--allow-download" in message and "\n" not in message
    with pytest.raises(ModelUnavailable, match="model folder not found"):
        load_image_model(f"hf:{tmp_path}/missing/model")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelUnavailable, match="cannot load model"):
        load_image_model(f"hf:{tmp_path / 'empty'}")
    with pytest.raises(ModelUnavailable, match="no model name"):
        load_image_model("timm:")


def test_missing_packages_name_their_extra(monkeypatch) -> None:
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "transformers", None)  # the import fails
        with pytest.raises(MissingDependency) as info:
            load_image_model("hf:facebook/dinov2-small")
    assert str(info.value) == (
        "--model hf:facebook/dinov2-small: needs the optional package transformers, which is "
        'not installed (pip install "humelabel[hf]")'
    )
    with monkeypatch.context() as patch:
        patch.setitem(sys.modules, "PIL", None)
        with pytest.raises(MissingDependency, match=r'humelabel\[images\]'):
            load_image_model("timm:resnet18")
    for backend, extra in (("timm", "timm"), ("open_clip", "open-clip"),
                           ("torchvision", "torchvision")):
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, backend, None)
            with pytest.raises(MissingDependency, match=rf'humelabel\[{extra}\]'):
                load_image_model(f"{backend}:some-model")


def test_parse_image_spec() -> None:
    assert parse_image_spec("facebook/dinov2-base") == ("hf", "facebook/dinov2-base", None)
    assert parse_image_spec("hf:/models/dino") == ("hf", "/models/dino", None)
    assert parse_image_spec("timm:vit_small_patch14_dinov2.lvd142m") == (
        "timm", "vit_small_patch14_dinov2.lvd142m", None)
    assert parse_image_spec("timm:resnet50@/w/resnet50.safetensors") == (
        "timm", "resnet50", "/w/resnet50.safetensors")
    assert parse_image_spec("open_clip:ViT-B-32@laion2b_s34b_b79k") == (
        "open_clip", "ViT-B-32", "laion2b_s34b_b79k")
    assert parse_image_spec("torchvision:resnet50") == ("torchvision", "resnet50", None)
    assert parse_image_spec("C:/models/x") == ("hf", "C:/models/x", None)


def test_drop_classifier_and_torch_wrapper(tmp_path: Path) -> None:
    """The shared path of the timm / torchvision / open_clip backends, on a local network."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(),
        torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.ReLU(), torch.nn.Linear(6, 10)),
    )
    assert _drop_classifier(net) == "3.2"
    assert isinstance(net[3][2], torch.nn.Identity)

    def transform(img):
        arr = np.asarray(img.resize((16, 16)), dtype=np.float32) / 255.0
        return torch.from_numpy(arr).permute(2, 0, 1)

    model = torch_image_model(net, transform, {"backend": "local"})
    folder = cifar_folder(tmp_path / "cifar", per_class=2, classes=2)
    out = tmp_path / "x.npy"
    embed_images(list_images(folder), "local", out, OPTIONS, model=model)
    assert np.load(out).shape == (4, 6)  # penultimate features


def test_unreadable_image_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(InputError, match="broken.jpg: cannot read image"):
        open_rgb(str(bad))


@pytest.mark.parametrize("backend", ["timm", "torchvision", "open_clip"])
def test_optional_backends_when_installed(tmp_path: Path, backend: str) -> None:
    """Random-weight models of the optional backends through the shared wrapper."""
    if backend == "timm":
        timm = pytest.importorskip("timm")
        net = timm.create_model("resnet18", pretrained=False, num_classes=0)
        config = timm.data.resolve_data_config({}, model=net)
        model = torch_image_model(net, timm.data.create_transform(**config),
                                  {"backend": "timm"})
        dim = 512
    elif backend == "torchvision":
        tv = pytest.importorskip("torchvision")
        net = tv.models.resnet18(weights=None)
        _drop_classifier(net)
        transform = tv.models.ResNet18_Weights.DEFAULT.transforms()
        model = torch_image_model(net, transform, {"backend": "torchvision"})
        dim = 512
        cached = Path(torch.hub.get_dir()) / "checkpoints" / Path(
            tv.models.ResNet18_Weights.DEFAULT.url).name
        if not cached.exists():
            with pytest.raises(ModelUnavailable, match="not available offline"):
                load_image_model("torchvision:resnet18")
    else:
        open_clip = pytest.importorskip("open_clip")
        net, _, transform = open_clip.create_model_and_transforms("RN50", pretrained=None)
        model = torch_image_model(net, transform, {"backend": "open_clip"},
                                  features=lambda x: net.encode_image(x))
        dim = 1024
    folder = cifar_folder(tmp_path / "cifar", per_class=1, classes=2)
    out = tmp_path / "x.npy"
    embed_images(list_images(folder), backend, out, OPTIONS, model=model)
    assert np.load(out).shape == (2, dim)
