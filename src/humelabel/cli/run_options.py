"""The options of ``humelabel run`` and their argparse types."""

from __future__ import annotations

import argparse
import os

from ..runs.candidates import (
    AUTO_TAU_END,
    CONTINUATION_FLOOR,
    CONTINUATION_MARGIN,
    GRAPH_MAX_ROWS,
    GRAPH_MIN_ROWS,
    GRAPH_NEIGHBORS,
)
from ..runs.choose_k import DEFAULT_K_RANGE
from .common import add_backend_options, finite_float, positive_int, seed, seed_list
from .embed import DEFAULT_CACHE, add_common, add_ssl, add_tfidf
from .fit import add_k_criterion, k_range_value, k_value

__all__ = ["DEFAULT_TEXT_SPACES", "add_run_options", "agreement_share", "jobs_value",
           "resolve_jobs", "tau_end_value"]

#: The two views of a text input when ``--spaces`` is not given: a neural sentence encoder
#: (all-MiniLM-L6-v2, packaged for offline use) to label, and word TF-IDF (stop words kept,
#: 1-2 grams) as the second view: the two differ in inductive bias (meaning vs shared words),
#: so a labeling both can learn is less likely an artefact of one encoder
#: (docs/results/refine_benchmark_run.md has this pair on the five shared text sets).
DEFAULT_TEXT_SPACES = ("minilm", "tfidf")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    """Every option of ``humelabel run`` but the output ones."""
    parser.add_argument("--input", required=True, metavar="F_OR_DIR",
                        help="texts (.txt/.csv/.jsonl) or images (folder or list of files)")
    parser.add_argument("-k", "--k", required=True, type=k_value, metavar="K",
                        help="number of classes to find, or 'auto' (EXPERIMENTAL): choose it "
                        "without labels by --k-criterion over --k-range (humelabel.runs."
                        "choose_k; writes k_selection.csv and k_selection.png)")
    parser.add_argument("--k-range", type=k_range_value, metavar="LO-HI",
                        default=DEFAULT_K_RANGE, help="candidates of --k auto (default: "
                        f"{DEFAULT_K_RANGE[0]}-{DEFAULT_K_RANGE[1]}, capped at rows / 5)")
    add_k_criterion(parser)
    parser.add_argument("--spaces", nargs=2, metavar=("PHI1", "PHI2"),
                        help="the two models: PHI1 is the space to label, PHI2 the second view "
                        f"(texts: default {' '.join(DEFAULT_TEXT_SPACES)}, a neural encoder and "
                        "a lexical view, which differ in inductive bias; images: required, e.g. "
                        "hf:DINOV2_FOLDER hf:CLIP_FOLDER)")
    parser.add_argument("--truth", metavar="FILE",
                        help="true labels (.npy/.txt/...), only for metrics and the report")
    parser.add_argument("--truth-column", metavar="NAME",
                        help="read true labels from this column of a .csv/.jsonl input instead")
    parser.add_argument("--class-names", metavar="FILE",
                        help="JSON list (or id -> name object) of class names for the report")
    parser.add_argument("--modality", choices=("auto", "text", "images"), default="auto",
                        help="auto: folders and lists of image files are images (default)")
    parser.add_argument("--seed", type=seed, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--seeds", type=seed_list, metavar="LIST",
                        help="seeds to run and combine, e.g. 0-9 or 0,3,5-7 (instead of --seed); "
                        "each seed's run is kept in DIR/runs/<seed>/ and reused when run again")
    parser.add_argument("--jobs", type=jobs_value, default="auto", metavar="auto|N",
                        help="parallel processes for the runs and --k auto's short runs (one "
                        "torch thread each) and for "
                        "the folds of the scoring and refinement; the labels do not depend on it. "
                        "auto (default): 2 where there are 2 or more cores (the candidates "
                        "of --tau-end auto, --graph and --ratio two at a time), else 1; runs on an "
                        "accelerator: 1. "
                        "Each process holds its own copy of both spaces")
    add_backend_options(parser)
    parser.add_argument("--refine", action=argparse.BooleanOptionalAction, default=True,
                        help="relabel the combination by cross-fitted logistic regression on "
                        "both spaces (humelabel.runs.refine) and report on that, writing "
                        "refined.npy (labels.npy stays the combination, which predict --model "
                        "reproduces). Default: on (texts, minilm / tfidf, 5 seeds per dataset: "
                        "median single-run ACC +1.0 / +0.2 / -0.1 / +1.6 / +0.8 and NMI up on all "
                        "five shared text sets, docs/results/report_run.md; MNIST ssl / hog +5.5, "
                        "CIFAR-10 -0.3 and +0.3, docs/images.md)")
    parser.add_argument("--tau-end", type=tau_end_value, default="auto", metavar="auto|none|X",
                        help="the tau schedule. auto (default): fit with constant tau (unless "
                        "--continuation takes its place) and with tau "
                        f"lowered to {AUTO_TAU_END:g} over the search, and keep the combination "
                        "that is more learnable in both spaces (humelabel.runs.learnability; "
                        "select.csv; with --graph, --ratio and --continuation four fits per "
                        "seed). none: "
                        "constant tau only. X: lower tau geometrically from the preset's to X "
                        "(HUME(tau_end=X)) only. Measured: docs/method.md, "
                        "\"Choosing the tau schedule\"")
    parser.add_argument("--graph", action=argparse.BooleanOptionalAction, default=True,
                        help="also fit HUME with phi1's neighbourhood graph as an extra phi2 "
                        f"space (graph_neighbors={GRAPH_NEIGHBORS}, constant tau) and keep "
                        "it only where the learnability score prefers it, like the tau "
                        "schedules (select.csv). Default: on. Where the second view is weak "
                        "for the classes (fine-grained intents against word TF-IDF) the search "
                        "otherwise cuts through phi1's clusters: Banking77 55.4 -> 65.8 (median "
                        "of 5 seeds), the other shared sets unchanged (docs/method.md, \"The graph "
                        f"candidate\"). Skipped under {GRAPH_MIN_ROWS} or over "
                        f"{GRAPH_MAX_ROWS:,} rows (an exact neighbour search)")
    parser.add_argument("--ratio", action=argparse.BooleanOptionalAction, default=True,
                        help="also fit HUME with prior=ratio (generalization / entropy, constant "
                        "tau: unequal class sizes are not paid for) and keep it only where the "
                        "learnability score prefers it and none of its clusters is nearly empty "
                        "(select.csv). Default: on. With unequal classes the uniform prior "
                        "splits the large ones: 8 StackOverflow classes of 27-1000 rows, two "
                        "draws, 54.2 -> 87.0 and 53.1 -> 90.3 (median of 5 seeds, refined; "
                        "docs/results/imbalanced.md); docs/method.md, \"The ratio candidate\"")
    parser.add_argument("--continuation", action=argparse.BooleanOptionalAction, default=True,
                        help="also fit, after the others, HUME with prior=ratio and a floor on "
                        f"cluster size (size_floor={CONTINUATION_FLOOR:g}) started from each "
                        "seed's best-scoring uniform-prior run, in place of the constant-tau "
                        "fit of --tau-end auto; keep it only where its learnability beats "
                        f"the others' by {CONTINUATION_MARGIN:g} and no cluster is nearly "
                        "empty. Default: on. It leaves the uniform labeling where unequal "
                        "class sizes pay: imbalanced sets of 10 Banking77 intents 60.7 -> 81.7 "
                        "and 62.6 -> 78.0 (median of 5 seeds, refined; docs/results/"
                        "imbalanced.md); not picked on balanced sets, where losing the "
                        "constant-tau fit cost biomedical 57.0 -> 54.9 (docs/method.md, \"The "
                        "continuation candidate\")")
    parser.add_argument("--reliable", type=positive_int, metavar="N",
                        help="also write reliable.csv: up to N points per cluster of the "
                        "combination whose label is very likely right, to start semi-supervised "
                        "learning (agreement of the runs and of 10 phi1 neighbours, then the "
                        "cross-fitted confidence over both spaces: humelabel reliable "
                        "--confidence-spaces; docs/method.md, \"Reliable samples from run\")")
    parser.add_argument("--reliable-min-agreement", type=agreement_share, metavar="X",
                        help="with --reliable: keep only points that at least a share X of "
                        "every run fitted (all candidates of all seeds, each aligned to the "
                        "result) give their label: more of them right, fewer clusters with "
                        "points (0.9 with --seeds 0-4 on 31 sets: docs/method.md, \"Reliable "
                        "samples that every candidate agrees on\"). Default: off")
    parser.add_argument("--top", type=positive_int, default=10, metavar="N",
                        help="typical members shown per cluster (default: %(default)s)")
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="embedding cache (default: $HUMELABEL_CACHE or "
                        f"{DEFAULT_CACHE})")
    add_common(parser, batch_size=64)
    add_tfidf(parser, prefix="tfidf-")
    add_ssl(parser)


def tau_end_value(text: str) -> str | float:
    """argparse type of ``--tau-end``: ``auto``, ``none`` or a number > 0."""
    if text in ("auto", "none"):
        return text
    value = finite_float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be auto, none or a number > 0")
    return value


def agreement_share(text: str) -> float:
    """``--reliable-min-agreement``: a share in (0, 1]."""
    value = finite_float(text)
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be in (0, 1]")
    return value


def jobs_value(text: str) -> str | int:
    """``--jobs``: ``auto`` or a positive number of processes."""
    return "auto" if text.strip().lower() == "auto" else positive_int(text)


def resolve_jobs(jobs: str | int, device: str) -> int:
    """Processes for the runs: ``jobs`` itself, or for ``auto`` 2 when the fits run on a CPU
    with at least 2 usable cores (a fit is one torch thread: two side by side take about
    the wall time of one) and 1 otherwise (an accelerator, or one core)."""
    if jobs != "auto":
        return int(jobs)
    from ..core.device import resolve_device

    try:
        if resolve_device(device).type != "cpu":
            return 1
    except (ValueError, RuntimeError):  # an unusable device: the fit reports it
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    return min(2, cores)
