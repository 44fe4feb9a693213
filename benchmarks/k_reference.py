"""Seed stability against a structureless reference, for choosing k (issue #12).

For each dataset (MiniLM / TF-IDF, the views of ``humelabel run``; the digits demo its own
two views; ``name:classes:draw`` a random class subset, as in ``schedule_choice.py``) and
each k of ``choose_k``'s coarse grid: two short HUME runs (seeds 0 and 1, ``--iterations``
outer steps of the fast preset) on the data and two on a reference drawn from a Gaussian with
the data's joint covariance of phi1 and phi2 (no clusters, the same linear structure; the
reference of M3C, John et al. 2020, and of Clest, Dudoit & Fridlyand 2002). Labelings are
cached in benchmarks/work/kref/. Criteria per k: the agreement (AMI, ARI) of the two seeds on
the data, on the reference, and their difference, printed with each criterion's pick.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/k_reference.py --datasets trec digits \\
        [--iterations 40] [--no-ref] [--swap]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from schedule_choice import load  # noqa: E402
from textdata import WORK  # noqa: E402

from humelabel import HUME  # noqa: E402
from humelabel.analysis.metrics import cluster_accuracy  # noqa: E402
from humelabel.runs.choose_k import geometric_grid  # noqa: E402

CACHE = WORK / "kref"
SEEDS = (0, 1)


def reference(phi1: np.ndarray, phi2: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A Gaussian draw with the mean and joint covariance of [phi1, phi2] (n rows each)."""
    x = np.concatenate([phi1, phi2], axis=1).astype(np.float64)
    mean = x.mean(axis=0)
    _, s, vt = np.linalg.svd(x - mean, full_matrices=False)
    g = np.random.default_rng(seed).standard_normal((x.shape[0], s.size))
    null = (g * (s / np.sqrt(x.shape[0]))) @ vt + mean
    d1 = phi1.shape[1]
    return null[:, :d1].astype(np.float32), null[:, d1:].astype(np.float32)


def labelings(name: str, kind: str, k: int, views: tuple[np.ndarray, np.ndarray],
              iterations: int, seeds: tuple[int, ...] = SEEDS) -> list[np.ndarray]:
    out = []
    for seed in seeds:
        f = CACHE / f"{name.replace(':', '_')}-{kind}-{iterations}-k{k}-s{seed}.npy"
        if not f.exists():
            t0 = time.perf_counter()
            est = HUME(k, random_state=seed, device="cpu", iterations=iterations).fit(*views)
            np.save(f, est.labels_.astype(np.int32))
            print(f"{name} {kind} k {k} seed {seed}: {time.perf_counter() - t0:.1f}s",
                  flush=True)
        out.append(np.load(f).astype(np.int64))
    return out


def sweep(name: str, iterations: int, with_ref: bool, with_swap: bool) -> list[dict]:
    phi1, phi2, y = load(name)
    null = reference(phi1, phi2, 0) if with_ref else None
    rows = []
    for k in geometric_grid(2, min(150, phi1.shape[0] // 5)):
        data = labelings(name, "data", k, (phi1, phi2), iterations)
        row = {"k": k, "ami": adjusted_mutual_info_score(*data),
               "ari": adjusted_rand_score(*data),
               "acc": float(np.mean([cluster_accuracy(y, d) for d in data]))}
        if null is not None:
            ref = labelings(name, "ref", k, null, iterations)
            row["ami0"] = adjusted_mutual_info_score(*ref)
            row["ari0"] = adjusted_rand_score(*ref)
            row["dami"], row["dari"] = row["ami"] - row["ami0"], row["ari"] - row["ari0"]
        if with_swap:  # choose_k's criterion: seed 0 labelling phi1 vs labelling phi2
            swapped = labelings(name, "swap", k, (phi2, phi1), iterations, (0,))[0]
            row["cross"] = adjusted_rand_score(data[0], swapped)
        rows.append(row)
        print(name, " ".join(f"{a} {b:.3f}" if isinstance(b, float) else f"{a} {b}"
                             for a, b in row.items()), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--no-ref", action="store_true", help="skip the reference runs")
    parser.add_argument("--swap", action="store_true", help="also run phi2 labelled, seed 0")
    args = parser.parse_args()
    torch.set_num_threads(1)
    CACHE.mkdir(parents=True, exist_ok=True)
    for name in args.datasets:
        true_k = int(load(name)[2].max()) + 1
        rows = sweep(name, args.iterations, not args.no_ref, args.swap)
        picks = {c: max(rows, key=lambda r: (r[c], r["k"]))["k"]
                 for c in ("ami", "ari", "dami", "dari", "cross") if c in rows[0]}
        print(f"== {name} true k {true_k}: " + ", ".join(f"{c} {k}" for c, k in picks.items()),
              flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
