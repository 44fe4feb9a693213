"""Quick checks, rerun before and after a change that must not move results: the built-in demo,
one default fit on TREC, and how many of its labels a second torch thread changes.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/quick_checks.py \
        [--out docs/results/quick_checks.md]

Each fit runs in its own process (``humelabel fit``) with ``OMP_NUM_THREADS`` set, so the
thread count is the only difference between the two TREC fits. Takes about 3 minutes on an idle
2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import script_argv, stamp, write_results  # noqa: E402

from humelabel.core.presets import resolve  # noqa: E402
from humelabel.io.examples import DEMO_SETTINGS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TREC = ROOT / ".." / "shared" / "data" / "text" / "trec"
HUMELABEL = [sys.executable, "-m", "humelabel"]


def _run(argv: list[str], threads: int) -> tuple[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    start = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, text=True, check=True)
    return done.stdout, time.perf_counter() - start


def _fit_trec(out: Path, threads: int) -> dict:
    _, seconds = _run([*HUMELABEL, "fit", "--phi1", str(TREC / "minilm.npy"), "--phi2",
                       str(TREC / "mpnet.npy"), "-k", "6", "--truth", str(TREC / "labels.npy"),
                       "--seed", "0", "--out", str(out), "--quiet"], threads)
    metrics = json.loads((out / "metrics.json").read_text())
    return {"threads": threads, "acc": metrics["acc"], "nmi": metrics["nmi"],
            "ari": metrics["ari"], "seconds": seconds,
            "labels": np.load(out / "labels.npy").tolist()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "results" / "quick_checks.md"))
    args = parser.parse_args()
    demo, demo_s = _run([*HUMELABEL, "demo", "--quiet"], 1)
    with tempfile.TemporaryDirectory() as tmp:
        fits = [_fit_trec(Path(tmp) / f"t{threads}", threads) for threads in (1, 2)]
    differ = int(np.sum(np.asarray(fits[0]["labels"]) != np.asarray(fits[1]["labels"])))
    lines = ["# Quick checks", "",
             "## `humelabel demo` (seed 0, 1 torch thread)", "", "```", demo.strip(), "```", "",
             "## One default fit on TREC (MiniLM / MPNet, k 6, seed 0)", "",
             "| torch threads | ACC | NMI | ARI | time (s) |", "|---|---|---|---|---|"]
    lines += [f"| {f['threads']} | {100 * f['acc']:.2f} | {100 * f['nmi']:.2f} | "
              f"{100 * f['ari']:.2f} | {f['seconds']:.1f} |" for f in fits]
    lines += ["", f"Labels that differ between 1 and 2 threads: {differ} of "
              f"{len(fits[0]['labels'])}.", ""]
    data = {"demo": demo, "demo_seconds": demo_s, "trec": [
        {k: v for k, v in f.items() if k != "labels"} for f in fits],
        "trec_labels_differing": differ, "trec_rows": len(fits[0]["labels"])}
    demo_overrides = {k: v for k, v in DEMO_SETTINGS.items() if k != "preset"}
    hyperparameters = {"demo": resolve(str(DEMO_SETTINGS["preset"]), demo_overrides),
                       "trec": resolve("fast", {})}
    write_results(args.out, "\n".join(lines), data, stamp(script_argv(), hyperparameters))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
