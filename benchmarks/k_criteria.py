"""Label-free criteria for k, computed from the cached sweep of ``benchmarks/k_sweep.py``.

Per dataset and k: mean pairwise ARI between seeds (stability), the cross-validated
generalization score G of seed 0's labeling on phi2 and G0 of a random linear partition of
phi1 (the criterion of ``humelabel.runs.choose_k``), the search's last objective, and, for
reference only, ACC / ARI against the true labels. Prints one table per dataset and writes
``benchmarks/work/ksweep/<dataset>-<iterations>-criteria.json``.

Usage::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/k_criteria.py --datasets trec
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from k_sweep import SWEEP, load  # noqa: E402

from humelabel.analysis.metrics import cluster_accuracy  # noqa: E402
from humelabel.runs.ensemble import GeneralizationScorer  # noqa: E402


def null_labeling(phi1: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(n,) arbitrary linear partition of phi1 (n, d1) into k parts: argmax of ``z @ R``,
    z the L2-normalised, centred rows, R (d1, k) standard normal (the null of G0)."""
    x = np.asarray(phi1, dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    x = x - x.mean(axis=0)
    proj = np.random.default_rng(seed).standard_normal((x.shape[1], k)).astype(np.float32)
    return np.argmax(x @ proj, axis=1).astype(np.int64)


def cached(name: str, iterations: int) -> dict[int, dict[int, dict]]:
    """{k: {seed: npz fields}} of every cached run (``name`` ending in -swap: the runs with
    the views exchanged)."""
    runs: dict[int, dict[int, dict]] = {}
    for f in SWEEP.glob(f"{name}-{iterations}-k*-s*.npz"):
        k, seed = (int(p[1:]) for p in f.stem.split("-")[-2:])
        with np.load(f) as z:
            runs.setdefault(k, {})[seed] = {key: z[key] for key in z.files}
    return dict(sorted(runs.items()))


def analyse(name: str, iterations: int, with_g: bool) -> list[dict]:
    phi1, phi2, y = load(name)
    out_path = SWEEP / f"{name}-{iterations}-criteria.json"
    old = {r["k"]: r for r in json.loads(out_path.read_text())} if out_path.exists() else {}
    scorer = GeneralizationScorer(5, random_state=0).fit(phi2) if with_g else None
    rows = []
    swapped = cached(f"{name}-swap", iterations)
    for k, seeds in cached(name, iterations).items():
        labs = {s: v["labels"].astype(np.int64) for s, v in seeds.items()}
        aris = [adjusted_rand_score(labs[a], labs[b]) for a, b in itertools.combinations(labs, 2)]
        row = {"k": k, "seeds": len(labs),
               "stability": float(np.mean(aris)) if aris else float("nan"),
               "stability_min": float(np.min(aris)) if aris else float("nan"),
               "stability01": (adjusted_rand_score(labs[0], labs[1])
                               if 0 in labs and 1 in labs else float("nan")),
               "loss": float(np.mean([v["loss"] for v in seeds.values()])),
               "gen": float(np.mean([v["generalization"] for v in seeds.values()])),
               "used": float(np.mean([np.unique(v).size for v in labs.values()])),
               "seconds": float(np.mean([v["seconds"] for v in seeds.values()])),
               "acc": float(np.mean([cluster_accuracy(y, v) for v in labs.values()])),
               "ari_true": float(np.mean([adjusted_rand_score(y, v) for v in labs.values()]))}
        first = labs[min(labs)]
        if k in swapped:  # cross-view: phi1's labeling vs phi2's, and seed 1 vs swap seed 0
            other = swapped[k][min(swapped[k])]["labels"].astype(np.int64)
            row["cross"] = float(adjusted_rand_score(first, other))
            if 1 in labs:
                row["cross1"] = float(adjusted_rand_score(labs[1], other))
        if k in old and "G" in old[k]:
            row["G"], row["G0"] = old[k]["G"], old[k]["G0"]
        elif scorer is not None:
            row["G"] = scorer.score(first)
            row["G0"] = scorer.score(null_labeling(phi1, k, k))
        rows.append(row)
        print(" ".join(f"{key} {val:.4f}" if isinstance(val, float) else f"{key} {val}"
                       for key, val in row.items()), flush=True)
    out_path.write_text(json.dumps(rows, indent=1))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--with-g", action="store_true", help="also score G and G0 (slow)")
    args = parser.parse_args()
    for name in args.datasets:
        print(f"== {name} (true k {int(load(name)[2].max()) + 1})")
        analyse(name, args.iterations, args.with_g)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
