"""choose_k: the chosen k on separated two-view blobs, the criterion, the grid and fine
stage, the range parser, the table, the CLI (fit --k auto, plot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from humelabel import HUME, Spaces
from humelabel.cli import main
from humelabel.runs.choose_k import (
    best_k,
    choose_k,
    fine_candidates,
    geometric_grid,
    parse_k_range,
    read_table,
    stability,
)

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


def test_chooses_true_k_on_separated_blobs(tmp_path: Path) -> None:
    phi1, phi2, y = blobs()
    result = choose_k(phi1, phi2, (2, 12), coarse_iterations=30, **FAST)
    assert result.k_ == 4
    assert result.labels_.shape == y.shape
    assert {r["stage"] for r in result.table} == {"coarse", "fine", "full"}
    scored = {r["k"]: r["stability"] for r in result.table if r["stage"] != "full"}
    # Measured: 1.0 at k = 4 (both seeds find the classes), 0.80 at 5, 0.29 at 3, 0.0 at 2.
    assert scored[4] > 0.95 and max(v for k, v in scored.items() if k != 4) < 0.9
    assert result.record()["short_runs"] == 2 * len(scored)
    (tmp_path / "k_selection.csv").write_text(result.csv())
    rows = read_table(tmp_path / "k_selection.csv")
    assert list(rows[0])[:3] == ["k", "stage", "iterations"]
    assert [int(r["k"]) for r in rows] == [r["k"] for r in result.table]
    assert best_k(result.table) == 4


def test_stability_is_mean_pairwise_ari() -> None:
    a = np.array([0, 0, 1, 1, 2, 2])
    assert stability([a, a]) == (1.0, 1.0)
    assert stability([a, (a + 1) % 3]) == (1.0, 1.0)  # renamed classes agree fully
    other = np.array([0, 1, 0, 1, 0, 1])
    mean, low = stability([a, a, other])
    assert low < 0 < mean < 1  # one agreeing pair of three
    assert stability([a]) == (1.0, 1.0)


def test_fine_candidates_are_midpoints_off_the_grid() -> None:
    grid = geometric_grid(2, 150)
    assert fine_candidates(grid, 20, 2) == [17, 22]  # sqrt(15 * 20), sqrt(20 * 25)
    assert fine_candidates(grid, 2, 2) == []  # 2 and 3 are neighbours: nothing between
    extra = fine_candidates(grid, 20, 4)
    assert extra[:2] == [17, 22] and len(extra) == 4
    assert not set(extra) & set(grid) and all(15 < k < 25 for k in extra)
    assert fine_candidates(grid, 20, 0) == []


def test_cross_view_runs_exchange_the_views() -> None:
    phi1, phi2, _ = blobs(n=120)
    calls: list[tuple[int, int, int, int]] = []

    class Recording(HUME):
        def fit(self, a, b, *rest):  # type: ignore[no-untyped-def]
            calls.append((self.n_classes, self.random_state, a.shape[1],
                          b.shape[1] if hasattr(b, "shape") else -1))
            return super().fit(a, b, *rest)

    def make(k: int, iterations: int | None, seed: int) -> HUME:
        return Recording(k, random_state=seed, **{**FAST, "iterations": iterations or 20})

    result = choose_k(phi1, phi2, (2, 3), seeds=3, fine=0, random_state=5,
                      make_estimator=make)
    # per k: phi1 seed 5, the views exchanged seed 5, phi1 seed 6; then the full run
    assert calls[:3] == [(2, 5, 16, 24), (2, 5, 24, 16), (2, 6, 16, 24)]
    assert calls[-1] == (result.k_, 5, 16, 24) and len(calls) == 7
    assert result.estimator_.coef_.shape[1] == 16  # the result labels phi1
    calls.clear()
    choose_k(phi1, Spaces(phi2, phi2[:, :8]), (2, 3), fine=0, fit_final=False,
             make_estimator=make)
    assert [c[2] for c in calls] == [16] * 4  # several phi2 spaces: no exchange


def test_ties_go_to_the_larger_k_and_seeds_are_checked() -> None:
    table = [{"k": 3, "stage": "coarse", "stability": 0.5},
             {"k": 5, "stage": "coarse", "stability": 0.5},
             {"k": 4, "stage": "full", "stability": ""}]
    assert best_k(table) == 5
    phi1, phi2, _ = blobs(n=40)
    with pytest.raises(ValueError, match="seeds"):
        choose_k(phi1, phi2, (2, 4), seeds=1, **FAST)


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
    assert main(["plot", str(out), "--quiet"]) == 0
    assert (out / "plots" / "k_selection.png").is_file()


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
