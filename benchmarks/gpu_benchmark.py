"""Time the fast solver on one CUDA GPU: 50,000 x (384, 768), k=10 and 1,000,000 x (384, 768),
k=1000 (synthetic float16 inputs, memory-mapped), default `fast` preset. Meant for a lent GPU
machine; sized to finish in under 5 minutes in total there.

Usage: python benchmarks/gpu_benchmark.py [--out docs/results/gpu_benchmark.md]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _results import RESULTS, stamp, write_results  # noqa: E402
from synthetic import write_two_view  # noqa: E402

from humelabel import HUME  # noqa: E402
from humelabel.analysis.metrics import cluster_accuracy  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(RESULTS / "gpu_benchmark.md"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        sys.exit("gpu_benchmark: no CUDA device available")
    name = torch.cuda.get_device_name(0)
    lines = [f"Device: {name}, torch {torch.__version__}.", "",
             "| n | k | write inputs | fit (wall) | peak GPU memory | ACC |",
             "|---|---|---|---|---|---|"]
    data: dict = {"device": name, "torch": torch.__version__, "runs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for n, k in ((50_000, 10), (1_000_000, 1000)):
            start = time.perf_counter()
            paths = write_two_view(Path(tmp) / f"n{n}", n, k=k, dtype="float16")
            written = time.perf_counter() - start
            phi1 = np.load(paths[0], mmap_mode="r")
            phi2 = np.load(paths[1], mmap_mode="r")
            torch.cuda.reset_peak_memory_stats()
            torch.cuda.synchronize()
            start = time.perf_counter()
            model = HUME(k, preset="fast", random_state=0, device="cuda").fit(phi1, phi2)
            torch.cuda.synchronize()
            seconds = time.perf_counter() - start
            peak = torch.cuda.max_memory_allocated() / 2**30
            acc = cluster_accuracy(np.load(paths[2]), model.labels_)
            lines.append(f"| {n:,} | {k} | {written:.0f} s | {seconds:.1f} s | {peak:.2f} GiB "
                         f"| {acc:.3f} |")
            print(lines[-1], flush=True)
            data["runs"].append({"n": n, "k": k, "write_s": written, "fit_s": seconds,
                                 "peak_gib": peak, "acc": acc})
            params = model.params_
    write_results(args.out, "\n".join(lines) + "\n", data, stamp(None, params))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
