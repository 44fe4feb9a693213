"""Tests for humelabel.io."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from humelabel.io import (
    InputError,
    atomic_output_dir,
    check_same_rows,
    file_sha256,
    l2_normalize,
    load_labels,
    load_matrix,
    save_npy_atomic,
    write_json_atomic,
    write_text_atomic,
)


def _matrix(rows: int = 5, cols: int = 3, dtype: type = np.float32) -> np.ndarray:
    return np.arange(rows * cols, dtype=np.float64).reshape(rows, cols).astype(dtype)


def _assert_one_line(err: InputError, path: os.PathLike[str] | str) -> None:
    msg = str(err)
    assert "\n" not in msg
    assert msg.startswith(f"{os.fspath(path)}: ")


# ---------------------------------------------------------------------------- load_matrix


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.int32, np.int64])
def test_npy_round_trip(tmp_path: Path, dtype: type) -> None:
    x = _matrix(dtype=dtype)
    path = tmp_path / "x.npy"
    np.save(path, x)
    got = load_matrix(path)
    assert got.dtype == np.float32 and got.shape == (5, 3)
    np.testing.assert_array_equal(got, x.astype(np.float32))
    assert load_matrix(str(path)).dtype == np.float32


def test_npz_round_trip_and_keys(tmp_path: Path) -> None:
    x = _matrix()
    single = tmp_path / "one.npz"
    np.savez(single, feats=x)
    np.testing.assert_array_equal(load_matrix(single), x)
    np.testing.assert_array_equal(load_matrix(f"{single}:feats"), x)

    multi = tmp_path / "two.npz"
    np.savez_compressed(multi, a=x, b=2 * x)
    with pytest.raises(InputError, match="holds 2 arrays") as exc:
        load_matrix(multi)
    _assert_one_line(exc.value, multi)
    np.testing.assert_array_equal(load_matrix(f"{multi}:b"), 2 * x)
    with pytest.raises(InputError, match="has no array 'c'") as exc:
        load_matrix(f"{multi}:c")
    _assert_one_line(exc.value, f"{multi}:c")


def test_safetensors_round_trip_and_keys(tmp_path: Path) -> None:
    x = _matrix(dtype=np.float16)
    single = tmp_path / "one.safetensors"
    save_file({"emb": x}, str(single))
    got = load_matrix(single)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, x.astype(np.float32))

    multi = tmp_path / "two.safetensors"
    save_file({"a": x, "b": _matrix(rows=2)}, str(multi))
    with pytest.raises(InputError, match="holds 2 tensors"):
        load_matrix(multi)
    assert load_matrix(f"{multi}:b").shape == (2, 3)
    with pytest.raises(InputError, match="has no tensor 'zz'"):
        load_matrix(f"{multi}:zz")


def test_missing_file(tmp_path: Path) -> None:
    for name in ("nope.npy", "nope.npz", "nope.safetensors", "nope.npz:key", "nope.bin"):
        path = tmp_path / name
        with pytest.raises(InputError, match="file not found") as exc:
            load_matrix(path)
        _assert_one_line(exc.value, path)


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "x.pt"
    path.write_bytes(b"whatever")
    with pytest.raises(InputError, match="unsupported file extension") as exc:
        load_matrix(path)
    _assert_one_line(exc.value, path)


def test_directory_rejected(tmp_path: Path) -> None:
    path = tmp_path / "d.npy"
    path.mkdir()
    with pytest.raises(InputError, match="not a regular file"):
        load_matrix(path)


@pytest.mark.parametrize("mmap", [False, True])
def test_pickled_object_array_never_loaded(tmp_path: Path, mmap: bool) -> None:
    path = tmp_path / "obj.npy"
    np.save(path, np.array([[1, "a"], [None, 2.0]], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="pickled/object data, which is never loaded") as exc:
        load_matrix(path, mmap=mmap)
    _assert_one_line(exc.value, path)

    npz = tmp_path / "obj.npz"
    np.savez(npz, a=np.array([[1, None]], dtype=object))
    with pytest.raises(InputError, match="pickled/object data"):
        load_matrix(npz)


def test_raw_pickle_file_rejected(tmp_path: Path) -> None:
    import pickle

    path = tmp_path / "p.npy"
    path.write_bytes(pickle.dumps([[1.0, 2.0]], protocol=4))  # written, never loaded
    with pytest.raises(InputError, match="pickled/object data"):
        load_matrix(path)


def test_corrupt_files(tmp_path: Path) -> None:
    garbage = tmp_path / "g.npy"
    garbage.write_bytes(b"not an array at all")
    with pytest.raises(InputError, match="not a valid .npy file"):
        load_matrix(garbage)

    truncated = tmp_path / "t.npy"
    np.save(truncated, np.zeros((100, 10), np.float32))
    truncated.write_bytes(truncated.read_bytes()[:500])
    for mmap in (False, True):
        with pytest.raises(InputError, match="corrupt or truncated") as exc:
            load_matrix(truncated, mmap=mmap)
        _assert_one_line(exc.value, truncated)

    bad_npz = tmp_path / "b.npz"
    bad_npz.write_bytes(b"PK\x03\x04garbage")
    with pytest.raises(InputError, match=r"b\.npz: is not a valid \.npz archive"):
        load_matrix(bad_npz)

    bad_st = tmp_path / "b.safetensors"
    bad_st.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
    with pytest.raises(InputError, match="corrupt or unsupported .safetensors") as exc:
        load_matrix(bad_st)
    _assert_one_line(exc.value, bad_st)


@pytest.mark.parametrize(
    "array",
    [
        np.array([["a", "b"], ["c", "d"]]),
        np.ones((2, 2), dtype=bool),
        np.ones((2, 2), dtype=np.complex64),
    ],
)
def test_non_numeric_dtype(tmp_path: Path, array: np.ndarray) -> None:
    path = tmp_path / "s.npy"
    np.save(path, array)
    with pytest.raises(InputError, match="non-numeric dtype") as exc:
        load_matrix(path)
    _assert_one_line(exc.value, path)


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros(4, np.float32), r"expected a 2-D array \(rows x features\), got shape \(4,\)"),
        (np.zeros((2, 3, 4), np.float32), r"got shape \(2, 3, 4\)"),
        (np.zeros((0, 3), np.float32), "empty"),
        (np.zeros((3, 0), np.float32), "empty"),
    ],
)
def test_bad_shapes(tmp_path: Path, array: np.ndarray, match: str) -> None:
    path = tmp_path / "x.npy"
    np.save(path, array)
    with pytest.raises(InputError, match=match) as exc:
        load_matrix(path)
    _assert_one_line(exc.value, path)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("mmap", [False, True])
def test_non_finite(tmp_path: Path, bad: float, mmap: bool) -> None:
    x = _matrix(rows=6)
    x[4, 1] = bad
    path = tmp_path / "phi1.npy"
    np.save(path, x)
    with pytest.raises(InputError, match=r"contains NaN or inf \(first in row 4\)") as exc:
        load_matrix(path, mmap=mmap)
    _assert_one_line(exc.value, path)


def test_float64_overflowing_float32(tmp_path: Path) -> None:
    path = tmp_path / "big.npy"
    np.save(path, np.array([[1.0, 1e300]]))
    with pytest.raises(InputError, match="too large for float32"):
        load_matrix(path)


def test_float16_memmap_returned_as_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import humelabel.io as hio

    x = np.random.default_rng(0).standard_normal((1000, 8)).astype(np.float16)
    path = tmp_path / "h.npy"
    np.save(path, x)
    # Small chunks so the NaN/inf scan really walks over several chunks.
    monkeypatch.setattr(hio.arrays, "_CHUNK_BYTES", 1024)
    got = load_matrix(path, mmap=True)
    assert isinstance(got, np.memmap)
    assert got.dtype == np.float16 and got.shape == (1000, 8)
    np.testing.assert_array_equal(np.asarray(got), x)

    y = x.copy()
    y[777, 3] = np.nan
    np.save(path, y)
    with pytest.raises(InputError, match="first in row 777"):
        load_matrix(path, mmap=True)

    # Other dtypes are converted to an in-memory float32 array even with mmap=True.
    np.save(path, x.astype(np.float64))
    got64 = load_matrix(path, mmap=True)
    assert not isinstance(got64, np.memmap) and got64.dtype == np.float32

    # Without mmap a float16 file comes back as float32.
    np.save(path, x)
    assert load_matrix(path).dtype == np.float32


def test_float32_memmap(tmp_path: Path) -> None:
    path = tmp_path / "f.npy"
    np.save(path, _matrix())
    got = load_matrix(path, mmap=True)
    assert isinstance(got, np.memmap) and got.dtype == np.float32


# ---------------------------------------------------------------------------- load_labels


def test_load_labels_txt_csv_npy(tmp_path: Path) -> None:
    txt = tmp_path / "y.txt"
    txt.write_text("3\n1\n 2 \n-1\n\n\n")
    np.testing.assert_array_equal(load_labels(txt), [3, 1, 2, -1])
    assert load_labels(txt).dtype == np.int64

    csv = tmp_path / "y.csv"
    csv.write_text("0\n1.0\n2\n")
    np.testing.assert_array_equal(load_labels(csv), [0, 1, 2])

    npy = tmp_path / "y.npy"
    np.save(npy, np.array([0, 1, 1, 2], dtype=np.int32))
    got = load_labels(npy)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, [0, 1, 1, 2])

    col = tmp_path / "col.npy"
    np.save(col, np.array([[4.0], [5.0]]))
    np.testing.assert_array_equal(load_labels(col), [4, 5])

    npz = tmp_path / "y.npz"
    np.savez(npz, labels=np.array([1, 2]), other=np.zeros(3))
    np.testing.assert_array_equal(load_labels(f"{npz}:labels"), [1, 2])

    st = tmp_path / "y.safetensors"
    save_file({"y": np.array([7, 8], dtype=np.int64)}, str(st))
    np.testing.assert_array_equal(load_labels(st), [7, 8])


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("1\n2.5\n", "line 2: label '2.5' is not a whole number"),
        ("1\nabc\n", "line 2: 'abc' is not an integer"),
        ("1\n\n2\n", "line 2 is empty"),
        ("1\nnan\n", "line 2: label is NaN or inf"),
        ("", "contains no labels"),
    ],
)
def test_load_labels_bad_text(tmp_path: Path, content: str, match: str) -> None:
    path = tmp_path / "y.txt"
    path.write_text(content)
    with pytest.raises(InputError, match=match) as exc:
        load_labels(path)
    _assert_one_line(exc.value, path)


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.array([0.0, 1.5]), "labels must be integers"),
        (np.array([0.0, np.nan]), "NaN or inf"),
        (np.zeros((3, 2), np.int64), "expected 1-D labels"),
        (np.zeros(0, np.int64), "contains no labels"),
        (np.array(["a", "b"]), "non-numeric dtype"),
        (np.array([True, False]), "non-numeric dtype"),
    ],
)
def test_load_labels_bad_arrays(tmp_path: Path, array: np.ndarray, match: str) -> None:
    path = tmp_path / "y.npy"
    np.save(path, array)
    with pytest.raises(InputError, match=match) as exc:
        load_labels(path)
    _assert_one_line(exc.value, path)


def test_load_labels_missing_and_pickled(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="file not found"):
        load_labels(tmp_path / "missing.txt")
    path = tmp_path / "o.npy"
    np.save(path, np.array([1, None], dtype=object), allow_pickle=True)
    with pytest.raises(InputError, match="pickled/object data"):
        load_labels(path)


# ---------------------------------------------------------------------------- helpers


def test_check_same_rows() -> None:
    a, b, c = np.zeros((10, 2)), np.zeros((10, 5)), np.zeros(9)
    check_same_rows(("a.npy", a), ("b.npy", b))
    check_same_rows()
    with pytest.raises(InputError) as exc:
        check_same_rows(("a.npy", a), ("b.npy", b), ("labels.txt", c))
    assert str(exc.value) == "labels.txt: has 9 rows but a.npy has 10"


def test_l2_normalize() -> None:
    x = np.array([[3.0, 4.0], [0.0, 0.0], [1e30, 1e30]], dtype=np.float64)
    y = l2_normalize(x)
    assert y.dtype == np.float32 and y.shape == (3, 2)
    np.testing.assert_allclose(y[0], [0.6, 0.8], rtol=1e-6)
    np.testing.assert_array_equal(y[1], [0.0, 0.0])
    np.testing.assert_allclose(y[2], [2**-0.5, 2**-0.5], rtol=1e-6)
    rng = np.random.default_rng(0)
    z = l2_normalize(rng.standard_normal((50, 7)).astype(np.float16))
    np.testing.assert_allclose(np.linalg.norm(z, axis=1), 1.0, rtol=1e-5)
    x32 = np.array([[1.0, 1.0]], dtype=np.float32)
    l2_normalize(x32)
    np.testing.assert_array_equal(x32, [[1.0, 1.0]])  # input untouched


def test_file_sha256(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    data = os.urandom(3000)
    path.write_bytes(data)
    assert file_sha256(path, chunk_size=1000) == hashlib.sha256(data).hexdigest()
    assert file_sha256(str(path)) == hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------- atomic outputs


def _siblings(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir())


def test_atomic_output_dir_success(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "run"
    with atomic_output_dir(out, "test") as tmp:
        assert tmp.parent == out.parent and tmp.name.startswith(".run.tmp-")
        assert not out.exists()
        save_npy_atomic(tmp / "labels.npy", np.arange(3))
    assert _siblings(out.parent) == ["run"]
    assert _siblings(out) == ["labels.npy", "manifest.json"]
    np.testing.assert_array_equal(np.load(out / "labels.npy"), [0, 1, 2])


def test_atomic_output_dir_exception_leaves_nothing(tmp_path: Path) -> None:
    out = tmp_path / "new" / "run"
    with pytest.raises(RuntimeError, match="boom"):
        with atomic_output_dir(out, "test") as tmp:
            write_text_atomic(tmp / "x.txt", "partial")
            raise RuntimeError("boom")
    assert not out.exists()
    assert _siblings(tmp_path) == []  # the parent we created is removed again

    existing = tmp_path / "keep"
    with atomic_output_dir(existing, "test") as tmp:
        write_text_atomic(tmp / "old.txt", "old")
    with pytest.raises(RuntimeError):
        with atomic_output_dir(existing, "test", overwrite=True) as tmp:
            write_text_atomic(tmp / "new.txt", "new")
            raise RuntimeError("boom")
    assert _siblings(existing) == ["manifest.json", "old.txt"]
    assert _siblings(tmp_path) == ["keep"]


def test_atomic_output_dir_refuses_non_empty(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.txt").write_text("old")
    with pytest.raises(InputError) as exc:
        with atomic_output_dir(out, "test"):
            pytest.fail("body must not run")
    assert str(exc.value) == f"{out}: exists and is not empty (use --overwrite)"
    assert _siblings(out) == ["old.txt"]
    assert _siblings(tmp_path) == ["run"]


def test_atomic_output_dir_rejects_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.write_text("I am a file")
    for overwrite in (False, True):
        with pytest.raises(InputError, match="exists and is not a directory"):
            with atomic_output_dir(out, "test", overwrite=overwrite):
                pytest.fail("body must not run")
    assert out.read_text() == "I am a file"


def test_atomic_output_dir_overwrite_replaces_only_its_own(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with atomic_output_dir(str(out), "test") as tmp:
        write_text_atomic(tmp / "old.txt", "old")
        (tmp / "sub").mkdir()
        write_text_atomic(tmp / "sub" / "deep.txt", "deep")
    with atomic_output_dir(str(out), "test", overwrite=True) as tmp:
        write_text_atomic(tmp / "new.txt", "new")
    assert _siblings(out) == ["manifest.json", "new.txt"]
    assert _siblings(tmp_path) == ["run"]  # no leftover .old-/.tmp- siblings


@pytest.mark.parametrize("intruder", ["notes.txt", "photos/a.jpg", "photos/", "sub/x.txt"])
def test_atomic_output_dir_never_deletes_foreign_files(tmp_path: Path, intruder: str) -> None:
    out = tmp_path / "run"
    with atomic_output_dir(out, "test") as tmp:
        write_text_atomic(tmp / "old.txt", "old")
        (tmp / "sub").mkdir()
    target = out / intruder
    if intruder.endswith("/"):
        target.mkdir()
    else:
        target.parent.mkdir(exist_ok=True)
        target.write_text("the user's")
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    with pytest.raises(InputError, match="did not write"):
        with atomic_output_dir(out, "test", overwrite=True):
            pytest.fail("body must not run")
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before


def test_atomic_output_dir_refuses_other_command_and_unmarked_dirs(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with atomic_output_dir(out, "fit") as tmp:
        write_text_atomic(tmp / "labels.txt", "x")
    with pytest.raises(InputError, match="written by 'humelabel fit'"):
        with atomic_output_dir(out, "plot", overwrite=True):
            pytest.fail("body must not run")
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "old.txt").write_text("old")
    with pytest.raises(InputError, match="not written by humelabel"):
        with atomic_output_dir(plain, "test", overwrite=True):
            pytest.fail("body must not run")
    assert _siblings(plain) == ["old.txt"]


def test_atomic_output_dir_refuses_to_hold_an_input(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with atomic_output_dir(out, "test") as tmp:
        write_text_atomic(tmp / "x.npy", "x")
    for given in (out / "x.npy", out, f"{out / 'x.npy'}"):
        with pytest.raises(InputError, match="holds the input"):
            with atomic_output_dir(out, "test", overwrite=True, inputs=[given]):
                pytest.fail("body must not run")
    assert _siblings(out) == ["manifest.json", "x.npy"]


def test_atomic_output_dir_empty_existing(tmp_path: Path) -> None:
    out = tmp_path / "run"
    out.mkdir()
    with atomic_output_dir(out, "test") as tmp:
        write_text_atomic(tmp / "a.txt", "a")
    assert _siblings(out) == ["a.txt", "manifest.json"]


def test_atomic_output_dir_refuses_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "f.txt").write_text("x")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InputError, match="working directory"):
        with atomic_output_dir(".", "test", overwrite=True):
            pytest.fail("body must not run")
    assert _siblings(tmp_path) == ["f.txt"]


def test_atomic_file_writers(tmp_path: Path) -> None:
    arr = np.arange(6, dtype=np.float32).reshape(2, 3)
    save_npy_atomic(tmp_path / "sub" / "a.npy", arr)
    np.testing.assert_array_equal(np.load(tmp_path / "sub" / "a.npy"), arr)

    obj = {
        "acc": np.float32(0.5),
        "n": np.int64(3),
        "ok": np.bool_(True),
        "v": np.array([1, 2]),
        "t": (1, 2.5),
        "bad": float("nan"),
        "path": tmp_path,
    }
    write_json_atomic(tmp_path / "m.json", obj)
    text = (tmp_path / "m.json").read_text()
    assert text.endswith("\n") and '\n  "acc"' in text  # indent=2
    back = json.loads(text)
    assert back == {
        "acc": 0.5,
        "n": 3,
        "ok": True,
        "v": [1, 2],
        "t": [1, 2.5],
        "bad": None,
        "path": str(tmp_path),
    }

    write_text_atomic(tmp_path / "t.txt", "héllo\n")
    write_text_atomic(tmp_path / "t.txt", "again\n")  # replaces an existing file
    assert (tmp_path / "t.txt").read_text(encoding="utf-8") == "again\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "sub", "t.txt"]

    with pytest.raises(ValueError):
        save_npy_atomic(tmp_path / "o.npy", np.array([None], dtype=object))
    assert not (tmp_path / "o.npy").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "sub", "t.txt"]
