"""Short HUME runs over a grid of k and several seeds, cached, for comparing k criteria.

For each dataset, k on the geometric grid of ``humelabel.runs.choose_k`` over ``--k-range``
(capped at rows / 5) and each seed, one short run (``--iterations`` outer steps of the fast
preset); the hard labeling, the last objective records and the seconds are cached as
``benchmarks/work/ksweep/<dataset>-<iterations>-k<k>-s<seed>.npz`` (``--swap``: the views
exchanged, ``<dataset>-swap-...``), so criteria can be compared offline
(``benchmarks/k_criteria.py``) without refitting. With ``--spaces PHI1 PHI2`` the prefix is
``<dataset>_<phi1>_<phi2>`` (the digits demo keeps its own views and name);
``k_criteria.py`` reads the unprefixed sweeps only.

Usage::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/k_sweep.py --datasets trec \
        [--seeds 0 1 2] [--iterations 40] [--k-range 2-150] [--spaces minilm tfidf]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from textdata import WORK, load_space, truth  # noqa: E402

from humelabel import HUME  # noqa: E402
from humelabel.io.examples import digits_two_views  # noqa: E402
from humelabel.runs.choose_k import geometric_grid, parse_k_range  # noqa: E402

SWEEP = WORK / "ksweep"
#: phi1 / phi2 of each dataset (biomedical ships no MPNet: its phi2 is TF-IDF).
SPACES = {"biomedical": ("minilm", "tfidf")}


def load(name: str, spaces: tuple[str, str] | None = None
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """phi1 (n, d1), phi2 (n, d2) float32 and the true labels (n,) of one dataset
    (``spaces``: phi1 and phi2 by name; default :data:`SPACES`, else MiniLM / MPNet; the
    digits demo has its own two views)."""
    if name == "digits":
        return digits_two_views()
    phi1, phi2 = spaces or SPACES.get(name, ("minilm", "mpnet"))
    return load_space(name, phi1), load_space(name, phi2), truth(name)


def tag(name: str, spaces: tuple[str, str] | None = None) -> str:
    """Cache prefix of a dataset's sweep: the name, then the spaces when given (not digits)."""
    return name if spaces is None or name == "digits" else f"{name}_{spaces[0]}_{spaces[1]}"


def path(name: str, iterations: int, k: int, seed: int, swap: bool = False) -> Path:
    """Cache file of one run (``swap``: phi2 labelled, phi1 the second view)."""
    return SWEEP / f"{name}{'-swap' if swap else ''}-{iterations}-k{k}-s{seed}.npz"


def sweep(name: str, seeds: list[int], iterations: int, k_range: tuple[int, int],
          swap: bool = False, spaces: tuple[str, str] | None = None) -> None:
    phi1, phi2, _ = load(name, spaces)
    if swap:
        phi1, phi2 = phi2, phi1
    hi = max(k_range[0], min(k_range[1], phi1.shape[0] // 5))
    SWEEP.mkdir(parents=True, exist_ok=True)
    for k in geometric_grid(k_range[0], hi):
        for seed in seeds:
            out = path(tag(name, spaces), iterations, k, seed, swap)
            if out.exists():
                continue
            t0 = time.perf_counter()
            est = HUME(k, random_state=seed, device="cpu", iterations=iterations).fit(phi1, phi2)
            seconds = time.perf_counter() - t0
            last = est.history_[-5:]
            np.savez(out, labels=est.labels_.astype(np.int32), seconds=seconds,
                     loss=np.mean([h["loss"] for h in last]),
                     generalization=np.mean([h.get("generalization", np.nan) for h in last]),
                     entropy=np.mean([h.get("entropy", np.nan) for h in last]))
            print(f"{name} k {k} seed {seed}: {seconds:.1f}s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--k-range", default="2-150")
    parser.add_argument("--swap", action="store_true",
                        help="label phi2 with phi1 as the second view (cross-view criteria)")
    parser.add_argument("--spaces", nargs=2, metavar=("PHI1", "PHI2"),
                        help="spaces by name, e.g. minilm tfidf (the views of `humelabel run`)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.datasets:
        sweep(name, args.seeds, args.iterations, parse_k_range(args.k_range), args.swap,
              tuple(args.spaces) if args.spaces else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
