"""The results table: baselines and HUME on every shared text dataset, with confusion plots.

Per dataset (phi1 = MiniLM, phi2 = MPNet; biomedical ships no embeddings, so there phi1 =
MiniLM computed here and phi2 = TF-IDF): k-means on phi1, on phi2 and on both concatenated
(scikit-learn, n_init 10, rows L2-normalised); the supervised linear probe on phi1 and on phi2
(logistic regression C=10, 5-fold cross-validated predictions: a ceiling that uses the
labels); HUME with the ``fast`` preset, the median of single runs over the seeds, and their
combination (generalization-score reference, Hungarian alignment, majority vote). Cells are
ACC / NMI / ARI in percent and the wall time (HUME: median per run; combined: all runs plus
scoring). Then the refinement of ``humelabel.runs.refine`` over both spaces (each run refined
on its own, median; and the combination refined) and the reliable samples of the combination
(run agreement + neighbour agreement in phi1, ``humelabel.runs.reliable``) at 4 and 15 per
class: their accuracy in percent, ranked within equal agreement by density (the default) and
by the cross-fitted confidence over both spaces (``humelabel reliable --confidence-spaces``),
and their ceiling: the share of clusters whose most common class is the one the matching gives
them (``plurality_ceiling``; a cluster that fails is a split or a mixture, and its typical
points are wrong).
Two diagnostics close the table: the objective of the found
labeling (median over the runs) next to the truth's, the same splits for both (found below
the truth: the objective prefers what the search found; above: the search stopped short),
and the correlation analysis's headline Pearson rho of the objective with the distance to the
truth over k-class labelings (``humelabel.analysis.correlation``; paper 0.93). A
confusion-matrix plot of the combined labeling per dataset goes next to the table.

``--phi2 tfidf`` gives the setting of ``humelabel run`` without ``--spaces`` (MiniLM / word
TF-IDF on every dataset).

Every result is cached under benchmarks/work/report (and HUME runs under benchmarks/work/hume),
so an interrupted report resumes.

``--tau-end 0.1`` runs HUME with the tau schedule only; ``--tau-end auto`` does what
``humelabel run`` does by default: each seed is fitted with the schedule to
``AUTO_TAU_END``, with phi1's graph view (``--no-graph``: without it), with
``prior="ratio"`` (``--no-ratio``: without it) and, last, with the ratio prior and a size
floor started from the better-scoring of the first two (``--no-continuation``: without it,
and with constant tau instead), and the run whose labeling is most learnable in both spaces
(``humelabel.runs.learnability``; the continuation's score less its margin; the ratio priors'
only without a nearly empty cluster, ``humelabel.runs.select.eligible``), is that seed's run
(its time: every fit and the scoring); the combination votes the seeds' picks (as ``run
--seeds``).

Usage: python benchmarks/report.py [--datasets ...] [--seeds 0 1 2 3 4] [--threads 1]
           [--phi2 mpnet|tfidf] [--tau-end X|auto] [--no-graph] [--no-ratio]
           [--no-continuation] [--out docs/results/report.md]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, script_argv, stamp, write_results  # noqa: E402
from textdata import DATASETS, WORK, class_names, hume_run, load_space, truth  # noqa: E402

from humelabel import HUME, PRESETS  # noqa: E402
from humelabel.analysis.baselines import kmeans_labels, linear_probe_labels  # noqa: E402
from humelabel.analysis.correlation import correlation_analysis  # noqa: E402
from humelabel.analysis.metrics import evaluate  # noqa: E402
from humelabel.analysis.plots import plot_confusion  # noqa: E402
from humelabel.core.presets import resolve  # noqa: E402
from humelabel.io import save_npy_atomic, write_json_atomic  # noqa: E402
from humelabel.runs.candidates import (  # noqa: E402
    AUTO_TAU_END,
    candidate_grid,
    continuation_start,
    is_continuation,
    score_margin,
    starts,
)
from humelabel.runs.continuation import remembered  # noqa: E402
from humelabel.runs.ensemble import GeneralizationScorer, combine_labelings  # noqa: E402
from humelabel.runs.learnability import LearnabilityScorer  # noqa: E402
from humelabel.runs.refine import label_confidence, refine_labels  # noqa: E402
from humelabel.runs.reliable import (  # noqa: E402
    candidate_agreement,
    neighbor_agreement,
    plurality_ceiling,
    reliable_accuracy,
    select_reliable,
)
from humelabel.runs.select import pick_per_seed  # noqa: E402
from humelabel.runs.select import tag as config_tag  # noqa: E402

METHODS = ("kmeans phi1", "kmeans phi2", "kmeans concat", "probe phi1", "probe phi2",
           "HUME run (median)", "HUME combined", "HUME run refined (median)",
           "HUME combined refined")
RELIABLE = (4, 15)
#: phi2 of the table (--phi2); mpnet falls back to tfidf where no MPNet ships (biomedical).
PHI2 = {"name": "mpnet"}
#: Hyperparameters of the HUME runs over the fast preset (--tau-end).
OVERRIDES: dict[str, Any] = {}
#: --tau-end auto: the candidate overrides, chosen between by the learnability score.
AUTO: list[dict[str, Any]] = []
AUTO_NOTE = (f" and, per seed, {{constant}}tau_end {AUTO_TAU_END:g}{{graph}}{{ratio}}"
             "{continuation}, "
             "whichever labeling the learnability score (humelabel.runs.learnability) prefers "
             "(the ratio priors' only without a cluster under 5% of the mean size; run "
             "time: every candidate's fit and the scoring; combined: the seeds' picks "
             "voted around the one ranked first by agreement with the others plus score, as "
             "`run --seeds` does, its time every fit)")
GRAPH_NOTE = " or phi1's graph view (graph_neighbors 30, constant tau; `run --graph`)"
RATIO_NOTE = " or prior ratio (constant tau; `run --ratio`)"
CONTINUATION_NOTE = (" or prior ratio with size_floor 0.2 started from the better-scoring of "
                     "the uniform-prior runs, its score less 0.03 (`run --continuation`)")


def spaces(name: str) -> tuple[str, str]:
    if PHI2["name"] == "mpnet" and name == "biomedical":
        return ("minilm", "tfidf")
    return ("minilm", PHI2["name"])


def cache_path(name: str, stem: str) -> Path:
    """Where the report caches one result of a dataset (one folder per phi2)."""
    tag = "" if PHI2["name"] == "mpnet" else f"-{PHI2['name']}"
    return WORK / f"report{tag}" / name / (stem.replace(" ", "-") + ".json")


def cached(name: str, method: str, compute: Any) -> dict[str, Any]:
    path = cache_path(name, method)
    if path.exists():
        return json.loads(path.read_text())
    start = time.perf_counter()
    labels = compute()
    record = {**evaluate(truth(name), labels), "time_s": time.perf_counter() - start}
    save_npy_atomic(path.with_suffix(".npy"), labels)
    write_json_atomic(path, record)
    print(f"{name} {method}: ACC {record['acc']:.3f} in {record['time_s']:.0f} s",
          file=sys.stderr, flush=True)
    return record


def baselines(name: str) -> dict[str, dict[str, Any]]:
    y = truth(name)
    k = int(y.max()) + 1
    s1, s2 = spaces(name)
    x1, x2 = load_space(name, s1), load_space(name, s2)
    return {
        "kmeans phi1": cached(name, "kmeans phi1", lambda: kmeans_labels(x1, k)),
        "kmeans phi2": cached(name, "kmeans phi2", lambda: kmeans_labels(x2, k)),
        "kmeans concat": cached(name, "kmeans concat", lambda: kmeans_labels(
            load_space(name, f"{s1}+{s2}"), k, normalize=False)),
        "probe phi1": cached(name, "probe phi1", lambda: linear_probe_labels(x1, y)),
        "probe phi2": cached(name, "probe phi2", lambda: linear_probe_labels(x2, y)),
    }


def objective_rho(name: str) -> dict[str, Any]:
    """The correlation analysis's headline rho under the runs' objective (cached)."""
    path = cache_path(name, "correlation")
    if path.exists():
        return json.loads(path.read_text())
    y = truth(name)
    s1, s2 = spaces(name)
    start = time.perf_counter()
    result = correlation_analysis(load_space(name, s1), load_space(name, s2), y,
                                  HUME(int(y.max()) + 1, device="cpu", **OVERRIDES),
                                  num_splits=10)
    record = {"pearson": result.pearson, "pearson_p": result.pearson_p,
              "time_s": time.perf_counter() - start}
    write_json_atomic(path, record)
    return record


def hume(name: str, seeds: list[int], figure: Path) -> dict[str, dict[str, Any]]:
    y = truth(name)
    s1, s2 = spaces(name)
    schedule: dict[str, Any] = {}
    if AUTO:
        runs, combined, score_seconds, schedule, fitted = auto_schedule(name, seeds)
    else:
        runs = [hume_run(name, s1, s2, seed, overrides=OVERRIDES) for seed in seeds]
        fitted = []  # no candidates: the reliable samples' candidate filter is run's
        start = time.perf_counter()
        scorer = GeneralizationScorer().fit(load_space(name, s2))
        scores = [scorer.score(labels) for _, labels in runs]
        combined = combine_labelings([labels for _, labels in runs], scores, int(y.max()) + 1)
        score_seconds = time.perf_counter() - start
    records = [record for record, _ in runs]
    median = {key: statistics.median(r[key] for r in records)
              for key in ("acc", "nmi", "ari", "time_s")}
    plot_confusion(y, combined.labels, figure, class_names=class_names(name),
                   title=f"{name}, HUME combined ({len(seeds)} runs)")
    both = [load_space(name, s1), load_space(name, s2)]
    start = time.perf_counter()
    refined_runs = [evaluate(y, refine_labels(both, labels)) for _, labels in runs]
    refine_seconds = (time.perf_counter() - start) / len(runs)
    start = time.perf_counter()
    refined = evaluate(y, refine_labels(both, combined.labels))
    refined["time_s"] = time.perf_counter() - start
    neigh, dist = neighbor_agreement(both[0], combined.labels)
    reliable = {}
    confidence = label_confidence(both, combined.labels)
    # run --seeds 0-4 --reliable-min-agreement 0.9: every candidate run of every seed.
    agree = (candidate_agreement(fitted, combined.labels, int(y.max()) + 1)
             if len(seeds) > 1 and fitted else None)
    for per_class in RELIABLE:
        for tag, conf, candidates in (("", None, None), ("+confidence", confidence, None),
                                      ("+candidates", confidence, agree)):
            if tag == "+candidates" and candidates is None:
                continue
            picked = select_reliable(combined.labels, combined.agreement, neigh, per_class,
                                     mean_distance=dist, confidence=conf,
                                     n_classes=int(y.max()) + 1,
                                     candidate_agreement=candidates)
            reliable[f"reliable@{per_class}{tag}"] = reliable_accuracy(y, combined.labels,
                                                                       picked)
    return {
        "HUME run refined (median)": {
            **{key: statistics.median(r[key] for r in refined_runs)
               for key in ("acc", "nmi", "ari")},
            "time_s": median["time_s"] + refine_seconds, "runs": refined_runs},
        "HUME combined refined": refined,
        **reliable,
        "reliable ceiling": plurality_ceiling(y, combined.labels),
        "HUME run (median)": {**median, "runs": records},
        "objective": {"found_median": statistics.median(r["objective_found"] for r in records),
                      "truth": records[0]["objective_truth"]},
        "rho": objective_rho(name),
        "HUME combined": {**evaluate(y, combined.labels),
                          "time_s": sum(r["time_s"] for r in records) + score_seconds,
                          "scores": combined.scores.tolist(),
                          "reference_seed": seeds[combined.reference]},
        "schedule": schedule,
    }


def auto_schedule(name: str, seeds: list[int]) -> tuple[
        list[tuple[dict[str, Any], Any]], Any, float, dict[str, Any], list[Any]]:
    """``run``'s default: per seed the candidate run the learnability score prefers (its
    time_s: every candidate's fit and the scoring); the combination: those picks voted
    (humelabel.runs.select.pick_per_seed, as ``run --seeds``). Returns (the picked run of
    each seed, the combination, the seconds of scoring and voting, a record of the picks,
    every candidate run's labels (as ``run --reliable`` asks them to agree))."""
    y = truth(name)
    s1, s2 = spaces(name)
    k = int(y.max()) + 1
    learn = LearnabilityScorer().fit([load_space(name, s1), load_space(name, s2)])
    score_many = remembered(learn.score_many)
    candidates: list[list[tuple[dict[str, Any], Any]]] = [
        [] if is_continuation(over) else [hume_run(name, s1, s2, seed, overrides=over)
                                          for seed in seeds] for over in AUTO]
    for c, over in enumerate(AUTO):  # run --continuation: from the seed's best uniform run
        for i, seed in enumerate(seeds) if is_continuation(over) else ():
            first = [candidates[j][i][1] for j in starts(AUTO)]
            start = continuation_start(first, score_many(first))
            candidates[c].append(hume_run(name, s1, s2, seed,
                                          overrides={**over, "init": start}))
    start = time.perf_counter()
    rows, picks, combined = pick_per_seed(
        AUTO, {config_tag(over): [labels for _, labels in runs]
               for over, runs in zip(AUTO, candidates, strict=True)}, k, score_many,
        seeds, margins=[score_margin(over) for over in AUTO])
    seconds = time.perf_counter() - start
    tags = [config_tag(over) for over in AUTO]
    picked, records = [], []
    for i, seed in enumerate(seeds):
        best = tags.index(picks[i])
        record, labels = candidates[best][i]
        # Every candidate's fit, and this seed's share of the scoring.
        total = sum(runs[i][0]["time_s"] for runs in candidates) + seconds / len(seeds)
        picked.append(({**record, "time_s": total, "schedule": AUTO[best]}, labels))
        records.append({"seed": seed, "picked": AUTO[best],
                        "scores": [r["score"] for r in rows if r["seed"] == seed],
                        "acc": [runs[i][0]["acc"] for runs in candidates]})
    # The picked runs' times already hold every fit, so the combination's wall time (their
    # sum) counts every candidate's runs, as run --seeds fits them.
    return (picked, combined, 0.0,
            {"per_seed": records, "combination": {
                "reference_scores": combined.scores.tolist(),
                "reference_seed": seeds[combined.reference]}},
            [labels for runs in candidates for _, labels in runs])


def cell(record: dict[str, Any]) -> str:
    seconds = record["time_s"]
    shown = f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.0f} min"
    return (f"{100 * record['acc']:.1f} / {100 * record['nmi']:.1f} / "
            f"{100 * record['ari']:.1f} ({shown})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--phi2", default="mpnet", help="phi2 of every dataset (mpnet: "
                        "TF-IDF on biomedical, which ships no MPNet)")
    parser.add_argument("--tau-end", default=None,
                        help="HUME's tau_end, or auto (humelabel run's default: constant tau "
                        "or the schedule, by the learnability score; default: constant tau)")
    parser.add_argument("--no-graph", action="store_true",
                        help="with --tau-end auto: without the graph candidate (run --no-graph)")
    parser.add_argument("--no-ratio", action="store_true",
                        help="with --tau-end auto: without the ratio candidate (run --no-ratio)")
    parser.add_argument("--no-continuation", action="store_true",
                        help="with --tau-end auto: without the continuation candidate (run "
                        "--no-continuation)")
    parser.add_argument("--out", default=str(RESULTS / "report.md"))
    args = parser.parse_args()
    PHI2["name"] = args.phi2
    if args.tau_end == "auto":
        AUTO.extend({key: value for key, value in config.items() if value is not None}
                    for config in candidate_grid("auto", not args.no_graph,
                                                 not args.no_ratio,
                                                 not args.no_continuation) or [])
    elif args.tau_end is not None:
        OVERRIDES["tau_end"] = float(args.tau_end)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    figures = out.parent / out.stem
    results: dict[str, dict[str, Any]] = {}
    for name in args.datasets:
        results[name] = {**baselines(name),
                         **hume(name, args.seeds, figures / f"confusion-{name}.png")}
    heads = []
    for name in args.datasets:
        y = truth(name)
        s1, s2 = spaces(name)
        heads.append(f"{name} (n {y.size:,}, k {int(y.max()) + 1}; {s1} / {s2})")
    rows = ["| method | " + " | ".join(heads) + " |", "|---" * (len(heads) + 1) + "|"]
    for method in METHODS:
        rows.append(f"| {method} | " + " | ".join(cell(results[name][method])
                                                  for name in args.datasets) + " |")
    for per_class in RELIABLE:
        for tag, title in (("", ""), ("+confidence", ", ranked by confidence"),
                           ("+candidates", ", ranked by confidence, 90% of all runs agreeing "
                            "(`--reliable-min-agreement 0.9`)")):
            key = f"reliable@{per_class}{tag}"
            if any(key not in results[name] for name in args.datasets):
                continue
            rows.append(f"| reliable samples, {per_class} per class{title} (% correct) | "
                        + " | ".join(f"{100 * results[name][key]['accuracy']:.1f} "
                                     f"(n {results[name][key]['n']})"
                                     for name in args.datasets) + " |")
    rows.append("| reliable samples, ceiling: clusters whose most common class is their matched "
                "one (%) | " + " | ".join(f"{100 * results[name]['reliable ceiling']:.1f}"
                                          for name in args.datasets) + " |")
    rows.append("| objective, found (median run) / truth | " + " | ".join(
        f"{results[name]['objective']['found_median']:.3f} / "
        f"{results[name]['objective']['truth']:.3f}" for name in args.datasets) + " |")
    rows.append("| objective rho, k-class labelings (paper 0.93) | " + " | ".join(
        f"{results[name]['rho']['pearson']:.2f}" for name in args.datasets) + " |")
    links = ", ".join(f"[{name}]({out.stem}/confusion-{name}.png)" for name in args.datasets)
    auto_note = AUTO_NOTE.format(constant="constant tau, " if args.no_continuation else "",
                                 continuation="" if args.no_continuation
                                 else CONTINUATION_NOTE,
                                 graph="" if args.no_graph else GRAPH_NOTE,
                                 ratio="" if args.no_ratio else RATIO_NOTE)
    header = (
        "Cells: ACC / NMI / ARI in percent (wall time). phi1 / phi2 under each dataset. "
        "Probes use the true labels (5-fold cross-validated logistic regression, C=10): a "
        f"ceiling, not a competitor. HUME: preset `fast` ({dict(PRESETS['fast'])}) with "
        f"{OVERRIDES or 'nothing changed'}"
        f"{auto_note if AUTO else ''}"
        f", seeds "
        f"{args.seeds}; run = median over seeds; combined = majority vote of the aligned runs "
        f"(reference: {'see above' if AUTO else 'best generalization score'}). "
        f"Machine: {platform.machine()} CPU, "
        f"{args.threads} torch thread(s), torch {torch.__version__}. Confusion matrices of "
        f"the combined labelings: {links}.\n\n"
        f"Refined: cross-fitted logistic regression over {{phi1, phi2}} (humelabel.runs."
        f"refine; `run --refine`). Reliable samples: from the combination, neighbours in "
        f"phi1; equal agreement ranked by density, or by the cross-fitted confidence over "
        f"both spaces (`reliable --confidence-spaces`), and of those only points that "
        f"90% of every candidate run of every seed give their label (`run --seeds 0-4 "
        f"--reliable N --reliable-min-agreement 0.9`, humelabel.runs.reliable."
        f"candidate_agreement); ceiling: the share of "
        f"clusters whose most "
        f"common class is the one the matching gives them (humelabel.runs.reliable."
        f"plurality_ceiling). Objective: Eq. 7 (lower is better) "
        f"on the same 10 splits for found and truth; rho: Pearson of the objective with "
        f"1 - ACC over labelings at controlled distances from the truth (docs/method.md, "
        f"Diagnostics).\n\n"
        f"Regenerate: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/report.py"
        f"{'' if args.phi2 == 'mpnet' else ' --phi2 ' + args.phi2}"
        f"{'' if args.tau_end is None else f' --tau-end {args.tau_end}'}"
        f"{' --no-graph' if args.no_graph else ''}"
        f"{'' if Path(args.out).name == 'report.md' else ' --out ' + args.out}`\n\n")
    write_results(out, header + "\n".join(rows) + "\n", results,
                  stamp(script_argv(), resolve("fast", OVERRIDES)))
    print(header + "\n".join(rows))


if __name__ == "__main__":
    main()
