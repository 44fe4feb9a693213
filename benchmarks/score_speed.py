"""Speed and agreement of the generalization score with scikit-learn on 50,000 x 768, k = 10.

Data: MPNet embeddings of the four shared text datasets (46,635 rows) plus 3,365 of them
again with small noise (std 0.01) to reach 50,000 x 768; labels: k-means (k = 10) on their
MiniLM embeddings, a labeling that is linear in another space, like a HUME run.

Times, with one thread: :class:`humelabel.runs.ensemble.GeneralizationScorer` (whitening included)
and ``sklearn.linear_model.LogisticRegression`` with the same penalty on the same whitened
features and folds; optionally (``--raw``) scikit-learn unregularised on the raw features, the
literal definition (slow). Writes ``--out`` (markdown) and the numbers as ``.json``.

Usage:
    python benchmarks/score_speed.py [--raw] [--out docs/results/score_speed.md]
"""

from __future__ import annotations

import argparse
import platform
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _results import RESULTS, stamp, write_results
from sklearn.cluster import KMeans
from sklearn.linear_model import LogisticRegression

from humelabel.runs.ensemble import GeneralizationScorer

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "text"
NAMES = ("stackoverflow", "banking77", "ag_news", "trec")


def build(n: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """(x (n, 768) float32, labels (n,)) as described in the module docstring."""
    phi2 = np.concatenate([np.load(DATA / d / "mpnet.npy").astype(np.float32) for d in NAMES])
    phi1 = np.concatenate([np.load(DATA / d / "minilm.npy").astype(np.float32) for d in NAMES])
    rng = np.random.default_rng(0)
    extra = rng.choice(len(phi2), n - len(phi2), replace=False)
    noise = 0.01 * rng.standard_normal((len(extra), phi2.shape[1])).astype(np.float32)
    phi2 = np.concatenate([phi2, phi2[extra] + noise])
    phi1 = np.concatenate([phi1, phi1[extra]])
    phi1 /= np.linalg.norm(phi1, axis=1, keepdims=True)
    return phi2, KMeans(10, n_init=1, random_state=0).fit_predict(phi1)


def sklearn_folds(x: np.ndarray, y: np.ndarray, folds: list, **kwargs: object) -> np.ndarray:
    accs = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning of the unregularised fit
        for train, test in folds:
            model = LogisticRegression(**kwargs).fit(x[train], y[train])
            accs.append(model.score(x[test], y[test]))
    return np.asarray(accs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw", action="store_true",
                        help="also scikit-learn unregularised on the raw features (minutes)")
    parser.add_argument("--out", default=str(RESULTS / "score_speed.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    x, y = build()
    start = time.perf_counter()
    scorer = GeneralizationScorer(10).fit(x)
    ours = scorer.fold_accuracies(y)
    ours_s = time.perf_counter() - start
    folds = scorer.folds(y)
    start = time.perf_counter()
    theirs = sklearn_folds(scorer.x_, y, folds, C=scorer.C)
    theirs_s = time.perf_counter() - start
    rows = [("humelabel GeneralizationScorer (whitening included)", ours, ours_s),
            (f"scikit-learn LogisticRegression(C={scorer.C}), same whitened features", theirs,
             theirs_s)]
    if args.raw:
        start = time.perf_counter()
        raw = sklearn_folds(x, y, folds, penalty=None, max_iter=1000)
        rows.append(("scikit-learn LogisticRegression(penalty=None, max_iter=1000), raw "
                     "features", raw, time.perf_counter() - start))
    lines = [
        f"Generalization score, 10 folds, 50,000 x 768, k = 10 (sizes "
        f"{np.bincount(y).tolist()}). Machine: {platform.processor() or platform.machine()}, "
        f"1 torch/BLAS thread, torch {torch.__version__}.",
        "",
        "| solver | score (mean fold accuracy) | max fold difference vs ours | time |",
        "|---|---|---|---|",
    ]
    for name, accs, seconds in rows:
        lines.append(f"| {name} | {100 * accs.mean():.2f} | "
                     f"{100 * np.abs(accs - ours).max():.2f} | {seconds:.1f} s |")
    text = "\n".join(lines) + "\n"
    write_results(args.out, text, {
        name: {"fold_accuracies": accs.tolist(), "seconds": seconds}
        for name, accs, seconds in rows},
        stamp(None, {"n_folds": scorer.n_folds, "C": scorer.C}))
    print(text)


if __name__ == "__main__":
    main()
