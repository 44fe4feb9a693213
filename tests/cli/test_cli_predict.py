"""``humelabel predict`` (humelabel.cli.predict): label new rows with a fitted run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_cli import data, fit_argv, run_ok  # noqa: F401 (data is a fixture)

from humelabel.cli import main


@pytest.fixture
def inductive_fit(data: dict[str, Path], tmp_path: Path,  # noqa: F811
                  capsys: pytest.CaptureFixture[str]) -> Path:
    out = tmp_path / "fit"
    run_ok(fit_argv(data, out, "--quiet", phi1_eval=data["phi1_eval"],
                    phi2_eval=data["phi2_eval"]), capsys)
    return out


def test_predict_reproduces_the_inductive_labels(
    data: dict[str, Path], inductive_fit: Path, tmp_path: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "p.npy"
    stdout, _ = run_ok(["predict", "--model", str(inductive_fit), "--phi1",
                        str(data["phi1_eval"]), "--out", str(out)], capsys)
    expected = np.load(inductive_fit / "labels.npy")
    labels = np.load(out)
    assert labels.dtype == np.int64 and labels.shape == expected.shape == (30,)
    np.testing.assert_array_equal(labels, expected)
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["rows"] == 30 and record["model"] == str(inductive_fit.resolve())
    assert stdout.startswith(f"wrote {out}: 30 rows")


def _cases(paths: dict[str, Path], fit: Path, tmp: Path) -> dict[str, tuple[list[str], str]]:
    existing = tmp / "existing.npy"
    np.save(existing, np.zeros(3, dtype=np.int64))
    base = ["predict", "--model", str(fit), "--phi1", str(paths["phi1_eval"])]
    return {
        "missing model dir": (["predict", "--model", str(tmp / "nope"), "--phi1",
                               str(paths["phi1_eval"]), "--out", str(tmp / "p.npy")],
                              "not found"),
        "wrong feature count": (["predict", "--model", str(fit), "--phi1",
                                 str(paths["phi2_eval"]), "--out", str(tmp / "p.npy")],
                                "has 12 features, the model expects 8"),
        "out is phi1": ([*base, "--out", str(paths["phi1_eval"])], str(paths["phi1_eval"])),
        "out exists": ([*base, "--out", str(existing)], "--overwrite"),
    }


@pytest.mark.parametrize("name", ["missing model dir", "wrong feature count", "out is phi1",
                                  "out exists"])
def test_predict_bad_input_exit_2_one_line_nothing_written(
    name: str, data: dict[str, Path], inductive_fit: Path, tmp_path: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    argv, expect = _cases(data, inductive_fit, work)[name]
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 2 and captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("humelabel: error: ") and expect in lines[0], lines[0]
    after = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    assert after == before  # nothing written, nothing replaced
