"""choose_k: the chosen k on separated two-view blobs, the grid, the range parser, the CLI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from humelabel.cli import main
from humelabel.runs.choose_k import choose_k, geometric_grid, parse_k_range

torch.set_num_threads(1)
FAST = dict(iterations=60, num_subsets=4, subset_size=400, split_pool=8, device="cpu")


def blobs(n: int = 400, k: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two views (n, 16) and (n, 24) of k well-separated classes, independent noise each."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % k
    views = []
    for d in (16, 24):
        centres = rng.standard_normal((k, d)) * 3.0
        views.append((centres[y] + rng.standard_normal((n, d))).astype(np.float32))
    return views[0], views[1], y


def test_chooses_true_k_on_separated_blobs() -> None:
    phi1, phi2, y = blobs()
    result = choose_k(phi1, phi2, (2, 12), coarse_iterations=30, **FAST)
    assert result.k_ == 4
    assert result.labels_.shape == y.shape
    assert {r["stage"] for r in result.table} == {"coarse", "fine", "full"}
    assert result.csv().splitlines()[0].startswith("k,stage,iterations")


def test_grid_and_range() -> None:
    grid = geometric_grid(2, 150)
    assert grid[0] == 2 and grid[-1] == 150 and grid == sorted(set(grid))
    assert len(grid) <= 20
    assert parse_k_range("3-40") == (3, 40)
    for bad in ("1-10", "10-5", "5", "a-b", "2-2", "-3-10"):
        with pytest.raises(ValueError):
            parse_k_range(bad)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, str]:
    phi1, phi2, y = blobs()
    paths = {}
    for name, arr in (("phi1", phi1), ("phi2", phi2), ("truth", y)):
        paths[name] = str(tmp_path / f"{name}.npy")
        np.save(paths[name], arr)
    return paths


def test_cli_k_auto_writes_selection(files: dict[str, str], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    rc = main(["fit", "--phi1", files["phi1"], "--phi2", files["phi2"], "--k", "auto",
               "--k-range", "2-8", "--truth", files["truth"], "--out", str(out),
               "--iterations", "60", "--num-subsets", "4", "--subset-size", "400",
               "--device", "cpu"])
    assert rc == 0
    assert "chose k = 4" in capsys.readouterr().out
    for name in ("labels.npy", "config.json", "k_selection.csv", "k_selection.png"):
        assert (out / name).exists(), name
    assert int(np.load(out / "labels.npy").max()) + 1 == 4


@pytest.mark.parametrize("value", ["1-10", "9-3", "x", "2-", "400-500"])
def test_cli_bad_k_range_is_one_line(files: dict[str, str], tmp_path: Path, value: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["fit", "--phi1", files["phi1"], "--phi2", files["phi2"], "--k", "auto",
               "--k-range", value, "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert err.startswith("humelabel: error: ") and len(err.splitlines()) == 1, err


def test_cli_k_auto_refuses_seeds(files: dict[str, str], tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["fit", "--phi1", files["phi1"], "--phi2", files["phi2"], "--k", "auto",
               "--seeds", "0-1", "--out", str(tmp_path / "run")])
    assert rc == 2 and "--k auto" in capsys.readouterr().err
