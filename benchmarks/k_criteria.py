"""Label-free criteria for k, computed from the cached sweep of ``benchmarks/k_sweep.py``.

Per dataset and k: mean pairwise ARI between seeds (stability), the cross-validated
generalization score G of seed 0's labeling on phi2 and G0 of a random linear partition of
phi1 (the criterion of ``humelabel.runs.choose_k``), the search's last objective, and, for
reference only, ACC / ARI against the true labels. Prints one table per dataset, writes
``benchmarks/work/ksweep/<dataset>-<iterations>-criteria.json`` and the comparison page
docs/results/k_criteria.{md,json} (each criterion's pick per dataset).

Usage::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/k_criteria.py --datasets trec
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import adjusted_rand_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, stamp, write_results  # noqa: E402
from k_sweep import SWEEP, load  # noqa: E402

from humelabel.analysis.metrics import cluster_accuracy  # noqa: E402
from humelabel.core.presets import resolve  # noqa: E402
from humelabel.runs.choose_k import geometric_grid  # noqa: E402
from humelabel.runs.ensemble import GeneralizationScorer  # noqa: E402


def null_labeling(phi1: np.ndarray, k: int, seed: int) -> np.ndarray:
    """(n,) arbitrary linear partition of phi1 (n, d1) into k parts: argmax of ``z @ R``,
    z the L2-normalised, centred rows, R (d1, k) standard normal (the null of G0)."""
    x = np.asarray(phi1, dtype=np.float32)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    x = x - x.mean(axis=0)
    proj = np.random.default_rng(seed).standard_normal((x.shape[1], k)).astype(np.float32)
    return np.argmax(x @ proj, axis=1).astype(np.int64)


def cached(name: str, iterations: int) -> dict[int, dict[int, dict]]:
    """{k: {seed: npz fields}} of every cached run (``name`` ending in -swap: the runs with
    the views exchanged)."""
    runs: dict[int, dict[int, dict]] = {}
    for f in SWEEP.glob(f"{name}-{iterations}-k*-s*.npz"):
        k, seed = (int(p[1:]) for p in f.stem.split("-")[-2:])
        with np.load(f) as z:
            runs.setdefault(k, {})[seed] = {key: z[key] for key in z.files}
    return dict(sorted(runs.items()))


def analyse(name: str, iterations: int, with_g: bool) -> list[dict]:
    phi1, phi2, y = load(name)
    out_path = SWEEP / f"{name}-{iterations}-criteria.json"
    old = {r["k"]: r for r in json.loads(out_path.read_text())} if out_path.exists() else {}
    scorer = GeneralizationScorer(5, random_state=0).fit(phi2) if with_g else None
    rows = []
    swapped = cached(f"{name}-swap", iterations)
    grid = set(geometric_grid(2, min(150, len(y) // 5)))
    for k, seeds in cached(name, iterations).items():
        if k not in grid:  # fine-stage runs of benchmarks/k_selection.py share the cache
            continue
        labs = {s: v["labels"].astype(np.int64) for s, v in seeds.items()}
        aris = [adjusted_rand_score(labs[a], labs[b]) for a, b in itertools.combinations(labs, 2)]
        row = {"k": k, "seeds": len(labs),
               "stability": float(np.mean(aris)) if aris else float("nan"),
               "stability_min": float(np.min(aris)) if aris else float("nan"),
               "stability01": (adjusted_rand_score(labs[0], labs[1])
                               if 0 in labs and 1 in labs else float("nan")),
               "loss": float(np.mean([v.get("loss", np.nan) for v in seeds.values()])),
               "gen": float(np.mean([v.get("generalization", np.nan)
                                     for v in seeds.values()])),
               "used": float(np.mean([np.unique(v).size for v in labs.values()])),
               "seconds": float(np.mean([v["seconds"] for v in seeds.values()])),
               "acc": float(np.mean([cluster_accuracy(y, v) for v in labs.values()])),
               "ari_true": float(np.mean([adjusted_rand_score(y, v) for v in labs.values()]))}
        first = labs[min(labs)]
        if k in swapped:  # cross-view: phi1's labeling vs phi2's, and seed 1 vs swap seed 0
            other = swapped[k][min(swapped[k])]["labels"].astype(np.int64)
            row["cross"] = float(adjusted_rand_score(first, other))
            if 1 in labs:
                row["cross1"] = float(adjusted_rand_score(labs[1], other))
        if k in old and "G" in old[k]:
            row["G"], row["G0"] = old[k]["G"], old[k]["G0"]
        elif scorer is not None:
            row["G"] = scorer.score(first)
            row["G0"] = scorer.score(null_labeling(phi1, k, k))
        rows.append(row)
        print(" ".join(f"{key} {val:.4f}" if isinstance(val, float) else f"{key} {val}"
                       for key, val in row.items()), flush=True)
    out_path.write_text(json.dumps(rows, indent=1))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", required=True)
    parser.add_argument("--iterations", type=int, default=40)
    parser.add_argument("--with-g", action="store_true", help="also score G and G0 (slow)")
    parser.add_argument("--out", default=str(RESULTS / "k_criteria.md"))
    args = parser.parse_args()
    table = {}
    for name in args.datasets:
        true_k = int(load(name)[2].max()) + 1
        print(f"== {name} (true k {true_k})")
        table[name] = (true_k, analyse(name, args.iterations, args.with_g))
    write_results(args.out, page(table, args.iterations), {"datasets": {
        name: {"true_k": t, "rows": rows} for name, (t, rows) in table.items()}},
        stamp(None, {"fast": resolve("fast", {}), "iterations": args.iterations}))
    return 0


#: (column, description) of every criterion compared; higher is better for each.
CRITERIA = (
    ("stability01", "seed stability: ARI of seeds 0 and 1 (phi1 labelled)"),
    ("stability", "seed stability: mean pairwise ARI of all cached seeds (3 where run)"),
    ("cross", "cross-view: ARI of seed 0 and seed 0 with the views exchanged (choose_k)"),
    ("fit", "normalised fit: 1 - generalization loss / ln k of the search's last steps"),
    ("g_criterion", "(G - G0) / (1 - G0): logistic-regression CV accuracy on phi2 vs a "
     "random linear partition of phi1 (the earlier choose_k; with --with-g)"),
)


def value(row: dict, column: str) -> float:
    if column == "fit":
        return 1.0 - row["gen"] / np.log(row["k"])
    if column == "g_criterion":
        return ((row["G"] - row["G0"]) / (1.0 - row["G0"]) if "G" in row else float("nan"))
    return row.get(column, float("nan"))


def page(table: dict, iterations: int) -> str:
    """Markdown: per criterion and dataset, the k it picks (argmax over the coarse grid)."""
    names = list(table)
    lines = ["# Label-free criteria for k, compared", "",
             f"Short runs ({iterations} outer steps, fast preset) on the coarse grid of "
             "`choose_k` (2-150, ratio 1.3, capped at rows / 5), cached by "
             "`benchmarks/k_sweep.py`; each criterion's pick is its argmax over the grid (the "
             "larger k on ties). A blank: not measured on the whole grid (Banking77 has one seed "
             "per k past k = 6; G was scored for the digits demo only). Bold: within 25% of "
             "the true k.", "",
             "| criterion | " + " | ".join(f"{n} (k {table[n][0]})" for n in names) + " |",
             "|---|" + "---|" * len(names)]
    for column, text in CRITERIA:
        cells = []
        for name in names:
            true_k, rows = table[name]
            scored = [(value(r, column), r["k"]) for r in rows]
            if not all(np.isfinite(v) for v, _ in scored):  # not measured on the whole grid
                cells.append("")
                continue
            pick = max(scored)[1]
            cells.append(f"**{pick}**" if abs(pick - true_k) <= 0.25 * true_k else str(pick))
        lines.append(f"| {text} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
