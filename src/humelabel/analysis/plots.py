"""Figures a user wants after a run, rendered to PNG with matplotlib (no display needed).

Each ``plot_*`` function draws on its own :class:`matplotlib.figure.Figure` (no pyplot global
state, safe in worker processes), renders it in memory and writes the PNG atomically.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator, NullFormatter
from sklearn.metrics.cluster import contingency_matrix

from ..io import write_bytes_atomic
from .metrics import cluster_accuracy, hungarian_mapping

DPI = 110
#: Above this many classes, tick labels are left out (they would overlap).
MAX_TICK_LABELS = 30


def _save(fig: Figure, path: str | PathLike[str]) -> None:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    write_bytes_atomic(path, buffer.getvalue())


def plot_history(histories: Mapping[str, Sequence[Mapping[str, Any]]],
                 path: str | PathLike[str]) -> None:
    """Objective (loss and its generalization part) and label entropy per outer step.

    ``histories`` maps a run name to its records (``history.jsonl`` rows with ``step``,
    ``loss``, ``generalization``, ``entropy``); one line per run.
    """
    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, 3)
    titles = ("objective (Eq. 7, lower is better)", "generalization loss", "label entropy (nats)")
    for name, records in histories.items():
        steps = [r.get("step", i) for i, r in enumerate(records)]
        for ax, key in zip(axes, ("loss", "generalization", "entropy"), strict=True):
            ax.plot(steps, [r[key] for r in records], linewidth=1.2, label=name)
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("outer step")
        ax.grid(alpha=0.3)
    if 1 < len(histories) <= 12:
        axes[0].legend(fontsize=7)
    _save(fig, path)


def plot_cluster_sizes(labels: np.ndarray, n_classes: int, path: str | PathLike[str],
                       names: Sequence[str] | None = None) -> None:
    """Bar chart of the number of points per found cluster; labels (n,) in 0..n_classes-1."""
    sizes = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes)
    fig = Figure(figsize=(max(5.0, min(0.25 * n_classes + 2, 20.0)), 3.6))
    ax = fig.subplots()
    ax.bar(np.arange(sizes.size), sizes, color="#4c72b0")
    ax.set_xlabel("cluster")
    ax.set_ylabel("points")
    ax.set_title(f"cluster sizes ({int(sizes.sum()):,} points, {int((sizes > 0).sum())} of "
                 f"{sizes.size} clusters used)", fontsize=10)
    if sizes.size <= MAX_TICK_LABELS:
        ax.set_xticks(np.arange(sizes.size))
        if names is not None:
            ax.set_xticklabels(names, rotation=45, ha="right", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    _save(fig, path)


def confusion_matrix_matched(truth: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Counts (k_true, k_true + unmatched clusters): rows are the true classes in id order,
    column i holds the cluster Hungarian-matched to class i (all zeros when no cluster is
    matched to it, e.g. with fewer clusters than classes), unmatched clusters come last. The
    diagonal is what the matched accuracy counts."""
    truth = np.asarray(truth, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.asarray(contingency_matrix(truth, labels))
    classes, clusters = np.unique(truth), np.unique(labels)
    matched = {cls: int(np.searchsorted(clusters, c))
               for c, cls in hungarian_mapping(truth, labels).items()}
    columns = [counts[:, matched[cls]] if cls in matched else np.zeros(classes.size, np.int64)
               for cls in classes.tolist()]
    used = set(matched.values())
    columns += [counts[:, j] for j in range(clusters.size) if j not in used]
    return np.stack(columns, axis=1)


def plot_confusion(truth: np.ndarray, labels: np.ndarray, path: str | PathLike[str],
                   class_names: Sequence[str] | None = None, title: str = "") -> None:
    """Row-normalised confusion matrix of found clusters against the true classes (n,)."""
    counts = confusion_matrix_matched(truth, labels)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    k = max(counts.shape)
    size = min(4.0 + 0.18 * k, 18.0)
    fig = Figure(figsize=(size + 1.2, size))
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="Blues", vmin=0.0, vmax=1.0, aspect="auto",
                      interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of the class")
    ax.set_xlabel("found cluster (matched class on the diagonal)")
    ax.set_ylabel("true class")
    if counts.shape[0] <= MAX_TICK_LABELS:
        ax.set_yticks(np.arange(counts.shape[0]))
        if class_names is not None and len(class_names) == counts.shape[0]:
            ax.set_yticklabels(class_names, fontsize=8)
        if counts.shape[0] <= 12:
            for i in range(counts.shape[0]):
                for j in range(counts.shape[1]):
                    ax.text(j, i, f"{rates[i, j]:.2f}", ha="center", va="center", fontsize=7,
                            color="white" if rates[i, j] > 0.5 else "black")
    accuracy = cluster_accuracy(truth, labels)
    ax.set_title(f"{title + ': ' if title else ''}confusion matrix (ACC {100 * accuracy:.1f}%)",
                 fontsize=10)
    _save(fig, path)


def plot_correlation(records: Sequence[Mapping[str, Any]], path: str | PathLike[str], *,
                     stats: Mapping[str, Mapping[str, Mapping[str, float]]],
                     title: str = "") -> None:
    """Scatter of the objective (left: whole Eq. 7 loss; right: its generalization term)
    against the distance to the truth (1 - ACC), one colour per way of perturbing the truth;
    each title shows ``stats[term]["k_classes"]`` (Pearson rho and p over the labelings with
    k classes) and ``stats[term]["all"]`` (over all)."""
    fig = Figure(figsize=(11.0, 4.4))
    axes = fig.subplots(1, 2)
    colours = {"reassign": "#4c72b0", "merge": "#dd8452", "split": "#55a868",
               "merge+split": "#c44e52"}
    labels = {"loss": "objective, Eq. 7 (lower is better)",
              "generalization": "generalization term alone"}
    for ax, term in zip(axes, ("loss", "generalization"), strict=True):
        for family, colour in colours.items():
            rows = [r for r in records if r["family"] == family]
            if rows:
                ax.scatter([r["distance"] for r in rows], [r[term] for r in rows], s=22,
                           color=colour, alpha=0.85, label=f"{family} ({len(rows)})")
        truth = [r for r in records if r["distance"] == 0.0]
        if truth:
            ax.scatter([0.0], [truth[0][term]], s=90, marker="*", color="black",
                       label="truth")
        same_k, overall = stats[term]["k_classes"], stats[term]["all"]
        ax.set_xlabel("distance to the true labeling (1 - ACC)")
        ax.set_ylabel(labels[term])
        ax.set_title(f"{title + ': ' if title else ''}Pearson rho, k classes "
                     f"{same_k['pearson']:.2f} (p = {same_k['pearson_p']:.0e}); all "
                     f"{overall['pearson']:.2f}", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    _save(fig, path)


#: Ticks of the k axis of :func:`plot_k_selection`, those in the searched range.
_K_TICKS = (2, 3, 5, 10, 20, 30, 50, 100, 150, 200, 300, 500, 1000, 2000, 5000)


def plot_k_selection(table: Sequence[Mapping[str, Any]], k: int,
                     path: str | PathLike[str], title: str = "") -> None:
    """The criterion against k for the candidates of a k selection (rows with ``k``,
    ``stage``, ``stability`` and optionally ``criterion``, its name, as in
    ``k_selection.csv``; stage "full" is left out), the chosen ``k`` marked; k on a log
    axis."""
    fig = Figure(figsize=(6.4, 3.6))
    ax = fig.subplots()
    def value(row: Mapping[str, Any], key: str) -> float:
        return np.nan if row.get(key, "") in ("", None) else float(row[key])

    for stage, marker in (("coarse", "o"), ("fine", "s"), ("confirm", "^")):
        rows = sorted((r for r in table if r["stage"] == stage), key=lambda r: float(r["k"]))
        kept = [r for r in rows if not np.isnan(value(r, "stability"))]
        if kept:
            ax.plot([float(r["k"]) for r in kept], [value(r, "stability") for r in kept],
                    marker=marker, linewidth=0.0 if stage == "fine" else 1.0,
                    markersize=4, label=stage if stage != "confirm" else "confirm (settled runs)")
    # the joint criterion's upper bound of the short runs, shown for every candidate (some
    # skip the last runs)
    joint = sorted((r for r in table if r["stage"] in ("coarse", "fine")
                    and r.get("criterion") == "joint"
                    and not np.isnan(value(r, "cross_ari"))), key=lambda r: float(r["k"]))
    if joint:
        ax.plot([float(r["k"]) for r in joint], [value(r, "cross_ari") for r in joint],
                linestyle=":", marker=".", linewidth=1.0, color="tab:gray",
                label="cross-view ARI (the bound)")
    ax.axvline(k, color="tab:red", linestyle="--", linewidth=1.0, label=f"chosen k = {k}")
    ax.set_xscale("log")
    # round numbers in the searched range as plain ints (the log axis would label only the
    # decades, or every minor tick in overlapping mathtext)
    ks = [float(r["k"]) for r in table]
    ticks = [t for t in _K_TICKS if min(ks) <= t <= max(ks)]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([str(t) for t in ticks]))
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("k (number of classes)")
    names = {str(r.get("criterion") or "") for r in table if r["stage"] != "full"} - {""}
    ax.set_ylabel(f"criterion: {', '.join(sorted(names))}" if names
                  else "stability (ARI between short runs)")
    ax.set_title(title or "choosing k without labels", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    _save(fig, path)
