"""Choosing the backend of the multi-seed commands (runs without ray installed, too)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from humelabel.cli import main
from humelabel.io import InputError
from humelabel.runs.multiseed import fit_seeds
from humelabel.runs.ray_backend import import_ray


def _data(tmp_path: Path) -> list[str]:
    rng = np.random.default_rng(0)
    for name, dim in (("phi1", 4), ("phi2", 5)):
        np.save(tmp_path / f"{name}.npy", rng.normal(size=(30, dim)).astype(np.float32))
    return ["fit", "--phi1", str(tmp_path / "phi1.npy"), "--phi2", str(tmp_path / "phi2.npy"),
            "--k", "3", "--out", str(tmp_path / "out"), "--seeds", "0-1", "--quiet"]


def test_address_needs_the_ray_backend(tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*_data(tmp_path), "--address", "127.0.0.1:1"]) == 2
    assert capsys.readouterr().err == "humelabel: error: --address needs --backend ray\n"
    assert not (tmp_path / "out").exists()


def test_missing_ray_is_one_line_before_any_work(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray raises ImportError
    with pytest.raises(InputError, match=r"needs the package ray.*humelabel\[ray\]"):
        import_ray()
    assert main([*_data(tmp_path), "--backend", "ray"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("humelabel: error: --backend ray: needs the package ray")
    assert err.count("\n") == 1
    assert not (tmp_path / "out").exists()
    with pytest.raises(InputError, match="needs the package ray"):
        fit_seeds(np.zeros((9, 2)), np.zeros((9, 2)), 3, [0, 1], backend="ray")


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="backend must be one of local, ray, got 'dask'"):
        fit_seeds(np.zeros((9, 2)), np.zeros((9, 2)), 3, [0, 1], backend="dask")
