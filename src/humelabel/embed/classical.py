"""Download-free image views: HOG and single-layer k-means patch features.

Two classical representations that need no pretrained weights, as second spaces (phi2) next to
a self-supervised encoder, or both spaces when no network is at hand:

``hog``
    Histograms of oriented gradients (Dalal & Triggs 2005) by scikit-image on the grayscale
    image at the working side ``S`` (:func:`.pixels.choose_size`): 9 orientations, cells of
    ``S / 8`` pixels, blocks of 2 x 2 cells, L2-Hys. 1,764 dimensions at ``S`` = 32.
``patches``
    The single-layer network of Coates, Lee & Ng (AISTATS 2011): 6 x 6 RGB patches,
    normalised for brightness and contrast and ZCA-whitened, encoded against a k-means
    dictionary learned from random patches of *these* images with the "triangle" activation
    ``max(0, mean_k(z) - z_k)`` (``z_k`` the distance to centroid k), sum-pooled over the
    four image quadrants. 4 x 400 = 1,600 dimensions.

Both are :class:`.images.ImageModel` objects, so they run through the same resumable,
batched job as the neural models (:func:`.jobs.embed_images`). scikit-image is imported only
for ``hog`` (extra ``classical``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ._deps import require
from .images import ImageModel
from .pixels import choose_size, load_pixels, square

__all__ = ["CLASSICAL", "PatchSettings", "classical_model", "fit_patch_dictionary",
           "is_classical"]

#: Model specs of the classical views.
CLASSICAL = ("hog", "patches")


def is_classical(spec: str) -> bool:
    """True for ``hog`` and ``patches``."""
    return spec.lower() in CLASSICAL


@dataclass(frozen=True)
class PatchSettings:
    """The published settings of Coates et al. (2011) except the dictionary size (1,600 there).

    Attributes:
        n_centroids: k-means dictionary size K (features: 4 K).
        patch: patch side in pixels.
        n_patches: random patches the whitening and the dictionary are learned from (at
            most 200 per image).
        whiten_eps: ZCA regularisation (on the eigenvalues of normalised patches).
        norm_eps: contrast normalisation ``(p - mean) / sqrt(var + norm_eps)`` (pixels 0..255).
        kmeans_iter: Lloyd iterations of the dictionary.
        seed: seed of the patch sampling and k-means.
    """

    n_centroids: int = 400
    patch: int = 6
    n_patches: int = 50_000
    whiten_eps: float = 0.1
    norm_eps: float = 10.0
    kmeans_iter: int = 50
    seed: int = 0


def _to_tensor(images: list[Any], size: int) -> Any:
    import torch

    arr = np.stack([square(img, size) for img in images])  # (b, S, S, 3) uint8
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float()  # (b, 3, S, S), 0..255


# --------------------------------------------------------------------------------------------
# HOG
# --------------------------------------------------------------------------------------------


def hog_model(size: int, what: str) -> ImageModel:
    """HOG of the grayscale image at side ``size``; features (b, 36 * (size/cell - 1)^2)."""
    import torch

    feature = require("skimage.feature", what)
    cell = max(2, size // 8)

    def features(pixels: torch.Tensor) -> torch.Tensor:
        # ITU-R 601 luma of (b, 3, S, S) pixels 0..255, then scikit-image per image.
        gray = (0.299 * pixels[:, 0] + 0.587 * pixels[:, 1] + 0.114 * pixels[:, 2]) / 255.0
        rows = [feature.hog(g, orientations=9, pixels_per_cell=(cell, cell),
                            cells_per_block=(2, 2), block_norm="L2-Hys", feature_vector=True)
                for g in gray.double().cpu().numpy()]
        return torch.from_numpy(np.stack(rows).astype(np.float32))

    info = {"backend": "classical", "view": "hog", "size": size, "orientations": 9,
            "pixels_per_cell": cell, "cells_per_block": 2, "block_norm": "L2-Hys"}
    return ImageModel(torch.nn.Identity(), lambda imgs: _to_tensor(imgs, size), features, info)


# --------------------------------------------------------------------------------------------
# k-means patch features
# --------------------------------------------------------------------------------------------


def _normalize_patches(p: Any, eps: float) -> Any:
    """Brightness / contrast normalisation of patches (..., D) (torch)."""
    mean = p.mean(dim=-1, keepdim=True)
    var = p.var(dim=-1, keepdim=True)
    return (p - mean) / (var + eps).sqrt()


def fit_patch_dictionary(pixels: np.ndarray, settings: PatchSettings
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Whitening and k-means dictionary from random patches of ``pixels`` (n, S, S, 3) uint8.

    Returns:
        ``(mean (D,), whitening (D, D), centroids (K, D))`` float32 with D = 3 * patch^2:
        a patch x (D,), normalised, is encoded as ``(x - mean) @ whitening`` and compared
        with the centroids.
    """
    import torch
    from sklearn.cluster import KMeans

    n, side = pixels.shape[0], pixels.shape[1]
    w = settings.patch
    m = min(settings.n_patches, 200 * n)
    rng = np.random.default_rng(settings.seed)
    img = rng.integers(0, n, m)
    ys = rng.integers(0, side - w + 1, m)
    xs = rng.integers(0, side - w + 1, m)
    offs = np.arange(w)
    patches = pixels[img[:, None, None], (ys[:, None] + offs)[:, :, None],
                     (xs[:, None] + offs)[:, None, :]]  # (m, w, w, 3)
    # Channel-major like torch's unfold of (b, 3, S, S): index c * w * w + dy * w + dx.
    p = torch.from_numpy(patches.astype(np.float32)).permute(0, 3, 1, 2).reshape(len(img), -1)
    p = _normalize_patches(p, settings.norm_eps).double()
    mean = p.mean(dim=0)
    cov = torch.cov((p - mean).T)
    evals, evecs = torch.linalg.eigh(cov)
    scale = 1.0 / (evals.clamp_min(0) + settings.whiten_eps).sqrt()
    whitening = evecs @ torch.diag(scale) @ evecs.T
    white = ((p - mean) @ whitening).float().numpy()
    k = min(settings.n_centroids, len(white))
    km = KMeans(n_clusters=k, n_init=1, max_iter=settings.kmeans_iter,
                random_state=settings.seed).fit(white)
    return (mean.float().numpy(), whitening.float().numpy(),
            km.cluster_centers_.astype(np.float32))


def patches_model(files: Sequence[str], size: int, settings: PatchSettings,
                  progress: bool = False) -> ImageModel:
    """Coates-Ng features at side ``size``, dictionary learned from ``files``; features
    (b, 4 K)."""
    import torch
    import torch.nn.functional as F

    pixels = load_pixels(files, size, progress=progress)
    mean, whitening, centroids = (torch.from_numpy(a) for a in
                                  fit_patch_dictionary(pixels, settings))
    c_sq = (centroids ** 2).sum(dim=1)  # (K,)
    w, k = settings.patch, centroids.shape[0]

    def features(batch: torch.Tensor) -> torch.Tensor:
        b = batch.shape[0]
        cols = F.unfold(batch.float().cpu(), kernel_size=w)  # (b, D, L)
        side = batch.shape[-1] - w + 1
        p = _normalize_patches(cols.transpose(1, 2), settings.norm_eps)  # (b, L, D)
        z = (p - mean) @ whitening
        dist = ((z ** 2).sum(-1, keepdim=True) - 2 * z @ centroids.T + c_sq).clamp_min(0).sqrt()
        act = (dist.mean(dim=-1, keepdim=True) - dist).clamp_min(0)  # triangle, (b, L, K)
        act = act.transpose(1, 2).reshape(b, k, side, side)
        half = side // 2
        quads = [act[:, :, :half, :half], act[:, :, :half, half:],
                 act[:, :, half:, :half], act[:, :, half:, half:]]
        return torch.cat([q.sum(dim=(2, 3)) for q in quads], dim=1)  # (b, 4 K)

    info = {"backend": "classical", "view": "patches", "size": size, **asdict(settings),
            "n_centroids": int(k)}
    return ImageModel(torch.nn.Identity(), lambda imgs: _to_tensor(imgs, size), features, info)


def classical_model(spec: str, files: Sequence[str], *, what: str,
                    patches: PatchSettings | None = None, progress: bool = False) -> ImageModel:
    """The classical view ``spec`` (``hog`` or ``patches``) for ``files``.

    The working side comes from the files (:func:`.pixels.choose_size`); ``patches`` learns
    its dictionary from them (the same files and settings give the same dictionary).
    """
    if len(files) == 0:
        raise ValueError("no files")
    size = choose_size(files)
    if spec.lower() == "hog":
        return hog_model(size, what)
    require("PIL", what)
    return patches_model(files, size, patches or PatchSettings(), progress=progress)
