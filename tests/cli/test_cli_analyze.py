"""``humelabel analyze correlation``, ``plot`` and ``baseline`` on the command line."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy.stats import pearsonr

from humelabel.analysis.baselines import kmeans_labels, linear_probe_labels
from humelabel.analysis.correlation import K_CLASS_FAMILIES
from humelabel.analysis.metrics import evaluate
from humelabel.cli import main

K = 3
TINY_FIT = ["--preset", "fast", "--iterations", "5", "--num-subsets", "2", "--subset-size",
            "60", "--split-pool", "4", "--quiet"]


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    """Balanced clustered data, 90 rows, 3 classes, two views."""
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(K), 30)
    arrays = {"phi1": (rng.normal(size=(K, 6)) * 3)[y] + rng.normal(size=(90, 6)),
              "phi2": (rng.normal(size=(K, 8)) * 3)[y] + rng.normal(size=(90, 8))}
    paths = {}
    for name, arr in arrays.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], arr.astype(np.float32))
    paths["truth"] = tmp_path / "truth.npy"
    np.save(paths["truth"], y + 10)  # arbitrary ids: the analysis renumbers them
    return paths


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def assert_png(path: Path) -> None:
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 300 and image.height > 200
        pixels = np.asarray(image.convert("RGB"))
    assert pixels.std() > 10


def correlation_argv(data: dict[str, Path], out: Path, **files: Path) -> list[str]:
    chosen = {"phi1": data["phi1"], "phi2": data["phi2"], "truth": data["truth"], **files}
    argv = ["analyze", "correlation", "--out", str(out), "--splits", "2", "--repeats", "1",
            "--fractions", "0", "0.3", "0.6", "0.9", "--max-merges", "1", "--max-splits", "1",
            "--quiet"]
    for role, path in chosen.items():
        argv += [f"--{role}", str(path)]
    return argv


def test_correlation_writes_json_csv_and_plot(data, tmp_path, capsys) -> None:
    out = tmp_path / "corr"
    rc, _, err = run(correlation_argv(data, out), capsys)
    assert rc == 0, err
    summary = json.loads((out / "correlation.json").read_text())
    assert summary["n_labelings"] == 4 + 1 + 1 + 1
    assert summary["k"] == K
    # The headline is the Pearson correlation of objective and distance over the k-class
    # labelings of correlation.csv, and on this clustered data it is clearly positive.
    with open(out / "correlation.csv", newline="") as fh:
        records = [r for r in csv.DictReader(fh) if r["family"] in K_CLASS_FAMILIES]
    direct = pearsonr([float(r["loss"]) for r in records],
                      [float(r["distance"]) for r in records])
    assert summary["pearson"] == pytest.approx(direct.statistic, abs=1e-6)
    assert summary["pearson_p"] == pytest.approx(direct.pvalue, rel=1e-4, abs=1e-12)
    assert summary["pearson"] > 0.5  # measured 0.70 over these 5 labelings
    assert summary["correlations"]["generalization"]["reassign"]["pearson"] > 0.8
    assert summary["inputs"]["truth"]["sha256"]
    rows = (out / "correlation.csv").read_text().splitlines()
    assert rows[0].startswith("family,amount,repeat,classes,acc,distance")
    assert len(rows) == 1 + 7
    assert_png(out / "correlation.png")


@pytest.mark.parametrize("problem", ["rows", "single-class", "fraction", "splits"])
def test_correlation_bad_input_is_one_line_and_writes_nothing(data, tmp_path, capsys,
                                                              problem) -> None:
    out = tmp_path / "corr"
    argv = correlation_argv(data, out)
    if problem == "rows":
        short = tmp_path / "short.npy"
        np.save(short, np.load(data["truth"])[:50])
        argv = correlation_argv(data, out, truth=short)
        expected = "short.npy"
    elif problem == "single-class":
        one = tmp_path / "one.npy"
        np.save(one, np.zeros(90, dtype=np.int64))
        argv = correlation_argv(data, out, truth=one)
        expected = "one.npy: holds a single class"
    elif problem == "fraction":
        argv += ["--fractions", "1.5"]
        expected = "--fractions 1.5"
    else:
        argv += ["--splits", "0"]
        expected = "--splits 0"
    rc, _, err = run(argv, capsys)
    assert rc == 2
    assert err.count("\n") == 1 and expected in err
    assert not out.exists()


def test_plot_of_a_fit_and_of_a_multi_seed_run(data, tmp_path, capsys) -> None:
    single = tmp_path / "single"
    rc, _, err = run(["fit", "--phi1", str(data["phi1"]), "--phi2", str(data["phi2"]), "-k",
                      str(K), "--truth", str(data["truth"]), "--out", str(single), *TINY_FIT],
                     capsys)
    assert rc == 0, err
    rc, out, err = run(["plot", str(single)], capsys)  # truth found in config.json
    assert rc == 0, err
    for name in ("history.png", "cluster_sizes.png", "confusion.png"):
        assert_png(single / "plots" / name)
    multi = tmp_path / "multi"
    rc, _, err = run(["fit", "--phi1", str(data["phi1"]), "--phi2", str(data["phi2"]), "-k",
                      str(K), "--seeds", "0-1", "--out", str(multi), *TINY_FIT], capsys)
    assert rc == 0, err
    rc, out, err = run(["plot", str(multi), "--out", str(tmp_path / "p")], capsys)
    assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "p").iterdir()) == [
        "cluster_sizes.png", "history.png", "manifest.json"]  # no truth given: no confusion matrix
    # Again without --overwrite: refused, the plots stay.
    rc, _, err = run(["plot", str(multi), "--out", str(tmp_path / "p")], capsys)
    assert rc == 2 and "--overwrite" in err


def test_plot_errors(data, tmp_path, capsys) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    rc, _, err = run(["plot", str(empty)], capsys)
    assert rc == 2 and "has no labels.npy" in err and err.count("\n") == 1
    np.save(empty / "labels.npy", np.zeros(10, dtype=np.int64))
    rc, _, err = run(["plot", str(empty), "--truth", str(data["truth"])], capsys)
    assert rc == 2 and "truth.npy" in err
    assert not (empty / "plots").exists()


def test_baseline_kmeans_and_probe_match_the_library(data, tmp_path, capsys) -> None:
    truth = np.load(data["truth"])
    rc, out, err = run(["baseline", "kmeans", "--phi", str(data["phi1"]), str(data["phi2"]),
                        "--truth", str(data["truth"]), "--out", str(tmp_path / "km"),
                        "--quiet"], capsys)
    assert rc == 0, err
    x = np.concatenate([a / np.linalg.norm(a, axis=1, keepdims=True)
                        for a in (np.load(data["phi1"]), np.load(data["phi2"]))], axis=1)
    np.testing.assert_array_equal(np.load(tmp_path / "km" / "labels.npy"),
                                  kmeans_labels(x, K, normalize=False))
    metrics = json.loads((tmp_path / "km" / "metrics.json").read_text())
    assert metrics["acc"] == pytest.approx(evaluate(truth, kmeans_labels(x, K,
                                                                         normalize=False))["acc"])
    rc, out, err = run(["baseline", "probe", "--phi", str(data["phi2"]), "--truth",
                        str(data["truth"]), "--out", str(tmp_path / "probe"), "--quiet"], capsys)
    assert rc == 0, err
    expected = linear_probe_labels(np.load(data["phi2"]), truth)
    np.testing.assert_array_equal(np.load(tmp_path / "probe" / "labels.npy"), expected)
    assert json.loads((tmp_path / "probe" / "config.json").read_text())["method"] == "probe"


@pytest.mark.parametrize("argv_extra,expected", [
    (["probe"], "needs --truth"),
    (["kmeans"], "needs -k"),
    (["probe", "--truth", "TRUTH", "--folds", "1"], "--folds 1"),
])
def test_baseline_errors(data, tmp_path, capsys, argv_extra, expected) -> None:
    extra = [str(data["truth"]) if a == "TRUTH" else a for a in argv_extra]
    out = tmp_path / "b"
    rc, _, err = run(["baseline", extra[0], "--phi", str(data["phi1"]), "--out", str(out),
                      *extra[1:]], capsys)
    assert rc == 2 and expected in err and err.count("\n") == 1
    assert not out.exists()
