"""Time per outer step of our unrolled solver next to the authors' published code (hume.py).

Both run the paper's settings (tau 0.1, entropy weight 10, inner lr 0.001, 300 inner steps,
subsets of 10,000 rows split 90/10, random inner init per split, k = 10) on the same seeded
synthetic arrays (benchmarks/synthetic.py: n = 10,000, phi1 d = 384 for the task encoder,
phi2 d = 768 for the inner classifier, float32), each in its own subprocess with the same
thread count, alternating ours / theirs ``--rounds`` times so that both see the same load.
Ours is :func:`humelabel.core.search.run_search` with :class:`UnrolledGD` on the arrays as
they are (no phi2 scaling, which would only change the numbers, not the cost). Theirs is
their ``run()``, unchanged, with its tqdm loop timed per iteration and its final
cross-validation score (not part of a step) skipped; it needs ``learn2learn`` importable
(give its folder with ``--authors-pythonpath``). ``--num-subsets`` reduces the splits per step
for both alike.

Usage::

    python benchmarks/unrolled_vs_authors.py AUTHORS_CHECKOUT [--authors-pythonpath DIR]
        [--num-subsets 20] [--iterations 2] [--threads 2] [--rounds 1]
        [--out docs/results/unrolled_vs_authors.md]
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

HERE = Path(__file__).resolve().parent
PAPER = dict(tau=0.1, entropy_weight=10.0, outer_lr=0.001, inner_lr=0.001, inner_steps=300,
             subset_size=10_000, train_fraction=0.9, k=10)


def ours(spec: dict) -> list[float]:
    import numpy as np
    import torch

    from humelabel.core.inner import UnrolledGD
    from humelabel.core.search import SearchConfig, run_search

    torch.set_num_threads(spec["threads"])
    phi1 = torch.from_numpy(np.load(spec["phi1"]))
    phi2 = torch.from_numpy(np.load(spec["phi2"]))
    config = SearchConfig(tau=PAPER["tau"], entropy_weight=PAPER["entropy_weight"],
                          outer_lr=PAPER["outer_lr"], iterations=spec["iterations"],
                          num_subsets=spec["num_subsets"], subset_size=PAPER["subset_size"],
                          train_fraction=PAPER["train_fraction"], anneal=False)
    result = run_search(phi1, phi2, PAPER["k"], config,
                        UnrolledGD(PAPER["inner_steps"], PAPER["inner_lr"]),
                        torch.Generator().manual_seed(0), progress=False)
    ends = [h["time_s"] for h in result.history]
    return [b - a for a, b in zip([0.0, *ends], ends, strict=False)]


def theirs(spec: dict) -> list[float]:
    import torch

    torch.set_num_threads(spec["threads"])
    sys.path.insert(0, spec["authors"])
    import hume  # the authors' module, unchanged

    stamps: list[float] = []

    def timed(iterable, **_):
        for item in iterable:
            stamps.append(time.perf_counter())
            yield item
        stamps.append(time.perf_counter())

    hume.tqdm = timed
    hume.get_cv_score = lambda x, y: 0.0  # the final 10-fold score is not part of a step
    with tempfile.TemporaryDirectory() as tmp:
        args = ["--phi1_path", spec["phi1"], "--phi2_path", spec["phi2"],
                "--gt_labels_path", spec["labels"], "--k", str(PAPER["k"]),
                "--inner_lr", str(PAPER["inner_lr"]), "--outer_lr", str(PAPER["outer_lr"]),
                "--tau", str(PAPER["tau"]), "--H_reg", str(PAPER["entropy_weight"]),
                "--num_iters", str(spec["iterations"]),
                "--adaptation_steps", str(PAPER["inner_steps"]),
                "--num_subsets", str(spec["num_subsets"]),
                "--subset_size", str(PAPER["subset_size"]),
                "--train_fraction", str(PAPER["train_fraction"]), "--no_anneal",
                "--device", "cpu", "--exp_path", tmp + "/", "--seed", "0"]
        with open(os.devnull, "w") as devnull:
            stdout, sys.stdout = sys.stdout, devnull
            try:
                hume.run(args)
            finally:
                sys.stdout = stdout
    return [b - a for a, b in zip(stamps, stamps[1:], strict=False)]


def run(kind: str, spec: dict, pythonpath: str | None) -> list[float]:
    env = {**os.environ, "OMP_NUM_THREADS": str(spec["threads"])}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (env.get("PYTHONPATH"), pythonpath) if p)
    out = subprocess.run([sys.executable, __file__, "--worker", kind, json.dumps(spec)],
                         capture_output=True, text=True, env=env)
    if out.returncode:
        raise RuntimeError(f"{kind} worker failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def load_average() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        kind, spec = sys.argv[2], json.loads(sys.argv[3])
        print(json.dumps((ours if kind == "ours" else theirs)(spec)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("authors", help="checkout of the authors' code (folder with hume.py)")
    parser.add_argument("--authors-pythonpath", help="folder that makes learn2learn importable")
    parser.add_argument("--num-subsets", type=int, default=20)
    parser.add_argument("--iterations", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--out", default=str(HERE.parent / "docs" / "results" /
                                             "unrolled_vs_authors.md"))
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    from _results import stamp, write_results
    from synthetic import write_two_view

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_two_view(Path(tmp) / "n10k", 10_000, dtype="float32")
        spec = dict(phi1=str(paths[0]), phi2=str(paths[1]), labels=str(paths[2]),
                    authors=str(Path(args.authors).resolve()), threads=args.threads,
                    num_subsets=args.num_subsets, iterations=args.iterations)
        for round_ in range(args.rounds):
            for kind in ("ours", "theirs"):
                before = load_average()
                steps = run(kind, spec, args.authors_pythonpath if kind == "theirs" else None)
                rows.append({"round": round_, "code": kind, "step_s": steps,
                             "load_before": before, "load_after": load_average()})
                print(rows[-1], file=sys.stderr, flush=True)
    per = {kind: [s for r in rows if r["code"] == kind for s in r["step_s"]]
           for kind in ("ours", "theirs")}
    mean = {kind: sum(v) / len(v) for kind, v in per.items()}
    lines = [
        "# Unrolled solver: ours vs the authors' code, per outer step", "",
        f"Paper settings ({PAPER['inner_steps']} inner steps, subsets of "
        f"{PAPER['subset_size']:,} rows split 90/10, k = {PAPER['k']}), "
        f"{args.num_subsets} splits per outer step, synthetic n = 10,000, phi1 d = 384, "
        f"phi2 d = 768, float32, CPU, {args.threads} torch threads, {os.cpu_count()} cores "
        "(shared: load average before / after each run in the table). Each run in its own "
        "process; ours and theirs alternate.", "",
        "| round | code | seconds per outer step | load before | load after |",
        "|---|---|---|---|---|"]
    lines += [f"| {r['round']} | {r['code']} | "
              f"{', '.join(f'{s:.1f}' for s in r['step_s'])} | {r['load_before']} | "
              f"{r['load_after']} |" for r in rows]
    lines += ["", f"Mean per outer step: ours {mean['ours']:.1f} s, theirs "
              f"{mean['theirs']:.1f} s; ratio theirs / ours = "
              f"{mean['theirs'] / mean['ours']:.2f}."]
    settings = {**PAPER, "num_subsets": args.num_subsets, "iterations": args.iterations,
                "threads": args.threads, "rounds": args.rounds}
    write_results(args.out, "\n".join(lines), {"rows": rows, "mean_step_s": mean},
                  stamp(None, settings))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
