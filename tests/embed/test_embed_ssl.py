"""The self-supervised encoder (``--model ssl:...``): trains, is deterministic, resumes, reloads.

Tiny settings throughout (24 real MNIST digits, batches of 8, a narrow ResNet, 1-2 epochs):
these test the mechanics, not the quality (that is benchmarks/image_benchmark.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from embed_helpers import cifar_folder, mnist_folder

from humelabel.cli import main
from humelabel.embed import EmbedOptions, embed_images, list_images, meta_path
from humelabel.embed import ssl_train as train_mod
from humelabel.embed.ssl import encoder_path, load_encoder, parse_ssl_spec
from humelabel.embed.ssl_nets import METHODS, build_method
from humelabel.embed.ssl_train import SSLSettings, checkpoint_dir
from humelabel.io import InputError

pytest.importorskip("PIL")
pytest.importorskip("kornia")

TINY = SSLSettings(epochs=2, batch_size=8, widths=(8, 16, 16), seed=3)


def options(settings: SSLSettings = TINY) -> EmbedOptions:
    return EmbedOptions(device="cpu", batch_size=10, progress=False, ssl=settings)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_encoder(str(path), "test")[0].state_dict()


def same_weights(a: Path, b: Path) -> bool:
    wa, wb = weights(a), weights(b)
    return wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.fixture
def digits(tmp_path: Path):
    folder, _ = mnist_folder(tmp_path / "mnist", n=24)
    return list_images(folder)


def test_training_writes_features_metadata_and_weights(tmp_path: Path, digits) -> None:
    out = tmp_path / "x.npy"
    meta = embed_images(digits, "ssl:simclr", out, options())
    x = np.load(out)
    assert x.shape == (24, 16) and np.isfinite(x).all()
    assert meta["backend"] == "ssl" and meta["method"] == "simclr" and meta["size"] == 32
    assert [h["epoch"] for h in meta["history"]] == [1, 2]
    assert all(np.isfinite(h["loss"]) for h in meta["history"])
    assert meta["weights"] == str(encoder_path(out)) and meta["ssl"]["epochs"] == 2
    assert json.loads(meta_path(out).read_text())["weights_sha256"] == meta["weights_sha256"]
    assert not checkpoint_dir(out).exists()  # the work folder goes once the output is written
    _, _, _, record = load_encoder(str(encoder_path(out)), "test")
    assert record["method"] == "simclr" and record["checksum"] == digits.checksum
    assert record["epochs_done"] == 2


def test_same_seed_same_weights_other_seed_other_weights(tmp_path: Path, digits) -> None:
    outs = [tmp_path / f"{name}.npy" for name in ("a", "b", "c")]
    embed_images(digits, "ssl:simclr", outs[0], options())
    embed_images(digits, "ssl:simclr", outs[1], options())
    embed_images(digits, "ssl:simclr", outs[2],
                 options(SSLSettings(**{**TINY.as_dict(), "widths": (8, 16, 16), "seed": 4})))
    assert same_weights(encoder_path(outs[0]), encoder_path(outs[1]))
    assert encoder_path(outs[0]).read_bytes() == encoder_path(outs[1]).read_bytes()
    np.testing.assert_array_equal(np.load(outs[0]), np.load(outs[1]))
    assert not same_weights(encoder_path(outs[0]), encoder_path(outs[2]))


def test_interrupted_training_resumes_to_the_same_weights(tmp_path: Path, digits,
                                                          monkeypatch) -> None:
    reference = tmp_path / "ref.npy"
    embed_images(digits, "ssl:simclr", reference, options())
    real = train_mod.make_augment
    calls = {"n": 0}

    def interrupting(size: int, device: str):
        augment = real(size, device)

        def views(x: torch.Tensor) -> torch.Tensor:
            calls["n"] += 1
            if calls["n"] == 9:  # 3 steps x 2 views per epoch: the 2nd step of epoch 2
                raise KeyboardInterrupt
            return augment(x)
        return views

    out = tmp_path / "x.npy"
    monkeypatch.setattr(train_mod, "make_augment", interrupting)
    with pytest.raises(KeyboardInterrupt):
        embed_images(digits, "ssl:simclr", out, options())
    state = json.loads((checkpoint_dir(out) / "checkpoint.json").read_text())
    assert state["epoch"] == 1 and not out.exists() and not encoder_path(out).exists()
    monkeypatch.setattr(train_mod, "make_augment", real)
    meta = embed_images(digits, "ssl:simclr", out, options())
    assert meta["resumed_epochs"] == 1
    assert same_weights(encoder_path(out), encoder_path(reference))
    np.testing.assert_array_equal(np.load(out), np.load(reference))


def test_checkpoint_of_another_job_is_not_resumed(tmp_path: Path, digits) -> None:
    out = tmp_path / "x.npy"
    work = checkpoint_dir(out)
    one = SSLSettings(**{**TINY.as_dict(), "widths": (8, 16, 16), "epochs": 1})
    pixels = np.zeros((4, 32, 32, 3), dtype=np.uint8) + np.arange(4)[:, None, None, None] * 60
    train_mod.train_encoder(pixels, "simclr", one, work=work, key="other", progress=False)
    assert json.loads((work / "checkpoint.json").read_text())["key"] == "other"
    meta = embed_images(digits, "ssl:simclr", out, options())
    assert meta["resumed_epochs"] == 0 and len(meta["history"]) == 2


def test_reload_embeds_new_images_with_the_trained_weights(tmp_path: Path, digits) -> None:
    out = tmp_path / "x.npy"
    embed_images(digits, "ssl:simclr", out, options())
    again = tmp_path / "again.npy"
    meta = embed_images(digits, f"ssl:{encoder_path(out)}", again, options())
    np.testing.assert_allclose(np.load(again), np.load(out), atol=1e-5)
    assert meta["weights"] == str(encoder_path(out)) and meta["trained"]["method"] == "simclr"
    new_folder, _ = mnist_folder(tmp_path / "more", n=30)  # 6 digits it was not trained on
    new = tmp_path / "new.npy"
    embed_images(list_images(new_folder), f"ssl:{encoder_path(out)}", new, options())
    np.testing.assert_allclose(np.load(new)[:24], np.load(out), atol=1e-5)
    assert np.load(new).shape == (30, 16) and not encoder_path(new).exists()


@pytest.mark.parametrize("method", ["moco", "byol"])
def test_other_objectives_train(tmp_path: Path, digits, method: str) -> None:
    out = tmp_path / "x.npy"
    meta = embed_images(digits, f"ssl:{method}", out, options())
    assert meta["method"] == method and np.isfinite([h["loss"] for h in meta["history"]]).all()
    assert np.load(out).shape == (24, 16) and encoder_path(out).is_file()


def test_larger_images_use_the_strided_stem(tmp_path: Path) -> None:
    """CIFAR JPEGs upscaled to 90 px train at side 96 (stride-2 stem and blur)."""
    from PIL import Image

    folder = cifar_folder(tmp_path / "cifar", per_class=3, classes=2)
    for path in folder.rglob("*.jpg"):
        Image.open(path).resize((90, 90)).save(path)
    out = tmp_path / "x.npy"
    one = SSLSettings(**{**TINY.as_dict(), "widths": (8, 16, 16), "epochs": 1,
                         "batch_size": 3})
    meta = embed_images(list_images(folder), "ssl:byol", out, options(one))
    assert meta["size"] == 96 and np.load(out).shape == (6, 16)
    net = build_method("byol", 96, (8, 16, 16)).backbone
    assert net.stem[0].stride == (2, 2) and sorted(METHODS) == ["byol", "moco", "simclr"]


def test_spec_errors(tmp_path: Path) -> None:
    assert parse_ssl_spec("ssl:SimCLR", "w") == ("train", "simclr")
    with pytest.raises(InputError, match="unknown method 'dino'"):
        parse_ssl_spec("ssl:dino", "--model ssl:dino")
    with pytest.raises(InputError, match="weights file 'nope.safetensors' not found"):
        parse_ssl_spec("ssl:nope.safetensors", "w")
    with pytest.raises(InputError, match="no method or weights file"):
        parse_ssl_spec("ssl:", "w")
    other = tmp_path / "other.safetensors"
    from safetensors.numpy import save_file

    save_file({"a": np.zeros(2, dtype=np.float32)}, str(other))
    with pytest.raises(InputError, match="is not a humelabel ssl encoder"):
        load_encoder(str(other), "w")
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes(b"garbage")
    with pytest.raises(InputError, match="not a readable safetensors file"):
        load_encoder(str(broken), "w")


def test_cli_trains_reloads_and_refuses_to_overwrite(tmp_path: Path, capsys) -> None:
    folder, _ = mnist_folder(tmp_path / "mnist", n=16)
    out = tmp_path / "x.npy"
    base = ["embed", "images", "--input", str(folder), "--device", "cpu"]
    assert main([*base, "--model", "ssl:simclr", "--out", str(out), "--epochs", "1",
                 "--train-batch-size", "8", "--ssl-seed", "2"]) == 0
    summary = capsys.readouterr().out
    assert "trained 1 epochs" in summary and "x.encoder.safetensors" in summary
    meta = json.loads(meta_path(out).read_text())
    assert meta["ssl"]["seed"] == 2 and meta["ssl"]["batch_size"] == 8
    assert main([*base, "--model", f"ssl:{encoder_path(out)}", "--out",
                 str(tmp_path / "y.npy"), "--quiet"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), np.load(out), atol=1e-5)
    encoder_path(tmp_path / "z.npy").write_bytes(b"someone else's file")
    capsys.readouterr()
    assert main([*base, "--model", "ssl:simclr", "--out", str(tmp_path / "z.npy"),
                 "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("z.encoder.safetensors: exists (use --overwrite)")
    assert not (tmp_path / "z.npy").exists()
    assert main([*base, "--model", "ssl:dino", "--out", str(tmp_path / "w.npy")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("humelabel: error: --model ssl:dino: unknown")


def test_run_with_ssl_and_hog_spaces(tmp_path: Path, capsys) -> None:
    """``humelabel run --spaces ssl:simclr hog``: trained, cached, reused on a second call."""
    pytest.importorskip("skimage")
    folder, labels = mnist_folder(tmp_path / "mnist", n=24)
    truth = tmp_path / "truth.npy"
    np.save(truth, labels)
    cache = tmp_path / "cache"
    argv = ["run", "--input", str(folder), "--k", "3", "--spaces", "ssl:simclr", "hog",
            "--cache-dir", str(cache), "--epochs", "1", "--train-batch-size", "8",
            "--device", "cpu", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "run")]) == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert [s["model"] for s in config["spaces"]] == ["ssl:simclr", "hog"]
    weights = sorted(cache.glob("*.encoder.safetensors"))
    assert len(weights) == 1
    stamp = weights[0].stat().st_mtime_ns
    assert main([*argv, "--out", str(tmp_path / "again")]) == 0  # from the cache
    assert weights[0].stat().st_mtime_ns == stamp
    capsys.readouterr()


def test_temperature_override() -> None:
    assert build_method("simclr", 32, (8, 16, 16)).temperature == 0.5
    assert build_method("moco", 32, (8, 16, 16)).temperature == 0.2
    assert build_method("simclr", 32, (8, 16, 16), 0.1).temperature == 0.1
    assert build_method("moco", 32, (8, 16, 16), 0.1).temperature == 0.1
    assert not hasattr(build_method("byol", 32, (8, 16, 16), 0.1), "temperature")
