"""HUME.save / HUME.load / model_bytes (humelabel.estimator._persist)."""

import numpy as np
import pytest

from humelabel import HUME, Spaces
from humelabel.io import InputError

TINY = dict(iterations=4, inner_steps=2, num_subsets=2, subset_size=150, random_state=3)


def _same_predictions(a: HUME, b: HUME, phi1: np.ndarray) -> None:
    np.testing.assert_array_equal(a.predict(phi1), b.predict(phi1))
    np.testing.assert_array_equal(a.predict_proba(phi1), b.predict_proba(phi1))
    np.testing.assert_array_equal(a.transform(phi1), b.transform(phi1))


@pytest.mark.parametrize("several", [False, True], ids=["one_space", "spaces"])
def test_round_trip(two_view, tmp_path, several) -> None:
    phi1, phi2, labels = two_view
    model = HUME(3, tau=0.4, **TINY).fit(phi1, Spaces(phi2, phi2[:, :8]) if several else phi2)
    path = tmp_path / "model.safetensors"
    model.save(path)
    loaded = HUME.load(path)
    _same_predictions(model, loaded, phi1)
    assert loaded.get_params() == model.get_params()
    assert loaded.params_ == model.params_ and loaded.seed_ == model.seed_ == 3
    assert loaded.tau_ == model.tau_ and loaded.n_features_in_ == 12
    if several:
        assert isinstance(loaded.phi2_center_, list) and len(loaded.phi2_center_) == 2
        for a, b in zip(loaded.phi2_center_, model.phi2_center_, strict=True):
            np.testing.assert_array_equal(a, b)
        assert loaded.phi2_scale_ == model.phi2_scale_
        spaces = Spaces(phi2, phi2[:, :8])
        assert loaded.score_labeling(spaces, labels) == model.score_labeling(spaces, labels)
    else:
        np.testing.assert_array_equal(loaded.phi2_center_, model.phi2_center_)
        assert loaded.phi2_scale_ == model.phi2_scale_
        assert loaded.score_labeling(phi2, labels) == model.score_labeling(phi2, labels)


def test_model_bytes_are_reproducible(two_view, tmp_path) -> None:
    phi1, phi2, _ = two_view
    first = HUME(3, **TINY).fit(phi1, phi2).model_bytes()
    assert HUME(3, **TINY).fit(phi1, phi2).model_bytes() == first  # two identical fits
    path = tmp_path / "a.safetensors"
    path.write_bytes(first)
    HUME.load(path).save(tmp_path / "b.safetensors")  # save -> load -> save
    assert (tmp_path / "b.safetensors").read_bytes() == first
    assert HUME(3, **{**TINY, "random_state": 4}).fit(phi1, phi2).model_bytes() != first


def test_bad_model_files(two_view, tmp_path) -> None:
    from safetensors.numpy import save_file

    phi1, phi2, _ = two_view
    not_safetensors = tmp_path / "junk.safetensors"
    not_safetensors.write_bytes(b"not a model at all")
    foreign = tmp_path / "foreign.safetensors"
    save_file({"coef": np.eye(3, dtype=np.float32)}, str(foreign))
    incomplete = tmp_path / "incomplete.safetensors"
    save_file({"coef": np.eye(3, dtype=np.float32)}, str(incomplete),
              metadata={"format": "humelabel"})
    cases = [(not_safetensors, "not a readable model file"),
             (foreign, "not a humelabel model"),
             (incomplete, "metadata incomplete"),
             (tmp_path / "missing.safetensors", "not found"),
             (tmp_path, "not a regular file")]
    for path, reason in cases:
        with pytest.raises(InputError, match=reason) as info:
            HUME.load(path)
        assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(Exception, match="not fitted"):
        HUME(3).model_bytes()
