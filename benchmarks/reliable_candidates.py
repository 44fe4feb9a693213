"""Reliable samples that every candidate run agrees on, against those of the seeds' picks.

``humelabel run --seeds S --reliable N`` fits four candidates per seed, keeps one per seed and
votes the picks; its reliable samples are points on which the picks and their phi1
neighbours mostly agree, ranked by the cross-fitted confidence over both spaces
(:mod:`humelabel.runs.reliable`). Here the same selection, and the same with only points
that :data:`humelabel.runs.reliable.MIN_CANDIDATE_AGREEMENT` (or all) of every candidate run
of every seed give their label (:func:`humelabel.runs.reliable.candidate_agreement`); and a
single seed's pick (``run`` without ``--seeds``) with and without its four candidates
agreeing. Accuracy of the samples (the whole labeling's Hungarian matching) and how many
there are, at 4 and 15 per cluster.

Runs, scores and picks: those of the candidate-choice pages (``benchmarks/schedule_choice.py
--graph --ratio --continuation``, seeds 0-4, cached in benchmarks/work); nothing is fitted.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/reliable_candidates.py \\
        [--pages candidate_choice candidate_choice_fresh ...] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, stamp, write_results  # noqa: E402
from schedule_choice import load, run  # noqa: E402

from humelabel.runs.ensemble import combine_labelings  # noqa: E402
from humelabel.runs.refine import label_confidence  # noqa: E402
from humelabel.runs.reliable import (  # noqa: E402
    MIN_CANDIDATE_AGREEMENT,
    candidate_agreement,
    neighbor_agreement,
    plurality_ceiling,
    reliable_accuracy,
    select_reliable,
)
from humelabel.runs.select import reference_scores  # noqa: E402

#: The candidates of ``run`` (schedule_choice's names), in the grid's order.
CANDIDATES = ("schedule", "graph", "ratio", "continuation")
PAGES = ("candidate_choice", "candidate_choice_fresh", "candidate_choice_fresh2")
#: The rules compared: (key, title, share of the candidate runs required or None).
RULES = (("picks", "seeds' picks (before)", None),
         ("candidates", f"{MIN_CANDIDATE_AGREEMENT:.0%} of all runs", MIN_CANDIDATE_AGREEMENT),
         ("all", "all runs", 1.0))
PER_CLASS = (4, 15)


def seed_runs(name: str, row: dict[str, Any]) -> dict[str, np.ndarray]:
    """One seed's four candidate labelings, the continuation from its recorded start."""
    labels = {c: run(name, c, row["seed"])[1] for c in CANDIDATES[:3]}
    start = ("schedule" if row["schedule"]["score"] >= row["graph"]["score"] else "graph")
    labels["continuation"] = run(name, "continuation", row["seed"], labels[start])[1]
    return labels


def accuracy(y: np.ndarray, labels: np.ndarray, picked: Any) -> dict[str, float]:
    result = reliable_accuracy(y, labels, picked)
    return {"accuracy": result["accuracy"], "n": result["n"],
            "clusters": int((picked.counts > 0).sum())}


def measure(name: str, record: dict[str, Any]) -> dict[str, Any]:
    """Every rule on one set (its page record: per seed the candidates' scores and pick)."""
    x1, x2, y = load(name)
    k = int(y.max()) + 1
    seeds = [seed_runs(name, row) for row in record["runs"]]
    picks = [runs[row["picked"]] for runs, row in zip(seeds, record["runs"], strict=True)]
    scores = [row[row["picked"]]["score"] for row in record["runs"]]
    # The vote of run --seeds (humelabel.runs.select.pick_per_seed) around its reference.
    combined = combine_labelings(picks, reference_scores(picks, scores), k)
    labels = combined.labels
    neigh, dist = neighbor_agreement(x1, labels)
    confidence = label_confidence([x1, x2], labels)
    every = candidate_agreement([runs[c] for runs in seeds for c in CANDIDATES], labels, k)
    out: dict[str, Any] = {"k": k, "n": int(y.shape[0]),
                           "ceiling": plurality_ceiling(y, labels)}
    for key, _, share in RULES:
        for per_class in PER_CLASS:
            picked = select_reliable(labels, combined.agreement, neigh, per_class,
                                     mean_distance=dist, confidence=confidence, n_classes=k,
                                     candidate_agreement=None if share is None else every,
                                     min_candidate_agreement=share or 0.0)
            out[f"{key}@{per_class}"] = accuracy(y, labels, picked)
    single: dict[str, list[dict[str, float]]] = {"single": [], "single_candidates": []}
    for runs, row in zip(seeds, record["runs"], strict=True):
        own = runs[row["picked"]]
        own_neigh, own_dist = neighbor_agreement(x1, own)
        own_conf = label_confidence([x1, x2], own)
        agree = candidate_agreement([runs[c] for c in CANDIDATES], own, k)
        for key, candidates in (("single", None), ("single_candidates", agree)):
            picked = select_reliable(own, np.ones(own.shape[0]), own_neigh, 4,
                                     mean_distance=own_dist, confidence=own_conf,
                                     n_classes=k, candidate_agreement=candidates,
                                     min_candidate_agreement=1.0)
            single[key].append(accuracy(y, own, picked))
    for key, values in single.items():
        out[f"{key}@4"] = {field: statistics.median(v[field] for v in values)
                           for field in ("accuracy", "n", "clusters")}
    print(name, json.dumps(out), file=sys.stderr, flush=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", nargs="*", default=list(PAGES))
    parser.add_argument("--out", default=str(RESULTS / "reliable_candidates"))
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    for page in args.pages:
        records = json.loads((RESULTS / f"{page}.json").read_text())
        for name, record in records.items():
            if name != "stamp" and "continuation" in record["runs"][0]:
                results[name] = {"page": page, **measure(name, record)}
    cell = lambda r: f"{100 * r['accuracy']:.1f} ({r['n']}, {r['clusters']})"  # noqa: E731
    heads = [f"{title}, {p} per cluster" for _, title, _ in RULES for p in PER_CLASS]
    lines = [
        "Reliable samples of `run --seeds 0-4` (the five seeds' picks voted) by rule, and of "
        "one seed's pick (`run`, median over seeds 0-4): % correct (samples, clusters with "
        "a sample). Candidates: schedule, graph, ratio, continuation; 20 runs per set.",
        "",
        "| set | k | ceiling | " + " | ".join(heads) + " | one seed, 4 | one seed, all 4 "
        "candidates agreeing, 4 |",
        "|---" * (len(heads) + 5) + "|",
    ]
    for name, r in results.items():
        lines.append(f"| {name} | {r['k']} | {100 * r['ceiling']:.1f} | "
                     + " | ".join(cell(r[f"{key}@{p}"]) for key, _, _ in RULES
                                  for p in PER_CLASS)
                     + f" | {cell(r['single@4'])} | {cell(r['single_candidates@4'])} |")
    summary = ["", "Over the sets:", ""]
    for key in [f"{rule}@{p}" for rule, _, _ in RULES for p in PER_CLASS] + [
            "single@4", "single_candidates@4"]:
        acc = np.array([r[key]["accuracy"] for r in results.values()])
        n = np.array([r[key]["n"] for r in results.values()])
        summary.append(f"- {key}: mean {100 * acc.mean():.1f}% correct, at least 95% on "
                       f"{(acc >= 0.95).sum()} of {acc.size} sets, {n.mean():.1f} samples "
                       "on average")
    for new, old in (("candidates@4", "picks@4"), ("candidates@15", "picks@15"),
                     ("single_candidates@4", "single@4")):
        diff = np.array([r[new]["accuracy"] - r[old]["accuracy"] for r in results.values()])
        summary.append(f"- {new} against {old}: up on {(diff > 1e-9).sum()}, down on "
                       f"{(diff < -1e-9).sum()} (worst {100 * diff.min():+.1f} points)")
    text = "\n".join(lines + summary) + "\n"
    write_results(args.out, text, {"results": results},
                  stamp(None, {"min_candidate_agreement": MIN_CANDIDATE_AGREEMENT,
                               "candidates": list(CANDIDATES)}))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
