"""End-to-end tests of ``humelabel embed text|images`` and ``humelabel run``."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
from embed_helpers import (
    TEXT,
    cifar_folder,
    minilm_path,
    mnist_folder,
    need,
    tiny_clip,
    tiny_dinov2,
)

from humelabel.analysis.metrics import evaluate
from humelabel.cli import main
from humelabel.cli.run_options import jobs_value, resolve_jobs
from humelabel.embed import images as images_mod
from humelabel.embed.store import partial_dir
from humelabel.estimator import describe_init
from humelabel.io import load_matrix
from humelabel.runs.model import load_model
from humelabel.runs.refine import refine_labels


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = 0
            ) -> tuple[str, str]:
    """main(argv), assert the exit code, return (stdout, stderr)."""
    rc = main([str(a) for a in argv])
    captured = capsys.readouterr()
    assert rc == code, captured.err
    return captured.out, captured.err


def error_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one-line error of a failing command (exit 2)."""
    _, err = run_cli(argv, capsys, code=2)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("humelabel: error: ")
    return lines[0][len("humelabel: error: "):]


def trec_rows(tmp_path: Path, n: int) -> tuple[Path, Path]:
    """First n rows of the shared TREC data: (data.jsonl, labels.npy)."""
    lines = need(TEXT / "trec" / "data.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    data = tmp_path / "trec.jsonl"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    labels = tmp_path / "labels.npy"
    np.save(labels, np.load(TEXT / "trec" / "labels.npy")[:n])
    return data, labels


@pytest.fixture
def text_inputs(tmp_path: Path) -> dict[str, Path]:
    data, _ = trec_rows(tmp_path, 60)
    records = [json.loads(line) for line in data.read_text().splitlines()]
    txt = tmp_path / "texts.txt"
    txt.write_text("\n".join(r["text"] for r in records) + "\n")
    csv = tmp_path / "texts.csv"
    import csv as csv_mod

    with open(csv, "w", newline="", encoding="utf-8") as fh:
        writer = csv_mod.writer(fh)
        writer.writerow(["question", "coarse"])
        writer.writerows([r["text"], r["label"]] for r in records)
    return {"txt": txt, "csv": csv, "jsonl": data}


# --------------------------------------------------------------------------------------------
# embed text
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["txt", "csv", "jsonl"])
def test_embed_text_tfidf_every_format(text_inputs: dict[str, Path], tmp_path: Path, fmt: str,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / f"{fmt}.npy"
    argv = ["embed", "text", "--input", text_inputs[fmt], "--model", "tfidf", "--out", out,
            "--dim", "16", "--min-df", "1"]
    if fmt == "csv":
        argv += ["--column", "question"]
    stdout, _ = run_cli(argv, capsys)
    assert stdout.startswith(f"wrote {out} (60 x 16, float32, normalization l2)")
    meta = json.loads((tmp_path / f"{fmt}.meta.json").read_text())
    assert meta["input"]["format"] == fmt and meta["n"] == 60


def test_embed_text_same_rows_from_every_format(text_inputs: dict[str, Path], tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    matrices, checksums = [], []
    for fmt, path in text_inputs.items():
        out = tmp_path / f"{fmt}.npy"
        extra = ["--column", "question"] if fmt == "csv" else []
        run_cli(["embed", "text", "--input", path, "--model", "tfidf", "--out", out, "--quiet",
                 "--dim", "8", *extra], capsys)
        matrices.append(np.load(out))
        checksums.append(json.loads((tmp_path / f"{fmt}.meta.json").read_text())["checksum"])
    assert len(set(checksums)) == 1
    for m in matrices[1:]:
        np.testing.assert_array_equal(m, matrices[0])


def test_embed_text_minilm_from_csv(text_inputs: dict[str, Path], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    minilm_path()
    out = tmp_path / "m.npy"
    stdout, stderr = run_cli(["embed", "text", "--input", text_inputs["csv"], "--column",
                              "question", "--model", "minilm", "--out", out, "--device", "cpu",
                              "--batch-size", "16"], capsys)
    x = np.load(out)
    assert x.shape == (60, 384)
    reference = np.load(TEXT / "trec" / "minilm.npy", mmap_mode="r")[:60].astype(np.float32)
    assert np.abs(x - reference).max() < 2e-3
    assert "embed minilm" in stderr  # progress bar
    assert "normalization l2 (model)" in stdout


def test_embed_text_errors(text_inputs: dict[str, Path], tmp_path: Path,
                           capsys: pytest.CaptureFixture[str]) -> None:
    base = ["embed", "text", "--input", text_inputs["txt"], "--model", "tfidf"]
    assert error_line(base + ["--out", tmp_path / "x.txt"], capsys) == (
        f"{tmp_path / 'x.txt'}: output must be a .npy file")
    (tmp_path / "exists.npy").write_bytes(b"")
    assert error_line(base + ["--out", tmp_path / "exists.npy"], capsys) == (
        f"{tmp_path / 'exists.npy'}: exists (use --overwrite)")
    missing = tmp_path / "missing.jsonl"
    assert error_line(["embed", "text", "--input", missing, "--model", "tfidf", "--out",
                       tmp_path / "y.npy"], capsys) == f"{missing}: file not found"
    assert "has no column 'nope'" in error_line(
        ["embed", "text", "--input", text_inputs["csv"], "--column", "nope", "--model", "tfidf",
         "--out", tmp_path / "y.npy"], capsys)
    assert not (tmp_path / "y.npy").exists()


def test_embed_text_model_not_offline_and_missing_extra(
    text_inputs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    pytest.importorskip("sentence_transformers")
    out = tmp_path / "x.npy"
    message = error_line(["embed", "text", "--input", text_inputs["txt"], "--model",
                          "someone/not-a-cached-model", "--out", out, "--device", "cpu"], capsys)
    assert message.startswith("--model someone/not-a-cached-model: model "
                              "'someone/not-a-cached-model' is not available offline")
    assert not out.exists() and not partial_dir(out).exists()
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    message = error_line(["embed", "text", "--input", text_inputs["txt"], "--model", "mpnet",
                          "--out", out], capsys)
    assert message == ('--model mpnet: needs the optional package sentence-transformers, which '
                       'is not installed (pip install "humelabel[text]")')


# --------------------------------------------------------------------------------------------
# embed images
# --------------------------------------------------------------------------------------------


def test_embed_images_folder_and_list(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                      ) -> None:
    folder, _ = mnist_folder(tmp_path / "mnist", n=10)
    model = tiny_dinov2(tmp_path / "dino")
    out = tmp_path / "dino.npy"
    stdout, _ = run_cli(["embed", "images", "--input", folder, "--model", f"hf:{model}",
                         "--out", out, "--batch-size", "4", "--device", "cpu"], capsys)
    assert stdout.startswith(f"wrote {out} (10 x 32, float32")
    listing = tmp_path / "list.txt"
    listing.write_text("".join(f"mnist/{i:05d}.png\n" for i in range(10)))
    out2 = tmp_path / "dino_list.npy"
    run_cli(["embed", "images", "--input", listing, "--model", f"hf:{model}", "--out", out2,
             "--quiet", "--dtype", "float16"], capsys)
    a, b = np.load(out), np.load(out2)
    assert b.dtype == np.float16
    np.testing.assert_allclose(a, b.astype(np.float32), atol=2e-3 * np.abs(a).max())


def test_embed_images_interrupt_then_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C exits 130 and keeps the finished shards; the same command then resumes."""
    folder, _ = mnist_folder(tmp_path / "mnist", n=12)
    model = tiny_dinov2(tmp_path / "dino")
    out = tmp_path / "x.npy"
    argv = ["embed", "images", "--input", folder, "--model", f"hf:{model}", "--out", out,
            "--batch-size", "2", "--shard-size", "4"]
    real_open = images_mod.open_rgb
    opened: list[str] = []

    def interrupting(path: str):
        opened.append(path)
        if len(opened) == 9:  # the first image of the third shard
            raise KeyboardInterrupt
        return real_open(path)

    monkeypatch.setattr(images_mod, "open_rgb", interrupting)
    _, err = run_cli(argv, capsys, code=130)
    assert "interrupted" in err
    assert not out.exists()
    assert len(list(partial_dir(out).glob("shard-*.npy"))) == 2
    monkeypatch.setattr(images_mod, "open_rgb", real_open)
    stdout, _ = run_cli(argv, capsys)
    assert "resumed 8 finished rows" in stdout
    assert np.load(out).shape == (12, 32) and not partial_dir(out).exists()


def test_embed_images_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    folder, _ = mnist_folder(tmp_path / "mnist", n=3)
    out = tmp_path / "x.npy"
    base = ["embed", "images", "--input", folder, "--out", out]
    message = error_line(base + ["--model", "facebook/dinov2-small"], capsys)
    assert message.startswith("--model facebook/dinov2-small: model 'facebook/dinov2-small' is "
                              "not available offline")
    assert error_line(base + ["--model", "tfidf"], capsys) == (
        "--model tfidf: TF-IDF is a text space, not an image model")
    assert error_line(base + ["--model", "timm:resnet18", "--device", "cuda:7"],
                      capsys).startswith("--device cuda:7: ")
    monkeypatch.setitem(sys.modules, "timm", None)
    assert error_line(base + ["--model", "timm:resnet18"], capsys) == (
        '--model timm:resnet18: needs the optional package timm, which is not installed '
        '(pip install "humelabel[timm]")')
    (tmp_path / "empty").mkdir()
    assert "contains no image files" in error_line(
        ["embed", "images", "--input", tmp_path / "empty", "--model", "x", "--out", out], capsys)
    assert not out.exists()


# --------------------------------------------------------------------------------------------
# run
# --------------------------------------------------------------------------------------------


def test_run_text_end_to_end_with_cache(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                        ) -> None:
    minilm_path()
    data, labels = trec_rows(tmp_path, 300)
    names = need(TEXT / "trec" / "classes.json")
    out = tmp_path / "run"
    cache = tmp_path / "cache"
    argv = ["run", "--input", data, "--k", "6", "--spaces", "minilm", "tfidf", "--out", out,
            "--truth", labels, "--class-names", names, "--cache-dir", cache, "--device", "cpu",
            "--tfidf-dim", "64", "--top", "5"]
    stdout, stderr = run_cli(argv, capsys)
    # Texts are refined by default: refined.npy, and the metrics and report are about it.
    assert sorted(p.name for p in out.iterdir()) == [
        "agreement.npy", "alignment.json", "clusters.json", "config.json", "grid",
        "labels.npy", "manifest.json", "metrics.json", "refined.npy", "report.html",
        "report.md", "runs.csv", "select.csv"]
    # --tau-end auto, --graph, --ratio and --continuation (the defaults): one run with the
    # schedule, one with phi1's graph view, one with the ratio prior and one continued from
    # the better-scoring of the first two with the ratio prior and a size floor; the one the
    # learnability score prefers (the continuation less its margin) among those without a
    # nearly empty cluster is the result (select.csv says which).
    configs = ["tauend0.1", "tauendnone_graph30", "tauendnone_priorratio",
               "tauendnone_priorratio_floor0.2_initpick"]
    assert sorted(p.name for p in (out / "grid").iterdir()) == sorted(configs)
    assert all(sorted(p.name for p in (out / "grid" / c / "runs").iterdir()) == ["0"]
               for c in configs)
    rows = list(csv.DictReader((out / "select.csv").read_text().splitlines()))
    assert [r["config"] for r in rows] == configs
    assert [r["graph_neighbors"] for r in rows] == ["", "30", "", ""]
    assert [r["prior"] for r in rows] == ["", "", "ratio", "ratio"]
    assert [float(r["margin"]) for r in rows] == [0, 0, 0, 0.03]
    assert sum(int(r["selected"]) for r in rows) == 1
    chosen = next(r for r in rows if r["selected"] == "1")
    # The ratio runs compete only without a nearly empty cluster.
    admitted = [r for r in rows if r["eligible"] == "1" or r["prior"] != "ratio"]
    assert float(chosen["score"]) - float(chosen["margin"]) == max(
        float(r["score"]) - float(r["margin"]) for r in admitted)
    # The continuation started from the better-scoring uniform-prior run.
    start = max(rows[:2], key=lambda r: float(r["score"]))["config"]
    cont = json.loads((out / "grid" / configs[3] / "runs" / "0" / "config.json").read_text())
    assert cont["hyperparameters"]["init"] == describe_init(
        np.load(out / "grid" / start / "runs" / "0" / "labels.npy"))
    assert cont["hyperparameters"]["size_floor"] == 0.2
    candidates = json.loads((out / "config.json").read_text())["fit"]["candidates"]
    assert candidates["selected"] == chosen["config"]
    assert candidates["picks"] == {"0": chosen["config"]}
    graph_run = json.loads((out / "grid" / "tauendnone_graph30" / "runs" / "0" /
                            "config.json").read_text())
    assert graph_run["hyperparameters"]["graph_neighbors"] == 30
    ratio_run = json.loads((out / "grid" / "tauendnone_priorratio" / "runs" / "0" /
                            "config.json").read_text())
    assert ratio_run["hyperparameters"]["prior"] == "ratio"
    history = [json.loads(line) for line in (out / "grid" / "tauend0.1" / "runs" / "0" /
                                             "history.jsonl").read_text().splitlines()]
    assert history[-1]["tau"] == pytest.approx(0.1)
    found = np.load(out / "refined.npy")
    assert found.shape == (300,) and found.dtype == np.int64
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["acc"] == pytest.approx(evaluate(np.load(labels), found)["acc"])
    assert metrics["acc"] > 0.3  # 6 classes; the largest holds 23% of these rows
    lines = stdout.splitlines()
    assert lines[0] == f"wrote {out}" and lines[2].startswith("ACC ")
    assert lines[-1] == f"report: {out / 'report.html'}"
    config = json.loads((out / "config.json").read_text())
    assert [s["model"] for s in config["spaces"]] == ["minilm", "tfidf"]
    assert [s["cached"] for s in config["spaces"]] == [False, False]
    assert config["spaces"][1]["dimension"] == 64 and config["modality"] == "text"
    assert config["fit"]["preset"] in ("fast", "paper")
    clusters = json.loads((out / "clusters.json").read_text())
    assert len(clusters) == 6 and sum(c["size"] for c in clusters) == 300
    texts = [json.loads(line)["text"] for line in data.read_text().splitlines()]
    for c in clusters:
        assert len(c["typical"]) == min(5, c["size"])
        assert c["typical_items"] == [texts[i] for i in c["typical"]]
        assert all(found[i] == c["cluster"] for i in c["typical"])
    report = (out / "report.md").read_text()
    assert "ACC" in report and any(name in report for name in ("LOC", "HUM", "NUM"))
    assert "phi1: embedding 300 texts with minilm" in stderr

    # Second run without --spaces: the text default is minilm tfidf, so both embeddings come
    # from the cache and the labels are the same with the same seed.
    out2 = tmp_path / "run2"
    default_spaces = [a for a in argv if a not in ("--spaces", "minilm", "tfidf")]
    _, stderr = run_cli([out2 if a == out else a for a in default_spaces], capsys)
    assert stderr.count("from cache") == 2
    config2 = json.loads((out2 / "config.json").read_text())
    assert [s["cached"] for s in config2["spaces"]] == [True, True]
    np.testing.assert_array_equal(np.load(out2 / "refined.npy"), found)

    # --no-refine: the combination is the result; no refined.npy.
    out3 = tmp_path / "run3"
    run_cli([out3 if a == out else a for a in argv] + ["--no-refine", "--quiet"], capsys)
    assert not (out3 / "refined.npy").exists()
    assert json.loads((out3 / "config.json").read_text())["refined"] is False
    np.testing.assert_array_equal(np.load(out3 / "labels.npy"), np.load(out / "labels.npy"))


def test_run_k_auto_writes_the_selection(tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    minilm_path()
    data, _ = trec_rows(tmp_path, 120)
    out = tmp_path / "run"
    run_cli(["run", "--input", data, "--k", "auto", "--k-range", "2-4", "--spaces", "tfidf",
             "minilm", "--out", out, "--cache-dir", tmp_path / "cache", "--quiet",
             "--tfidf-dim", "32", "--device", "cpu"], capsys)
    config = json.loads((out / "config.json").read_text())
    chosen = config["k_selection"]["k"]
    assert config["k"] == chosen and 2 <= chosen <= 4
    assert int(np.load(out / "labels.npy").max()) < chosen
    rows = (out / "k_selection.csv").read_text().splitlines()
    assert rows[0].startswith("k,stage,") and len(rows) >= 1 + 3  # header, k = 2, 3, 4
    assert (out / "k_selection.png").is_file()


def test_run_truth_column_and_seeds(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, labels = trec_rows(tmp_path, 120)
    out = tmp_path / "run"
    argv = ["run", "--input", data, "--k", "3", "--spaces", "tfidf", "minilm", "--out", out,
            "--truth-column", "label", "--cache-dir", tmp_path / "cache", "--quiet",
            "--tfidf-dim", "32", "--seeds", "2-3", "--tau-end", "none", "--no-graph",
            "--no-ratio", "--no-continuation"]
    minilm_path()
    run_cli(argv, capsys)
    config = json.loads((out / "config.json").read_text())
    fit = config["fit"]
    assert fit["seeds_requested"] == fit["seeds"] == [2, 3]
    assert "majority vote" in fit["combination"]
    assert len(fit["generalization_scores"]) == 2
    assert sorted(p.name for p in (out / "runs").iterdir()) == ["2", "3"]
    # predict --model on the run's folder labels the same rows like the combination
    phi1 = load_matrix(config["spaces"][0]["file"])
    np.testing.assert_array_equal(load_model(out).predict(phi1), np.load(out / "labels.npy"))

    # Run again: the seeds' runs are reused, the labels are the same.
    before = np.load(out / "labels.npy")
    run_cli(argv, capsys)
    assert all(r["reused"] for r in json.loads((out / "config.json").read_text())["fit"]["runs"])
    np.testing.assert_array_equal(np.load(out / "labels.npy"), before)
    clusters = json.loads((out / "clusters.json").read_text())
    names = {c["name"] for cl in clusters for c in cl.get("top_classes", [])}
    assert names <= {"ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"} and names
    assert json.loads((out / "metrics.json").read_text())["n"] == 120

    # --refine: the seeds are reused; refined.npy is the cross-fitted relabeling of the vote
    # over both spaces (humelabel.runs.refine), metrics and report are about it.
    run_cli([*argv, "--refine", "--overwrite"], capsys)
    refined = np.load(out / "refined.npy")
    spaces = [load_matrix(s["file"]) for s in config["spaces"]]
    np.testing.assert_array_equal(refined, refine_labels(spaces, np.load(out / "labels.npy")))
    np.testing.assert_array_equal(np.load(out / "labels.npy"), before)
    assert json.loads((out / "config.json").read_text())["refined"] is True

    # --reliable N: reliable.csv of the combination, the same rows as humelabel reliable with
    # phi1's neighbours and both spaces' confidence writes; reliable.json has the accuracy.
    run_cli([*argv, "--reliable", "3", "--overwrite"], capsys)
    files = [s["file"] for s in config["spaces"]]
    run_cli(["reliable", "--runs", out, "--phi", files[0], "--per-class", "3",
             "--confidence-spaces", *files, "--out", tmp_path / "rel.csv"], capsys)
    assert (out / "reliable.csv").read_text() == (tmp_path / "rel.csv").read_text()
    summary = json.loads((out / "reliable.json").read_text())
    assert summary["n"] == len((out / "reliable.csv").read_text().splitlines()) - 1 <= 9
    assert 0 <= summary["accuracy"] <= 1
    assert summary["candidate_agreement"] is None
    np.testing.assert_array_equal(np.load(out / "labels.npy"), before)
    # --reliable-min-agreement X: only points that X of every fitted run (here the two
    # seeds' runs) give their label; the same points as without where both runs agree.
    run_cli([*argv, "--reliable", "3", "--reliable-min-agreement", "0.9", "--overwrite"],
            capsys)
    strict = json.loads((out / "reliable.json").read_text())
    assert strict["candidate_agreement"] == {"runs": 2, "min": 0.9}
    assert strict["n"] <= summary["n"]
    _, err = run_cli([*argv, "--reliable", "3", "--reliable-min-agreement", "1.5"], capsys,
                     code=2)
    assert "must be in (0, 1]" in err
    _, err = run_cli([*argv, "--reliable-min-agreement", "0.9"], capsys, code=2)
    assert "needs --reliable" in err

    # --tau-end: the opt-in schedule reaches every run (recorded) and ends at that tau.
    run_cli([*argv, "--tau-end", "0.1", "--overwrite"], capsys)
    config = json.loads((out / "config.json").read_text())
    assert config["fit"]["overrides"] == {"tau_end": 0.1}
    assert not any(r["reused"] for r in config["fit"]["runs"])
    history = [json.loads(line) for line in
               (out / "runs" / "2" / "history.jsonl").read_text().splitlines()]
    assert history[-1]["tau"] == pytest.approx(0.1)


def test_run_auto_schedule_with_seeds(tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    # --tau-end auto with several seeds: per seed the candidate the learnability score
    # prefers, those picks voted around the most central one, and predict --model
    # reproduces the vote.
    data, _ = trec_rows(tmp_path, 120)
    out = tmp_path / "run"
    minilm_path()
    argv = ["run", "--input", data, "--k", "3", "--spaces", "tfidf", "minilm", "--cache-dir",
            tmp_path / "cache", "--quiet", "--tfidf-dim", "32", "--seeds", "0-1", "--no-refine",
            "--device", "cpu"]
    run_cli([*argv, "--out", out, "--jobs", "2"], capsys)
    rows = list(csv.DictReader((out / "select.csv").read_text().splitlines()))
    configs = ["tauend0.1", "tauendnone_graph30", "tauendnone_priorratio",
               "tauendnone_priorratio_floor0.2_initpick"]
    assert [(r["config"], r["seed"], r["runs"]) for r in rows] == [
        (c, s, "1") for s in ("0", "1") for c in configs]
    config = json.loads((out / "config.json").read_text())
    picks = config["fit"]["candidates"]["picks"]
    assert picks == {r["seed"]: r["config"] for r in rows if r["selected"] == "1"}
    assert [r["run"] for r in config["fit"]["runs"]] == [f"grid/{picks[s]}/runs/{s}"
                                                         for s in ("0", "1")]
    # The vote's reference is ranked by agreement with the other pick (with two: equal) and
    # the learnability score, not by a generalization score.
    assert config["fit"]["generalization_scores"] == [None, None]
    scores = [float(r["score"]) for r in rows if r["selected"] == "1"]
    assert config["fit"]["reference_seed_index"] == int(np.argmax(scores))
    phi1 = load_matrix(config["spaces"][0]["file"])
    np.testing.assert_array_equal(load_model(out).predict(phi1), np.load(out / "labels.npy"))
    # The eight runs fitted in two processes give the labels of one process.
    run_cli([*argv, "--out", tmp_path / "one", "--jobs", "1"], capsys)
    np.testing.assert_array_equal(np.load(tmp_path / "one" / "labels.npy"),
                                  np.load(out / "labels.npy"))
    assert (tmp_path / "one" / "select.csv").read_text() == (out / "select.csv").read_text()


def test_run_candidates_off_and_too_few_rows(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    # Under GRAPH_MIN_ROWS rows the graph candidate is left out, and run says so once;
    # --no-graph leaves it out silently. Either way the schedule, the ratio prior and the
    # continuation remain; --no-ratio and --no-continuation leave out the last two, and the
    # constant-tau fit the continuation replaced comes back.
    data, _ = trec_rows(tmp_path, 100)
    minilm_path()
    argv = ["run", "--input", data, "--k", "3", "--spaces", "minilm", "tfidf", "--cache-dir",
            tmp_path / "cache", "--tfidf-dim", "32", "--no-refine", "--device", "cpu"]
    out, err = run_cli([*argv, "--out", tmp_path / "few"], capsys)
    assert "no graph candidate: 100 rows, outside 120-200000" in out + err
    rows = list(csv.DictReader((tmp_path / "few" / "select.csv").read_text().splitlines()))
    assert [r["config"] for r in rows] == ["tauend0.1", "tauendnone_priorratio",
                                           "tauendnone_priorratio_floor0.2_initpick"]
    out, err = run_cli([*argv, "--out", tmp_path / "off", "--no-graph"], capsys)
    assert "no graph candidate" not in out + err
    assert (tmp_path / "off" / "select.csv").read_text() == (
        tmp_path / "few" / "select.csv").read_text()
    run_cli([*argv, "--out", tmp_path / "two", "--no-graph", "--no-ratio", "--no-continuation"],
            capsys)
    rows = list(csv.DictReader((tmp_path / "two" / "select.csv").read_text().splitlines()))
    assert [r["config"] for r in rows] == ["tauendnone", "tauend0.1"]


def test_run_jobs_default() -> None:
    # auto: 2 processes on a CPU with 2 or more cores (the two tau candidates side by side),
    # 1 on an accelerator or an unusable device; a number is taken as given.
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    assert resolve_jobs("auto", "cpu") == min(2, cores)
    assert resolve_jobs(3, "cpu") == 3
    assert resolve_jobs("auto", "no_such_device") == 1
    assert jobs_value("AUTO") == "auto" and jobs_value("4") == 4


def test_run_images_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = cifar_folder(tmp_path / "cifar", per_class=6, classes=3)
    dino, clip = tiny_dinov2(tmp_path / "dino"), tiny_clip(tmp_path / "clip")
    names = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.jpg"))
    classes = sorted({n.split("/")[1] for n in names})
    truth = tmp_path / "truth.txt"
    truth.write_text("".join(f"{classes.index(n.split('/')[1])}\n" for n in names))
    out = tmp_path / "run"
    run_cli(["run", "--input", folder, "--k", "3", "--spaces", f"hf:{dino}", f"hf:{clip}",
             "--out", out, "--truth", truth, "--cache-dir", tmp_path / "cache", "--quiet",
             "--top", "4", "--batch-size", "5"], capsys)
    config = json.loads((out / "config.json").read_text())
    assert config["modality"] == "images" and config["input"]["n"] == 18
    page = (out / "report.html").read_text()
    assert page.count('<section class="cluster"') == 3
    clusters = json.loads((out / "clusters.json").read_text())
    n_images = sum(len(c["typical"]) for c in clusters)
    assert page.count("data:image/png;base64,") == n_images > 0
    assert all(item.startswith("test/") for c in clusters for item in c["typical_items"])


def test_run_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, labels = trec_rows(tmp_path, 20)
    out = tmp_path / "run"
    base = ["run", "--input", data, "--out", out, "--cache-dir", tmp_path / "cache"]
    assert error_line(base + ["--k", "1", "--spaces", "tfidf", "minilm"], capsys) == (
        "--k 1: must be at least 2")
    _, err = run_cli(base + ["--k", "3", "--spaces", "tfidf", "minilm", "--seeds", "3-1"],
                     capsys, code=2)
    assert "argument --seeds: '3-1': range end is below its start" in err
    assert error_line(base + ["--k", "30", "--spaces", "tfidf", "minilm"], capsys) == (
        f"{data}: has 20 rows, fewer than --k 30")
    assert "give two different spaces" in error_line(
        base + ["--k", "3", "--spaces", "tfidf", "tfidf"], capsys)
    _, err = run_cli(base + ["--k", "3", "--spaces", "tfidf", "minilm", "--tau-end", "0"],
                     capsys, code=2)
    assert "argument --tau-end: '0' must be auto, none or a number > 0" in err
    bad_truth = tmp_path / "truth.npy"
    np.save(bad_truth, np.zeros(7, dtype=np.int64))
    assert error_line(base + ["--k", "3", "--spaces", "tfidf", "minilm", "--truth", bad_truth],
                      capsys) == f"{bad_truth}: has 7 rows but {data} has 20"
    folder, _ = mnist_folder(tmp_path / "mnist", n=4)
    assert error_line(["run", "--input", folder, "--k", "2", "--spaces", "tfidf", "hf:x",
                       "--out", out], capsys) == (
        "--spaces tfidf: TF-IDF is a text space; the input is images")
    assert error_line(["run", "--input", folder, "--k", "2", "--out", out], capsys).startswith(
        "images need --spaces PHI1 PHI2")
    out.mkdir()
    (out / "keep").write_text("x")
    assert error_line(base + ["--k", "3", "--spaces", "tfidf", "minilm"], capsys) == (
        f"{out}: exists and is not empty (use --overwrite)")
    assert not (tmp_path / "cache").exists()  # nothing computed before the checks
