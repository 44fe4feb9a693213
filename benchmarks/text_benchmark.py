"""HUME vs k-means on the shared text datasets (phi1 = MiniLM, phi2 = MPNet).

Writes a markdown table (and the raw numbers as JSON) with ACC/NMI/ARI and wall time, plus
the search diagnostic: the objective (Eq. 7, lower is better) of the found hard labeling next
to that of the true labeling, both scored by the same code on the same seeded splits. If the
found labeling scores worse (higher) than the truth, the optimiser is failing, not the idea.

Usage:
    python benchmarks/text_benchmark.py [--datasets trec ag_news ...] [--seeds 0 1 2]
        [--out docs/results/text_benchmark.md]

HUME runs at CPU-sized settings (SETTINGS below), not the paper's 1000 x 20 x 300 unrolled
inner steps, which take about 15 hours per run on a 2-core CPU.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _results import RESULTS, stamp, write_results

from humelabel import HUME
from humelabel.analysis.baselines import kmeans_labels
from humelabel.analysis.metrics import evaluate
from humelabel.core.presets import UNROLLED_CPU, resolve

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "text"
DATASETS = ("ag_news", "trec", "banking77", "stackoverflow")
SETTINGS = dict(preset="paper", **UNROLLED_CPU)
DIAGNOSTIC_SPLITS = 10


def load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    folder = DATA / name
    phi1 = np.load(folder / "minilm.npy", allow_pickle=False).astype(np.float32)
    phi2 = np.load(folder / "mpnet.npy", allow_pickle=False).astype(np.float32)
    labels = np.load(folder / "labels.npy", allow_pickle=False).astype(np.int64)
    return phi1, phi2, labels


def pct(metrics: dict) -> str:
    return f"{100 * metrics['acc']:.1f} / {100 * metrics['nmi']:.1f} / {100 * metrics['ari']:.1f}"


def run_dataset(name: str, seeds: list[int]) -> dict:
    phi1, phi2, truth = load(name)
    k = int(truth.max()) + 1
    result: dict = {"n": len(truth), "k": k}
    for label, space in (("kmeans_phi1", phi1), ("kmeans_phi2", phi2)):
        start = time.perf_counter()
        pred = kmeans_labels(space, k, random_state=0)
        result[label] = {**evaluate(truth, pred), "time_s": time.perf_counter() - start}
    runs = []
    for seed in seeds:
        start = time.perf_counter()
        model = HUME(k, **SETTINGS, random_state=seed, device="cpu").fit(phi1, phi2)
        seconds = time.perf_counter() - start
        found = model.score_labeling(phi2, model.labels_, num_splits=DIAGNOSTIC_SPLITS, seed=0)
        true = model.score_labeling(phi2, truth, num_splits=DIAGNOSTIC_SPLITS, seed=0)
        runs.append({"seed": seed, **evaluate(truth, model.labels_), "time_s": seconds,
                     "objective_found": found["loss"], "objective_truth": true["loss"]})
        print(f"{name} seed {seed}: acc {runs[-1]['acc']:.3f} in {seconds:.0f}s, objective "
              f"found {found['loss']:.3f} vs truth {true['loss']:.3f}", file=sys.stderr,
              flush=True)
    result["hume_runs"] = runs
    result["hume_median"] = {
        key: statistics.median(run[key] for run in runs)
        for key in ("acc", "nmi", "ari", "time_s", "objective_found", "objective_truth")
    }
    return result


def table(results: dict, seeds: list[int]) -> str:
    lines = [
        "| dataset (n, k) | k-means MiniLM | k-means MPNet | HUME (median of "
        f"{len(seeds)} seeds) | HUME time / run | objective found / truth |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        med = r["hume_median"]
        lines.append(
            f"| {name} ({r['n']:,}, {r['k']}) | {pct(r['kmeans_phi1'])} | {pct(r['kmeans_phi2'])}"
            f" | {pct(med)} | {med['time_s']:.0f} s | {med['objective_found']:.3f} / "
            f"{med['objective_truth']:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--out", default=str(RESULTS / "text_benchmark.md"))
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {name: run_dataset(name, args.seeds) for name in args.datasets}
    header = (
        f"HUME (unrolled inner solver) vs k-means; phi1 = MiniLM, phi2 = MPNet. Cells: ACC / NMI /"
        f" ARI in percent. HUME settings: {SETTINGS}; seeds {args.seeds}. Objective: Eq. 7 of "
        f"the hard labeling (lower is better), {DIAGNOSTIC_SPLITS} seeded splits, same code and "
        f"splits for both. Machine: {platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}.\n\n"
    )
    overrides = {key: value for key, value in SETTINGS.items() if key != "preset"}
    write_results(args.out, header + table(results, args.seeds) + "\n",
                  {"settings": SETTINGS, "results": results},
                  stamp(None, resolve(SETTINGS["preset"], overrides)))
    print(header + table(results, args.seeds))


if __name__ == "__main__":
    main()
