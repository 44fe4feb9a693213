"""The HTML report in a real browser: headless Chromium loads it and shows every cluster.

Needs Debian's ``chromium`` (``.ci/run`` installs it where apt works); skipped without it.
Two checks: the DOM Chromium builds after loading the page has one cluster section per
cluster with its thumbnails, and a screenshot of the page is not blank and shows the colour
that marks each cluster's section.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from embed_helpers import cifar_folder, parse

from humelabel.analysis.report import cluster_colour, cluster_summary, write_report
from humelabel.embed.inputs import list_images

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does this "
    "where apt works)",
)

#: Flags for a headless, sandbox-free Chromium that makes no network connection of its own.
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--disable-dev-shm-usage",
]


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run headless Chromium on a local page with a fresh profile folder."""
    assert CHROMIUM is not None
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture
def image_report(tmp_path: Path) -> tuple[Path, int]:
    """A report of real CIFAR-10 images in 4 clusters (one of them empty)."""
    folder = cifar_folder(tmp_path / "cifar", per_class=4, classes=3)
    images = list_images(folder)
    labels = np.repeat([0, 1, 2], 4)  # class folders in sorted order: 4 images each
    rng = np.random.default_rng(0)
    x = np.eye(3)[labels] + 0.1 * rng.normal(size=(12, 3))
    summary = cluster_summary(labels, 4, x, top=3, truth=labels,
                              class_names={0: "airplane", 1: "automobile", 2: "bird"})
    out = tmp_path / "report"
    out.mkdir()
    write_report(out, summary, images.names, "images", title="CIFAR-10 sample",
                 subtitle="browser test", metrics={"acc": 1.0, "nmi": 1.0, "ari": 1.0},
                 image_files=images.files)
    return out / "report.html", 4


def test_chromium_loads_the_report_with_every_cluster(
    image_report: tuple[Path, int], tmp_path: Path
) -> None:
    page, k = image_report
    result = chromium(page, tmp_path / "profile-dom", "--dump-dom")
    assert result.returncode == 0, result.stderr[-2000:]
    dom = parse(result.stdout)
    assert [s["data-cluster"] for s in dom.sections] == [str(c) for c in range(k)]
    assert [int(s["data-size"]) for s in dom.sections] == [4, 4, 4, 0]
    assert len(dom.images) == 9 and all(src.startswith("data:image/png") for src in dom.images)
    assert "CIFAR-10 sample" in result.stdout


def test_chromium_screenshot_shows_every_cluster(
    image_report: tuple[Path, int], tmp_path: Path
) -> None:
    from PIL import Image

    page, k = image_report
    shot = tmp_path / "shot.png"
    result = chromium(page, tmp_path / "profile-shot", "--window-size=1000,1200",
                      f"--screenshot={shot}")
    assert result.returncode == 0 and shot.is_file(), result.stderr[-2000:]
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(np.int16)
    assert pixels.shape == (1200, 1000, 3)
    non_white = (pixels < 240).any(axis=2).mean()
    assert pixels.std() > 20 and non_white > 0.03  # not blank
    for c in range(k):
        colour = np.array([int(cluster_colour(c)[i:i + 2], 16) for i in (1, 3, 5)])
        matches = (np.abs(pixels - colour).max(axis=2) <= 3).sum()
        # The coloured left border of the section (8 px x its height) plus the swatch.
        assert matches > 400, f"cluster {c}: colour {cluster_colour(c)} on {matches} pixels"
