"""Quality of the fast ridge solver vs the paper's unrolled solver at the same outer settings.

Per shared text dataset (phi1 = MiniLM, phi2 = MPNet), both solvers run with the CPU-sized
outer settings of text_benchmark.py (100 outer steps, 2 splits of 2,000 rows, tau 0.1, outer
lr 0.01, entropy weight 10, no annealing) for each seed; the ridge solver with the `fast`
preset's solver settings (alpha, outer loss, logit scale, a pool of 16 splits). Reports the
median ACC/NMI/ARI, time per run, and the objective of the found vs the true labeling (Eq. 7 of
hard labelings, each solver's own objective, same 10 seeded splits). Also the `fast` preset
itself (its own, larger outer settings).

Each run is cached as JSON in --cache, so an interrupted benchmark resumes and seeds can be
added later.

Usage: python benchmarks/solver_benchmark.py [--datasets ...] [--seeds 0 1 2 3 4]
           [--solvers unrolled ridge fast] [--threads 2]
       python benchmarks/solver_benchmark.py --from-json docs/results/solver_benchmark.json
           (the page again from the committed numbers, nothing fitted)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import RESULTS, stamp, write_results  # noqa: E402

from humelabel import HUME, PRESETS
from humelabel.analysis.baselines import kmeans_labels
from humelabel.analysis.metrics import evaluate
from humelabel.core.presets import UNROLLED_CPU, resolve
from humelabel.io import write_json_atomic

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "text"
DATASETS = ("ag_news", "trec", "banking77", "stackoverflow")
OUTER = dict(preset="paper", **{k: v for k, v in UNROLLED_CPU.items()
                                 if k not in ("inner", "inner_lr", "inner_steps")},
             entropy_weight=10.0)
FAST = PRESETS["fast"]
SOLVERS = {
    "unrolled": dict(OUTER, inner="unrolled", inner_lr=UNROLLED_CPU["inner_lr"],
                     inner_steps=UNROLLED_CPU["inner_steps"]),
    "ridge": dict(OUTER, inner="ridge", alpha=FAST["alpha"], outer_loss=FAST["outer_loss"],
                  logit_scale=FAST["logit_scale"], split_pool=16),
    "fast": dict(preset="fast"),
}


def settings_tag(solver: str) -> str:
    """The cache-name tag of a solver's resolved settings (a changed preset reruns)."""
    params = solver_params(solver)
    return hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:8]


def one_run(name: str, solver: str, seed: int, cache: Path) -> dict:
    if solver == "fast":  # the preset itself: the runs benchmarks/report.py also uses
        from textdata import hume_run

        return hume_run(name, "minilm", "mpnet", seed)[0]
    path = cache / f"{name}-{solver}-{settings_tag(solver)}-{seed}.json"
    if path.exists():
        return json.loads(path.read_text())
    folder = DATA / name
    phi1 = np.load(folder / "minilm.npy", allow_pickle=False)
    phi2 = np.load(folder / "mpnet.npy", allow_pickle=False)
    truth = np.load(folder / "labels.npy", allow_pickle=False)
    k = int(truth.max()) + 1
    start = time.perf_counter()
    model = HUME(k, **SOLVERS[solver], random_state=seed, device="cpu").fit(phi1, phi2)
    seconds = time.perf_counter() - start
    found = model.score_labeling(phi2, model.labels_, num_splits=10, seed=0)["loss"]
    true = model.score_labeling(phi2, truth, num_splits=10, seed=0)["loss"]
    record = {**evaluate(truth, model.labels_), "time_s": seconds, "objective_found": found,
              "objective_truth": true}
    write_json_atomic(path, record)
    print(f"{name} {solver} seed {seed}: acc {record['acc']:.3f} in {seconds:.0f}s",
          file=sys.stderr, flush=True)
    return record


def pct(r: dict) -> str:
    return f"{100 * r['acc']:.1f} / {100 * r['nmi']:.1f} / {100 * r['ari']:.1f}"


def solver_params(solver: str) -> dict:
    """A solver's resolved hyperparameters (its preset's values with the overrides applied)."""
    settings = dict(SOLVERS[solver])
    return resolve(settings.pop("preset", "paper"), settings)


def kmeans_acc(name: str) -> list[float]:
    """ACC of k-means on MiniLM and on MPNet (the reference columns of the table)."""
    truth = np.load(DATA / name / "labels.npy", allow_pickle=False)
    k = int(truth.max()) + 1
    return [evaluate(truth, kmeans_labels(np.load(DATA / name / f"{space}.npy"), k))["acc"]
            for space in ("minilm", "mpnet")]


def page(results: dict, solvers: list[str], machine: dict | None) -> str:
    """The Markdown page of ``results`` (what the JSON file holds)."""
    rows = ["| dataset (n, k) | k-means MiniLM / MPNet ACC | solver | seeds | median ACC / NMI / "
            "ARI | time / run | objective found / truth |", "|---|---|---|---|---|---|---|"]
    for name, entry in results.items():
        km = entry["kmeans_acc"]
        for solver in solvers:
            if solver not in entry:
                continue
            seeds, med = entry[solver]["seeds"], entry[solver]["median"]
            rows.append(f"| {name} ({entry['n']:,}, {entry['k']}) | {100 * km[0]:.1f} / "
                        f"{100 * km[1]:.1f} | {solver} | {len(seeds)} | {pct(med)} | "
                        f"{med['time_s']:.1f} s | {med['objective_found']:.3f} / "
                        f"{med['objective_truth']:.3f} |")
    where = ("not recorded (results made before stamps were recorded)" if machine is None else
             f"{machine['machine']}, {machine['threads']} torch threads, torch "
             f"{machine['torch']}")
    header = (
        f"Outer settings shared by `unrolled` and `ridge`: {OUTER}. Solver settings: "
        f"{ {s: SOLVERS[s] for s in solvers} }. Cells in percent. Objective: each "
        f"solver's own Eq. 7 on hard labelings (lower is better), 10 seeded splits. Machine: "
        f"{where}.\n\n")
    return header + "\n".join(rows) + "\n"


def from_json(path: str) -> tuple[dict, list[str], dict | None, object]:
    """Results, solvers, machine and measurement stamp of a results JSON file, without
    fitting anything. Files made before k-means was recorded get it computed here (k-means
    only, seconds to a minute)."""
    data = json.loads(Path(path).read_text())
    measured = data.pop("measured", data.pop("stamp", None))
    machine = data.pop("machine", None)
    results = data.get("results", data)
    solvers = [s for s in SOLVERS if any(s in entry for entry in results.values())]
    for name, entry in results.items():
        if "kmeans_acc" not in entry:
            truth = np.load(DATA / name / "labels.npy", allow_pickle=False)
            entry.update(n=int(truth.size), k=int(truth.max()) + 1, kmeans_acc=kmeans_acc(name))
    return results, solvers, machine, measured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--solvers", nargs="+", default=list(SOLVERS), choices=list(SOLVERS))
    parser.add_argument("--seeds-for", nargs="*", default=[], metavar="SOLVER:DATASET:N",
                        help="use only the first N seeds for one solver and dataset")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", default=str(ROOT / "benchmarks" / "work" / "solvers"))
    parser.add_argument("--out", default=str(RESULTS / "solver_benchmark.md"))
    parser.add_argument("--from-json", metavar="FILE",
                        help="regenerate the page from a results JSON file (e.g. the committed "
                        "docs/results/solver_benchmark.json) without fitting anything")
    args = parser.parse_args()
    if args.from_json:
        results, solvers, machine, measured = from_json(args.from_json)
    else:
        torch.set_num_threads(args.threads)
        cache = Path(args.cache)
        cache.mkdir(parents=True, exist_ok=True)
        limits = {tuple(item.split(":")[:2]): int(item.split(":")[2])
                  for item in args.seeds_for}
        solvers = list(args.solvers)
        machine = {"machine": platform.machine(), "threads": args.threads,
                   "torch": torch.__version__}
        results = {}
        for name in args.datasets:
            truth = np.load(DATA / name / "labels.npy", allow_pickle=False)
            entry = results[name] = {"n": int(truth.size), "k": int(truth.max()) + 1,
                                     "kmeans_acc": kmeans_acc(name)}
            for solver in solvers:
                seeds = args.seeds[: limits.get((solver, name), len(args.seeds))]
                runs = [one_run(name, solver, seed, cache) for seed in seeds]
                med = {key: statistics.median(r[key] for r in runs)
                       for key in ("acc", "nmi", "ari", "time_s", "objective_found",
                                   "objective_truth")}
                entry[solver] = {"seeds": seeds, "runs": runs, "median": med}
    text = page(results, solvers, machine)
    data = {"results": results, "machine": machine}
    if args.from_json:
        # The numbers' own stamp stays with them; the file's stamp is this regeneration's.
        data["source"] = f"regenerated from {args.from_json} without fitting"
        data["measured"] = measured
    write_results(args.out, text, data,
                  stamp(None, {s: solver_params(s) for s in solvers}))
    print(text)


if __name__ == "__main__":
    main()
