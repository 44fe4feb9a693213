"""Does cross-fitted refinement (humelabel.runs.refine) improve the combined labeling?

For each shared text dataset: HUME runs (default preset, phi1 = MiniLM, phi2 = MPNet, or TF-IDF
where no MPNet ships (biomedical); cached in benchmarks/work/hume by textdata.hume_run),
combined as ``fit --seeds`` does (generalization score on phi2, best run as reference,
Hungarian alignment, vote), then refined over the spaces MiniLM, MPNet (where shipped) and
TF-IDF. Writes docs/results/refine_benchmark.{md,json}.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/refine_benchmark.py \
        [--datasets ...] [--seeds 0-2] [--phi2 tfidf] [--refine-spaces minilm,tfidf] \
        [--out docs/results/refine_benchmark.md]

The page docs/results/refine_benchmark_run.md is the setting of ``humelabel run --spaces
minilm tfidf --refine``: ``--phi2 tfidf --refine-spaces minilm,tfidf --out
docs/results/refine_benchmark_run.md``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import script_argv, stamp, write_results  # noqa: E402
from textdata import DATASETS, ROOT, has_space, hume_run, load_space, truth  # noqa: E402

from humelabel.analysis.metrics import cluster_accuracy  # noqa: E402
from humelabel.core.presets import resolve  # noqa: E402
from humelabel.runs.ensemble import GeneralizationScorer, combine_labelings  # noqa: E402
from humelabel.runs.refine import REFINE_C, REFINE_ITERATIONS, refine_labels  # noqa: E402
from humelabel.runs.seeds import parse_seeds  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--phi2", default=None,
                        help="phi2 of the runs (default: mpnet where shipped, else tfidf)")
    parser.add_argument("--refine-spaces", default="minilm,mpnet,tfidf",
                        help="spaces of the refinement (those a dataset lacks are skipped)")
    parser.add_argument("--out", default=str(ROOT / "docs" / "results" / "refine_benchmark.md"))
    args = parser.parse_args()
    seeds = parse_seeds(args.seeds)
    rows = []
    for name in args.datasets:
        y = truth(name)
        k = int(y.max()) + 1
        phi2_name = args.phi2 or ("mpnet" if has_space(name, "mpnet") else "tfidf")
        runs = [hume_run(name, "minilm", phi2_name, seed)[1] for seed in seeds]
        phi2 = load_space(name, phi2_name)
        scorer = GeneralizationScorer(10, C=0.1, random_state=0).fit(phi2)
        scores = [float(scorer.fold_accuracies(labels).mean()) for labels in runs]
        vote = combine_labelings(runs, scores, n_classes=k).labels
        start = time.perf_counter()
        names = [s for s in args.refine_spaces.split(",") if has_space(name, s)]
        spaces = [load_space(name, s) for s in names]
        refined = refine_labels(spaces, vote)
        refine_seconds = time.perf_counter() - start
        # `humelabel run` with one seed refines a single run: each run refined on its own.
        runs_refined = [cluster_accuracy(y, refine_labels(spaces, r)) for r in runs]
        rows.append({"dataset": name, "phi2": phi2_name, "refine_spaces": names,
                     "runs": len(runs),
                     "median_run_acc": float(np.median([cluster_accuracy(y, r) for r in runs])),
                     "vote_acc": cluster_accuracy(y, vote),
                     "refined_acc": cluster_accuracy(y, refined),
                     "changed": int((refined != vote).sum()), "n": int(len(y)),
                     "run_accs": [cluster_accuracy(y, r) for r in runs],
                     "run_refined_accs": runs_refined,
                     "median_run_refined_acc": float(np.median(runs_refined)),
                     "refine_seconds": refine_seconds})
        print(rows[-1], file=sys.stderr, flush=True)
    lines = ["# Refinement of the combined labeling", "",
             f"Runs: default preset, phi1 MiniLM, phi2 {args.phi2 or 'MPNet (biomedical: TF-IDF)'}"
             f", seeds {args.seeds}; combined by score + alignment + vote; refined by "
             f"cross-fitted logistic regression on {args.refine_spaces.replace(',', ', ')} "
             f"(those a dataset has; C {REFINE_C}, {REFINE_ITERATIONS} rounds, 5 folds). "
             "ACC in %.",
             " \"run refined\": each run refined on its own (what `humelabel run` with one seed "
             "does), median over the seeds.",
             "", "| dataset | phi2 | median run | run refined | vote | refined | change | "
             "rows relabeled | refine time (s) |", "|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {r['dataset']} | {r['phi2']} | {100 * r['median_run_acc']:.1f} | "
              f"{100 * r['median_run_refined_acc']:.1f} | "
              f"{100 * r['vote_acc']:.1f} | "
              f"{100 * r['refined_acc']:.1f} | {100 * (r['refined_acc'] - r['vote_acc']):+.1f} | "
              f"{r['changed']} of {r['n']} | {r['refine_seconds']:.0f} |" for r in rows]
    write_results(args.out, "\n".join(lines), {"rows": rows},
                  stamp(script_argv(), {"hume": resolve("fast", {}), "refine_C": REFINE_C,
                                        "refine_iterations": REFINE_ITERATIONS}))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
