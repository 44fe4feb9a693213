"""Tests for humelabel.embed.inputs: texts from .txt/.csv/.jsonl, images from folders/lists."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from embed_helpers import cifar_folder, mnist_folder

from humelabel.embed.inputs import is_image_input, list_images, read_texts, texts_checksum
from humelabel.io import InputError

TEXTS = ["What is the capital of France ?", "Who wrote Hamlet, \"the play\" ?", "How many legs"]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def text_files(tmp_path: Path) -> dict[str, Path]:
    """The same three texts as .txt, .csv (with quoting) and .jsonl."""
    import csv

    txt = write(tmp_path / "t.txt", "\n".join(TEXTS) + "\n\n")
    with open(tmp_path / "t.csv", "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "text", "label"])
        for i, t in enumerate(TEXTS):
            writer.writerow([i, t, "abc"[i]])
    jsonl = write(tmp_path / "t.jsonl", "".join(
        json.dumps({"text": t, "label": "abc"[i]}) + "\n" for i, t in enumerate(TEXTS)))
    return {"txt": txt, "csv": tmp_path / "t.csv", "jsonl": jsonl}


@pytest.mark.parametrize("fmt", ["txt", "csv", "jsonl"])
def test_every_text_format_reads_the_same_texts(text_files: dict[str, Path], fmt: str) -> None:
    data = read_texts(text_files[fmt])
    assert data.texts == TEXTS
    assert data.checksum == texts_checksum(TEXTS)  # format-independent
    assert data.source["format"] == fmt
    assert data.source["sha256"] == hashlib.sha256(text_files[fmt].read_bytes()).hexdigest()
    if fmt != "txt":
        assert data.source["column"] == "text"


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_columns_and_label_column(text_files: dict[str, Path], fmt: str) -> None:
    data = read_texts(text_files[fmt], column="label", label_column="text")
    assert data.texts == ["a", "b", "c"]
    assert data.labels == TEXTS
    with pytest.raises(InputError, match="has no column 'nope' \\(columns: "):
        read_texts(text_files[fmt], column="nope")


def test_default_column_is_the_only_column(tmp_path: Path) -> None:
    path = write(tmp_path / "one.csv", "sentence\nhello there\nbye now\n")
    assert read_texts(path).texts == ["hello there", "bye now"]
    path = write(tmp_path / "two.csv", "a,b\nx,y\n")
    with pytest.raises(InputError, match="has no column 'text'; choose one with --column"):
        read_texts(path)


def test_checksum_changes_with_content(tmp_path: Path) -> None:
    a = read_texts(write(tmp_path / "a.txt", "ab\nc\n")).checksum
    b = read_texts(write(tmp_path / "b.txt", "a\nbc\n")).checksum
    assert a != b


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("empty_line.txt", "a\n\nb\n", "line 2 is empty"),
        ("nothing.txt", "\n\n", "contains no rows"),
        ("bad.jsonl", '{"text": "a"}\nnot json\n', "line 2: not valid JSON"),
        ("list.jsonl", '["a"]\n', "line 1: expected a JSON object, got list"),
        ("missing.jsonl", '{"text": "a"}\n{"other": 1}\n', "line 2: no value in column 'text'"),
        ("empty.jsonl", '{"text": "  "}\n', "line 1: column 'text' is empty"),
        ("nested.jsonl", '{"text": {"a": 1}}\n', "holds dict, not text"),
        ("header_only.csv", "text\n", "contains no rows"),
        ("blank.csv", "", "is empty"),
        ("data.tsv", "a\tb\n", "unsupported input extension '.tsv'"),
    ],
)
def test_bad_text_inputs(tmp_path: Path, name: str, content: str, message: str) -> None:
    path = write(tmp_path / name, content)
    with pytest.raises(InputError, match=message) as info:
        read_texts(path)
    assert "\n" not in str(info.value)
    assert str(info.value).startswith(str(path))


def test_missing_and_non_utf8_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        read_texts(tmp_path / "nope.txt")
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9\n")
    with pytest.raises(InputError, match="not a UTF-8 text file"):
        read_texts(tmp_path / "latin.txt")
    with pytest.raises(InputError, match="is a .txt file"):
        read_texts(write(tmp_path / "a.txt", "x\n"), column="text")


def test_image_folder_nested_class_folders_ignored(tmp_path: Path) -> None:
    root = cifar_folder(tmp_path / "cifar", per_class=3, classes=2)
    (root / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.jpg").write_bytes(b"")
    images = list_images(root)
    assert len(images.files) == 6
    assert images.names == sorted(images.names)
    assert all(name.startswith("test/") and name.endswith(".jpg") for name in images.names)
    assert images.source["kind"] == "folder"
    assert len(images.checksum) == 64 and len(images.file_hashes) == 6
    # The checksum follows the contents, not where the folder lies.
    moved = tmp_path / "moved"
    root.rename(moved)
    assert list_images(moved).checksum == images.checksum


@pytest.mark.parametrize("fmt", ["txt", "csv", "jsonl"])
def test_image_lists(tmp_path: Path, fmt: str) -> None:
    folder, _ = mnist_folder(tmp_path / "digits", n=5)
    names = [f"digits/{i:05d}.png" for i in (3, 1, 4)]  # list order is kept
    if fmt == "txt":
        lst = write(tmp_path / "list.txt", "\n".join(names) + "\n")
    elif fmt == "csv":
        lst = write(tmp_path / "list.csv", "path,label\n" + "".join(f"{n},0\n" for n in names))
    else:
        lst = write(tmp_path / "list.jsonl", "".join(json.dumps({"path": n}) + "\n"
                                                     for n in names))
    images = list_images(lst)
    assert images.names == names
    assert images.files == [str(tmp_path / n) for n in names]
    assert images.source["kind"] == "list"
    assert is_image_input(lst) and is_image_input(folder)


def test_image_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        list_images(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="contains no image files"):
        list_images(tmp_path / "empty")
    lst = write(tmp_path / "list.txt", "missing.png\n")
    with pytest.raises(InputError, match="row 1: image file 'missing.png' not found"):
        list_images(lst)
    write(tmp_path / "doc.txt", "x")
    lst = write(tmp_path / "list2.txt", "doc.txt\n")
    with pytest.raises(InputError, match="row 1: 'doc.txt' is not an image file"):
        list_images(lst)
    texts = write(tmp_path / "texts.txt", "What is it ?\n")
    assert not is_image_input(texts)

