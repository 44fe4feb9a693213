"""Tests for humelabel.pipeline: defaults of ``humelabel run`` and the multi-seed hook."""

from __future__ import annotations

import sys

import numpy as np
import pytest

import humelabel
from humelabel import pipeline


def test_default_settings_prefer_a_fast_preset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(humelabel, "PRESETS", {"paper": {}, "imagenet": {}})
    assert pipeline.default_settings() == ("paper", pipeline.CPU_SETTINGS)
    monkeypatch.setattr(humelabel, "PRESETS", {"paper": {}, "fast": {}})
    assert pipeline.default_settings() == ("fast", {})


def test_without_ensemble_one_seed_runs_and_says_so(
    two_view, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "humelabel.ensemble", None)  # module absent
    assert pipeline.ensemble_combiner() is None
    phi1, phi2, truth = two_view
    labels, info = pipeline.fit_labels(phi1, phi2, 3, seeds=[4, 5, 6], device="cpu")
    assert labels.shape == truth.shape and labels.dtype == np.int64
    assert info["seeds"] == [4] and info["seeds_requested"] == [4, 5, 6]
    assert info["combination"] == "single run" and "ran seed 4 only" in info["note"]
    assert labels.min() >= 0 and labels.max() < 3


def test_with_a_combiner_every_seed_runs(two_view, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[int] = []

    def combiner(labelings, phi2, n_classes):
        seen.append(len(labelings))
        return labelings[-1], {"combined": True}

    monkeypatch.setattr(pipeline, "ensemble_combiner", lambda: combiner)
    phi1, phi2, _ = two_view
    labels, info = pipeline.fit_labels(phi1, phi2, 3, seeds=[3, 1], device="cpu")
    assert seen == [2] and info["seeds"] == [3, 1] and info["combined"] is True
    assert [run["seed"] for run in info["runs"]] == [3, 1]
