"""Wall cost of ``choose_k`` against one full run at the true k (issue #12), fresh (no cache).

One dataset (MiniLM / TF-IDF, the views of ``humelabel run``), one thread: one HUME run at
the true k (fast preset, seed 0), then ``choose_k`` with its defaults over k 2-150 (short
runs, fine stage, full run at the chosen k), timed in the same process. Prints one JSON line
and writes it to benchmarks/work/kcost/<name>-<criterion>-jobs<J>-stride<S>.json. Run two
side by side (one thread each) to compare criteria under the same load, or one alone with
jobs 2 (the short runs side by side on two cores; the reference run has the machine to
itself).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/k_cost.py stackoverflow joint [JOBS [STRIDE
        [CONFIRM]]]

STRIDE is ``choose_k``'s ``coarse_stride`` (default its default; 1: the whole grid at once),
CONFIRM its ``confirm``: grid points on both sides, or BELOW,ABOVE (default its default; 0:
no confirm stage).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from schedule_choice import load  # noqa: E402
from textdata import WORK  # noqa: E402

from humelabel import HUME  # noqa: E402
from humelabel.runs.choose_k import COARSE_STRIDE, CONFIRM, choose_k  # noqa: E402


def main() -> int:
    torch.set_num_threads(1)
    name, criterion = sys.argv[1], sys.argv[2]
    jobs = int(sys.argv[3]) if len(sys.argv) > 3 else 1
    stride = int(sys.argv[4]) if len(sys.argv) > 4 else COARSE_STRIDE
    sides = [int(v) for v in sys.argv[5].split(",")] if len(sys.argv) > 5 else list(CONFIRM)
    confirm = sides[0] if len(sides) == 1 else (sides[0], sides[1])
    x1, x2, y = load(name)
    t = time.perf_counter()
    HUME(int(y.max()) + 1, random_state=0, device="cpu").fit(x1, x2)
    one = time.perf_counter() - t
    t = time.perf_counter()
    sel = choose_k(x1, x2, criterion=criterion, device="cpu", jobs=jobs, coarse_stride=stride,
                   confirm=confirm)
    total = time.perf_counter() - t
    short = sum(int(r["seeds"]) for r in sel.table if r["stage"] != "full")
    confirm_runs = sum(int(r["seeds"]) for r in sel.table if r["stage"] == "confirm")
    out = {"dataset": name, "criterion": criterion, "jobs": jobs, "coarse_stride": stride,
           "confirm": confirm, "confirm_runs": confirm_runs, "one_run_s": one,
           "choose_k_s": total, "ratio": total / one, "k": sel.k_, "short_runs": short}
    print(json.dumps(out))
    folder = WORK / "kcost"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}-{criterion}-jobs{jobs}-stride{stride}-confirm"
               f"{'-'.join(str(v) for v in sides)}.json").write_text(
        json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
