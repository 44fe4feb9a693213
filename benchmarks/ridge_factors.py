"""The ridge solver's two cached forms side by side: M (m' x m) against its factors.

For a pooled split the fast solver caches M = (X_te - mu) (Xc^T Xc + lambda I)^-1 Xc^T and
an outer step costs one product M (Y - mean Y) per split, m' m k multiplications whatever
d is. Where d is small, M's factors A (m' x d) and Xc (m x d) cost d (m + m') k instead
(:data:`humelabel.core.inner.FACTOR_GAIN`). Two measurements, one torch thread:

1. The product alone, forward and backward (the outer step's share per space): 32 splits of
   4,500 training / 500 test rows (the ``fast`` preset's), k = 20, d = 40 ... 384; the
   median of ``--repeats`` timings of 10 steps each, M and factors alternating.
2. Whole fits of ``run``'s graph candidate (``HUME(graph_neighbors=GRAPH_NEIGHBORS)``,
   MiniLM / TF-IDF; phi1's graph view is 2 k-dimensional, 40-d at k = 20) with a baseline
   ``FACTOR_GAIN`` (``--baseline-gain``; inf: M cached in every space, the code before
   2026-12-08; 2: M for the 300-d TF-IDF view, the factors for the graph view, the code of
   2026-12-08) and with the default, one after the other per set: time, ACC, and the share
   of rows whose labels agree (the two forms sum in another order, so the labels are equal
   up to float rounding).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ridge_factors.py \\
        [--fits trec@0 banking77:10:2@0 ...] [--repeats 3] [--baseline-gain inf]
        [--out docs/results/ridge_factors]
"""

from __future__ import annotations

import argparse
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, stamp, write_results  # noqa: E402
from schedule_choice import load  # noqa: E402

from humelabel import HUME  # noqa: E402
from humelabel.analysis.metrics import evaluate  # noqa: E402
from humelabel.core import inner  # noqa: E402
from humelabel.runs.candidates import GRAPH_NEIGHBORS  # noqa: E402

#: The graph-candidate fits compared by default: the five shared sets and four class subsets.
FITS = ("stackoverflow@0", "biomedical@0", "ag_news@0", "trec@0", "banking77@0",
        "banking77:10:2@0", "banking77:20:4@1", "stackoverflow:10:0@1", "trec:4:0@4")
DIMS = (40, 100, 200, 300, 384)


def product_seconds(d: int, repeats: int, m: int = 4500, m_test: int = 500, k: int = 20,
                    splits: int = 32, steps: int = 10) -> tuple[float, float]:
    """Median seconds per outer step (forward and backward over ``splits`` splits) of the
    product with M and with its factors, d-dimensional random data."""
    gen = torch.Generator().manual_seed(0)
    ops = [torch.randn(m_test, m, generator=gen) for _ in range(splits)]
    factors = [(torch.randn(m_test, d, generator=gen), torch.randn(m, d, generator=gen))
               for _ in range(splits)]
    labels = [torch.randn(m, k, generator=gen, requires_grad=True) for _ in range(splits)]

    def step_seconds(product) -> float:
        start = time.perf_counter()
        for _ in range(steps):
            total = sum(product(s, labels[s]).square().sum() for s in range(splits))
            total.backward()
        return (time.perf_counter() - start) / steps

    full, factored = [], []
    for _ in range(repeats):
        full.append(step_seconds(lambda s, y: ops[s] @ y))
        factored.append(step_seconds(lambda s, y: factors[s][0] @ (factors[s][1].T @ y)))
    return statistics.median(full), statistics.median(factored)


def graph_fit(name: str, seed: int, gain: float) -> tuple[np.ndarray, float, np.ndarray]:
    """(labels (n,), seconds, truth (n,)) of one graph-candidate fit with FACTOR_GAIN = gain."""
    x1, x2, y = load(name)
    saved, inner.FACTOR_GAIN = inner.FACTOR_GAIN, gain
    try:
        start = time.perf_counter()
        model = HUME(int(y.max()) + 1, graph_neighbors=GRAPH_NEIGHBORS, random_state=seed,
                     device="cpu").fit(x1, x2)
        return model.labels_, time.perf_counter() - start, y
    finally:
        inner.FACTOR_GAIN = saved


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fits", nargs="*", default=list(FITS), metavar="NAME@SEED",
                        help="graph-candidate fits to compare (none: the products only)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline-gain", type=float, default=math.inf,
                        help="FACTOR_GAIN of the fits compared with the default (inf: M in "
                        "every space)")
    parser.add_argument("--out", default=str(RESULTS / "ridge_factors"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    products = []
    for d in DIMS:
        full, factored = product_seconds(d, args.repeats)
        products.append({"d": d, "m_s": full, "factors_s": factored,
                         "factored_by_default": inner.Ridge.factored(4500, 500, d)})
        print(f"d {d}: M {full:.4f} s, factors {factored:.4f} s", file=sys.stderr, flush=True)
    fits = []
    for item in args.fits:
        name, seed = item.rsplit("@", 1)
        before, before_s, y = graph_fit(name, int(seed), args.baseline_gain)
        after, after_s, _ = graph_fit(name, int(seed), inner.FACTOR_GAIN)
        fits.append({"set": name, "seed": int(seed), "n": int(y.shape[0]),
                     "k": int(y.max()) + 1, "m_s": before_s, "factors_s": after_s,
                     "m_acc": evaluate(y, before)["acc"], "factors_acc": evaluate(y, after)["acc"],
                     "agree": float((before == after).mean())})
        print(fits[-1], file=sys.stderr, flush=True)
    lines = [
        f"Machine: {platform.processor() or platform.machine()}, one torch thread, torch "
        f"{torch.__version__}. FACTOR_GAIN = {inner.FACTOR_GAIN}.",
        "",
        "**The product per outer step** (32 splits of 4,500 / 500 rows, k = 20, forward and "
        f"backward, median of {args.repeats}):",
        "",
        "| d | M | factors | speed-up | factors by default |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {p['d']} | {p['m_s'] * 1000:.1f} ms | {p['factors_s'] * 1000:.1f} ms | "
              f"{p['m_s'] / p['factors_s']:.2f}x | {'yes' if p['factored_by_default'] else 'no'} |"
              for p in products]
    base = args.baseline_gain
    base_name = ("M everywhere, the code before 2026-12-08" if math.isinf(base) else
                 f"FACTOR_GAIN = {base:g}: the factors where d (m + m') is {base:g}x "
                 "fewer than m m' (at 2, the code of 2026-12-08: M for the 300-d TF-IDF)")
    if fits:
        lines += [
            "",
            "**Graph-candidate fits** (MiniLM / TF-IDF plus phi1's graph view, one after the "
            f"other per set; baseline: {base_name}; new: the default):",
            "",
            "| set | seed | n | k | time, baseline | time, new | ACC, baseline | ACC, new | labels "
            "equal |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        lines += [f"| {f['set']} | {f['seed']} | {f['n']} | {f['k']} | {f['m_s']:.1f} s | "
                  f"{f['factors_s']:.1f} s | {100 * f['m_acc']:.2f} | "
                  f"{100 * f['factors_acc']:.2f} | {100 * f['agree']:.2f}% |" for f in fits]
        total_m = sum(f["m_s"] for f in fits)
        total_f = sum(f["factors_s"] for f in fits)
        lines += ["", f"All fits: {total_m:.0f} s baseline, {total_f:.0f} s new "
                  f"({total_m / total_f:.2f}x); labels equal on "
                  f"{100 * min(f['agree'] for f in fits):.2f}-"
                  f"{100 * max(f['agree'] for f in fits):.2f}% of the rows; ACC changes "
                  f"{100 * min(f['factors_acc'] - f['m_acc'] for f in fits):+.2f} to "
                  f"{100 * max(f['factors_acc'] - f['m_acc'] for f in fits):+.2f} points."]
    text = "\n".join(lines) + "\n"
    write_results(args.out, text, {"products": products, "fits": fits},
                  stamp(None, {"graph_neighbors": GRAPH_NEIGHBORS, "preset": "fast",
                               "factor_gain": inner.FACTOR_GAIN,
                               "baseline_gain": base}))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
