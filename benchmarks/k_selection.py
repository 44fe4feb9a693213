"""Choosing k without labels: humelabel.runs.choose_k against the k-means baselines.

For each dataset: ``choose_k`` over ``--k-range`` (phi1 = MiniLM, phi2 = MPNet; the digits demo
with DEMO_SETTINGS), the Hungarian ACC of its labeling, a full HUME run at the true k for
comparison, and the k a user would try first: k-means on phi1 (L2-normalised rows) with the
best silhouette (on a 3,000-row sample) and with the lowest BIC of a spherical Gaussian
mixture, over the same geometric grid. Writes docs/results/k_selection.{md,json}.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/k_selection.py \
        [--datasets digits trec ag_news stackoverflow banking77] [--k-range 2-150]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, stamp, write_results  # noqa: E402

from humelabel import HUME  # noqa: E402
from humelabel.analysis.metrics import cluster_accuracy  # noqa: E402
from humelabel.core.presets import resolve  # noqa: E402
from humelabel.io.examples import DEMO_SETTINGS, digits_two_views  # noqa: E402
from humelabel.runs.choose_k import (  # noqa: E402
    COARSE_ITERATIONS,
    choose_k,
    geometric_grid,
    parse_k_range,
)

TEXT = Path("/work/shared/data/text")


def load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict]:
    """phi1, phi2, labels and HUME settings of one dataset."""
    if name == "digits":
        phi1, phi2, y = digits_two_views()
        return phi1, phi2, y, dict(DEMO_SETTINGS)
    folder = TEXT / name
    return (np.load(folder / "minilm.npy"), np.load(folder / "mpnet.npy"),
            np.load(folder / "labels.npy"), {})


def kmeans_choices(phi1: np.ndarray, grid: list[int]) -> tuple[int, int]:
    """(silhouette-chosen k, BIC-chosen k) of k-means / spherical GMM on phi1 over grid."""
    x = phi1 / np.linalg.norm(phi1, axis=1, keepdims=True)
    sample = np.random.default_rng(0).choice(len(x), min(3000, len(x)), replace=False)
    sil, bic = {}, {}
    for k in grid:
        km = KMeans(k, n_init=1, random_state=0).fit(x)
        sil[k] = silhouette_score(x[sample], km.labels_[sample])
        gmm = GaussianMixture(k, covariance_type="spherical", random_state=0,
                              means_init=km.cluster_centers_, max_iter=20).fit(x)
        bic[k] = gmm.bic(x)
    return max(sil, key=sil.get), min(bic, key=bic.get)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+",
                        default=["digits", "trec", "ag_news", "stackoverflow", "banking77"])
    parser.add_argument("--k-range", default="2-150")
    parser.add_argument("--out", default=str(RESULTS / "k_selection.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    lo, hi = parse_k_range(args.k_range)
    rows = []
    for name in args.datasets:
        phi1, phi2, y, settings = load(name)
        true_k = int(y.max()) + 1
        t0 = time.perf_counter()
        sel = choose_k(phi1, phi2, (lo, hi), device="cpu", **settings)
        select_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        at_true = HUME(true_k, random_state=0, device="cpu", **settings).fit(phi1, phi2)
        one_s = time.perf_counter() - t0
        sil_k, bic_k = kmeans_choices(phi1, geometric_grid(sel.k_range[0], sel.k_range[1]))
        rows.append({"dataset": name, "n": int(len(y)), "true_k": true_k, "chosen_k": sel.k_,
                     "acc_chosen": cluster_accuracy(y, sel.labels_),
                     "acc_true_k": cluster_accuracy(y, at_true.labels_),
                     "silhouette_k": int(sil_k), "bic_k": int(bic_k),
                     "select_s": select_s, "one_run_s": one_s, "table": sel.table})
        r = rows[-1]
        print(f"{name}: true {true_k} chosen {r['chosen_k']} ACC {r['acc_chosen']:.3f} vs "
              f"{r['acc_true_k']:.3f}; silhouette {sil_k} BIC {bic_k}; "
              f"{select_s:.0f}s = {select_s / one_s:.1f} runs", flush=True)
    lines = ["# Choosing k without labels", "",
             f"`humelabel.runs.choose_k` over k {lo}-{hi} (capped at rows / 5): short runs "
             f"({COARSE_ITERATIONS} steps) on a geometric grid, fine steps around the best, one "
             "full run at the chosen k; seed 0, one thread. ACC is the Hungarian accuracy "
             "(for different k: unmatched clusters count as wrong). k-means baselines on phi1 "
             "(L2-normalised) over the same grid.", "",
             "| dataset (n) | true k | chosen k | ACC chosen | ACC at true k | silhouette k "
             "| BIC k | cost (runs) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} ({r['n']:,}) | {r['true_k']} | {r['chosen_k']} | "
                     f"{100 * r['acc_chosen']:.1f} | {100 * r['acc_true_k']:.1f} | "
                     f"{r['silhouette_k']} | {r['bic_k']} | "
                     f"{r['select_s'] / r['one_run_s']:.1f} |")
    hyper = {"fast": resolve("fast", {}), "demo": dict(DEMO_SETTINGS),
             "coarse_iterations": COARSE_ITERATIONS, "k_range": [lo, hi]}
    write_results(args.out, "\n".join(lines) + "\n", {"rows": rows}, stamp(None, hyper))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
