"""The shared text datasets and their spaces for the evidence benchmarks, with cached runs.

Spaces per dataset: ``minilm`` and ``mpnet`` from ``../shared/data/text/<name>/`` when the
folder has them; ``tfidf`` (and ``minilm`` for biomedical, which ships raw text only) computed
once with ``humelabel embed text`` into ``benchmarks/work/embeddings/<name>/``; ``a+b``
concatenates spaces, each L2-normalised per row and scaled to equal total variance; ``a,b``
gives separate spaces, ``humelabel.Spaces`` (HUME then averages its generalization term over them).

HUME runs are cached as ``benchmarks/work/hume/<dataset>-<phi1>-<phi2>-<settings hash>-<seed>``
(.json metrics and timing, .npy labels), so the report and the phi2 comparison share runs and
an interrupted benchmark resumes. Changing the preset changes the hash and reruns.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from humelabel import HUME, Spaces
from humelabel.analysis.metrics import evaluate
from humelabel.core.presets import resolve
from humelabel.io import save_npy_atomic, write_json_atomic
from humelabel.runs.fitting import recorded

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "text"
WORK = ROOT / "benchmarks" / "work"
DATASETS = ("ag_news", "trec", "banking77", "stackoverflow", "biomedical")


def truth(name: str) -> np.ndarray:
    return np.load(DATA / name / "labels.npy", allow_pickle=False)


def class_names(name: str) -> list[str]:
    names = json.loads((DATA / name / "classes.json").read_text())
    return [names[i] for i in range(len(names))] if isinstance(names, list) else [
        names[str(i)] for i in range(len(names))]


def space_path(name: str, space: str) -> Path:
    """The .npy of one space, embedding it first when it is not shipped."""
    shipped = DATA / name / f"{space}.npy"
    if shipped.exists():
        return shipped
    path = WORK / "embeddings" / name / f"{space}.npy"
    if not path.exists():
        print(f"embedding {name} with {space} ...", file=sys.stderr, flush=True)
        subprocess.run([sys.executable, "-m", "humelabel", "embed", "text", "--input",
                        str(DATA / name / "data.jsonl"), "--model", space, "--out", str(path),
                        "--quiet"], check=True)
    return path


def has_space(name: str, space: str) -> bool:
    """Whether the space exists or can be computed here (MPNet cannot: no download)."""
    return all((DATA / name / f"{s}.npy").exists() or s in ("tfidf", "minilm")
               for s in space.replace(",", "+").split("+"))


def load_space(name: str, space: str) -> np.ndarray | Spaces:
    """(n, d) float32; a concatenation ``a+b`` gives each block unit mean squared row norm;
    ``a,b`` gives several phi2 spaces (:class:`humelabel.Spaces`)."""
    if "," in space:
        return Spaces(*(load_space(name, single) for single in space.split(",")))
    parts = [np.load(space_path(name, single), allow_pickle=False).astype(np.float32)
             for single in space.split("+")]
    return concatenate(parts) if len(parts) > 1 else parts[0]


def concatenate(parts: list[np.ndarray]) -> np.ndarray:
    """Spaces side by side, (n, d_1 + ... + d_m): each block's rows L2-normalised, then
    centred and scaled to unit mean squared row norm, so every space weighs the same."""
    blocks = []
    for x in parts:
        x = np.asarray(x, dtype=np.float32)
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
        x = x - x.mean(axis=0)
        blocks.append(x / np.sqrt((x ** 2).sum(axis=1).mean()))
    return np.concatenate(blocks, axis=1)


def settings_hash(preset: str, overrides: dict[str, Any]) -> str:
    # Settings left at None (features that are off, e.g. tau_end) are dropped, so adding such
    # a hyperparameter keeps the cached runs of the settings that do not use it.
    # A labeling given as init counts by its digest (humelabel.estimator.describe_init).
    # size_floor 0 is off too (added 2026-12-07 at 0 in every preset).
    params = {key: value for key, value in recorded(resolve(preset, overrides)).items()
              if value is not None and not (key == "size_floor" and value == 0)}
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]


def hume_run(name: str, phi1: str, phi2: str, seed: int, preset: str = "fast",
             overrides: dict[str, Any] | None = None) -> tuple[dict[str, Any], np.ndarray]:
    """One cached HUME run: (record with acc/nmi/ari/time_s and the objective of the found and
    of the true labeling, labels (n,))."""
    overrides = overrides or {}
    stem = WORK / "hume" / f"{name}-{phi1}-{phi2}-{settings_hash(preset, overrides)}-{seed}"
    if stem.with_suffix(".json").exists():
        return (json.loads(stem.with_suffix(".json").read_text()),
                np.load(stem.with_suffix(".npy"), allow_pickle=False))
    y = truth(name)
    x1, x2 = load_space(name, phi1), load_space(name, phi2)
    start = time.perf_counter()
    model = HUME(int(y.max()) + 1, preset=preset, **overrides, random_state=seed,
                 device="cpu").fit(x1, x2)
    seconds = time.perf_counter() - start
    # The search diagnostic: the objective of the found and of the true labeling, same splits.
    # One call, so that a graph_neighbors run builds phi1's graph view once for both.
    found, true = (r["loss"] for r in model.score_labelings(
        x2, [model.labels_, y], num_splits=10, seed=0, phi1=x1))
    record = {**evaluate(y, model.labels_), "time_s": seconds, "seed": seed,
              "preset": preset, "overrides": recorded(overrides), "objective_found": found,
              "objective_truth": true}
    save_npy_atomic(stem.with_suffix(".npy"), model.labels_)
    write_json_atomic(stem.with_suffix(".json"), record)
    print(f"{name} {phi1}/{phi2} seed {seed}: ACC {record['acc']:.3f} in {seconds:.0f} s",
          file=sys.stderr, flush=True)
    return record, model.labels_
