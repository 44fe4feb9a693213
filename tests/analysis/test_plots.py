"""PNG figures: written, of a sane size and not blank."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from humelabel.analysis.metrics import cluster_accuracy
from humelabel.analysis.plots import (
    confusion_matrix_matched,
    plot_cluster_sizes,
    plot_confusion,
    plot_correlation,
    plot_history,
    plot_k_selection,
)


def check_png(path: Path, min_width: int = 300, min_height: int = 200) -> np.ndarray:
    """The image as an RGB array, after checking its size and that it is not blank."""
    assert path.is_file() and path.stat().st_size > 2000
    with Image.open(path) as image:
        assert image.format == "PNG"
        pixels = np.asarray(image.convert("RGB"), dtype=np.float64)
    height, width, _ = pixels.shape
    assert width >= min_width and height >= min_height
    not_white = (pixels < 240).any(axis=2).mean()
    assert 0.01 < not_white < 0.95, f"{path.name}: {not_white:.3f} of pixels drawn"
    assert pixels.std() > 10
    return pixels


def history(n: int, shift: float) -> list[dict[str, float]]:
    return [{"step": i, "loss": -i * 0.1 + shift, "generalization": 1 / (i + 1),
             "entropy": 1.0 + 0.01 * i} for i in range(n)]


def test_history_plot(tmp_path: Path) -> None:
    check_png_path = tmp_path / "h.png"
    plot_history({"seed 0": history(50, 0.0), "seed 1": history(50, 0.5)}, check_png_path)
    check_png(check_png_path, min_width=600)


def test_cluster_sizes_plot_many_clusters(tmp_path: Path) -> None:
    labels = np.random.default_rng(0).integers(0, 77, 5000)
    plot_cluster_sizes(labels, 80, tmp_path / "s.png")
    check_png(tmp_path / "s.png")


def test_k_selection_plot_from_rows_or_csv_strings(tmp_path: Path) -> None:
    rows = [{"k": k, "stage": "coarse", "stability": 1 / (1 + abs(k - 6))}
            for k in (2, 3, 4, 6, 7, 9, 12)]
    rows += [{"k": 5, "stage": "fine", "stability": 0.4}, {"k": 6, "stage": "full",
                                                           "stability": ""}]
    plot_k_selection(rows, 6, tmp_path / "k.png")
    check_png(tmp_path / "k.png")
    as_read = [{key: str(value) for key, value in r.items()} for r in rows]  # read_table
    plot_k_selection(as_read, 6, tmp_path / "k2.png", title="from k_selection.csv")
    check_png(tmp_path / "k2.png")
    # joint rows: blank scores where the bound skipped a candidate, the bound drawn for all
    joint = [{"k": k, "stage": "coarse", "criterion": "joint", "cross_ari": 0.5,
              "stability": "" if k > 4 else 0.4} for k in (2, 3, 4, 6, 9)]
    plot_k_selection([{key: str(v) for key, v in r.items()} for r in joint], 4,
                     tmp_path / "k3.png")
    check_png(tmp_path / "k3.png")


def test_confusion_plot_has_more_blue_on_the_diagonal(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 100)
    labels = (truth + 1) % 4  # a permutation: perfect after matching
    labels[rng.choice(400, 40, replace=False)] = 0
    plot_confusion(truth, labels, tmp_path / "c.png", class_names=["a", "b", "c", "d"],
                   title="test")
    check_png(tmp_path / "c.png")


def test_confusion_matrix_puts_matched_clusters_on_the_diagonal() -> None:
    truth = np.array([0, 0, 0, 1, 1, 2, 2, 2, 2])
    labels = np.array([5, 5, 3, 9, 9, 3, 3, 3, 7])  # 5->0, 9->1, 3->2, 7 unmatched
    counts = confusion_matrix_matched(truth, labels)
    np.testing.assert_array_equal(np.diag(counts), [2, 2, 3])
    assert counts.shape == (3, 4)
    assert counts[:, 3].tolist() == [0, 0, 1]  # the unmatched cluster comes last
    assert counts.sum() == truth.size


def test_confusion_matrix_with_fewer_clusters_than_classes() -> None:
    """An unmatched class gets an empty column, so the diagonal stays the matched cells."""
    truth = np.array([0, 0, 1, 1, 2, 2, 3, 3, 3])
    labels = np.array([4, 4, 4, 4, 6, 6, 8, 8, 8])  # classes 0 and 1 share cluster 4
    counts = confusion_matrix_matched(truth, labels)
    assert counts.shape == (4, 4)
    assert np.trace(counts) / truth.size == pytest.approx(cluster_accuracy(truth, labels))
    assert sorted(counts[:, [0, 1]].sum(axis=0).tolist()) == [0, 4]  # one empty column


def test_correlation_plot(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    records = [{"family": family, "distance": d, "loss": d + rng.normal(0, 0.05),
                "generalization": 2 * d} for family in ("reassign", "merge", "split")
               for d in np.linspace(0, 0.8, 6)]
    stats = {term: {group: {"pearson": 0.9, "pearson_p": 1e-5} for group in ("all", "k_classes")}
             for term in ("loss", "generalization")}
    plot_correlation(records, tmp_path / "r.png", stats=stats, title="x")
    check_png(tmp_path / "r.png", min_width=800)


def test_failed_render_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(KeyError):
        plot_history({"a": [{"step": 0, "loss": 1.0}]}, tmp_path / "bad.png")
    assert list(tmp_path.iterdir()) == []
