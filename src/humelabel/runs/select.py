"""Label-free configuration selection (``fit --select``): a grid of tau, entropy weight and
outer learning rate; every configuration's runs are combined and the combination with the
best generalization score is kept. ``humelabel run`` picks among its candidates per seed
instead, by another score, and votes the picks (:func:`pick_per_seed`).

A configuration whose prior is not the uniform one (``prior="ratio"`` or given proportions:
nothing in its objective keeps a class from emptying) is kept only when its combination has no
nearly empty cluster (:func:`admitted`): such a labeling is not the k-class labeling asked for,
and a scorer that measures how learnable a labeling is favours it, since fewer classes are
easier to learn. Uniform-prior configurations compare as they are: on fine-grained data their
runs, too, often leave one cluster nearly empty (docs/method.md, "The ratio candidate").
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..analysis.metrics import evaluate
from ..core.presets import resolve
from .ensemble import Ensemble, combine_labelings
from .outputs import spearman

__all__ = ["MIN_CLUSTER_SHARE", "SELECT_FACTORS", "admitted", "centrality", "eligible", "grid",
           "pick_per_seed", "reference_scores", "select", "select_columns", "select_metrics",
           "tag"]

#: Default factors of the ``--select`` grid, applied to the resolved base values.
SELECT_FACTORS = {"tau": (0.5, 1.0, 2.0), "entropy_weight": (0.5, 1.0, 2.0),
                  "outer_lr": (0.3, 1.0, 3.0)}
#: The smallest cluster an eligible combination may have, as a share of the mean cluster size
#: n / k. Measured (docs/method.md, "The ratio candidate"): the collapsed ratio-prior runs on
#: Banking77 and its subsets have clusters of 0-1.3% of the mean (some empty); the smallest
#: classes found on imbalanced data 18-63%; the smallest true class of the shared data 9.6%
#: (TREC's ABBR).
MIN_CLUSTER_SHARE = 0.05
_GRID_TAGS = {"tau": "tau", "entropy_weight": "ew", "outer_lr": "lr", "tau_end": "tauend",
              "graph_neighbors": "graph", "size_floor": "floor"}


def grid(preset: str, overrides: dict[str, Any],
         values: dict[str, Sequence[float] | None] | None = None) -> list[dict[str, float]]:
    """The grid: one dict of tau / entropy_weight / outer_lr per configuration.

    ``values[name]`` lists the values of an axis; missing or None: :data:`SELECT_FACTORS`
    times the value ``preset`` with ``overrides`` resolves to.

    Raises:
        ValueError: a tau or outer_lr value is not > 0.
    """
    base = resolve(preset, overrides)
    axes = {}
    for name, factors in SELECT_FACTORS.items():
        given = (values or {}).get(name)
        chosen = ([float(v) for v in given] if given is not None
                  else [float(base[name]) * f for f in factors])
        if name != "entropy_weight" and any(v <= 0 for v in chosen):
            raise ValueError(f"{name} values must be > 0")
        axes[name] = sorted(set(chosen))
    return [{"tau": t, "entropy_weight": e, "outer_lr": lr}
            for t in axes["tau"] for e in axes["entropy_weight"] for lr in axes["outer_lr"]]


def tag(config: dict[str, float | str | None]) -> str:
    """Folder name of a configuration, e.g. ``tau0.3_ew10_lr0.01``, ``tauendnone`` (a
    hyperparameter left at None, i.e. off) or ``tauendnone_priorratio``."""
    return "_".join(f"{_GRID_TAGS.get(name, name)}{_tag_value(value)}"
                    for name, value in config.items())


def _tag_value(value: float | str | None) -> str:
    if value is None:
        return "none"
    return value if isinstance(value, str) else format(value, ".6g")


def select_columns(configs: Sequence[dict[str, Any]], per_seed: bool = False) -> list[str]:
    """Columns of select.csv for ``configs``: the config's tag (and with ``per_seed`` the
    seed), every hyperparameter that appears in them, then runs, score (with ``per_seed``: and
    the margin it gives up), eligible and selected (acc, nmi, ari follow with truth)."""
    names = list(dict.fromkeys(name for config in configs for name in config))
    return ["config", *(["seed"] if per_seed else []), *names, "runs", "score",
            *(["margin"] if per_seed else []), "eligible", "selected"]


def eligible(labels: np.ndarray, n_classes: int) -> bool:
    """Whether a labeling (n,) has no cluster under MIN_CLUSTER_SHARE * n / n_classes rows."""
    sizes = np.bincount(labels, minlength=n_classes)
    return bool(sizes.min() >= MIN_CLUSTER_SHARE * labels.size / n_classes)


def admitted(config: dict[str, Any], labels: np.ndarray, n_classes: int) -> bool:
    """Whether a configuration's labeling (n,) may be kept: a uniform prior's always, any
    other's only when :func:`eligible`."""
    return config.get("prior", "uniform") == "uniform" or eligible(labels, n_classes)


def select(configs: Sequence[dict[str, float]], members: dict[str, tuple[list[np.ndarray],
           list[float]]], n_classes: int, score_many: Callable[[list[np.ndarray]], list[float]],
           truth: np.ndarray | None = None
           ) -> tuple[list[dict[str, Any]], str, dict[str, Ensemble]]:
    """Score every configuration's combined labeling; return select.csv rows, the best
    configuration's tag and every configuration's combination.

    ``members[tag]`` holds that configuration's labelings (each (n,)) and their scores;
    ``score_many`` scores labelings (the votes of configurations with several runs; a single
    run's vote is the run, whose score is known). The best-scoring
    combination is kept among those of uniform-prior configurations and the eligible ones of
    the others (:func:`eligible`; among all where that leaves none); ties go to the first
    configuration.
    """
    combined = {}
    for config in configs:
        labelings, scores = members[tag(config)]
        combined[tag(config)] = combine_labelings(labelings, scores, n_classes=n_classes)
    voted = [name for name, (labelings, _) in members.items() if len(labelings) > 1]
    scores = dict(zip(voted, score_many([combined[name].labels for name in voted]),
                      strict=True))
    rows = _choose(configs, [combined[tag(c)].labels for c in configs],
                   [scores.get(tag(c), float(combined[tag(c)].scores[0])) for c in configs],
                   [len(members[tag(c)][0]) for c in configs], n_classes, truth)
    best = next(row for row in rows if row["selected"])
    return rows, best["config"], combined


def _choose(configs: Sequence[dict[str, Any]], labelings: Sequence[np.ndarray],
            scores: Sequence[float], runs: Sequence[int], n_classes: int,
            truth: np.ndarray | None, margins: Sequence[float] | None = None,
            **fields: Any) -> list[dict[str, Any]]:
    """select.csv's rows for one labeling (n,) per configuration, with ``fields`` (e.g. the
    seed) after the tag; the admitted labeling with the best score less its margin (among all
    where none is admitted; ties: the first) is marked selected."""
    rows = []
    for i, (config, labels, score, count) in enumerate(zip(configs, labelings, scores, runs,
                                                           strict=True)):
        row: dict[str, Any] = {"config": tag(config), **fields, **config, "runs": count,
                               "score": float(score)}
        if margins is not None:
            row["margin"] = float(margins[i])
        row.update(eligible=int(eligible(labels, n_classes)), selected=0)
        if truth is not None:
            metrics = evaluate(truth, labels)
            row.update(acc=metrics["acc"], nmi=metrics["nmi"], ari=metrics["ari"])
        rows.append(row)
    kept = [admitted(config, labels, n_classes)
            for config, labels in zip(configs, labelings, strict=True)]
    best = max(range(len(rows)), key=lambda i: (kept[i], rows[i]["score"] - rows[i].get(
        "margin", 0.0), -i))
    rows[best]["selected"] = 1
    return rows


def centrality(labelings: Sequence[np.ndarray]) -> np.ndarray:
    """(R,) each labeling's mean adjusted Rand index with the R - 1 others (1.0 for a lone
    one): how much the other runs agree with it."""
    from sklearn.metrics import adjusted_rand_score

    r = len(labelings)
    if r == 1:
        return np.ones(1)
    ari = np.eye(r)
    for i in range(r):
        for j in range(i + 1, r):
            ari[i, j] = ari[j, i] = adjusted_rand_score(labelings[i], labelings[j])
    return (ari.sum(axis=1) - 1.0) / (r - 1)


def reference_scores(labelings: Sequence[np.ndarray], scores: ArrayLike) -> np.ndarray:
    """(R,) the vote's reference order of R picks (each (n,)) with label-free scores (R,):
    the rank of their :func:`centrality` plus the rank of their score (ties: the more central),
    so that the reference is a pick that both agrees with the others and scores well.

    Measured (docs/method.md, "Seeds voted"): either alone fails on some data. Around the
    best-scoring of three picks, imbalanced Banking77 intents (draw 2, seeds 2-4) vote 56.6
    against 66.7 around the most central; around the most central, TREC (seeds 0-2) 51.1
    against 60.7 around the best-scoring.
    """
    from scipy.stats import rankdata

    central = centrality(labelings)
    return rankdata(central) + rankdata(np.asarray(scores, dtype=np.float64)) + 1e-3 * central


def pick_per_seed(configs: Sequence[dict[str, Any]], members: dict[str, list[np.ndarray]],
                  n_classes: int, score_many: Callable[[list[np.ndarray]], list[float]],
                  seeds: Sequence[int], truth: np.ndarray | None = None,
                  margins: Sequence[float] | None = None
                  ) -> tuple[list[dict[str, Any]], list[str], Ensemble]:
    """Per seed the best-scoring admitted configuration's run, then the picks voted around
    the one :func:`reference_scores` ranks first.

    ``members[tag]`` holds that configuration's labelings (each (n,)), one per seed in the
    order of ``seeds``; ``score_many`` scores labelings (higher is better); ``margins`` (one
    per configuration, default 0) are subtracted from their scores when they compete. Returns
    select.csv's rows (one per configuration and seed), the configuration tag picked for each
    seed, and the vote (its ``scores``: the picks' :func:`reference_scores`).
    """
    names = [tag(config) for config in configs]
    values = score_many([lab for name in names for lab in members[name]])
    rows: list[dict[str, Any]] = []
    picks: list[str] = []
    for s, seed in enumerate(seeds):
        seed_rows = _choose(configs, [members[name][s] for name in names],
                            [values[c * len(seeds) + s] for c in range(len(names))],
                            [1] * len(names), n_classes, truth,
                            [0.0] * len(names) if margins is None else margins, seed=seed)
        picks.append(next(row["config"] for row in seed_rows if row["selected"]))
        rows.extend(seed_rows)
    chosen = [members[name][s] for s, name in enumerate(picks)]
    picked = [row["score"] for row in rows if row["selected"]]
    return rows, picks, combine_labelings(chosen, reference_scores(chosen, picked),
                                          n_classes=n_classes)


def select_metrics(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """How close the label-free pick comes to the best configuration by ground truth (with
    one row per configuration and seed: the first seed's pick)."""
    if "seed" in rows[0]:
        rows = [row for row in rows if row["seed"] == rows[0]["seed"]]
    chosen = next(row for row in rows if row["selected"])
    best = max(rows, key=lambda row: row["acc"])
    accs = sorted((row["acc"] for row in rows), reverse=True)
    rho, p = spearman(np.array([r["score"] for r in rows]), np.array([r["acc"] for r in rows]))
    return {"configs": len(rows), "selected": chosen["config"], "selected_acc": chosen["acc"],
            "best_config_by_truth": best["config"], "best_acc": best["acc"],
            "selected_acc_rank": accs.index(chosen["acc"]) + 1,
            "median_config_acc": statistics.median(accs),
            "score_acc_spearman": rho, "score_acc_spearman_p": p}
