"""Choosing k without labels: humelabel.runs.choose_k against the k-means baselines.

For each dataset: ``choose_k`` over ``--k-range`` with its defaults (fast preset; phi1 =
MiniLM, phi2 = MPNet, biomedical phi2 = TF-IDF; the digits demo's two views), the Hungarian
ACC of its labeling (the full run at the chosen k), a full HUME run at the true k (seed 0)
for comparison, and the k a user would try first: k-means on phi1 (L2-normalised rows) with
the best silhouette (on a 3,000-row sample) and with the lowest BIC of a spherical Gaussian
mixture started from those k-means centroids, over the same geometric grid. Writes
docs/results/k_selection.{md,json} and one curve per dataset, docs/results/k_selection_<name>.png.

Every HUME run is cached (short runs in the format of ``benchmarks/k_sweep.py``, whose cache
they share: the same seeds and settings give the same labels), with its wall time, so an
interrupted benchmark resumes and the cost is the sum of the recorded times. The cost column
is that sum (short runs plus the full run at the chosen k) over the time of the full run at
the true k, all measured by this script on the same machine; "run equivalents" counts outer
steps instead (short-run steps / full-run steps, plus 1), free of machine load.

``--views run`` takes the views of ``humelabel run`` instead (MiniLM / TF-IDF; the digits
demo its own), caches under benchmarks/work/ksel_run/ and reuses the short runs of
``benchmarks/k_reference.py`` (benchmarks/work/kref/, the same seeds and settings, labels
only: their seconds are unknown, so the wall cost is then left out); ``--criterion`` picks
choose_k's criterion. Results go to k_selection_run_<criterion>.{md,json} and
k_selection_run_<criterion>_<name>.png. With ``--views run``, a dataset may also be a class
subset ``name:classes:draw`` (``benchmarks/schedule_choice.py``'s, e.g. ``banking77:10:0``),
listed without a plot; the eight subsets the criterion was not chosen on go to
k_selection_run_joint_subsets.md (``--out``).

Usage::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python benchmarks/k_selection.py \
        [--datasets digits trec ag_news stackoverflow banking77 biomedical] [--k-range 2-150]
        [--views mpnet|run] [--criterion cross_view|joint] [--out FILE]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/k_selection.py --views run \
        --datasets banking77:10:0 banking77:30:0 stackoverflow:10:0 stackoverflow:5:0 \
        biomedical:10:0 biomedical:5:0 trec:4:0 ag_news:3:0 \
        --out docs/results/k_selection_run_joint_subsets.md
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/k_selection.py --views run --short thin \
        --no-whole-grid   # k_selection_run_joint_thin.md: settled runs only (not kept)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score
from sklearn.mixture import GaussianMixture

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import RESULTS, stamp, write_results  # noqa: E402
from k_sweep import SWEEP, path  # noqa: E402
from k_sweep import load as load_mpnet  # noqa: E402
from schedule_choice import load as load_run  # noqa: E402
from textdata import WORK  # noqa: E402

from humelabel import HUME  # noqa: E402
from humelabel.analysis.metrics import cluster_accuracy  # noqa: E402
from humelabel.analysis.plots import plot_k_selection  # noqa: E402
from humelabel.core.presets import resolve  # noqa: E402
from humelabel.runs import choose_k as ck  # noqa: E402
from humelabel.runs import k_grid  # noqa: E402

DATASETS = ("digits", "trec", "ag_news", "stackoverflow", "banking77", "biomedical")
#: Cache of the ``--views run`` runs, and the short runs of benchmarks/k_reference.py.
RUN_CACHE, KREF = WORK / "ksel_run", WORK / "kref"


class CachedRun:
    """A HUME run whose labels and wall time are cached on disk by (dataset, k, seed,
    iterations, which view is labelled); ``fit`` loads them when cached, else fits and
    stores them. ``phi1`` is the dataset's phi1: a fit on another first array is a run with
    the views exchanged."""

    def __init__(self, name: str, k: int, short: dict[str, Any] | None, seed: int, log: list,
                 phi1: np.ndarray | None = None, views: str = "mpnet", kind: str = "short"):
        self.name, self.k, self.seed, self.log, self.phi1 = name, k, seed, log, phi1
        self.views, self.short = views, short
        self.kind = "full" if short is None else kind  # logged: short, confirm or full
        # a short run's cache tag: its outer steps when only those differ from the preset
        # (the format of benchmarks/k_sweep.py), else its settings
        self.iterations = (None if short is None else short["iterations"]
                           if set(short) == {"iterations"}
                           else "_".join(f"{key}{value}" for key, value in sorted(short.items())))
        full = resolve("fast", {})["iterations"]
        self.params_ = {"iterations": (short or {}).get("iterations", full)}

    def fit(self, phi1: np.ndarray, phi2: np.ndarray) -> CachedRun:
        swap = self.phi1 is not None and phi1 is not self.phi1
        self.file = (path(self.name, self.iterations, self.k, self.seed, swap)
                     if self.iterations is not None
                     else SWEEP / f"{self.name}-full-k{self.k}-s{self.seed}.npz")
        if self.views == "run":
            self.file = RUN_CACHE / self.file.name
            kref = KREF / (f"{self.name.replace(':', '_')}-{'swap' if swap else 'data'}-"
                           f"{self.iterations}-k{self.k}-s{self.seed}.npy")
            if self.iterations is not None and kref.exists() and not self.file.exists():
                RUN_CACHE.mkdir(parents=True, exist_ok=True)
                np.savez(self.file, labels=np.load(kref), seconds=float("nan"))
        if not self.file.exists():
            t0 = time.perf_counter()
            est = HUME(self.k, random_state=self.seed, device="cpu",
                       **(self.short or {})).fit(phi1, phi2)
            seconds = time.perf_counter() - t0
            self.file.parent.mkdir(parents=True, exist_ok=True)
            np.savez(self.file, labels=est.labels_.astype(np.int32), seconds=seconds)
        with np.load(self.file) as z:
            self.labels_ = z["labels"].astype(np.int64)
            self.seconds_ = float(z["seconds"])
        self.log.append((self.k, self.kind, self.seconds_, swap, self.params_["iterations"]))
        return self


def kmeans_choices(phi1: np.ndarray, y: np.ndarray, grid: list[int]) -> dict[str, Any]:
    """Silhouette- and BIC-chosen k of k-means / spherical GMM on phi1 over grid, with the
    ACC of the k-means labeling at each, and both curves."""
    x = phi1 / np.linalg.norm(phi1, axis=1, keepdims=True)
    sample = np.random.default_rng(0).choice(len(x), min(3000, len(x)), replace=False)
    sil, bic, acc = {}, {}, {}
    for k in grid:
        km = KMeans(k, n_init=1, random_state=0).fit(x)
        sil[k] = float(silhouette_score(x[sample], km.labels_[sample]))
        gmm = GaussianMixture(k, covariance_type="spherical", random_state=0,
                              means_init=km.cluster_centers_, max_iter=20).fit(x)
        bic[k] = float(gmm.bic(x))
        acc[k] = cluster_accuracy(y, km.labels_)
    sil_k, bic_k = max(sil, key=sil.get), min(bic, key=bic.get)
    return {"silhouette_k": int(sil_k), "bic_k": int(bic_k), "acc_silhouette_k": acc[sil_k],
            "acc_bic_k": acc[bic_k], "silhouette": sil, "bic": bic}


#: The short runs per candidate, per criterion.
SETUP = {"cross_view": "2 short runs (seed 0 labelling phi1, seed 0 labelling phi2)",
         "joint": "3 short runs (seeds 0 and 1 labelling phi1, seed 0 labelling phi2)"}
#: phi1 / phi2 per ``--views``.
VIEWS = {"mpnet": "MiniLM / MPNet (biomedical: MiniLM / TF-IDF; digits its own two)",
         "run": "MiniLM / TF-IDF, those of `humelabel run` (digits its own two)"}
def within(k: int, true_k: int) -> bool:
    """Whether k is within 25% of the true k."""
    return abs(k - true_k) <= 0.25 * true_k


def run_dataset(name: str, k_range: tuple[int, int], views: str = "mpnet",
                criterion: str = "cross_view", short_run: dict[str, Any] | None = None,
                whole_grid: bool = True, label: str = "") -> dict[str, Any]:
    phi1, phi2, y = (load_run if views == "run" else load_mpnet)(name)
    true_k = int(y.max()) + 1
    short_run = dict(ck.SHORT_RUN if short_run is None else short_run)

    def maker(log: list) -> Any:
        return lambda k, settings, seed: CachedRun(
            name, k, settings, seed, log, phi1, views,
            "short" if settings == short_run else "confirm")

    # short runs with the confirm stage's settings leave it nothing to add
    confirm = 0 if short_run == ck.CONFIRM_RUN else k_grid.CONFIRM

    # The whole grid first (coarse_stride 1, the reference), then the default coarse-to-fine
    # search, which reuses its cached runs; each one's cost counts the runs it asked for.
    whole_log: list[tuple[int, str, float, bool, int]] = []
    whole = (ck.choose_k(phi1, phi2, k_range, criterion=criterion, coarse_stride=1,
                         coarse_round=0,
                         fit_final=False, short_run=short_run, confirm=confirm,
                         make_estimator=maker(whole_log))
             if whole_grid else None)
    log: list[tuple[int, str, float, bool, int]] = []
    sel = ck.choose_k(phi1, phi2, k_range, criterion=criterion, short_run=short_run,
                      confirm=confirm, make_estimator=maker(log))
    at_true = CachedRun(name, true_k, None, 0, [], views=views).fit(phi1, phi2)
    select_s = sum(r[2] for r in log)
    full_steps = at_true.params_["iterations"]
    # outer steps stand for cost only when the short runs differ from a full run in nothing
    # else; otherwise only the wall time does
    by_steps = set(short_run) == {"iterations"}

    def equivalents(runs: list[tuple[int, str, float, bool, int]]) -> float | None:
        return ((sum(r[4] for r in runs if r[1] == "short") / full_steps + 1) if by_steps
                else None)

    cache = RUN_CACHE if views == "run" else SWEEP
    base_file = cache / f"{name}-kmeans-baselines.json"
    if not base_file.exists():
        cache.mkdir(parents=True, exist_ok=True)
        base_file.write_text(json.dumps(kmeans_choices(phi1, y, ck.geometric_grid(
            *sel.k_range))))
    base = json.loads(base_file.read_text())
    tag = CachedRun(name, 0, short_run, 0, []).iterations
    acc_by_k = {int(r["k"]): cluster_accuracy(y, np.load(
                    cache / path(name, tag, r["k"], 0).name)["labels"])
                for r in sel.table + (whole.table if whole else [])
                if r["stage"] in ("coarse", "fine")}
    thin = CachedRun(name, 0, ck.CONFIRM_RUN, 0, []).iterations
    confirm_acc = {int(r["k"]): cluster_accuracy(y, np.load(
                       cache / path(name, thin, r["k"], 0).name)["labels"])
                   for r in sel.table if r["stage"] == "confirm"}
    prefix = "k_selection" if views == "mpnet" else f"k_selection_run_{criterion}{label}"
    if ":" not in name:  # class subsets (name:classes:draw) get the table, not a plot
        plot_k_selection(sel.table, sel.k_, RESULTS / f"{prefix}_{name}.png",
                         title=f"{name}: true k = {true_k}, chosen k = {sel.k_}")
    row = {"dataset": name, "n": int(len(y)), "true_k": true_k, "chosen_k": sel.k_,
           "acc_chosen": cluster_accuracy(y, sel.labels_),
           "acc_true_k": cluster_accuracy(y, at_true.labels_),
           "select_s": select_s, "one_run_s": at_true.seconds_,
           "cost_runs": (select_s / at_true.seconds_ if np.isfinite(select_s) else None),
           "run_equivalents": equivalents(log),
           "short_runs": sum(r[1] == "short" for r in log), "short_run": short_run,
           "confirm_runs": sum(r[1] == "confirm" for r in log),
           "short_pick": ck.best_k([t for t in sel.table if t["stage"] in ("coarse", "fine")]),
           "whole_grid": None if whole is None else {
               "chosen_k": whole.k_, "run_equivalents": equivalents(whole_log),
               "short_runs": sum(r[1] == "short" for r in whole_log),
               "cost_runs": (sum(r[2] for r in whole_log) + at_true.seconds_)
               / at_true.seconds_},
           **{key: value for key, value in base.items() if key not in ("silhouette", "bic")},
           "curves": {"table": sel.table,
                      "whole_grid_table": whole.table if whole else None,
                      "short_run_acc_seed0": acc_by_k, "confirm_run_acc_seed0": confirm_acc,
                      "silhouette": base["silhouette"], "bic": base["bic"]}}
    print(f"{name}: true {true_k} chosen {sel.k_} ACC {row['acc_chosen']:.3f} vs "
          f"{row['acc_true_k']:.3f}; silhouette {base['silhouette_k']} BIC {base['bic_k']}; "
          f"cost {_runs(row['cost_runs'])} runs ({_runs(row['run_equivalents'])} by steps)",
          flush=True)
    return row


def _score(row: dict[str, Any]) -> str:
    """A candidate's score, or the cross-view ARI bound that skipped its last run."""
    if row["stability"] == "":
        return f"< {row['cross_ari']:.2f}"
    return f"{row['stability']:.2f}"


def _runs(cost: float | None) -> str:
    return "n/a" if cost is None else f"{cost:.1f}"


def _short(settings: dict[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in sorted(settings.items()))


def _whole(whole: dict[str, Any] | None) -> str:
    return "-" if whole is None else f"{whole['chosen_k']}, {_runs(whole['run_equivalents'])}"


def page(rows: list[dict[str, Any]], lo: int, hi: int, views: str = "mpnet",
         criterion: str = "cross_view", label: str = "") -> str:
    near = sum(within(r["chosen_k"], r["true_k"]) for r in rows)
    acc_ok = sum(100 * (r["acc_true_k"] - r["acc_chosen"]) <= 5 for r in rows)
    error = [abs(r["chosen_k"] - r["true_k"]) / r["true_k"] for r in rows]
    beats = sum(e < min(abs(r[b] - r["true_k"]) / r["true_k"] for b in ("silhouette_k", "bic_k"))
                for e, r in zip(error, rows, strict=True))
    lines = ["# Choosing k without labels", "",
             f"`humelabel.runs.choose_k` over k {lo}-{hi} (capped at rows / 5), defaults: "
             f"{SETUP[criterion]} (the fast preset with {_short(rows[0]['short_run'])}) per "
             f"candidate on every k up to {k_grid.DENSE_K} and a geometric grid above (ratio "
             f"{ck.GRID_RATIO}), scored every k up to {k_grid.DENSE_K} and one grid point in "
             f"{ck.COARSE_STRIDE} above, upward {k_grid.ROUND} at a time until the largest of a "
             "round cannot beat the best score; "
             f"criterion {ck.RULES[criterion]}; views {VIEWS[views]}; then the confirm stage: "
             f"the best and {k_grid.CONFIRM[0]} grid points below it and {k_grid.CONFIRM[1]} "
             "above scored again by the same three runs with "
             f"{_short(ck.CONFIRM_RUN)} (settled runs at the cost of a short one), whose best "
             "is the pick ('short pick': the short runs' best); "
             "one full run at the chosen k (seed 0); one thread. ACC is the Hungarian accuracy "
             "(for k != true k unmatched clusters count as wrong). Baselines: k-means on phi1 "
             "(L2-normalised) over the geometric grid (without 5, 8 and 10), k of the best "
             "silhouette and of the lowest BIC (spherical GMM); their ACC is that of the "
             "k-means labeling. Cost in runs: "
             "'steps' counts outer steps (short-run steps / 300, plus the full run; the "
             "confirm stage's runs left out, counted in 'confirm runs'), free of "
             "machine load, n/a where short runs differ from a full run in more than their "
             "steps; 'wall' divides the recorded seconds of all runs by those of the "
             "full run at the true k, under the machine's load of the moment (at most two "
             "one-thread processes since 2026-12-04; 4-8 before), n/a when short runs came "
             "from benchmarks/k_reference.py's cache (no seconds). Per criterion comparison: "
             "[k_criteria.md](k_criteria.md). 'Whole grid': the same search scoring every grid "
             "point at once (`coarse_stride=1, coarse_round=0`), its pick and cost in steps "
             "('-': not run).", "",
             f"Within 25% of the true k: **{near} of {len(rows)}**; ACC at the chosen k no more "
             f"than 5 points below ACC at the true k: **{acc_ok} of {len(rows)}**; chosen k "
             f"closer to the truth than both baselines' (relative error): **{beats} of "
             f"{len(rows)}**.", "",
             "| dataset (n) | true k | chosen k | short pick | ACC chosen | ACC at true k | "
             "silhouette k (ACC) | BIC k (ACC) | cost (runs, wall) | cost (runs, steps) | "
             "confirm runs | whole grid: k, cost (steps) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} ({r['n']:,}) | {r['true_k']} | {r['chosen_k']} | "
                     f"{r.get('short_pick', '-')} | "
                     f"{100 * r['acc_chosen']:.1f} | {100 * r['acc_true_k']:.1f} | "
                     f"{r['silhouette_k']} ({100 * r['acc_silhouette_k']:.1f}) | "
                     f"{r['bic_k']} ({100 * r['acc_bic_k']:.1f}) | {_runs(r['cost_runs'])} | "
                     f"{_runs(r['run_equivalents'])} | {r.get('confirm_runs', 0)} | "
                     f"{_whole(r['whole_grid'])} |")
    lines += ["", "Criterion per candidate k (short runs, then the confirm stage; '< x': "
              "skipped by the joint bound, its cross-view ARI x being below the best score; "
              "seed 0's short-run ACC in brackets, for reference only):", ""]
    prefix = "k_selection" if views == "mpnet" else f"k_selection_run_{criterion}{label}"
    for r in rows:
        acc = r["curves"]["short_run_acc_seed0"]
        cells = [f"{t['k']}: {_score(t)} ({100 * acc[int(t['k'])]:.0f})"
                 for t in r["curves"]["table"] if t["stage"] in ("coarse", "fine")]
        settled = r["curves"].get("confirm_run_acc_seed0", {})
        confirm = [f"{t['k']}: {_score(t)} ({100 * settled[int(t['k'])]:.0f})"
                   for t in r["curves"]["table"] if t["stage"] == "confirm"]
        if confirm:
            cells.append("**confirm** " + confirm[0])
            cells += confirm[1:]
        plot = "" if ":" in r["dataset"] else f"; `{prefix}_{r['dataset']}.png`"
        lines.append(f"- **{r['dataset']}** (true {r['true_k']}, chosen {r['chosen_k']}{plot}): "
                     + ", ".join(cells))
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--k-range", default="2-150")
    parser.add_argument("--views", choices=sorted(VIEWS), default="mpnet")
    parser.add_argument("--criterion", choices=ck.CRITERIA, default=ck.DEFAULT_CRITERION)
    parser.add_argument("--short", default="default",
                        help="short runs: 'default' (choose_k.SHORT_RUN), 'thin' "
                             "(choose_k.CONFIRM_RUN for every candidate, then no confirm "
                             "stage) or N (N outer steps)")
    parser.add_argument("--no-whole-grid", action="store_true",
                        help="skip the reference that scores the whole grid at once")
    parser.add_argument("--out", default=None,
                        help="default docs/results/k_selection.md (mpnet views) or "
                             "k_selection_run_<criterion>.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    lo, hi = ck.parse_k_range(args.k_range)
    short = ({"default": dict(ck.SHORT_RUN), "thin": dict(ck.CONFIRM_RUN)}.get(args.short)
             or {"iterations": int(args.short)})
    # plots and the default page of other short runs carry their name
    label = "" if args.short == "default" else f"_{args.short}"
    rows = [run_dataset(name, (lo, hi), args.views, args.criterion, short,
                        not args.no_whole_grid, label)
            for name in args.datasets]
    hyper = {"fast": resolve("fast", {}), "short_run": short,
             "criterion": args.criterion, "views": args.views,
             "grid_ratio": ck.GRID_RATIO, "coarse_stride": ck.COARSE_STRIDE,
             "coarse_round": k_grid.ROUND, "confirm": list(k_grid.CONFIRM),
             "dense_k": k_grid.DENSE_K, "k_range": [lo, hi]}
    out = args.out or str(RESULTS / ("k_selection.md" if args.views == "mpnet"
                                     else f"k_selection_run_{args.criterion}{label}.md"))
    write_results(out, page(rows, lo, hi, args.views, args.criterion, label), {"rows": rows},
                  stamp(None, hyper))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
