"""The oracle-prior diagnostic: does the search reach the optimum once the prior is right?

Diagnosis only, never a default: the prior of the objective is the true class proportions of
the dataset (``HUME(prior=q)``: ``gen + entropy_weight * KL(sorted mean soft label || sorted
q)``), read from the labels. If the found labeling's objective stays above the truth's under
that objective, the search is the bottleneck (an optimisation failure); if it is at or below
the truth's while ACC stays low, the objective itself prefers another labeling. Both
objectives are Eq. 7 with that prior, on the same 10 seeded splits (``score_labeling``).

Per dataset and seed: ACC, found and true objective, and the found cluster sizes against the
true class sizes; the uniform prior (the default) next to it. Runs are cached by
benchmarks/textdata.py. Writes docs/results/oracle_prior.{md,json}.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/oracle_prior.py \
        [--datasets trec] [--phi2 tfidf] [--seeds 0-2] [--init random] [--tau-end X]

``--tau-end X`` runs both priors with the opt-in tau schedule (tau from the preset's 0.3 down
to X over the search): does sharper optimisation reach the optimum the oracle prior points to?
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, script_argv, stamp, write_results  # noqa: E402
from textdata import hume_run, truth  # noqa: E402

from humelabel.core.presets import resolve  # noqa: E402
from humelabel.runs.seeds import parse_seeds  # noqa: E402


def sizes(labels: np.ndarray, k: int) -> list[float]:
    """Cluster sizes as fractions, largest first."""
    return sorted((np.bincount(labels, minlength=k) / labels.size).tolist(), reverse=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=["trec"])
    parser.add_argument("--phi1", default="minilm")
    parser.add_argument("--phi2", default="tfidf")
    parser.add_argument("--seeds", default="0-2")
    parser.add_argument("--init", default="random", choices=("random", "kmeans"))
    parser.add_argument("--tau-end", type=float, default=None,
                        help="the opt-in tau schedule's last tau, for both priors")
    parser.add_argument("--out", default=str(RESULTS / "oracle_prior.md"))
    args = parser.parse_args()
    rows = []
    for name in args.datasets:
        y = truth(name)
        k = int(y.max()) + 1
        oracle = [float(v) for v in np.bincount(y, minlength=k) / y.size]
        for prior_name, prior in (("uniform", "uniform"), ("oracle", oracle)):
            overrides = {"prior": prior} if prior_name == "oracle" else {}
            if args.init != "random":
                overrides["init"] = args.init
            if args.tau_end is not None:
                overrides["tau_end"] = args.tau_end
            for seed in parse_seeds(args.seeds):
                record, labels = hume_run(name, args.phi1, args.phi2, seed,
                                          overrides=overrides)
                rows.append({"dataset": name, "prior": prior_name, "seed": seed,
                             "acc": record["acc"], "objective_found": record["objective_found"],
                             "objective_truth": record["objective_truth"],
                             "found_sizes": sizes(labels, k), "true_sizes": sizes(y, k)})
                print(rows[-1], file=sys.stderr, flush=True)
    lines = [
        "# Oracle prior: the search with the true class proportions as its prior",
        "",
        f"phi1 {args.phi1}, phi2 {args.phi2}, preset `fast`, init {args.init}, "
        + (f"tau from 0.3 to {args.tau_end:g} (`tau_end`), " if args.tau_end else "")
        + f"seeds {args.seeds}. Objective (lower is better) of the found and of the true labeling "
        "under the run's own prior, same 10 splits; found <= truth means the search reached "
        "the optimum the objective points to. Sizes: fractions of rows, largest first. "
        "Diagnosis only: the oracle prior reads the labels.",
        "",
        "| dataset | prior | seed | ACC | objective found | objective truth | found sizes (%) "
        "| true sizes (%) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        shown = [" ".join(f"{100 * v:.1f}" for v in r[key])
                 for key in ("found_sizes", "true_sizes")]
        lines.append(f"| {r['dataset']} | {r['prior']} | {r['seed']} | {100 * r['acc']:.1f} | "
                     f"{r['objective_found']:.3f} | {r['objective_truth']:.3f} | {shown[0]} | "
                     f"{shown[1]} |")
    for name in args.datasets:
        for prior_name in ("uniform", "oracle"):
            picked = [r for r in rows if r["dataset"] == name and r["prior"] == prior_name]
            reached = sum(r["objective_found"] <= r["objective_truth"] for r in picked)
            lines.append("")
            lines.append(f"{name}, {prior_name} prior: median ACC "
                         f"{100 * float(np.median([r['acc'] for r in picked])):.1f}; the search "
                         f"reached the truth's objective in {reached} of {len(picked)} runs.")
    write_results(args.out, "\n".join(lines), {"rows": rows},
                  stamp(script_argv(), {"hume": resolve("fast", {"tau_end": args.tau_end}),
                                        "init": args.init}))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
