"""ImageNet size on a CPU: HUME on synthetic 1,281,167 x 2048 float16 memory-mapped inputs, k=1000.

Two parts, each configuration in a fresh subprocess (its own peak memory):
  fast      the ``imagenet`` preset's outer settings (outer_lr 0.1, 20 splits of 20,000 rows,
            train fraction 0.7, no anneal, tau 0.1) with the fast closed-form solver
            (inner="ridge" and the ``fast`` preset's alpha, outer_loss, logit_scale,
            split_pool) on all 1,281,167 rows for a few outer steps, then the final labelling
            pass over all rows (``predict``)
  unrolled  the paper's ``imagenet`` settings (unrolled inner solver, 100 inner steps) on the
            first --unrolled-rows rows, one outer step over --unrolled-splits splits; the time
            per full outer step is projected to 20 splits

The data (phi1, phi2: class means of 1000 classes plus unit Gaussian noise, independent means
in the two spaces; seeded) is generated once, in chunks, into --data (about 10.5 GB).

Usage: python benchmarks/imagenet_cpu.py --data /tmp/imnet_data [--parts fast unrolled]
           [--steps 3] [--threads 2] [--out docs/results/imagenet_cpu.md]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
N_ROWS, DIM, K = 1_281_167, 2048, 1000
CHUNK = 65536
SIGNAL = 0.5  # class-mean scale per feature (noise has variance 1)
FAST_KEYS = ("alpha", "outer_loss", "logit_scale", "split_pool")


def generate(data: Path, seed: int = 0) -> None:
    """phi1.npy, phi2.npy (N_ROWS, DIM) float16 and labels.npy (N_ROWS,) int64 in ``data``."""
    import numpy as np

    data.mkdir(parents=True, exist_ok=True)
    if all((data / f).exists() for f in ("phi1.npy", "phi2.npy", "labels.npy")):
        return
    rng = np.random.default_rng(seed)
    labels = rng.integers(K, size=N_ROWS)
    for name in ("phi1", "phi2"):
        means = (SIGNAL * rng.standard_normal((K, DIM))).astype(np.float32)
        tmp = data / f"{name}.tmp.npy"
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float16, shape=(N_ROWS, DIM))
        for start in range(0, N_ROWS, CHUNK):
            rows = slice(start, min(start + CHUNK, N_ROWS))
            noise = rng.standard_normal((rows.stop - rows.start, DIM), dtype=np.float32)
            out[rows] = noise + means[labels[rows]]
        out.flush()
        del out
        tmp.rename(data / f"{name}.npy")
    np.save(data / "labels.npy", labels)


class MemorySampler:
    """Peak RssAnon / RssFile of this process, sampled every ``interval`` seconds."""

    def __init__(self, interval: float = 0.2):
        self.interval, self.peak = interval, {"RssAnon": 0, "RssFile": 0, "VmRSS": 0}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            for key, value in status_kib().items():
                if key in self.peak:
                    self.peak[key] = max(self.peak[key], value)

    def stop(self) -> dict[str, float]:
        self._stop.set()
        self._thread.join()
        return {f"peak_{key}_gib": value / 2**20 for key, value in self.peak.items()}


def status_kib() -> dict[str, int]:
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if rest.strip().endswith("kB"):
            out[key] = int(rest.split()[0])
    return out


def worker(spec: dict) -> dict:
    """Fit one configuration in this process; report times and peak memory."""
    import numpy as np
    import torch

    from humelabel import HUME
    from humelabel.analysis.metrics import cluster_accuracy

    torch.set_num_threads(spec["threads"])
    sampler = MemorySampler()
    data = Path(spec["data"])
    phi1 = np.load(data / "phi1.npy", mmap_mode="r")[: spec["rows"]]
    phi2 = np.load(data / "phi2.npy", mmap_mode="r")[: spec["rows"]]
    labels = np.load(data / "labels.npy")[: spec["rows"]]

    class Timed(HUME):
        """HUME that times its final labelling pass (``_assign``) over all rows."""

        def _assign(self, x1):
            start = time.perf_counter()
            out = super()._assign(x1)
            self.assign_s_ = time.perf_counter() - start
            return out

    start = time.perf_counter()
    model = Timed(K, preset="imagenet", random_state=0, device="cpu", **spec["params"])
    model.fit(phi1, phi2)
    fit_s = time.perf_counter() - start
    history = model.history_
    steps = [history[0]["time_s"]] + [history[i]["time_s"] - history[i - 1]["time_s"]
                                      for i in range(1, len(history))]
    predicted, label_s = model.labels_, model.assign_s_
    result = {
        "rows": int(phi1.shape[0]), "fit_s": fit_s, "step_s": steps,
        "search_s": history[-1]["time_s"], "labelling_pass_s": label_s,
        "fit_outside_search_s": fit_s - history[-1]["time_s"],
        "acc_after_steps": cluster_accuracy(labels, predicted),
        "loss": [h["loss"] for h in history], "params": model.params_,
    }
    result.update(sampler.stop())
    result["VmHWM_gib"] = status_kib()["VmHWM"] / 2**20
    return result


def run(spec: dict) -> dict:
    out = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)],
                         capture_output=True, text=True,
                         env={**os.environ, "OMP_NUM_THREADS": str(spec["threads"])})
    if out.returncode:
        raise RuntimeError(out.stderr[-4000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="/tmp/imnet_data")
    parser.add_argument("--parts", nargs="+", default=["fast", "unrolled"])
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--unrolled-rows", type=int, default=20_000)
    parser.add_argument("--unrolled-splits", type=int, default=1)
    parser.add_argument("--label", default="", help="a note for the page (e.g. the load)")
    parser.add_argument("--out", default=str(HERE.parent / "docs" / "results" /
                                             "imagenet_cpu.md"))
    parser.add_argument("--render", help="rewrite the page from this results JSON (no runs)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    sys.path.insert(0, str(HERE))
    from _results import script_argv, stamp, write_results

    from humelabel.core.presets import PRESETS

    if args.render:
        rendered = json.loads(Path(args.render).read_text())
        results, args.threads = rendered["results"], rendered["threads"]
        args.unrolled_splits = results.get("unrolled", {}).get("params", {}).get(
            "num_subsets", args.unrolled_splits)
        args.parts = []
    else:
        generate(Path(args.data))
        results = {}
    load = os.getloadavg()
    fast = {key: PRESETS["fast"][key] for key in FAST_KEYS}
    specs = {
        "fast": dict(rows=N_ROWS, params=dict(inner="ridge", iterations=args.steps, **fast)),
        "unrolled": dict(rows=args.unrolled_rows, params=dict(
            inner="unrolled", iterations=1, num_subsets=args.unrolled_splits)),
    }
    for part in args.parts:
        spec = dict(data=args.data, threads=args.threads, **specs[part])
        results[part] = run(spec)
        results[part]["load_before"] = load
        print(part, json.dumps(results[part]), file=sys.stderr, flush=True)
        load = os.getloadavg()
    lines = ["# ImageNet size on a CPU", "",
             f"Synthetic float16 memory-mapped phi1, phi2 ({N_ROWS:,} x {DIM}, 1000 Gaussian "
             f"classes), k = {K}, `imagenet` preset outer settings (outer_lr 0.1, 20 splits of "
             "20,000 rows, train fraction 0.7, no anneal, tau 0.1). "
             f"{args.threads} torch threads on {os.cpu_count()} cores shared with other jobs "
             f"(1-min load average before each part in the table). {args.label}", "",
             "| part | rows | solver | peak RSS (VmHWM) | peak anon / file RSS | time per outer "
             "step (median; first) | projected 1000 steps | final labelling pass | load |",
             "|---|---|---|---|---|---|---|---|---|"]
    for part, r in results.items():
        steps = r["step_s"]
        if part == "fast":
            steady = sorted(steps[1:])[len(steps[1:]) // 2] if len(steps) > 1 else steps[0]
            projected = steps[0] + 999 * steady
            solver = (f"ridge (alpha {fast['alpha']}, {fast['outer_loss']}, logit_scale "
                      f"{fast['logit_scale']}, split_pool {fast['split_pool']})")
            per_step = f"{steady:.1f} s; {steps[0]:.1f} s"
        else:
            steady = steps[0] * 20 / args.unrolled_splits
            projected = 1000 * steady
            solver = (f"unrolled (100 inner steps), {args.unrolled_splits} split(s) measured, "
                      "projected to 20")
            per_step = f"{steady:.1f} s (measured {steps[0]:.1f} s)"
        r["steady_step_s"], r["projected_1000_s"] = steady, projected
        lines.append(
            f"| {part} | {r['rows']:,} | {solver} | {r['VmHWM_gib']:.2f} GiB | "
            f"{r['peak_RssAnon_gib']:.2f} / {r['peak_RssFile_gib']:.2f} GiB | {per_step} | "
            f"{projected / 3600:.1f} h | {r['labelling_pass_s']:.1f} s | "
            f"{r['load_before'][0]:.2f} |")
    if {"fast", "unrolled"} <= results.keys():
        ratio = results["unrolled"]["steady_step_s"] / results["fast"]["steady_step_s"]
        lines += ["", f"Per outer step at k = 1000 the unrolled solver (projected) takes "
                  f"{ratio:.0f}x the time of the fast solver (steady state)."]
    lines += ["", "Time per outer step for the fast solver: the first step also factorises the "
              "splits it draws from the pool; later steps factorise the pool splits not drawn "
              "before. Peak anon / file: sampled every 0.2 s (file = pages of the memory-mapped "
              "inputs mapped into the process, reclaimable)."]
    params = {part: r["params"] for part, r in results.items()}
    write_results(args.out, "\n".join(lines), {"results": results, "threads": args.threads},
                  stamp(script_argv(), params))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
