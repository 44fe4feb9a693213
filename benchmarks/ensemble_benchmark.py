"""From many runs to one labeling on the shared text data (phi1 = MiniLM, phi2 = MPNet).

Per dataset, through the command line (so the work directories are resumable: run the same
command again after an interruption and only missing seeds are fitted):

1. ``humelabel fit --seeds S`` (>= 10 seeds): the majority vote of the aligned runs vs the
   median single run (ACC / NMI / ARI), the reference run (best generalization score) vs the
   best run by ground truth, and Spearman's rank correlation of the generalization score
   with the true ACC across runs;
2. reliable samples from that combination at 4, 15, 25 and 400 per class (nearest neighbours
   in MPNet by default): their accuracy and how many there are;
3. ``humelabel fit --select``: the label-free pick of (tau, entropy weight, outer lr) from
   the CLI's default 27-point grid (or ``--select-tau`` ... lists) vs the best configuration by
   ground truth.

Writes a markdown table to ``--out`` and all numbers to the same path with ``.json``.

Usage:
    python benchmarks/ensemble_benchmark.py [--datasets trec ag_news banking77 stackoverflow]
        [--seeds 0-9] [--select-seeds 0] [--jobs 1] [--preset fast] [--set name=value ...]
        [--work benchmarks/work/ensemble] [--out docs/results/ensemble_benchmark.md]

HUME settings: ``--preset``/``--set``; by default the ``fast`` preset.
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _results import RESULTS, stamp, write_results

import humelabel
from humelabel.cli import main as cli_main
from humelabel.core.presets import resolve
from humelabel.runs.ensemble import GeneralizationScorer
from humelabel.runs.reliable import neighbor_agreement, reliable_accuracy, select_reliable
from humelabel.runs.seeds import parse_seeds

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "text"
DATASETS = ("ag_news", "trec", "banking77", "stackoverflow")
PER_CLASS = (4, 15, 25, 400)


def default_settings() -> dict[str, Any]:
    """The default preset's settings: ``{"preset": "fast"}``."""
    return {"preset": "fast"}


def settings_argv(settings: dict[str, Any]) -> list[str]:
    """HUME settings as ``humelabel fit`` options (``preset`` -> ``--preset``)."""
    argv: list[str] = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            argv.append(flag if value else "--no-" + name.replace("_", "-"))
        else:
            argv += [flag, str(value)]
    return argv


def parse_set(items: list[str]) -> dict[str, Any]:
    """``name=value`` pairs; values parsed as JSON when possible (numbers, true/false)."""
    values: dict[str, Any] = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep:
            raise SystemExit(f"--set {item}: expected name=value")
        try:
            values[name] = json.loads(text)
        except ValueError:
            values[name] = text
    return values


def fit(argv: list[str]) -> None:
    start = time.perf_counter()
    rc = cli_main(argv)
    if rc != 0:
        raise SystemExit(f"humelabel {' '.join(argv)} failed with exit code {rc}")
    print(f"  ... {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def run_dataset(name: str, args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    folder = DATA / name
    truth = np.load(folder / "labels.npy", allow_pickle=False)
    k = int(truth.max()) + 1
    work = Path(args.work) / name
    common = ["fit", "--phi1", str(folder / "minilm.npy"), "--phi2", str(folder / "mpnet.npy"),
              "--k", str(k), "--truth", str(folder / "labels.npy"), "--device", "cpu",
              "--jobs", str(args.jobs), "--quiet", *settings_argv(settings)]
    result: dict[str, Any] = {"n": int(truth.shape[0]), "k": k}

    # 1. many seeds, one labeling
    print(f"{name}: seeds {args.seeds}", file=sys.stderr, flush=True)
    start = time.perf_counter()
    fit([*common, "--seeds", args.seeds, "--out", str(work / "seeds")])
    result["seeds_seconds"] = time.perf_counter() - start
    metrics = json.loads((work / "seeds" / "metrics.json").read_text())
    runs = read_csv(work / "seeds" / "runs.csv")
    result["ensemble"] = {key: metrics[key] for key in ("acc", "nmi", "ari")}
    result["runs"] = metrics["runs"]
    result["best_run_by_truth"] = max(
        ({key: float(r[key]) for key in ("acc", "nmi", "ari")} for r in runs),
        key=lambda m: m["acc"])
    result["score_acc_spearman"] = metrics["score_acc_spearman"]
    result["score_acc_spearman_p"] = metrics["score_acc_spearman_p"]
    result["mean_agreement"] = metrics["mean_agreement"]
    result["per_run"] = [{key: float(r[key]) for key in ("seed", "score", "acc", "nmi", "ari")}
                         for r in runs]
    for row, r in zip(result["per_run"], runs, strict=True):  # when the run was fitted
        row["fit_seconds"] = json.loads(
            (work / "seeds" / r["run"] / "config.json").read_text())["fit_seconds"]
    result["fit_seconds_median"] = float(np.median([r["fit_seconds"] for r in result["per_run"]]))

    # Scores of the vote and of the true labeling, for scale (same scorer as the runs').
    labels = np.load(work / "seeds" / "labels.npy", allow_pickle=False)
    scorer = GeneralizationScorer().fit(np.load(folder / "mpnet.npy", allow_pickle=False))
    result["score_runs_median"] = float(np.median([r["score"] for r in result["per_run"]]))
    result["score_vote"] = scorer.score(labels)
    result["score_truth"] = scorer.score(truth)

    # 2. reliable samples from the combination
    agreement = np.load(work / "seeds" / "agreement.npy", allow_pickle=False)
    space = np.load(folder / f"{args.reliable_space}.npy", allow_pickle=False)
    start = time.perf_counter()
    neigh, dist = neighbor_agreement(space, labels, args.neighbors)
    reliable = {}
    for per_class in PER_CLASS:
        picked = select_reliable(labels, agreement, neigh, per_class, mean_distance=dist,
                                 n_classes=k)
        scored = reliable_accuracy(truth, labels, picked)
        reliable[per_class] = {"accuracy": scored["accuracy"], "n": scored["n"],
                               "classes_short": int((picked.counts < per_class).sum())}
    result["reliable"] = reliable
    result["reliable_seconds"] = time.perf_counter() - start

    # 3. label-free selection of the configuration
    if not args.no_select:
        print(f"{name}: --select, seeds {args.select_seeds}", file=sys.stderr, flush=True)
        start = time.perf_counter()
        grid = [arg for name in ("tau", "entropy_weight", "outer_lr")
                if getattr(args, f"select_{name}") is not None
                for arg in (f"--select-{name.replace('_', '-')}", getattr(args, f"select_{name}"))]
        fit([*common, "--select", "--seeds", args.select_seeds, *grid,
             "--out", str(work / "select")])
        result["select_seconds"] = time.perf_counter() - start
        select = json.loads((work / "select" / "metrics.json").read_text())["select"]
        result["select"] = select
    return result


def pct(m: dict[str, float]) -> str:
    return f"{100 * m['acc']:.1f} / {100 * m['nmi']:.1f} / {100 * m['ari']:.1f}"


def tables(results: dict[str, Any], args: argparse.Namespace) -> str:
    n_seeds = len(parse_seeds(args.seeds))
    lines = [
        f"| dataset (n, k) | median single run | vote of {n_seeds} runs | reference run "
        "(best score) | best run by truth | Spearman(score, ACC) | mean agreement | score: "
        "median run / vote / truth | fit time / run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in results.items():
        rho = r["score_acc_spearman"]
        rho_text = "n/a" if rho is None else f"{rho:.2f} (p={r['score_acc_spearman_p']:.2g})"
        lines.append(f"| {name} ({r['n']:,}, {r['k']}) | {pct(r['runs']['median'])} | "
                     f"{pct(r['ensemble'])} | {pct(r['runs']['reference'])} | "
                     f"{pct(r['best_run_by_truth'])} | {rho_text} | "
                     f"{r['mean_agreement']:.2f} | {100 * r['score_runs_median']:.1f} / "
                     f"{100 * r['score_vote']:.1f} / {100 * r['score_truth']:.1f} | "
                     f"{r['fit_seconds_median']:.0f} s |")
    lines += [
        "",
        f"Reliable samples (neighbours: {args.neighbors} in {args.reliable_space}): accuracy "
        "in percent (points selected; classes with fewer than asked).",
        "",
        "| dataset | " + " | ".join(f"{p} per class" for p in PER_CLASS) + " |",
        "|---|" + "---|" * len(PER_CLASS),
    ]
    for name, r in results.items():
        cells = []
        for p in PER_CLASS:
            rel = r["reliable"][p]
            short = f", {rel['classes_short']} short" if rel["classes_short"] else ""
            cells.append(f"{100 * rel['accuracy']:.1f} ({rel['n']}{short})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if not args.no_select:
        lines += [
            "",
            f"Label-free selection (`--select`, seeds {args.select_seeds} per configuration): "
            "ACC in percent of the configuration picked by the generalization score vs the "
            "best configuration by ground truth.",
            "",
            "| dataset | configs | picked | picked ACC | rank of pick by ACC | best by truth | "
            "best ACC | median config ACC | Spearman(score, ACC) over configs |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, r in results.items():
            s = r["select"]
            rho = s["score_acc_spearman"]
            lines.append(
                f"| {name} | {s['configs']} | {s['selected']} | {100 * s['selected_acc']:.1f} |"
                f" {s['selected_acc_rank']} | {s['best_config_by_truth']} | "
                f"{100 * s['best_acc']:.1f} | {100 * s['median_config_acc']:.1f} | "
                f"{'n/a' if rho is None else f'{rho:.2f}'} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=DATASETS)
    parser.add_argument("--seeds", default="0-9", help="seeds of step 1 (default: 0-9)")
    parser.add_argument("--select-seeds", default="0",
                        help="seeds per configuration in --select (default: 0)")
    parser.add_argument("--no-select", action="store_true", help="skip the --select step")
    for name in ("tau", "entropy-weight", "outer-lr"):
        parser.add_argument(f"--select-{name}", metavar="LIST",
                            help=f"grid values of {name} (default: the CLI's default grid)")
    parser.add_argument("--jobs", type=int, default=1, help="parallel runs (default: 1)")
    parser.add_argument("--preset", help="HUME preset (default: fast if available)")
    parser.add_argument("--set", nargs="*", default=[], metavar="NAME=VALUE",
                        help="HUME hyperparameters, e.g. --set tau=0.1 iterations=100")
    parser.add_argument("--reliable-space", choices=("mpnet", "minilm"), default="mpnet")
    parser.add_argument("--neighbors", type=int, default=10)
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "work" / "ensemble"),
                        help="resumable run directories")
    parser.add_argument("--out", default=str(RESULTS / "ensemble_benchmark.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    settings = {"preset": args.preset} if args.preset else default_settings()
    settings.update(parse_set(args.set))
    start = time.perf_counter()
    results = {name: run_dataset(name, args, settings) for name in args.datasets}
    header = (
        f"HUME, many runs to one labeling; phi1 = MiniLM (L2-normalised), phi2 = MPNet. "
        f"Cells: ACC / NMI / ARI in percent. HUME settings: {settings}; seeds {args.seeds}; "
        f"generalization score: 10-fold CV logistic regression on whitened MPNet, C = 0.1. "
        f"Machine: {platform.processor() or platform.machine()}, {args.jobs} process(es) with "
        f"1 torch thread each, torch {torch.__version__}, humelabel {humelabel.__version__}; "
        f"this invocation {time.perf_counter() - start:.0f} s (runs finished earlier in "
        f"{args.work} are reused; fit time / run: median over the seeds, when fitted).\n\n"
    )
    text = header + tables(results, args) + "\n"
    overrides = {key: value for key, value in settings.items() if key != "preset"}
    write_results(args.out, text, {"settings": settings, "args": vars(args), "results": results},
                  stamp(None, resolve(settings.get("preset", "paper"), overrides)))
    print(text)


if __name__ == "__main__":
    main()
