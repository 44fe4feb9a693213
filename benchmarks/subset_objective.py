"""Where HUME loses to k-means on class subsets: is it the generalization term or the prior?

The found-vs-truth diagnostic of the quality issue, on the data the defaults were not chosen
on (the class subsets of candidate_choice.md and candidate_choice_fresh.md). For each set,
Eq. 7 (``HUME.score_labelings``, the ``fast`` preset, 10 seeded splits, the same for every
labeling) scores the true labeling, k-means on phi1 and on both spaces (scikit-learn, n_init
10, seed 0, as on those pages) and the runs of ``humelabel run``'s candidates on seeds 0-2,
read from the cache of benchmarks/schedule_choice.py (fitted where missing), under the two
objectives the candidates search: phi2 = TF-IDF (constant tau and the tau schedule) and
phi2 = TF-IDF plus phi1's 30-NN graph view (the graph candidate). Per objective:

- **gen**: the generalization term of the truth minus the lowest of the found runs (negative:
  the term prefers the truth to everything the search found), and the same for the better
  k-means;
- **loss**: the same margins for the full loss, generalization minus 10 x entropy of the
  class proportions (positive: the objective prefers what the search found).

A set whose gen margin is negative and loss margin positive is one where the uniform prior,
not the generalization term, makes the search leave the truth.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/subset_objective.py [--datasets ...]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, script_argv, stamp, write_results  # noqa: E402
from schedule_choice import GRAPH, load, run  # noqa: E402
from textdata import concatenate  # noqa: E402

from humelabel import HUME  # noqa: E402
from humelabel.analysis.baselines import kmeans_labels  # noqa: E402
from humelabel.analysis.metrics import cluster_accuracy  # noqa: E402
from humelabel.core.presets import resolve  # noqa: E402

#: The class subsets of the two candidate-choice pages.
SUBSETS = ("banking77:10:0", "banking77:10:1", "banking77:10:2", "banking77:10:3",
           "banking77:20:4", "banking77:40:5", "stackoverflow:10:0", "stackoverflow:10:1",
           "stackoverflow:5:2", "biomedical:10:0", "biomedical:10:1", "biomedical:5:2",
           "trec:4:0", "trec:5:2", "trec:3:1", "ag_news:3:0", "ag_news:3:1")
SEEDS = (0, 1, 2)
#: objective -> (HUME overrides, the candidates whose runs it searched).
OBJECTIVES: dict[str, tuple[dict[str, Any], tuple[str, ...]]] = {
    "TF-IDF": ({}, ("constant", "schedule")),
    "TF-IDF + graph": (GRAPH, ("graph",)),
}


def candidate_runs(name: str, candidate: str) -> dict[str, np.ndarray]:
    """The labels (n,) of one candidate on SEEDS, keyed ``candidate seed`` (schedule_choice's
    cache; a missing run is fitted and cached)."""
    return {f"{candidate} {seed}": run(name, candidate, seed)[1] for seed in SEEDS}


def margins(terms: dict[str, dict[str, float]], found: list[str]) -> dict[str, float]:
    """Truth and best k-means minus the best found run, for the gen term and the loss."""
    out = {}
    for part in ("generalization", "loss"):
        best = min(terms[key][part] for key in found)
        out[f"{part}_truth"] = terms["truth"][part] - best
        out[f"{part}_kmeans"] = min(terms["k-means phi1"][part],
                                    terms["k-means concat"][part]) - best
    return out


def dataset(name: str) -> dict[str, Any]:
    x1, x2, y = load(name)
    k = int(y.max()) + 1
    labelings = {"truth": y, "k-means phi1": kmeans_labels(x1, k, random_state=0),
                 "k-means concat": kmeans_labels(concatenate([x1, x2]), k, normalize=False,
                                                 random_state=0)}
    record: dict[str, Any] = {"k": k, "n": int(y.size),
                              "smallest_class": float(np.bincount(y).min() / y.size),
                              "largest_class": float(np.bincount(y).max() / y.size),
                              "objectives": {}}
    for objective, (overrides, candidates) in OBJECTIVES.items():
        found = {key: labels for c in candidates for key, labels in candidate_runs(name, c).items()}
        scored = {**labelings, **found}
        model = HUME(k, random_state=0, device="cpu", **overrides)
        terms = model.score_labelings(x2, list(scored.values()), num_splits=10, seed=0,
                                      phi1=x1 if overrides else None)
        terms_of = {key: {part: float(v) for part, v in t.items()}
                    for key, t in zip(scored, terms, strict=True)}
        record["objectives"][objective] = {
            "terms": terms_of,
            "acc": {key: cluster_accuracy(y, labels) for key, labels in scored.items()},
            **margins(terms_of, list(found))}
        print(name, objective, {key: round(v, 3) for key, v in
                                record["objectives"][objective].items() if key.endswith(
                                    ("_truth", "_kmeans"))}, file=sys.stderr, flush=True)
    return record


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(SUBSETS))
    parser.add_argument("--out", default=str(RESULTS / "subset_objective.md"))
    args = parser.parse_args()
    results = {name: dataset(name) for name in args.datasets}
    lines = [
        "# Where HUME loses to k-means on class subsets: the generalization term or the prior?",
        "",
        "Eq. 7 (`fast` preset, 10 seeded splits, the same for every labeling) of the true "
        "labeling, k-means (phi1 MiniLM and both spaces; seed 0) and the runs of `humelabel "
        "run`'s candidates on seeds 0-2 (cached by `benchmarks/schedule_choice.py`), under the "
        "objective each candidate searched: phi2 = TF-IDF (constant tau and the tau schedule, "
        "6 runs) and TF-IDF plus phi1's graph view (the graph candidate, 3 runs). Margins: the "
        "truth's (or the better k-means') value minus the lowest of the found runs, for the "
        "generalization term (**gen**) and for the loss, gen - 10 x entropy (**loss**). A "
        "negative gen margin with a positive loss margin: the generalization term prefers the "
        "truth to every found run, and the uniform prior's entropy term is what makes the "
        "search prefer its own labelings. ACC: the best found run and the better k-means.",
        "",
        "| set | k | classes (% of rows) | objective | ACC best found / k-means | gen truth "
        "| loss truth | gen k-means | loss k-means |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    count = {objective: 0 for objective in OBJECTIVES}
    kmeans = {objective: 0 for objective in OBJECTIVES}
    for name, r in results.items():
        for objective, o in r["objectives"].items():
            found = [key for key in o["acc"] if key.split()[0] in OBJECTIVES[objective][1]]
            best_found = max(o["acc"][key] for key in found)
            best_kmeans = max(o["acc"]["k-means phi1"], o["acc"]["k-means concat"])
            prior_decides = o["generalization_truth"] < 0 < o["loss_truth"]
            count[objective] += prior_decides
            kmeans[objective] += o["generalization_kmeans"] < 0 < o["loss_kmeans"]
            gen = f"{o['generalization_truth']:+.3f}"
            lines.append(
                f"| {name} | {r['k']} | {100 * r['smallest_class']:.1f}-"
                f"{100 * r['largest_class']:.1f} | {objective} | {100 * best_found:.1f} / "
                f"{100 * best_kmeans:.1f} | {f'**{gen}**' if prior_decides else gen} | "
                f"{o['loss_truth']:+.3f} | {o['generalization_kmeans']:+.3f} | "
                f"{o['loss_kmeans']:+.3f} |")
    lines += ["", "Bold: the generalization term prefers the truth to every found run and the "
              "loss does not (the prior decides): " + ", ".join(
                  f"{objective} {c} of {len(results)} sets" for objective, c in count.items())
              + ". The same for the better k-means: " + ", ".join(
                  f"{objective} {c} of {len(results)}" for objective, c in kmeans.items())
              + ".", "",
              "Regenerate: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/subset_objective.py"
              + ("" if args.datasets == list(SUBSETS) else " --datasets "
                 + " ".join(args.datasets)) + "`"]
    write_results(args.out, "\n".join(lines), results,
                  stamp(script_argv(), {"hume": resolve("fast", {}), "seeds": list(SEEDS)}))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
