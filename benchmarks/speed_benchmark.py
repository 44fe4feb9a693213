"""Speed and memory of the inner solvers: unrolled (the paper) vs ridge (the fast solver).

Three parts, each configuration in a fresh subprocess so that its peak memory (VmHWM) is its own:
  steps   per-outer-step time of both solvers side by side at the paper's outer settings
          (20 splits of 10,000 rows, 90/10) on synthetic n=10,000, d1=384, d2=768, k=10;
          the unrolled solver runs the paper's 300 inner steps
  full    a full run of the default `fast` preset on synthetic 50,000 x (384, 768), k=10
  memory  peak memory of a shortened `fast` run as n grows to 1,000,000 rows, inputs given as
          memory-mapped float16 .npy files

Usage: python benchmarks/speed_benchmark.py [--parts steps full memory] [--threads 2]
           [--out docs/results/speed_benchmark.md]

A run with only some --parts writes a page with only those parts: give it another --out.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def worker(spec: dict) -> dict:
    """Run one configuration in this process and report time and peak memory."""
    import numpy as np
    import torch

    from humelabel import HUME

    torch.set_num_threads(spec["threads"])
    phi1 = np.load(spec["phi1"], mmap_mode="r", allow_pickle=False)
    phi2 = np.load(spec["phi2"], mmap_mode="r", allow_pickle=False)
    labels = np.load(spec["labels"], allow_pickle=False)
    start = time.perf_counter()
    model = HUME(spec["k"], random_state=0, device="cpu", **spec["params"]).fit(phi1, phi2)
    seconds = time.perf_counter() - start
    history = model.history_
    steps = [history[i]["time_s"] - history[i - 1]["time_s"] for i in range(1, len(history))]
    from humelabel.analysis.metrics import cluster_accuracy

    return {
        "seconds": seconds,
        "first_step_s": history[0]["time_s"],
        "median_step_s": float(np.median(steps)) if steps else history[0]["time_s"],
        "peak_rss_mib": _peak_rss_mib(),
        "acc": cluster_accuracy(labels, model.labels_),
        "params": model.params_,
    }


def run(spec: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "OMP_NUM_THREADS": str(spec["threads"])})
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=["steps", "full", "memory"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--sizes", nargs="+", type=int, default=[50_000, 200_000, 1_000_000])
    parser.add_argument("--out", default=str(HERE.parent / "docs" / "results" /
                                             "speed_benchmark.md"))
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    sys.path.insert(0, str(HERE))
    from _results import stamp, write_results
    from synthetic import write_two_view

    lines = [f"Machine: {platform.machine()}, {os.cpu_count()} cores, {args.threads} torch "
             f"threads. Times in seconds, memory = peak resident set (VmHWM) of the process.", ""]
    data: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        if "steps" in args.parts:
            paths = write_two_view(Path(tmp) / "n10k", 10_000, dtype="float32")
            outer = dict(preset="paper", num_subsets=20, subset_size=10_000, train_fraction=0.9,
                         anneal=False)
            specs = {
                "unrolled (paper: 300 inner steps)": dict(inner="unrolled", iterations=2, **outer),
                "ridge (fast solver)": dict(inner="ridge", outer_loss="nmse", split_pool=20,
                                            iterations=30, **outer),
            }
            results = {}
            for name, params in specs.items():
                spec = dict(phi1=str(paths[0]), phi2=str(paths[1]), labels=str(paths[2]), k=10,
                            threads=args.threads, params=params)
                results[name] = run(spec)
                print(name, results[name], file=sys.stderr, flush=True)
            data["steps"] = results
            unrolled, ridge = results.values()
            # unrolled: every step costs the same; ridge: the first step also factorises the
            # split pool, so a full run costs first step + 999 median steps.
            full_unrolled = 1000 * unrolled["median_step_s"]
            full_ridge = ridge["first_step_s"] + 999 * ridge["median_step_s"]
            lines += [
                "### Per outer step, paper outer settings (20 splits x 10,000 rows), synthetic "
                "n=10,000, d1=384, d2=768, k=10",
                "",
                "| solver | time / outer step | full 1000-step run | peak memory |",
                "|---|---|---|---|",
                f"| unrolled | {unrolled['median_step_s']:.2f} s | {full_unrolled / 3600:.1f} h "
                f"(extrapolated) | {unrolled['peak_rss_mib']:.0f} MiB |",
                f"| ridge | {ridge['median_step_s'] * 1000:.1f} ms (first step with pool "
                f"factorisation {ridge['first_step_s']:.1f} s) | {full_ridge:.0f} s "
                f"(extrapolated) | {ridge['peak_rss_mib']:.0f} MiB |",
                "",
                "Speed-up per outer step: "
                f"{unrolled['median_step_s'] / ridge['median_step_s']:.0f}x;"
                f" per full run: {full_unrolled / full_ridge:.0f}x.",
                "",
            ]
        if "full" in args.parts:
            paths = write_two_view(Path(tmp) / "n50k", 50_000, dtype="float32")
            spec = dict(phi1=str(paths[0]), phi2=str(paths[1]), labels=str(paths[2]), k=10,
                        threads=args.threads, params=dict(preset="fast"))
            r = run(spec)
            print("full", r, file=sys.stderr, flush=True)
            data["full"] = r
            lines += [
                "### Full default `fast` run, synthetic 50,000 x (384, 768), k=10 (float32)",
                "",
                f"{r['seconds']:.1f} s wall, peak memory {r['peak_rss_mib']:.0f} MiB, "
                f"ACC {r['acc']:.3f}.",
                "",
            ]
        if "memory" in args.parts:
            lines += ["### Peak memory as n grows (`fast`, 50 iterations, float16 memmap input)",
                      "", "| n | input size on disk | wall time | peak memory |",
                      "|---|---|---|---|"]
            for n in args.sizes:
                paths = write_two_view(Path(tmp) / f"n{n}", n, dtype="float16")
                size = sum(p.stat().st_size for p in paths[:2]) / 2**20
                spec = dict(phi1=str(paths[0]), phi2=str(paths[1]), labels=str(paths[2]), k=10,
                            threads=args.threads, params=dict(preset="fast", iterations=50))
                r = run(spec)
                print(n, r, file=sys.stderr, flush=True)
                data.setdefault("memory", {})[str(n)] = r
                lines.append(f"| {n:,} | {size:.0f} MiB | {r['seconds']:.1f} s | "
                             f"{r['peak_rss_mib']:.0f} MiB |")
                for p in paths:
                    p.unlink()
            lines.append("")
    text = "\n".join(lines)
    hyperparameters = {f"{part} {name}": r["params"] for part, runs in
                       (("steps", data.get("steps", {})), ("full", {"fast": data.get("full")}),
                        ("memory", data.get("memory", {}))) for name, r in runs.items() if r}
    write_results(args.out, text, data, stamp(None, hyperparameters))
    print(text)


if __name__ == "__main__":
    main()
