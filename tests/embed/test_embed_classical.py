"""The download-free classical image views (``hog``, ``patches``) on real MNIST and CIFAR."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from embed_helpers import MNIST_IMAGES, cifar_folder, mnist_folder, read_idx

from humelabel.cli import main
from humelabel.embed import EmbedOptions, MissingDependency, embed_images, list_images
from humelabel.embed.classical import (
    PatchSettings,
    classical_model,
    fit_patch_dictionary,
    is_classical,
    patches_model,
)
from humelabel.embed.images import image_encoder
from humelabel.embed.pixels import choose_size, load_pixels

pytest.importorskip("PIL")
skimage_feature = pytest.importorskip("skimage.feature")

OPTIONS = EmbedOptions(device="cpu", batch_size=7, progress=False)
SMALL = PatchSettings(n_centroids=12, n_patches=3000, kmeans_iter=20)


def rows(model, files: list[str], batch: int = 5) -> np.ndarray:
    import torch

    compute = image_encoder(model, files, batch_size=batch, device=torch.device("cpu"),
                            dtype=torch.float32)
    return compute(0, len(files), lambda m: None)


def test_choose_size_follows_the_images(tmp_path: Path) -> None:
    from PIL import Image

    folder, _ = mnist_folder(tmp_path / "mnist", n=4)
    assert choose_size(list_images(folder).files) == 32  # 28 px digits
    for side, expected in ((50, 64), (90, 96), (300, 96)):
        path = tmp_path / f"{side}.png"
        Image.new("RGB", (side + 10, side)).save(path)
        assert choose_size([str(path)]) == expected


def test_hog_matches_scikit_image_by_hand(tmp_path: Path) -> None:
    folder, _ = mnist_folder(tmp_path / "mnist", n=10)
    files = list_images(folder).files
    x = rows(classical_model("hog", files, what="hog"), files)
    assert x.shape == (10, 1764) and x.dtype == np.float32  # 8x8 cells of 4 px, 7x7 blocks
    pixels = load_pixels(files, 32).astype(np.float64)
    gray = (0.299 * pixels[..., 0] + 0.587 * pixels[..., 1] + 0.114 * pixels[..., 2]) / 255
    expected = np.stack([skimage_feature.hog(g, orientations=9, pixels_per_cell=(4, 4),
                                             cells_per_block=(2, 2), block_norm="L2-Hys")
                         for g in gray])
    np.testing.assert_allclose(x, expected, atol=1e-5)
    # The digits' own pixels (not a resize artefact): two different digits differ.
    raw = read_idx(MNIST_IMAGES)[:2]
    assert not np.array_equal(raw[0], raw[1]) and not np.allclose(x[0], x[1])


def test_patch_dictionary_is_whitened_and_seeded(tmp_path: Path) -> None:
    folder = cifar_folder(tmp_path / "cifar", per_class=4, classes=3)
    pixels = load_pixels(list_images(folder).files, 32)
    mean, whitening, centroids = fit_patch_dictionary(pixels, SMALL)
    assert mean.shape == (108,) and whitening.shape == (108, 108)
    assert centroids.shape == (12, 108)
    again = fit_patch_dictionary(pixels, SMALL)
    np.testing.assert_array_equal(centroids, again[2])
    other = fit_patch_dictionary(pixels, PatchSettings(n_centroids=12, n_patches=3000,
                                                       kmeans_iter=20, seed=1))
    assert not np.allclose(centroids, other[2])
    np.testing.assert_allclose(whitening, whitening.T, atol=1e-5)


def test_patch_features_triangle_pooled(tmp_path: Path) -> None:
    folder = cifar_folder(tmp_path / "cifar", per_class=3, classes=3)
    files = list_images(folder).files
    model = patches_model(files, 32, SMALL)
    x = rows(model, files)
    assert x.shape == (9, 48) and np.isfinite(x).all() and (x >= 0).all()
    assert (x > 0).any(axis=1).all()  # the triangle code fires on every image
    np.testing.assert_allclose(rows(model, files, batch=9), x, rtol=1e-4, atol=1e-3)


def test_classical_views_through_the_embedding_job(tmp_path: Path) -> None:
    folder, _ = mnist_folder(tmp_path / "mnist", n=12)
    images = list_images(folder)
    for spec, dim in (("hog", 1764), ("patches", 1600)):
        assert is_classical(spec)
        out = tmp_path / f"{spec}.npy"
        meta = embed_images(images, spec, out, OPTIONS)
        assert np.load(out).shape == (12, dim)
        assert meta["backend"] == "classical" and meta["view"] == spec and meta["size"] == 32
    assert not is_classical("hf:dino")


def test_cli_embed_classical_and_missing_extra(tmp_path: Path, capsys, monkeypatch) -> None:
    folder, _ = mnist_folder(tmp_path / "mnist", n=8)
    out = tmp_path / "hog.npy"
    assert main(["embed", "images", "--input", str(folder), "--model", "hog", "--out",
                 str(out), "--quiet"]) == 0
    assert np.load(out).shape == (8, 1764)
    capsys.readouterr()
    monkeypatch.setitem(sys.modules, "skimage.feature", None)
    with pytest.raises(MissingDependency, match=r'scikit-image.*humelabel\[classical\]'):
        classical_model("hog", list_images(folder).files, what="--model hog")
    rc = main(["embed", "images", "--input", str(folder), "--model", "hog", "--out",
               str(tmp_path / "again.npy"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err == ('humelabel: error: --model hog: needs the optional package '
                               'scikit-image, which is not installed (pip install '
                               '"humelabel[classical]")')
    assert not (tmp_path / "again.npy").exists()
