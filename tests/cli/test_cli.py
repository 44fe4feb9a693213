"""Tests for the ``humelabel`` command line (humelabel.cli)."""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file
from safetensors.numpy import save_file as save_safetensors

from humelabel import HUME
from humelabel.analysis.metrics import evaluate
from humelabel.cli import fit as cli
from humelabel.cli import main
from humelabel.core.presets import PRESETS, resolve
from humelabel.runs import fitting

N, D1, D2, K = 60, 8, 12, 3
N_EVAL = 30
ITERATIONS = 3
FAST = [
    "--iterations", str(ITERATIONS), "--inner-steps", "3", "--num-subsets", "2",
    "--subset-size", "50",
]


# --------------------------------------------------------------------------------------------
# Fixtures and helpers
# --------------------------------------------------------------------------------------------


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    """Tiny clustered data: fit set (60 rows) and evaluation set (30 rows), 3 classes."""
    rng = np.random.default_rng(0)
    c1, c2 = rng.normal(size=(K, D1)) * 3, rng.normal(size=(K, D2)) * 3
    y = np.repeat(np.arange(K), N // K)
    y_eval = np.repeat(np.arange(K), N_EVAL // K)
    arrays = {
        "phi1": c1[y] + rng.normal(size=(N, D1)),
        "phi2": c2[y] + rng.normal(size=(N, D2)),
        "phi1_eval": c1[y_eval] + rng.normal(size=(N_EVAL, D1)),
        "phi2_eval": c2[y_eval] + rng.normal(size=(N_EVAL, D2)),
    }
    paths = {}
    for name, arr in arrays.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], arr.astype(np.float32))
    paths["truth"] = tmp_path / "truth.npy"
    np.save(paths["truth"], y)
    paths["truth_eval"] = tmp_path / "truth_eval.npy"
    np.save(paths["truth_eval"], y_eval)
    return paths


def fit_argv(data: dict[str, Path], out: Path, *extra: str, **files: Path | str) -> list[str]:
    """``fit`` arguments on ``data`` (override a file with phi1=..., etc.), tiny settings."""
    chosen = {"phi1": data["phi1"], "phi2": data["phi2"], **files}
    argv = ["fit", "--k", str(K), "--out", str(out), *FAST]
    for role, path in chosen.items():
        argv += [f"--{role.replace('_', '-')}", str(path)]
    return argv + list(extra)


def run_ok(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
    """Run main(argv), assert exit code 0, return (stdout, stderr)."""
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    return captured.out, captured.err


def leftovers(directory: Path) -> list[str]:
    """Hidden temporary directories/files left next to an output directory."""
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("."))


def save(path: Path, arr: np.ndarray) -> Path:
    np.save(path, arr, allow_pickle=False)
    return path


# --------------------------------------------------------------------------------------------
# fit: outputs
# --------------------------------------------------------------------------------------------


def test_fit_writes_all_outputs(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    stdout, stderr = run_ok(fit_argv(data, out, "--quiet"), capsys)
    assert stdout == "" and stderr == ""
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "history.jsonl", "labels.npy", "manifest.json", "model.safetensors",
    ]
    assert leftovers(tmp_path) == []

    labels = np.load(out / "labels.npy", allow_pickle=False)
    assert labels.dtype == np.int64 and labels.shape == (N,)
    assert labels.min() >= 0 and labels.max() < K

    model = load_file(out / "model.safetensors")
    assert set(model) == {"coef", "phi2_center_0", "phi2_scale"}
    assert model["coef"].shape == (K, D1) and model["coef"].dtype == np.float32
    assert model["phi2_center_0"].shape == (D2,) and model["phi2_center_0"].dtype == np.float32
    assert model["phi2_scale"].shape == (1,) and model["phi2_scale"].dtype == np.float32
    # The stored model reproduces the labels (phi1 is L2-normalised by default).
    phi1 = np.load(data["phi1"])
    phi1 = phi1 / np.linalg.norm(phi1, axis=1, keepdims=True)
    np.testing.assert_array_equal((phi1 @ model["coef"].T).argmax(axis=1), labels)

    lines = (out / "history.jsonl").read_text().splitlines()
    assert len(lines) == ITERATIONS
    records = [json.loads(line) for line in lines]
    assert [r["step"] for r in records] == list(range(ITERATIONS))
    assert all({"loss", "generalization", "entropy"} <= set(r) for r in records)


def test_fit_config_records_every_setting(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = fit_argv(data, out, "--quiet", "--seed", "7", "--truth", str(data["truth"]))
    run_ok(argv, capsys)
    config = json.loads((out / "config.json").read_text())
    for key in ("command", "hyperparameters", "preset", "seed", "device", "normalize",
                "phi2_scaling", "k", "versions", "python", "inputs", "fit_seconds"):
        assert key in config, key
    assert config["command"].startswith("humelabel fit ")
    assert config["argv"] == ["humelabel", *argv]
    assert config["k"] == K and config["seed"] == 7 and config["preset"] == "fast"  # default
    assert config["device"] == "cpu"
    assert config["normalize"] is True and config["phi2_scaling"] == "global"
    assert config["hyperparameters"] == resolve(
        "fast", {"iterations": 3, "inner_steps": 3, "num_subsets": 2, "subset_size": 50}
    )
    assert set(config["versions"]) == {
        "humelabel", "numpy", "scipy", "scikit-learn", "torch", "safetensors",
    }
    assert config["versions"]["numpy"] == np.__version__
    assert config["fit_seconds"] > 0
    assert set(config["inputs"]) == {"phi1", "phi2", "truth"}
    for role, shape in (("phi1", [N, D1]), ("phi2", [N, D2]), ("truth", [N])):
        record = config["inputs"][role]
        assert record["path"] == str(data[role])
        assert record["shape"] == shape
        assert record["dtype"]
        assert record["sha256"] == hashlib.sha256(data[role].read_bytes()).hexdigest()


def test_metrics_only_with_truth(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_ok(fit_argv(data, tmp_path / "plain", "--quiet"), capsys)
    assert not (tmp_path / "plain" / "metrics.json").exists()

    out = tmp_path / "with_truth"
    run_ok(fit_argv(data, out, "--quiet", "--truth", str(data["truth"])), capsys)
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"acc", "nmi", "ari", "per_class_acc", "n"}
    expected = evaluate(np.load(data["truth"]), np.load(out / "labels.npy"))
    assert metrics["per_class_acc"] == pytest.approx(expected.pop("per_class_acc"))
    assert {key: metrics[key] for key in expected} == pytest.approx(expected)


def test_summary_on_stdout_and_bar_on_stderr(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    stdout, stderr = run_ok(fit_argv(data, out, "--truth", str(data["truth"])), capsys)
    lines = stdout.splitlines()
    assert lines[0] == f"wrote {out}"
    assert "class sizes" in lines[1]
    metrics = json.loads((out / "metrics.json").read_text())
    assert lines[2] == (
        f"ACC {metrics['acc']:.4f}  NMI {metrics['nmi']:.4f}  ARI {metrics['ari']:.4f}"
    )
    assert len(lines) == 3
    assert "HUME search" in stderr  # the progress bar


def test_inductive_labels_follow_eval_rows(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = fit_argv(data, out, "--quiet", phi1_eval=data["phi1_eval"],
                    phi2_eval=data["phi2_eval"], truth=data["truth_eval"])
    run_ok(argv, capsys)
    labels = np.load(out / "labels.npy")
    assert labels.shape == (N_EVAL,) and labels.dtype == np.int64
    config = json.loads((out / "config.json").read_text())
    assert config["mode"] == "inductive"
    assert set(config["inputs"]) == {"phi1", "phi2", "phi1_eval", "phi2_eval", "truth"}
    assert json.loads((out / "metrics.json").read_text())["n"] == N_EVAL


def test_same_seed_gives_identical_labels(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("a", "b"):
        run_ok(fit_argv(data, tmp_path / name, "--quiet", "--seed", "3"), capsys)
    a = (tmp_path / "a" / "labels.npy").read_bytes()
    assert a == (tmp_path / "b" / "labels.npy").read_bytes()


def test_preset_and_options_are_applied(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    argv = fit_argv(data, out, "--quiet", "--preset", "imagenet", "--tau", "0.5", "--anneal",
                    "--no-normalize", "--phi2-scaling", "none", "--inner", "unrolled")
    run_ok(argv, capsys)
    config = json.loads((out / "config.json").read_text())
    params = config["hyperparameters"]
    assert params["outer_lr"] == PRESETS["imagenet"]["outer_lr"]
    assert params["tau"] == 0.5 and params["anneal"] is True
    assert config["normalize"] is False and config["phi2_scaling"] == "none"
    model = load_file(out / "model.safetensors")
    np.testing.assert_array_equal(model["phi2_center_0"], np.zeros(D2, dtype=np.float32))
    np.testing.assert_array_equal(model["phi2_scale"], np.ones(1, dtype=np.float32))


def test_graph_neighbors_option(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # --graph-neighbors N adds phi1's graph view as a phi2 space (HUME(graph_neighbors=N));
    # the model still predicts from phi1 alone.
    out = tmp_path / "out"
    run_ok(fit_argv(data, out, "--quiet", "--graph-neighbors", "5"), capsys)
    assert json.loads((out / "config.json").read_text())["hyperparameters"][
        "graph_neighbors"] == 5
    run_ok(["predict", "--model", str(out), "--phi1", str(data["phi1"]), "--out",
            str(tmp_path / "again.npy")], capsys)
    np.testing.assert_array_equal(np.load(tmp_path / "again.npy"), np.load(out / "labels.npy"))


def test_npz_and_safetensors_inputs(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    npz = tmp_path / "feats.npz"
    np.savez(npz, a=np.load(data["phi1"]), b=np.zeros((2, 2), dtype=np.float32))
    st = tmp_path / "phi2.safetensors"
    save_safetensors({"x": np.load(data["phi2"])}, str(st))
    out = tmp_path / "out"
    run_ok(fit_argv(data, out, "--quiet", phi1=f"{npz}:a", phi2=st), capsys)
    inputs = json.loads((out / "config.json").read_text())["inputs"]
    assert inputs["phi1"]["key"] == "a"
    assert inputs["phi1"]["sha256"] == hashlib.sha256(npz.read_bytes()).hexdigest()
    assert inputs["phi2"]["shape"] == [N, D2]


@pytest.mark.parametrize("inductive", [False, True])
def test_diagnose_adds_objectives(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], inductive: bool
) -> None:
    out = tmp_path / "out"
    files: dict[str, Path] = {"truth": data["truth"]}
    if inductive:
        files = {"phi1_eval": data["phi1_eval"], "phi2_eval": data["phi2_eval"],
                 "truth": data["truth_eval"]}
    stdout, _ = run_ok(fit_argv(data, out, "--diagnose", **files), capsys)
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("objective_found", "objective_truth"):
        assert set(metrics[key]) == {"loss", "generalization", "entropy"}
        assert all(isinstance(v, float) for v in metrics[key].values())
    assert "objective found" in stdout
    if not inductive:
        # Same numbers as scoring the found labeling with the library directly.
        est = HUME(K, iterations=3, inner_steps=3, num_subsets=2, subset_size=50,
                   random_state=0, device="cpu")
        est.fit(np.load(data["phi1"]), np.load(data["phi2"]))
        expected = est.score_labeling(np.load(data["phi2"]), est.labels_,
                                      num_splits=cli.DIAGNOSE_SPLITS, seed=0)
        assert metrics["objective_found"] == pytest.approx(expected)


# --------------------------------------------------------------------------------------------
# fit: bad input
# --------------------------------------------------------------------------------------------

Case = Callable[[Path, dict[str, Path]], tuple[list[str], str]]


def _with_matrix(name: str, arr: np.ndarray, role: str = "phi1") -> Case:
    def case(tmp: Path, d: dict[str, Path]) -> tuple[list[str], str]:
        path = save(tmp / name, arr)
        return fit_argv(d, tmp / "out", **{role: path}), name
    return case


def _with_bytes(name: str, payload: bytes, role: str = "phi1") -> Case:
    def case(tmp: Path, d: dict[str, Path]) -> tuple[list[str], str]:
        (tmp / name).write_bytes(payload)
        return fit_argv(d, tmp / "out", **{role: tmp / name}), name
    return case


def _with_args(*extra: str, expect: str, **roles: str) -> Case:
    def case(tmp: Path, d: dict[str, Path]) -> tuple[list[str], str]:
        files = {role: d[key] for role, key in roles.items()}
        return fit_argv(d, tmp / "out", *extra, **files), expect
    return case


def _missing(tmp: Path, d: dict[str, Path]) -> tuple[list[str], str]:
    return fit_argv(d, tmp / "out", phi2=tmp / "nope.npy"), "nope.npy"


def _directory(tmp: Path, d: dict[str, Path]) -> tuple[list[str], str]:
    (tmp / "dir.npy").mkdir()
    return fit_argv(d, tmp / "out", phi1=tmp / "dir.npy"), "dir.npy"


def _object_array(tmp: Path, d: dict[str, Path]) -> tuple[list[str], str]:
    np.save(tmp / "obj.npy", np.array([[1, "a"]], dtype=object), allow_pickle=True)
    return fit_argv(d, tmp / "out", phi1=tmp / "obj.npy"), "obj.npy"


def _too_few_rows(tmp: Path, d: dict[str, Path]) -> tuple[list[str], str]:
    p1 = save(tmp / "small1.npy", np.ones((5, D1), dtype=np.float32))
    p2 = save(tmp / "small2.npy", np.ones((5, D2), dtype=np.float32))
    argv = fit_argv(d, tmp / "out", phi1=p1, phi2=p2)
    argv[argv.index("--k") + 1] = "10"
    return argv, "small1.npy: has 5 rows, fewer than --k 10"


def _k_one(tmp: Path, d: dict[str, Path]) -> tuple[list[str], str]:
    argv = fit_argv(d, tmp / "out")
    argv[argv.index("--k") + 1] = "1"
    return argv, "--k 1: must be at least 2"


def _bad_truth_text(tmp: Path, d: dict[str, Path]) -> tuple[list[str], str]:
    (tmp / "truth.txt").write_text("0\ncat\n")
    return fit_argv(d, tmp / "out", truth=tmp / "truth.txt"), "truth.txt"


nan = np.ones((N, D1), dtype=np.float32)
nan[3, 2] = np.nan
inf = np.ones((N, D2), dtype=np.float32)
inf[5, 0] = np.inf

BAD_FIT: dict[str, Case] = {
    "missing file": _missing,
    "directory instead of file": _directory,
    "truncated npy": _with_bytes("trunc.npy", b"\x93NUMPY\x01\x00garbage"),
    "pickle file": _with_bytes("pickled.npy", pickle.dumps([[1.0, 2.0]])),
    "object array": _object_array,
    "non-numeric": _with_matrix("strings.npy", np.array([["a", "b"]] * N)),
    "nan": _with_matrix("nan.npy", nan),
    "inf": _with_matrix("inf.npy", inf, role="phi2"),
    "1-D": _with_matrix("flat.npy", np.ones(N, dtype=np.float32)),
    "3-D": _with_matrix("cube.npy", np.ones((N, 2, 2), dtype=np.float32), role="phi2"),
    "phi1 vs phi2 rows": _with_matrix("short2.npy", np.ones((N - 1, D2)), role="phi2"),
    "phi1_eval vs phi2_eval rows": lambda t, d: (
        fit_argv(d, t / "out", phi1_eval=d["phi1_eval"],
                 phi2_eval=save(t / "e2.npy", np.ones((N_EVAL - 1, D2)))), "e2.npy"),
    "truth vs rows": _with_matrix("short_truth.npy", np.zeros(N - 1, dtype=np.int64),
                                  role="truth"),
    "truth vs eval rows": _with_args(expect="truth.npy: has 60 rows but", phi1_eval="phi1_eval",
                                     phi2_eval="phi2_eval", truth="truth"),
    "phi1_eval features": lambda t, d: (
        fit_argv(d, t / "out", phi1_eval=save(t / "e1.npy", np.ones((N_EVAL, D1 + 1))),
                 phi2_eval=d["phi2_eval"]), "e1.npy: has 9 features"),
    "phi2_eval features": lambda t, d: (
        fit_argv(d, t / "out", phi1_eval=d["phi1_eval"],
                 phi2_eval=save(t / "e2.npy", np.ones((N_EVAL, D2 - 1)))), "e2.npy"),
    "bad label text": _bad_truth_text,
    "k < 2": _k_one,
    "k > n": _too_few_rows,
    "phi1-eval alone": _with_args(expect="--phi1-eval given without --phi2-eval",
                                  phi1_eval="phi1_eval"),
    "phi2-eval alone": _with_args(expect="--phi2-eval given without --phi1-eval",
                                  phi2_eval="phi2_eval"),
    "tau negative": _with_args("--tau", "-1", expect="--tau"),
    "train fraction": _with_args("--train-fraction", "1.5", expect="--train-fraction"),
    "iterations zero": _with_args("--iterations", "0", expect="--iterations"),
    "subset size one": _with_args("--subset-size", "1", expect="--subset-size"),
    "diagnose without truth": _with_args("--diagnose", expect="--diagnose"),
    "bad device": _with_args("--device", "bogus", expect="--device bogus"),
}


@pytest.mark.parametrize("case", list(BAD_FIT.values()), ids=list(BAD_FIT))
def test_fit_bad_input(
    case: Case, data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, expect = case(tmp_path, data)
    rc = main(argv)
    captured = capsys.readouterr()
    assert rc == 2
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("humelabel: error: ")
    assert expect in lines[0]
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads anything")
def test_fit_unreadable_file(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data["phi1"].chmod(0)
    try:
        rc = main(fit_argv(data, tmp_path / "out"))
    finally:
        data["phi1"].chmod(0o644)
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("humelabel: error: ") and "phi1.npy" in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "extra", [["--inner", "bogus"], ["--tau", "abc"], ["--tau", "nan"], ["--preset", "x"],
              ["--graph-neighbors", "0"], ["--graph-neighbors", "100000"]]
)
def test_fit_usage_errors_exit_2(
    extra: list[str], data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(fit_argv(data, tmp_path / "out", *extra)) == 2
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_missing_subcommand_and_required_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert main(["fit", "--phi1", "a.npy"]) == 2
    capsys.readouterr()


def test_help_and_version_return_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert "humelabel" in capsys.readouterr().out
    assert main(["fit", "--help"]) == 0
    out = capsys.readouterr().out
    for flag in ("--entropy-weight", "--no-anneal", "--fixed-inner-init", "--inner"):
        assert flag in out


# --------------------------------------------------------------------------------------------
# fit: output directory handling
# --------------------------------------------------------------------------------------------


def test_overwrite(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    run_ok(fit_argv(data, out, "--quiet"), capsys)
    (out / "marker.txt").write_text("old run")

    assert main(fit_argv(data, out, "--quiet")) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"humelabel: error: {out}: exists and is not empty")
    assert (out / "marker.txt").read_text() == "old run"  # untouched

    # --overwrite never deletes a file humelabel did not write: refused, nothing changed.
    before = sorted(p.name for p in out.iterdir())
    assert main(fit_argv(data, out, "--quiet", "--overwrite")) == 2
    err = capsys.readouterr().err
    assert "marker.txt" in err and "did not write" in err and len(err.splitlines()) == 1
    assert (out / "marker.txt").read_text() == "old run"
    assert sorted(p.name for p in out.iterdir()) == before

    # Without the foreign file, an earlier fit output is replaced.
    (out / "marker.txt").unlink()
    old_config = (out / "config.json").read_text()
    run_ok(fit_argv(data, out, "--quiet", "--overwrite", "--seed", "1"), capsys)
    assert (out / "config.json").read_text() != old_config
    assert (out / "labels.npy").exists()
    assert leftovers(tmp_path) == []


def test_existing_empty_dir_and_missing_parents_are_fine(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    run_ok(fit_argv(data, tmp_path / "empty", "--quiet"), capsys)
    assert (tmp_path / "empty" / "labels.npy").exists()
    run_ok(fit_argv(data, tmp_path / "a" / "b", "--quiet"), capsys)
    assert (tmp_path / "a" / "b" / "labels.npy").exists()


def test_out_is_a_file(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "out").write_text("x")
    assert main(fit_argv(data, tmp_path / "out", "--overwrite")) == 2
    assert "exists and is not a directory" in capsys.readouterr().err
    assert (tmp_path / "out").read_text() == "x"


def test_bad_input_does_not_leave_missing_parents(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(fit_argv(data, tmp_path / "new" / "out", phi1=tmp_path / "nope.npy")) == 2
    capsys.readouterr()
    assert not (tmp_path / "new").exists()


def test_interrupt_during_fit(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(cli.HUME, "fit", interrupted)
    assert main(fit_argv(data, tmp_path / "out", "--quiet")) == 130
    assert capsys.readouterr().err.strip().splitlines() == ["humelabel: interrupted"]
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


def test_interrupt_during_writing(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(fitting, "write_json_atomic", interrupted)  # writes the run dir
    assert main(fit_argv(data, tmp_path / "out", "--quiet")) == 130
    capsys.readouterr()
    assert not (tmp_path / "out").exists()
    assert leftovers(tmp_path) == []


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------


@pytest.fixture
def label_files(tmp_path: Path) -> tuple[Path, Path]:
    truth = np.array([0, 0, 1, 1, 2, 2, 2, 0])
    pred = np.array([5, 5, 3, 3, 3, 4, 4, 5])
    (tmp_path / "truth.txt").write_text("\n".join(map(str, truth)) + "\n")
    return save(tmp_path / "pred.npy", pred), tmp_path / "truth.txt"


def test_evaluate_text(
    label_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pred, truth = label_files
    stdout, _ = run_ok(["evaluate", "--pred", str(pred), "--truth", str(truth)], capsys)
    m = evaluate(np.loadtxt(truth, dtype=np.int64), np.load(pred))
    assert stdout == f"ACC {m['acc']:.4f}  NMI {m['nmi']:.4f}  ARI {m['ari']:.4f}\n"


def test_evaluate_json(
    label_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pred, truth = label_files
    stdout, _ = run_ok(["evaluate", "--pred", str(pred), "--truth", str(truth), "--json"], capsys)
    assert json.loads(stdout) == evaluate(np.loadtxt(truth, dtype=np.int64), np.load(pred))


def test_evaluate_length_mismatch_names_pred(
    tmp_path: Path, label_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, truth = label_files
    short = save(tmp_path / "short.npy", np.zeros(3, dtype=np.int64))
    assert main(["evaluate", "--pred", str(short), "--truth", str(truth)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == f"humelabel: error: {short}: has 3 labels but {truth} has 8\n"


def test_evaluate_bad_file(
    tmp_path: Path, label_files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    pred, _ = label_files
    assert main(["evaluate", "--pred", str(pred), "--truth", str(tmp_path / "no.csv")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("humelabel: error: ") and "no.csv" in err


# --------------------------------------------------------------------------------------------
# python -m humelabel
# --------------------------------------------------------------------------------------------


def test_python_m_help() -> None:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "humelabel", "--help"],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage: humelabel")
    assert "fit" in proc.stdout and "evaluate" in proc.stdout


def test_demo_prints_hume_next_to_kmeans(monkeypatch, capsys):
    import humelabel.io.examples as examples

    monkeypatch.setattr(examples, "DEMO_SETTINGS", dict(iterations=2, inner_steps=2,
                                                        num_subsets=1, subset_size=200))
    assert main(["demo", "--quiet", "--device", "cpu"]) == 0
    out = capsys.readouterr().out
    for name in ("k-means on phi1", "k-means on phi2", "HUME", "ACC", "NMI", "ARI"):
        assert name in out


def test_prior_from_a_file_of_class_proportions(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--prior FILE: k proportions (.json, .npy or text), rescaled to sum 1, recorded."""
    for name, write in [("q.json", lambda p: p.write_text("[2, 1, 1]")),
                        ("q.npy", lambda p: np.save(p, np.array([2.0, 1.0, 1.0]))),
                        ("q.txt", lambda p: p.write_text("2\n1, 1\n"))]:
        path = tmp_path / name
        write(path)
        out = tmp_path / f"out-{name}"
        run_ok(fit_argv(data, out, "--quiet", "--prior", str(path)), capsys)
        params = json.loads((out / "config.json").read_text())["hyperparameters"]
        assert params["prior"] == pytest.approx([0.5, 0.25, 0.25])
    bad = {"short.json": ("[1, 1]", "gives 2 class proportions but --k is 3"),
           "neg.json": ("[1, -1, 1]", "neg.json: prior proportions must be positive"),
           "words.txt": ("a b c", "words.txt: could not convert")}
    for name, (content, expect) in bad.items():
        path = tmp_path / name
        path.write_text(content)
        out = tmp_path / "bad-out"
        assert main(fit_argv(data, out, "--prior", str(path))) == 2
        err = capsys.readouterr().err
        assert len(err.splitlines()) == 1 and expect in err, err
        assert not out.exists()
    assert main(fit_argv(data, tmp_path / "bad-out", "--prior", "dirichlet")) == 2
    assert "neither one of uniform, ratio nor a file" in capsys.readouterr().err
