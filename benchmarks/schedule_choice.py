"""Constant tau, the tau schedule (and phi1's graph view), chosen by the learnability score.

What ``humelabel run --tau-end auto`` (its default) does per seed: fit the ``fast`` preset
with constant tau and with ``tau_end`` = ``AUTO_TAU_END``, and keep the labeling with the
higher :class:`humelabel.runs.learnability.LearnabilityScorer` score over phi1 and phi2. Per
dataset: the median ACC (raw, and refined by ``humelabel.runs.refine``) of each schedule and
of the pick over the seeds, how often the pick was the better of a seed's two runs, and the
Spearman of the score with ACC over all runs, and k-means beside them (scikit-learn, n_init
10, one per seed, median ACC) on phi1, on phi2 and on both concatenated, so that every set
says whether the refined pick is the 3 points above the best k-means that the quality issue
asks for. ``--graph`` adds ``run``'s third candidate
(constant tau with ``graph_neighbors`` = ``GRAPH_NEIGHBORS``, ``humelabel run --graph``) and
writes candidate_choice.md, with the pick of the two schedules alone beside it; ``--ratio``
with it adds the fourth (constant tau with ``prior="ratio"``, ``humelabel run --ratio``),
with the pick of the first three beside the pick of the four, and the pick of the four by the
score without class weights (``LearnabilityScorer(class_weight=None)``, ``run``'s score before
2026-12-07); ``--continuation`` with it adds the fifth (``humelabel run --continuation``: the
ratio prior with a size floor, started from the better-scoring of the schedule's and the graph
view's run), and the pick becomes ``run``'s (schedule, graph, ratio, continuation; the
continuation's score less its margin), with the pick of the four before it beside it. Picks
follow ``run``: the ratio priors only where they have no nearly empty cluster
(:func:`humelabel.runs.select.eligible`).
Datasets: the
five shared text sets (MiniLM / TF-IDF, runs cached by ``textdata.hume_run``) and data the
score was not chosen on: the digits demo (its own two views) and random class subsets of the
text sets (``name:classes:draw``, e.g. ``banking77:10:0``: 10 classes drawn with seed 0),
cached in benchmarks/work/schedule/.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/schedule_choice.py \\
        [--datasets trec ... banking77:10:0 digits] [--seeds 0 1 2 3 4]
        [--graph [--ratio [--continuation]]] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import spearmanr

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, script_argv, stamp, write_results  # noqa: E402
from textdata import DATASETS, WORK, concatenate, hume_run, load_space, truth  # noqa: E402

from humelabel import HUME  # noqa: E402
from humelabel.analysis.baselines import kmeans_labels  # noqa: E402
from humelabel.analysis.metrics import evaluate  # noqa: E402
from humelabel.core.presets import resolve  # noqa: E402
from humelabel.io import save_npy_atomic, write_json_atomic  # noqa: E402
from humelabel.io.examples import digits_two_views  # noqa: E402
from humelabel.runs.candidates import (  # noqa: E402
    AUTO_TAU_END,
    CONTINUATION_FLOOR,
    CONTINUATION_MARGIN,
    GRAPH_NEIGHBORS,
    continuation_start,
)
from humelabel.runs.fitting import recorded  # noqa: E402
from humelabel.runs.learnability import LearnabilityScorer  # noqa: E402
from humelabel.runs.refine import refine_labels  # noqa: E402
from humelabel.runs.select import eligible  # noqa: E402

SCHEDULES: dict[str, dict[str, Any]] = {"constant": {}, "schedule": {"tau_end": AUTO_TAU_END}}
#: --graph: the third candidate of humelabel run.
GRAPH = {"graph_neighbors": GRAPH_NEIGHBORS}
#: --ratio: the fourth candidate of humelabel run.
RATIO = {"prior": "ratio"}
#: --continuation: run's fifth candidate, which takes the constant-tau fit's place; started
#: from the better-scoring of the schedule's and the graph view's run (its "init").
CONTINUATION = {"prior": "ratio", "size_floor": CONTINUATION_FLOOR}
#: The candidates run fits and picks from, with --continuation (CONTINUATION added above).
RUN_PICKS = ["schedule", "graph", "ratio", "continuation"]
HEADS = {"constant": "constant tau", "schedule": f"tau_end {AUTO_TAU_END:g}",
         "graph": "graph view", "ratio": "ratio prior", "continuation": "continuation"}
#: Candidates whose prior is not the uniform one: picked only where eligible.
NON_UNIFORM = ("ratio", "continuation")
#: --continuation: fit and pick as run does today (set by main).
CONTINUING = False
HELD_OUT = ("digits", "banking77:10:0", "banking77:10:1", "banking77:10:2",
            "stackoverflow:10:0", "biomedical:10:0", "trec:4:0", "ag_news:3:0")
CACHE = WORK / "schedule"
#: The k-means baselines: on phi1, on phi2, on both concatenated (textdata.concatenate).
KMEANS = ("phi1", "phi2", "concat")


def load(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """phi1 (n, d1), phi2 (n, d2), truth (n,) of a dataset, the digits demo or a subset."""
    if name == "digits":
        return digits_two_views()
    base, n_classes, draw = (name.split(":") + ["", ""])[:3]
    x1, x2, y = load_space(base, "minilm"), load_space(base, "tfidf"), truth(base)
    if not n_classes:
        return x1, x2, y
    rng = np.random.default_rng(int(draw))
    classes = np.sort(rng.choice(int(y.max()) + 1, int(n_classes), replace=False))
    rows = np.flatnonzero(np.isin(y, classes))
    return x1[rows], x2[rows], np.searchsorted(classes, y[rows])


def run(name: str, schedule: str, seed: int, start: np.ndarray | None = None
        ) -> tuple[dict[str, Any], np.ndarray]:
    """One cached fit of a candidate ("constant", "schedule", "graph", "ratio", or
    "continuation" from the labeling ``start``): (record with acc and time_s, labels (n,))."""
    if schedule == "continuation":
        overrides = {**CONTINUATION, "init": start}
    else:
        overrides = {"graph": GRAPH, "ratio": RATIO}.get(schedule) or SCHEDULES[schedule]
    if name in DATASETS:
        return hume_run(name, "minilm", "tfidf", seed, overrides=overrides)
    begun = "" if start is None else "-" + recorded(overrides)["init"].split(":")[1]
    stem = CACHE / f"{name.replace(':', '_')}-{schedule}{begun}-{seed}"
    if stem.with_suffix(".json").exists():
        return (json.loads(stem.with_suffix(".json").read_text()),
                np.load(stem.with_suffix(".npy"), allow_pickle=False))
    x1, x2, y = load(name)
    start = time.perf_counter()
    model = HUME(int(y.max()) + 1, **overrides, random_state=seed,
                 device="cpu").fit(x1, x2)
    record = {**evaluate(y, model.labels_), "time_s": time.perf_counter() - start}
    save_npy_atomic(stem.with_suffix(".npy"), model.labels_)
    write_json_atomic(stem.with_suffix(".json"), record)
    print(f"{name} {schedule} seed {seed}: ACC {record['acc']:.3f}", file=sys.stderr,
          flush=True)
    return record, model.labels_


def kmeans_acc(name: str, space: str, x: np.ndarray, y: np.ndarray, seed: int) -> float:
    """ACC of one cached k-means run on ``x`` (n, d), the set's phi1, phi2 or their
    concatenation ("concat", already normalised: its rows are not L2-normalised again)."""
    path = CACHE / f"{name.replace(':', '_')}-kmeans-{space}-{seed}.json"
    if path.exists():
        return float(json.loads(path.read_text())["acc"])
    labels = kmeans_labels(x, int(y.max()) + 1, normalize=space != "concat",
                           random_state=seed)
    acc = evaluate(y, labels)["acc"]
    write_json_atomic(path, {"acc": acc})
    return acc


def pick_candidate(row: dict[str, Any], candidates: list[str], key: str = "score") -> str:
    """As humelabel run picks: the ratio priors only where eligible, then the score (or
    another of the row's scores; the continuation's less its margin); ties go to the first."""
    return max(candidates, key=lambda c: (
        row[c]["eligible"] or c not in NON_UNIFORM,
        row[c][key] - (CONTINUATION_MARGIN if c == "continuation" else 0.0),
        -candidates.index(c)))


def dataset(name: str, seeds: list[int]) -> dict[str, Any]:
    x1, x2, y = load(name)
    views = dict(zip(KMEANS, (x1, x2, concatenate([x1, x2])), strict=True))
    kmeans = {space: statistics.median(kmeans_acc(name, space, views[space], y, seed)
                                       for seed in seeds) for space in KMEANS}
    scorer = LearnabilityScorer().fit([x1, x2])
    unweighted = LearnabilityScorer(class_weight=None).fit([x1, x2])
    rows = []
    fitted = [*SCHEDULES, *(["continuation"] if CONTINUING else [])]
    for seed in seeds:
        row: dict[str, Any] = {"seed": seed}
        for schedule in fitted:
            start = None
            if schedule == "continuation":
                start = continuation_start([run(name, c, seed)[1] for c in RUN_PICKS[:2]],
                                           [row[c]["score"] for c in RUN_PICKS[:2]])
            record, labels = run(name, schedule, seed, start)
            row[schedule] = {"acc": record["acc"], "score": scorer.score(labels),
                             "score_unweighted": unweighted.score(labels),
                             "refined": evaluate(y, refine_labels([x1, x2], labels))["acc"],
                             "eligible": eligible(labels, int(y.max()) + 1)}

        row["picked"] = pick_candidate(row, RUN_PICKS if CONTINUING else list(SCHEDULES))
        row["picked4"] = pick_candidate(row, list(SCHEDULES))
        row["picked2"] = pick_candidate(row, ["constant", "schedule"])
        row["picked3"] = pick_candidate(row, [c for c in SCHEDULES if c != "ratio"])
        row["picked_unweighted"] = pick_candidate(row, list(SCHEDULES), key="score_unweighted")
        rows.append(row)

    def median(schedule: str | None, key: str) -> float:
        return statistics.median(r[schedule or r["picked"]][key] for r in rows)

    accs = [r[s]["acc"] for r in rows for s in fitted]
    scores = [r[s]["score"] for r in rows for s in fitted]
    return {
        "n": int(y.size), "k": int(y.max()) + 1, "runs": rows,
        **{f"{s}_{key}": median(s, key) for s in fitted for key in ("acc", "refined")},
        "picked_acc": median(None, "acc"), "picked_refined": median(None, "refined"),
        "picked2_acc": statistics.median(r[r["picked2"]]["acc"] for r in rows),
        "picked2_refined": statistics.median(r[r["picked2"]]["refined"] for r in rows),
        "picked3_acc": statistics.median(r[r["picked3"]]["acc"] for r in rows),
        "picked3_refined": statistics.median(r[r["picked3"]]["refined"] for r in rows),
        "picked4_acc": statistics.median(r[r["picked4"]]["acc"] for r in rows),
        "picked4_refined": statistics.median(r[r["picked4"]]["refined"] for r in rows),
        "continuation_picked": sum(r["picked"] == "continuation" for r in rows),
        "picked_unweighted_refined": statistics.median(r[r["picked_unweighted"]]["refined"]
                                                       for r in rows),
        "ratio_picked": sum(r["picked"] == "ratio" for r in rows),
        "graph_picked": sum(r["picked"] == "graph" for r in rows),
        "better_picked": sum(r[r["picked"]]["acc"] == max(r[s]["acc"] for s in fitted)
                             for r in rows),
        "spearman": float(spearmanr(accs, scores)[0]),
        "kmeans": kmeans, "kmeans_best": max(kmeans.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=[*DATASETS, *HELD_OUT])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4],
                        help="default: 0-4 (the quality issue's protocol: medians of 5 seeds)")
    parser.add_argument("--graph", action="store_true",
                        help="add run's graph candidate (writes candidate_choice.md)")
    parser.add_argument("--ratio", action="store_true",
                        help="with --graph: add run's ratio candidate")
    parser.add_argument("--continuation", action="store_true",
                        help="with --ratio: add run's continuation candidate, in place of "
                        "constant tau in the pick (the pick of the four beside it)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    if args.ratio and not args.graph:
        parser.error("--ratio needs --graph")
    if args.continuation and not args.ratio:
        parser.error("--continuation needs --ratio")
    global CONTINUING
    CONTINUING = args.continuation
    if args.graph:
        SCHEDULES["graph"] = GRAPH
    if args.ratio:
        SCHEDULES["ratio"] = RATIO
    out = args.out or str(RESULTS / ("candidate_choice.md" if args.graph
                                     else "schedule_choice.md"))
    results = {name: dataset(name, args.seeds) for name in args.datasets}
    picks = (["picked4", "picked"] if args.continuation else ["picked3", "picked"] if args.ratio
             else ["picked2", "picked"] if args.graph else ["picked"])
    fitted = [*SCHEDULES, *(["continuation"] if args.continuation else [])]
    shown = [*fitted, *picks]
    heads = [HEADS.get(s, s) for s in fitted] + (
        ["picked of the four (before)", "picked by run (schedule, graph, ratio, continuation)"]
        if args.continuation else
        ["picked of the first three", "picked of the four"] if args.ratio else
        ["picked of the two schedules", "picked of the three"] if args.graph else ["picked"])
    extra = (["graph picked"] * args.graph + ["ratio picked"] * args.ratio
             + ["continuation picked"] * args.continuation)
    weights = args.ratio and not args.continuation
    unweighted = ["picked of the four, unweighted score (refined)"] * weights
    lines = ["| dataset | n | k | seeds | " + " | ".join(heads + unweighted + extra) +
             " | better run picked | Spearman score / ACC | k-means phi1 / phi2 / concat | "
             "refined pick - best k-means |",
             "|---" * (8 + len(shown) + len(unweighted) + len(extra)) + "|"]
    margins = {name: 100 * (r["picked_refined"] - r["kmeans_best"])
               for name, r in results.items()}
    for name, r in results.items():
        cells = [f"{100 * r[f'{s}_acc']:.1f} / {100 * r[f'{s}_refined']:.1f}" for s in shown]
        cells += [f"{100 * r['picked_unweighted_refined']:.1f}"] * weights
        cells += [f"{r[f'{e.split()[0]}_picked']} / {len(r['runs'])}" for e in extra]
        margin = margins[name]
        lines.append(f"| {name} | {r['n']:,} | {r['k']} | {len(r['runs'])} | "
                     + " | ".join(cells) + f" | {r['better_picked']} / {len(r['runs'])} | "
                     f"{r['spearman']:.2f} | "
                     + " / ".join(f"{100 * r['kmeans'][s]:.1f}" for s in KMEANS)
                     + f" | {'**' if margin >= 3 else ''}{margin:+.1f}"
                     f"{'**' if margin >= 3 else ''} |")
    summary = (f"Refined pick at least 3 points above the best k-means (bold): "
               f"{sum(m >= 3 for m in margins.values())} of {len(margins)} sets; below it: "
               f"{sum(m < 0 for m in margins.values())}.")
    if weights:
        before = [100 * (r["picked_unweighted_refined"] - r["kmeans_best"])
                  for r in results.values()]
        summary += (f" With the unweighted score: {sum(m >= 3 for m in before)} and "
                    f"{sum(m < 0 for m in before)}.")
    if args.continuation:
        before = [100 * (r["picked4_refined"] - r["kmeans_best"]) for r in results.values()]
        moved = [100 * (r["picked_refined"] - r["picked4_refined"]) for r in results.values()]
        summary += (f" The pick of the four (run before the continuation): "
                    f"{sum(m >= 3 for m in before)} and {sum(m < 0 for m in before)}; the "
                    f"continuation moves {sum(m >= 0.5 for m in moved)} sets up and "
                    f"{sum(m <= -0.5 for m in moved)} down by 0.5 or more (mean "
                    f"{statistics.mean(moved):+.2f}).")
    title = ("Constant tau, the tau schedule or phi1's graph view" if args.graph
             else "Constant tau or the tau schedule")
    graph_note = (f"; the third candidate: constant tau with phi1's {GRAPH_NEIGHBORS}-NN graph "
                  "as an extra phi2 space (`run --graph`, its default)" if args.graph else "")
    if args.ratio:
        title = "The candidates of `humelabel run`"
        graph_note += ("; the fourth: constant tau with `prior=\"ratio\"` (`run --ratio`, its "
                       "default), picked only where it has no cluster under 5% of the mean size "
                       "(`humelabel.runs.select.eligible`)")
    if args.continuation:
        graph_note += ("; the fifth, which replaces constant tau in `run`'s pick: "
                       f"`prior=\"ratio\"` with `size_floor` {CONTINUATION_FLOOR:g}, started "
                       "from the better-scoring of the schedule's and the graph view's run, "
                       f"its score less {CONTINUATION_MARGIN:g} (`run --continuation`, its "
                       "default)")
    text = (
        f"# {title}, chosen by the learnability score\n\n"
        "What `humelabel run` does by default (`--tau-end auto`): each seed fitted with "
        f"constant tau and with `tau_end` {AUTO_TAU_END:g}{graph_note} (`fast` preset; phi1 "
        "MiniLM, phi2 TF-IDF; the digits demo its own two views), the labeling with the best "
        "learnability score kept (`humelabel.runs.learnability`: mean over both spaces of "
        "the 5-fold cross-validated accuracy of logistic regression, classes weighted "
        "equally; \"unweighted score\": without the weights, `run`'s score before "
        "2026-12-07). Cells: median ACC over "
        "the seeds, raw / refined (`humelabel.runs.refine`), in percent. `name:c:d`: c "
        "classes of the dataset drawn with seed d (data the score was not chosen on, with "
        "the digits demo). Spearman: the score against ACC over all runs of the dataset. "
        "k-means: scikit-learn (n_init 10, rows L2-normalised; the concatenation: each "
        "space normalised, centred and scaled to equal weight), one per seed, median ACC; the "
        "last column: the refined pick's median minus the best of the three.\n\n"
        + "\n".join(lines) + f"\n\n{summary}\n\nRegenerate: `OMP_NUM_THREADS=1 .venv/bin/python "
        f"{shlex.join(script_argv()[1:])}`\n")
    write_results(Path(out), text, results, stamp(script_argv(), resolve("fast", {})))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
