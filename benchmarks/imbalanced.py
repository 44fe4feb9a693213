"""Imbalanced class subsets of the (nearly) balanced shared datasets: does `run` beat k-means?

The shared topic datasets (AG News, StackOverflow, biomedical) have equal classes, the class
subsets of candidate_choice.md keep them, and TREC is the only imbalanced shared set. Real
data is rarely balanced. Here each set draws k classes of a dataset (a seeded draw) and
gives them geometric sizes, ``top * 0.6 ** i`` rows (at least 25) in a shuffled order: for k
= 8 from 1,000 down to 27 rows (classes of 0.4-41%), for k = 4 from 1,900 to 410 (10-46%).
Banking77's intents (75-227 rows each) get 10 classes from 200 rows down, each size capped
at the rows its intent has (added 2026-12-07, after the ratio candidate was adopted: intents,
where the ratio prior collapses classes, had no imbalanced set).
On each set, seeds 0-4, phi1 MiniLM (shipped), phi2 word TF-IDF fitted on the set's own
texts (as ``humelabel run`` embeds what it is given; ``humelabel.embed.tfidf``, its
defaults): k-means on phi1 and on both spaces (scikit-learn, seed 0), the candidates of
``humelabel run`` (constant tau, the tau schedule, the graph view) and ``prior="ratio"``
(generalization / entropy, :mod:`humelabel.core.objective`), raw ACC; the learnability
score's pick of the three and of the four (as ``run`` picks: the ratio run only without a
nearly empty cluster), and of the four by the score without class weights (``run``'s before
2026-12-07), refined as ``run`` does (median over the seeds). Draws 2-3 of each dataset were
added with the class-weighted score (chosen on draws 0-1). Runs are cached in
``benchmarks/work/imbalanced/``.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/imbalanced.py [--sets stackoverflow:0 ...]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/imbalanced.py --moderate  # MODERATE_SETS
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
from _results import RESULTS, script_argv, stamp, write_results  # noqa: E402
from schedule_choice import (  # noqa: E402
    CONTINUATION,
    GRAPH,
    RUN_PICKS,
    SCHEDULES,
    pick_candidate,
)
from textdata import DATA, WORK, concatenate, load_space, truth  # noqa: E402

from humelabel import HUME  # noqa: E402
from humelabel.analysis.baselines import kmeans_labels  # noqa: E402
from humelabel.analysis.metrics import cluster_accuracy  # noqa: E402
from humelabel.core.presets import resolve  # noqa: E402
from humelabel.embed.tfidf import tfidf_embed  # noqa: E402
from humelabel.io import save_npy_atomic  # noqa: E402
from humelabel.runs.candidates import continuation_start  # noqa: E402
from humelabel.runs.fitting import recorded  # noqa: E402
from humelabel.runs.learnability import LearnabilityScorer  # noqa: E402
from humelabel.runs.refine import refine_labels  # noqa: E402
from humelabel.runs.select import eligible  # noqa: E402

#: dataset -> (classes drawn, rows of the largest class).
SHAPES = {"stackoverflow": (8, 1000), "biomedical": (8, 1000), "ag_news": (4, 1900),
          "banking77": (10, 200)}
#: Size ratio of consecutive classes, and the smallest class.
RATIO, MIN_ROWS = 0.6, 25
#: Moderately imbalanced sets (``moderate/dataset:draw``, added 2026-12-07, drawn afresh with
#: seeds 200 + draw): sizes falling linearly from the largest to 0.35 of it, plus one class of
#: 0.1 (at least MODERATE_MIN_ROWS rows): for k = 8 from 1,000 rows down to 350 and one of
#: 100, the shape of many real label sets (a few large classes, one rare one), where the
#: geometric sets above are the extreme case.
MODERATE_LOW, MODERATE_RARE, MODERATE_MIN_ROWS = 0.35, 0.1, 20
MODERATE_SETS = ("moderate/stackoverflow:0", "moderate/stackoverflow:1",
                 "moderate/biomedical:0", "moderate/biomedical:1", "moderate/banking77:0",
                 "moderate/banking77:1", "moderate/ag_news:0")
#: Draws 0-1 of each dataset, then draws 2-3 (added 2026-12-07 with the class-weighted score,
#: which was chosen on draws 0-1: data it had not seen).
SETS = ("stackoverflow:0", "stackoverflow:1", "biomedical:0", "biomedical:1", "ag_news:0",
        "ag_news:1", "banking77:0", "banking77:1", "banking77:2", "banking77:3",
        "stackoverflow:2", "biomedical:2", "ag_news:2", "stackoverflow:3", "biomedical:3",
        "ag_news:3")
SEEDS = (0, 1, 2, 3, 4)
CANDIDATES: dict[str, dict[str, Any]] = {**SCHEDULES, "graph": GRAPH,
                                         "ratio": {"prior": "ratio"}}
THREE = ("constant", "schedule", "graph")
CACHE = WORK / "imbalanced"


def _sizes(k: int, top: int, moderate: bool) -> np.ndarray:
    """Class sizes (k,) before shuffling: geometric, or the moderate profile."""
    if moderate:
        profile = np.append(np.linspace(1.0, MODERATE_LOW, k - 1), MODERATE_RARE)
        return np.maximum((top * profile).astype(int), MODERATE_MIN_ROWS)
    return np.maximum((top * RATIO ** np.arange(k)).astype(int), MIN_ROWS)


def _parse(spec: str) -> tuple[bool, str, int]:
    """A set ``[moderate/]dataset:draw`` as (moderate, dataset, draw)."""
    base, draw = spec.removeprefix("moderate/").split(":")
    return spec.startswith("moderate/"), base, int(draw)


def _stem(spec: str) -> str:
    """The cache files' prefix of a set."""
    return spec.replace("/", "-").replace(":", "-")


def imbalanced(spec: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """phi1 (n, d1), phi2 (n, d2), truth (n,) of one set ``[moderate/]dataset:draw``."""
    moderate, base, draw = _parse(spec)
    x1, y = load_space(base, "minilm"), truth(base)
    k, top = SHAPES[base]
    rng = np.random.default_rng((200 if moderate else 100) + draw)
    classes = np.sort(rng.choice(int(y.max()) + 1, k, replace=False))
    sizes = _sizes(k, top, moderate)
    rng.shuffle(sizes)
    members = [np.flatnonzero(y == c) for c in classes]
    # A size above what its class holds takes the whole class (only Banking77's intents are
    # that small; the topic datasets' draws are unchanged by the cap).
    rows = np.sort(np.concatenate([rng.choice(m, min(s, m.size), replace=False)
                                   for m, s in zip(members, sizes, strict=True)]))
    path = CACHE / f"{_stem(spec)}-tfidf.npy"
    if not path.exists():
        texts = [json.loads(line)["text"] for line in
                 (DATA / base / "data.jsonl").read_text().splitlines()]
        CACHE.mkdir(parents=True, exist_ok=True)
        save_npy_atomic(path, tfidf_embed([texts[i] for i in rows])[0])
    return x1[rows], np.load(path, allow_pickle=False), np.searchsorted(classes, y[rows])


def fit(spec: str, candidate: str, seed: int, x1: np.ndarray, x2: np.ndarray,
        start: np.ndarray | None = None) -> np.ndarray:
    """The labels (n,) of one cached candidate fit (``"continuation"``: from ``start``)."""
    overrides = ({**CONTINUATION, "init": start} if candidate == "continuation"
                 else CANDIDATES[candidate])
    begun = "" if start is None else "-" + recorded(overrides)["init"].split(":")[1]
    path = CACHE / f"{_stem(spec)}-{candidate}{begun}-{seed}.npy"
    if path.exists():
        return np.load(path, allow_pickle=False)
    labels = HUME(int(SHAPES[_parse(spec)[1]][0]), **overrides,
                  random_state=seed, device="cpu").fit(x1, x2).labels_
    CACHE.mkdir(parents=True, exist_ok=True)
    save_npy_atomic(path, labels)
    return labels


def one_set(spec: str) -> dict[str, Any]:
    x1, x2, y = imbalanced(spec)
    k = int(y.max()) + 1
    scorer = LearnabilityScorer().fit([x1, x2])
    unweighted = LearnabilityScorer(class_weight=None).fit([x1, x2])
    runs: dict[str, dict[str, dict[str, float]]] = {}
    for seed in SEEDS:
        runs[str(seed)] = {}
        for candidate in [*CANDIDATES, "continuation"]:
            start = None
            if candidate == "continuation":  # as run: from the better of its first two
                first = [fit(spec, c, seed, x1, x2) for c in RUN_PICKS[:2]]
                start = continuation_start(first, [runs[str(seed)][c]["score"]
                                                   for c in RUN_PICKS[:2]])
            labels = fit(spec, candidate, seed, x1, x2, start)
            runs[str(seed)][candidate] = {
                "acc": cluster_accuracy(y, labels), "score": scorer.score(labels),
                "score_unweighted": unweighted.score(labels),
                "refined": cluster_accuracy(y, refine_labels([x1, x2], labels)),
                "smallest": int(np.bincount(labels, minlength=k).min()),
                "eligible": eligible(labels, k)}

    def choice(r: dict[str, dict[str, float]], candidates: tuple[str, ...],
               key: str = "score") -> str:
        # As humelabel run: the ratio priors only where eligible, then the score (the
        # continuation's less its margin); ties go to the first candidate.
        return pick_candidate(r, list(candidates), key)

    def picked(candidates: tuple[str, ...], key: str = "score") -> float:
        return statistics.median(r[choice(r, candidates, key)]["refined"]
                                 for r in runs.values())

    sizes = np.bincount(y)
    return {
        "n": int(y.size), "k": k, "sizes": sizes.tolist(),
        "kmeans_phi1": cluster_accuracy(y, kmeans_labels(x1, k, random_state=0)),
        "kmeans_concat": cluster_accuracy(y, kmeans_labels(concatenate([x1, x2]), k,
                                                           normalize=False, random_state=0)),
        "runs": runs,
        **{f"{c}_acc": statistics.median(r[c]["acc"] for r in runs.values())
           for c in [*CANDIDATES, "continuation"]},
        "picked3_refined": picked(THREE), "picked4_refined": picked((*THREE, "ratio")),
        "picked4_unweighted_refined": picked((*THREE, "ratio"), "score_unweighted"),
        "ratio_picked": sum(choice(r, (*THREE, "ratio")) == "ratio" for r in runs.values()),
        "run_refined": picked(tuple(RUN_PICKS)),
        "continuation_picked": sum(choice(r, tuple(RUN_PICKS)) == "continuation"
                                   for r in runs.values()),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--moderate", action="store_true",
                        help="the moderately imbalanced sets (MODERATE_SETS) and their page")
    parser.add_argument("--sets", nargs="+", default=None)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    default_sets = list(MODERATE_SETS if args.moderate else SETS)
    args.sets = args.sets or default_sets
    args.out = args.out or str(RESULTS / ("imbalanced_moderate.md" if args.moderate
                                          else "imbalanced.md"))
    shape = (f"sizes falling linearly from the largest class to {MODERATE_LOW} of it plus one "
             f"class of {MODERATE_RARE} (at least {MODERATE_MIN_ROWS} rows)" if args.moderate
             else f"geometric sizes (ratio {RATIO}, at least {MIN_ROWS} rows)")
    results = {}
    for spec in args.sets:
        results[spec] = one_set(spec)
        print(spec, {key: round(v, 3) for key, v in results[spec].items()
                     if isinstance(v, float)}, file=sys.stderr, flush=True)
    lines = [
        "# " + ("Moderately imbalanced" if args.moderate else "Imbalanced")
        + " class subsets of the (nearly) balanced shared datasets",
        "",
        f"k classes drawn per set, {shape}: "
        "see `benchmarks/imbalanced.py`. phi1 MiniLM, phi2 word TF-IDF fitted on the set's "
        f"own texts (as `run` does), seeds {SEEDS[0]}-{SEEDS[-1]}, median ACC in "
        "percent. k-means: scikit-learn, seed 0. Candidates (raw): constant tau, the tau "
        "schedule (`tau_end` 0.1), phi1's graph view (`humelabel run`'s three) and "
        "`prior=\"ratio\"` (constant tau), and the continuation (`run --continuation`: the "
        "ratio prior with `size_floor` 0.2, started from the better-scoring of the schedule's "
        "and the graph view's run). Picked: the learnability score's choice per seed "
        "(classes weighted equally, as `run` does since 2026-12-07; \"unweighted\": the score "
        "without the weights, `run`'s before), the ratio runs only without a cluster under 5% "
        "of the mean size, refined as `run` does; \"picked by run\": among the schedule, the "
        "graph view, the ratio prior and the continuation (its score less 0.03), what `run` "
        "does since the continuation; \"picked of 4\": constant tau in its place, `run` "
        "before.",
        "",
        "| set | n | class sizes | k-means phi1 / both | constant | schedule | graph | ratio "
        "| continuation | picked of 3 | picked of 4 (ratio picked) | picked of 4, unweighted "
        "| picked by run (continuation picked) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for spec, r in results.items():
        lines.append(
            f"| {spec} | {r['n']} | {min(r['sizes'])}-{max(r['sizes'])} | "
            f"{100 * r['kmeans_phi1']:.1f} / {100 * r['kmeans_concat']:.1f} | "
            + " | ".join(f"{100 * r[f'{c}_acc']:.1f}" for c in [*CANDIDATES, "continuation"])
            + f" | {100 * r['picked3_refined']:.1f} | {100 * r['picked4_refined']:.1f} "
            f"({r['ratio_picked']} / {len(SEEDS)}) | {100 * r['picked4_unweighted_refined']:.1f}"
            f" | {100 * r['run_refined']:.1f} ({r['continuation_picked']} / {len(SEEDS)}) |")
    margins = {key: [100 * (r[key] - max(r["kmeans_phi1"], r["kmeans_concat"]))
                     for r in results.values()]
               for key in ("run_refined", "picked4_refined", "picked4_unweighted_refined")}
    moved = [100 * (r["run_refined"] - r["picked4_refined"]) for r in results.values()]
    lines += ["", "Picked by run at least 3 points above the better k-means: "
              f"{sum(m >= 3 for m in margins['run_refined'])} of {len(results)} sets, below "
              f"it: {sum(m < 0 for m in margins['run_refined'])}; picked of 4 (run before the "
              f"continuation): {sum(m >= 3 for m in margins['picked4_refined'])} and "
              f"{sum(m < 0 for m in margins['picked4_refined'])}; with the unweighted "
              f"score: {sum(m >= 3 for m in margins['picked4_unweighted_refined'])} and "
              f"{sum(m < 0 for m in margins['picked4_unweighted_refined'])}. The continuation "
              f"moves {sum(m >= 0.5 for m in moved)} sets up and {sum(m <= -0.5 for m in moved)}"
              f" down by 0.5 or more (mean {statistics.mean(moved):+.2f})."]
    lines += ["", "Regenerate: `OMP_NUM_THREADS=1 .venv/bin/python benchmarks/imbalanced.py"
              + (" --moderate" if args.moderate else "")
              + ("" if args.sets == default_sets else " --sets " + " ".join(args.sets)) + "`"]
    write_results(args.out, "\n".join(lines), results,
                  stamp(script_argv(), {"hume": resolve("fast", {}), "seeds": list(SEEDS),
                                        "candidates": {**CANDIDATES,
                                                       "continuation": CONTINUATION}}))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
