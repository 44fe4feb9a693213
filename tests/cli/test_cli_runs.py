"""End-to-end tests of ``humelabel fit --seeds/--select``, ``ensemble`` and ``reliable``."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from humelabel import HUME, PRESETS
from humelabel.cli import main
from humelabel.runs.ensemble import align_labels
from humelabel.runs.seeds import parse_seeds

N, D1, D2, K = 60, 8, 12, 3
TINY = ["--iterations", "3", "--inner-steps", "3", "--num-subsets", "2", "--subset-size", "50",
        "--score-folds", "3"]


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Path]:
    """Tiny clustered data, 60 rows, 3 classes."""
    rng = np.random.default_rng(0)
    c1, c2 = rng.normal(size=(K, D1)) * 3, rng.normal(size=(K, D2)) * 3
    y = np.repeat(np.arange(K), N // K)
    arrays = {"phi1": c1[y] + rng.normal(size=(N, D1)),
              "phi2": c2[y] + rng.normal(size=(N, D2))}
    paths = {}
    for name, arr in arrays.items():
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], arr.astype(np.float32))
    paths["truth"] = tmp_path / "truth.npy"
    np.save(paths["truth"], y)
    return paths


def fit_argv(data: dict[str, Path], out: Path, *extra: str) -> list[str]:
    return ["fit", "--phi1", str(data["phi1"]), "--phi2", str(data["phi2"]), "--k", str(K),
            "--out", str(out), "--quiet", *TINY, *extra]


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    rc = main(argv)
    captured = capsys.readouterr()
    return rc, captured.out, captured.err


def run_ok(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    rc, out, err = run(argv, capsys)
    assert rc == 0, err
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.rglob(".*"))


# --------------------------------------------------------------------------------------------
# seeds
# --------------------------------------------------------------------------------------------


def test_parse_seeds() -> None:
    assert parse_seeds("0-4") == [0, 1, 2, 3, 4]
    assert parse_seeds("7,0,3,5-6") == [0, 3, 5, 6, 7]
    assert parse_seeds(" 2 ") == [2]
    for bad, message in (("", "empty"), ("1,,2", "empty"), ("a", "not a seed"),
                         ("3-1", "below its start"), ("-1", "not a seed"), ("1,1", "twice"),
                         ("0-2,2", "twice"), ("0-99999999", "more than")):
        with pytest.raises(ValueError, match=message):
            parse_seeds(bad)


# --------------------------------------------------------------------------------------------
# fit --seeds
# --------------------------------------------------------------------------------------------


def test_seeds_write_runs_and_combination(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    run_ok(fit_argv(data, out, "--seeds", "0-3", "--truth", str(data["truth"])), capsys)
    assert sorted(p.name for p in out.iterdir()) == [
        "agreement.npy", "alignment.json", "config.json", "labels.npy", "manifest.json",
        "metrics.json", "runs", "runs.csv"]
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["0", "1", "2", "3"]
    assert hidden(out) == [] and hidden(tmp_path) == []
    for seed in range(4):  # every run is a complete single-seed fit output with its score
        run_dir = out / "runs" / str(seed)
        assert {"labels.npy", "model.safetensors", "config.json", "history.jsonl",
                "metrics.json", "score.json"} <= {p.name for p in run_dir.iterdir()}
        assert json.loads((run_dir / "config.json").read_text())["seed"] == seed

    rows = read_csv(out / "runs.csv")
    assert list(rows[0]) == ["seed", "score", "reference", "agreement_with_vote", "acc", "nmi",
                             "ari", "run"]
    assert [int(r["seed"]) for r in rows] == [0, 1, 2, 3]
    scores = [float(r["score"]) for r in rows]
    reference = [int(r["reference"]) for r in rows]
    assert sum(reference) == 1 and scores[reference.index(1)] == max(scores)

    # The vote is reproducible from the runs: align to the reference, then vote.
    runs = [np.load(out / "runs" / str(s) / "labels.npy") for s in range(4)]
    ref = runs[reference.index(1)]
    aligned = np.stack([align_labels(r, ref, K) for r in runs])
    labels = np.load(out / "labels.npy")
    agreement = np.load(out / "agreement.npy")
    assert labels.dtype == np.int64 and labels.shape == (N,)
    np.testing.assert_allclose(agreement, (aligned == labels).mean(axis=0))
    counts = np.stack([(aligned == c).sum(axis=0) for c in range(K)])
    assert np.all(counts[labels, np.arange(N)] == counts.max(axis=0))

    metrics = json.loads((out / "metrics.json").read_text())
    assert {"acc", "nmi", "ari", "per_class_acc", "runs", "score_acc_spearman"} <= set(metrics)
    assert metrics["runs"]["n"] == 4
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "multi-seed" and config["seeds"] == [0, 1, 2, 3]
    assert config["reference"] == f"runs/{reference.index(1)}"


def test_seeds_inductive_vote_over_evaluation_rows(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rng = np.random.default_rng(1)
    for role, dim in (("phi1_eval", D1), ("phi2_eval", D2)):
        data[role] = tmp_path / f"{role}.npy"
        np.save(data[role], rng.normal(size=(30, dim)).astype(np.float32))
    out = tmp_path / "out"
    run_ok(fit_argv(data, out, "--seeds", "0-1", "--phi1-eval", str(data["phi1_eval"]),
                    "--phi2-eval", str(data["phi2_eval"])), capsys)
    assert np.load(out / "labels.npy").shape == (30,)
    assert np.load(out / "agreement.npy").shape == (30,)
    config = json.loads((out / "config.json").read_text())
    assert config["mode"] == "inductive" and config["score"]["data"] == "phi2_eval"


def test_resume_skips_finished_seeds(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = tmp_path / "out"
    fitted: list[int] = []
    original = HUME.fit

    def interrupted_fit(self: HUME, *args: object, **kwargs: object) -> HUME:
        if self.random_state == 2:
            raise KeyboardInterrupt
        fitted.append(int(self.random_state))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HUME, "fit", interrupted_fit)
    rc, _, err = run(fit_argv(data, out, "--seeds", "0-3"), capsys)
    assert rc == 130 and "interrupted" in err
    # Finished seeds survive; nothing half-written, no top-level files yet.
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["0", "1"]
    assert sorted(p.name for p in out.iterdir()) == ["runs"]
    assert hidden(tmp_path) == []
    mtimes = {s: (out / "runs" / s / "labels.npy").stat().st_mtime_ns for s in ("0", "1")}

    monkeypatch.setattr(HUME, "fit", original)
    fitted.clear()

    def counting_fit(self: HUME, *args: object, **kwargs: object) -> HUME:
        fitted.append(int(self.random_state))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(HUME, "fit", counting_fit)
    run_ok(fit_argv(data, out, "--seeds", "0-3"), capsys)
    assert fitted == [2, 3]
    assert {s: (out / "runs" / s / "labels.npy").stat().st_mtime_ns
            for s in ("0", "1")} == mtimes
    assert (out / "config.json").exists()

    # Again, with more seeds: only the new one is fitted; the old top level is replaced.
    fitted.clear()
    run_ok(fit_argv(data, out, "--seeds", "0-4"), capsys)
    assert fitted == [4]
    assert json.loads((out / "config.json").read_text())["seeds"] == [0, 1, 2, 3, 4]
    assert len(read_csv(out / "runs.csv")) == 5


def test_resume_refuses_other_settings_unless_overwrite(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    run_ok(fit_argv(data, out, "--seeds", "0-1"), capsys)
    before = (out / "labels.npy").read_bytes()
    rc, stdout, err = run(fit_argv(data, out, "--seeds", "0-1", "--tau", "0.2"), capsys)
    assert rc == 2 and stdout == ""
    assert err.count("\n") == 1 and "runs/0: was made with other settings" in err
    assert f"tau {PRESETS['fast']['tau']} != 0.2" in err
    assert (out / "labels.npy").read_bytes() == before
    run_ok(fit_argv(data, out, "--seeds", "0-1", "--tau", "0.2", "--overwrite"), capsys)
    config = json.loads((out / "runs" / "0" / "config.json").read_text())
    assert config["hyperparameters"]["tau"] == 0.2

    # A run whose recorded hyperparameters differ (e.g. made before a preset changed).
    config_path = out / "runs" / "1" / "config.json"
    config = json.loads(config_path.read_text())
    config["hyperparameters"]["inner_lr"] = 0.5
    config_path.write_text(json.dumps(config))
    rc, _, err = run(fit_argv(data, out, "--seeds", "0-1", "--tau", "0.2"), capsys)
    assert rc == 2 and "runs/1: was made with other settings (hyperparameters.inner_lr" in err


def test_jobs_two_gives_the_same_result_as_one(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    truth = ["--truth", str(data["truth"])]
    run_ok(fit_argv(data, tmp_path / "one", "--seeds", "0-2", *truth), capsys)
    run_ok(fit_argv(data, tmp_path / "two", "--seeds", "0-2", "--jobs", "2", *truth), capsys)
    for name in ("labels.npy", "agreement.npy", "runs.csv", "metrics.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()
    for seed in range(3):
        one, two = (tmp_path / which / "runs" / str(seed) for which in ("one", "two"))
        for name in ("labels.npy", "score.json"):
            assert (one / name).read_bytes() == (two / name).read_bytes()
        # safetensors headers may list entries in another order: compare the tensors.
        model_one, model_two = load_file(one / "model.safetensors"), load_file(
            two / "model.safetensors")
        assert set(model_one) == set(model_two)
        for key, value in model_one.items():
            np.testing.assert_array_equal(value, model_two[key])


def test_select_writes_grid_and_picks_best_score(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    stdout = run_ok(fit_argv(data, out, "--select", "--select-tau", "0.1,0.3",
                             "--select-entropy-weight", "10", "--select-outer-lr", "0.001,0.01",
                             "--truth", str(data["truth"])), capsys)
    assert stdout == ""
    rows = read_csv(out / "select.csv")
    assert len(rows) == 4
    assert list(rows[0])[:8] == ["config", "tau", "entropy_weight", "outer_lr", "runs", "score",
                                 "eligible", "selected"]
    chosen = [r for r in rows if r["selected"] == "1"]
    assert len(chosen) == 1
    assert float(chosen[0]["score"]) == max(float(r["score"]) for r in rows)
    assert (out / "grid" / chosen[0]["config"] / "runs" / "0" / "labels.npy").exists()
    config = json.loads((out / "config.json").read_text())
    assert config["kind"] == "select" and config["selected"]["config"] == chosen[0]["config"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["select"]["configs"] == 4
    np.testing.assert_array_equal(
        np.load(out / "labels.npy"),
        np.load(out / "grid" / chosen[0]["config"] / "runs" / "0" / "labels.npy"))


# --------------------------------------------------------------------------------------------
# ensemble and reliable
# --------------------------------------------------------------------------------------------


def test_ensemble_of_earlier_runs_matches_fit_seeds(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    multi = tmp_path / "multi"
    run_ok(fit_argv(data, multi, "--seeds", "0-2"), capsys)
    single = tmp_path / "single"
    run_ok(fit_argv(data, single, "--seed", "5"), capsys)
    out = tmp_path / "ens"
    stdout = run_ok(["ensemble", str(multi), str(single), "--phi2", str(data["phi2"]),
                     "--out", str(out), "--truth", str(data["truth"]), "--score-folds", "3"],
                    capsys)
    assert stdout.startswith(f"wrote {out}\n4 runs")
    rows = read_csv(out / "runs.csv")
    assert [r["seed"] for r in rows] == ["0", "1", "2", "5"]
    assert sorted(p.name for p in out.iterdir()) == [
        "agreement.npy", "alignment.json", "config.json", "labels.npy", "manifest.json",
        "metrics.json", "runs.csv"]

    # Only the runs of the multi-seed directory: same result as fit --seeds wrote.
    out2 = tmp_path / "ens2"
    run_ok(["ensemble", str(multi), "--phi2", str(data["phi2"]), "--out", str(out2),
            "--score-folds", "3", "--quiet"], capsys)
    for name in ("labels.npy", "agreement.npy"):
        assert (out2 / name).read_bytes() == (multi / name).read_bytes()
    assert ([r["score"] for r in read_csv(out2 / "runs.csv")]
            == [r["score"] for r in read_csv(multi / "runs.csv")])


def test_reliable_csv(
    data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    multi = tmp_path / "multi"
    run_ok(fit_argv(data, multi, "--seeds", "0-2"), capsys)
    stdout = run_ok(["reliable", "--runs", str(multi), "--phi", str(data["phi2"]),
                     "--per-class", "3", "--neighbors", "5", "--truth", str(data["truth"])],
                    capsys)
    rows = read_csv(multi / "reliable.csv")
    assert list(rows[0]) == ["index", "label", "run_agreement", "neighbor_agreement",
                             "confidence"]
    labels = np.load(multi / "labels.npy")
    summary = json.loads((multi / "reliable.json").read_text())
    assert len(summary["counts"]) == K
    for c in range(K):
        chosen = [r for r in rows if int(r["label"]) == c]
        assert len(chosen) == summary["counts"][c] <= 3
    for r in rows:
        assert labels[int(r["index"])] == int(r["label"])
        assert float(r["run_agreement"]) > 0.5 and float(r["neighbor_agreement"]) > 0.5
    assert 0 <= summary["accuracy"] <= 1 and summary["n"] == len(rows)
    assert f"accuracy {summary['accuracy']:.4f}" in stdout
    rc, _, err = run(["reliable", "--runs", str(multi), "--phi", str(data["phi2"]),
                      "--per-class", "3"], capsys)
    assert rc == 2 and "reliable.csv: exists (use --overwrite)" in err
    # The confidence over both spaces: same eligible points, each row's confidence in (0, 1].
    both = multi / "both.csv"
    run_ok(["reliable", "--runs", str(multi), "--phi", str(data["phi2"]), "--per-class", "3",
            "--neighbors", "5", "--confidence-spaces", str(data["phi1"]), str(data["phi2"]),
            "--out", str(both), "--quiet"], capsys)
    assert all(0 < float(r["confidence"]) <= 1 for r in read_csv(both))
    assert (json.loads(both.with_suffix(".json").read_text())["eligible"]
            == summary["eligible"])
    assert all(r["confidence"] == "" for r in rows)  # without --confidence-spaces
    short = multi / "short.npy"
    np.save(short, np.zeros((10, 3), dtype=np.float32))
    rc, _, err = run(["reliable", "--runs", str(multi), "--phi", str(data["phi2"]),
                      "--per-class", "3", "--confidence-spaces", str(short),
                      "--out", str(multi / "y.csv")], capsys)
    assert rc == 2 and "short.npy" in err and err.count("\n") == 1
    assert not (multi / "y.csv").exists()


def test_reliable_accuracy_on_a_synthetic_combination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Hand-made combined runs: well-separated classes, 10% of the points mislabeled with low
    run agreement; every reliable point is right."""
    rng = np.random.default_rng(0)
    truth = np.repeat(np.arange(4), 50)
    x = np.eye(6)[truth] * 8 + rng.normal(size=(200, 6))
    labels = truth.copy()
    wrong = rng.choice(200, 20, replace=False)
    labels[wrong] = (labels[wrong] + 1) % 4
    agreement = np.where(np.isin(np.arange(200), wrong), 0.55, 0.95)
    runs = tmp_path / "runs"
    runs.mkdir()
    np.save(runs / "labels.npy", labels)
    np.save(runs / "agreement.npy", agreement)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "truth.npy", truth)
    out = tmp_path / "picked.csv"
    run_ok(["reliable", "--runs", str(runs), "--phi", str(tmp_path / "x.npy"), "--per-class",
            "10", "--truth", str(tmp_path / "truth.npy"), "--out", str(out), "--quiet"], capsys)
    rows = read_csv(out)
    assert len(rows) == 40
    assert all(int(r["index"]) not in wrong for r in rows)
    assert json.loads(out.with_suffix(".json").read_text())["accuracy"] == 1.0


# --------------------------------------------------------------------------------------------
# errors: one line, exit 2, nothing written
# --------------------------------------------------------------------------------------------


def test_errors(data: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    multi = tmp_path / "multi"
    run_ok(fit_argv(data, multi, "--seeds", "0-1"), capsys)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    short = tmp_path / "short.npy"
    np.save(short, np.zeros((10, D2), dtype=np.float32))
    bad_labels = tmp_path / "bad_run"
    bad_labels.mkdir()
    np.save(bad_labels / "labels.npy", np.full(N, 7))
    cases = [
        (fit_argv(data, out, "--seeds", "3-1"), "--seeds 3-1: '3-1': range end is below"),
        (fit_argv(data, out, "--seeds", "0-2", "--seed", "4"), "--seed and --seeds"),
        (fit_argv(data, out, "--seeds", "0-2", "--jobs", "0"), "--jobs 0: must be at least 1"),
        (fit_argv(data, out, "--seeds", "0-2", "--score-folds", "1"), "--score-folds 1"),
        (fit_argv(data, out, "--select", "--select-tau", "0.1,x"), "'x' is not a number"),
        (fit_argv(data, other, "--seeds", "0-1"), "holds no runs/"),
        (["ensemble", str(multi), "--phi2", str(short), "--out", str(out)],
         "labels.npy: has 60 labels, expected 10"),
        (["ensemble", str(tmp_path / "nope"), "--phi2", str(data["phi2"]), "--out", str(out)],
         "nope: not found"),
        (["ensemble", str(bad_labels), "--phi2", str(data["phi2"]), "--out", str(out),
          "--k", "3"], "has labels outside 0..2"),
        (["ensemble", str(multi), str(multi / "runs" / "0"), "--phi2", str(data["phi2"]),
          "--out", str(out)], "given twice"),
        (["reliable", "--runs", str(other), "--phi", str(data["phi2"]), "--per-class", "2"],
         "has no labels.npy"),
        (["reliable", "--runs", str(multi), "--phi", str(short), "--per-class", "2"],
         "has 10 rows but"),
        (["reliable", "--runs", str(multi), "--phi", str(data["phi2"]), "--per-class", "0"],
         "--per-class 0: must be at least 1"),
        (["reliable", "--runs", str(multi), "--phi", str(data["phi2"]), "--per-class", "2",
          "--neighbors", "60"], "must be below the number of rows"),
    ]
    for argv, message in cases:
        rc, stdout, err = run(argv, capsys)
        assert rc == 2, (argv, err)
        assert stdout == ""
        assert err.startswith("humelabel: error: ") and err.count("\n") == 1, err
        assert message in err, (message, err)
        assert not out.exists()
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]
    assert not (multi / "reliable.csv").exists()
