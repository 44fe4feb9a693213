"""Choose the number of classes k without labels: :func:`choose_k` (EXPERIMENTAL).

Status (issue #12): with the views of ``humelabel run`` (MiniLM / TF-IDF), the default
``joint`` criterion and the confirm stage, end to end on the six shared datasets (k 2-150,
docs/results/k_selection_run_joint.md) it chose 4 for AG News (true 4), 20 for
StackOverflow (20), 20 for biomedical (20), 70 for Banking77 (77), 5 for TREC (6) and 12 for
the digits demo (10): six of six within 25%, ACC within 5 points of the run at the true k on
five (digits 9.0 below). TREC's curve is flat (its pick is flagged weak). Pass k when you
know it, and read the curve (``k_selection.png``) when you do not.

The criterion: seeds and views agree (``joint``)
------------------------------------------------
The candidates are every k up to ``DENSE_K`` = 10 and a geometric grid above (ratio 1.3,
:func:`search_grid`). Each candidate gets three short HUME runs (:data:`SHORT_RUN`: 40
outer steps instead of the preset's 300): seeds 0 and 1 labelling phi1 with phi2 as the
second view, and seed 0 labelling phi2 with phi1 as the second view. The criterion is the
AMI between the two phi1 runs times the ARI between seed 0's phi1 and phi2 runs
(:func:`criterion_terms`, :func:`joint_score`).
HUME's premise is that the true labeling is linear in both views, so at the right k the
search finds it from any start and from either view. Each term alone is fooled: a dominant
two-way split of one space is reproducible across seeds (seed AMI 0.84-0.91 at k = 2 on AG
News and biomedical) but the other view does not share it (cross-view ARI 0.006-0.28), and
the cross-view ARI alone is flat and noisy over large k. Since the seed AMI is at most 1,
the cross-view ARI bounds the product: a candidate whose cross-view ARI is below the best
score so far skips its second phi1 run (the same pick at lower cost).

The search: the short runs score every k up to 10 and one grid point in two above
(``coarse_stride``), upward two at a time (``coarse_round``), and stop once the largest
point of a round cannot beat the best score (its cross-view ARI is below it). Then the
confirm stage scores their pick, two grid points below it and one above (``confirm``) again
with runs that settle (:data:`CONFIRM_RUN`: the preset's steps on fewer, smaller splits, at
the cost of a short run); the best of those gets one full run (the preset's settings)
labelling phi1, which is the result. Short runs locate the region but prefer more classes
than settled runs do (StackOverflow 33, settled 20), hence the window's lean downward.
``confirm=0`` lets the short runs decide alone, after scoring the grid points skipped next
to their best (:func:`grid_gap`) and ``fine`` ints between its neighbours.
``cross_view`` (the earlier default criterion) scores k by the ARI between the phi1 and phi2
runs alone, two runs per candidate.

Earlier measurements and the other criteria tried: docs/results/k_criteria.md,
docs/results/k_selection.md (MiniLM / MPNet) and docs/method.md, "Choosing k".

Cost: 3 short runs of 40 steps per candidate (2 where the bound skips one), 3 confirm runs
per confirm candidate (the same bound), one full run. On StackOverflow, two runs at a time:
191 s against one run of 32 s, 6.0 runs with the full run, about 4.5 without it (before
the search grid, the rounds and the lopsided window: 228 s against 29 s, 8.0 runs):
docs/method.md, "One search grid".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import nullcontext
from typing import Any

import numpy as np

from ..estimator import HUME, Spaces
from .jobs import Workers
from .k_criteria import criterion_terms, joint_score, stability
from .k_grid import (
    COARSE_STRIDE,
    CONFIRM,
    DEFAULT_K_RANGE,
    FINE,
    GRID_RATIO,
    MIN_ROWS_PER_CLASS,
    ROUND,
    best_k,
    coarse_rounds,
    confirm_candidates,
    confirm_window,
    fine_candidates,
    geometric_grid,
    grid_gap,
    parse_k_range,
    search_grid,
    strided,
)
from .k_selection import COLUMNS, CRITERIA, RULES, WEAK_SCORE, KSelection, read_table

# (the result, the grid and the criteria live in k_selection, k_grid and k_criteria; they
# are re-exported here for the callers of choose_k)
__all__ = ["COLUMNS", "CRITERIA", "KSelection", "RULES", "WEAK_SCORE", "best_k", "choose_k",
           "criterion_terms", "fine_candidates", "geometric_grid", "grid_gap", "joint_score",
           "parse_k_range", "read_table", "stability", "strided"]

#: HUME settings of each candidate's short runs, over the caller's: 40 outer steps (the fast
#: preset's full run has 300).
SHORT_RUN: dict[str, Any] = {"iterations": 40}
#: HUME settings of the confirm stage's runs: the preset's outer steps, each on 2 splits of
#: 2,000 rows instead of 10 of 5,000. On StackOverflow (k = 25) one costs what a short run
#: does (6.9 s against 7.1 s; a full run 36.3 s), but its labeling has settled, and the
#: criterion on settled runs prefers the true k where short runs pick more classes
#: (StackOverflow 20 over 25, the digits demo 10 over 15: docs/method.md, "The confirm
#: stage").
CONFIRM_RUN: dict[str, Any] = {"num_subsets": 2, "subset_size": 2000}
#: Short runs (seeds) per candidate k; the criterion compares their labelings.
SEEDS = 2
#: The criterion of ``--k auto`` and :func:`choose_k` unless told.
DEFAULT_CRITERION = "joint"


def choose_k(
    phi1: Any,
    phi2: Any,
    k_range: tuple[int, int] = DEFAULT_K_RANGE,
    *,
    short_run: Mapping[str, Any] | None = None,
    grid_ratio: float = GRID_RATIO,
    coarse_stride: int = COARSE_STRIDE,
    coarse_round: int = ROUND,
    seeds: int | None = None,
    cross_view: bool = True,
    criterion: str = DEFAULT_CRITERION,
    fine: int = FINE,
    confirm: int | tuple[int, int] = CONFIRM,
    confirm_run: Mapping[str, Any] | None = None,
    random_state: int = 0,
    make_estimator: Callable[[int, Mapping[str, Any] | None, int], HUME] | None = None,
    fit_final: bool = True,
    progress: Callable[[str], None] | None = None,
    jobs: int = 1,
    **hume_params: Any,
) -> KSelection:
    """Choose k for HUME on phi1 (n, d1) / phi2 (n, d2) without labels, then fit at it.

    Args:
        k_range: (lo, hi) candidates (:func:`search_grid`: every k up to ``DENSE_K``, a
            geometric grid above); hi is capped at ``n // 5`` (at least lo).
        short_run: HUME settings of each candidate's short runs over ``hume_params``
            (None: :data:`SHORT_RUN`).
        grid_ratio: ratio between neighbouring grid candidates.
        coarse_stride: the coarse stage scores every grid point up to ``DENSE_K``, every
            ``coarse_stride``-th above and the last (:func:`strided`); 1: the whole grid.
        coarse_round: the coarse stage scores its points above ``DENSE_K`` upward,
            ``coarse_round`` at a time, and stops after a round whose largest point cannot
            beat the best score so far (:func:`coarse_rounds`; 0: all points at once).
        seeds: short runs per candidate (>= 2; None: 2, or 3 for ``"joint"``), j = 0, 1,
            ...: seed ``random_state + j``, or with ``cross_view`` seed
            ``random_state + j // 2``.
        cross_view: runs with odd j label phi2 with phi1 as the second view (the roles
            exchanged), so the criterion asks for a labeling both views agree on; ignored
            (every run labels phi1) when phi2 is a :class:`~humelabel.Spaces`.
        criterion: ``"cross_view"``: the mean ARI over all pairs of short runs
            (:func:`stability`); ``"joint"``: seed AMI x cross-view ARI
            (:func:`criterion_terms`, :func:`joint_score`): a k must give a labeling that
            other seeds reproduce in phi1 and that the run labelling phi2 shares.
        fine: candidates of the fine stage, without the confirm stage only
            (:func:`fine_candidates`; 0: none).
        confirm: grid points around the short runs' pick, ``(below, above)`` or one int for
            both sides, that the confirm stage scores with the pick by runs of
            ``confirm_run``; the best of them is the result (:func:`confirm_candidates`).
            0: no confirm stage; the short runs then also score the skipped grid points
            around their best until its grid neighbours are scored (:func:`grid_gap`) and
            ``fine`` ints between them, and their pick is the result.
        confirm_run: HUME settings of the confirm stage's runs over ``hume_params`` (None:
            :data:`CONFIRM_RUN`).
        random_state: int seed of the first short run of every k and of the full run.
        make_estimator: ``(k, overrides, seed) -> HUME``, overrides the settings of a
            short or confirm run (``short_run``, ``confirm_run``) or None for the full run;
            default ``HUME(k, random_state=seed, **hume_params, **overrides)``.
        fit_final: end with the full run at the chosen k (``False``: ``labels_`` and
            ``estimator_`` are those of the chosen k's first short run, e.g. for a caller
            that runs the full fit itself).
        progress: called with one line per scored candidate.
        jobs: processes for the short runs (one torch thread each; the table and the pick
            do not depend on it). ``jobs`` > 1 needs the default ``make_estimator`` (the
            runs are rebuilt from ``hume_params`` in each process) and a CPU device.
        hume_params: passed to :class:`HUME` by the default ``make_estimator``.

    Returns:
        :class:`KSelection` with ``k_``, the per-candidate table and the labeling.
    """
    start = time.perf_counter()
    n = np.asarray(phi1).shape[0] if not hasattr(phi1, "shape") else int(phi1.shape[0])
    lo, hi = int(k_range[0]), int(k_range[1])
    if lo < 2:
        raise ValueError(f"k_range must start at 2 or more, got {lo}")
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {', '.join(CRITERIA)}, got {criterion!r}")
    if seeds is None:
        seeds = 3 if criterion == "joint" else SEEDS
    if int(jobs) < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    if int(jobs) > 1 and make_estimator is not None:
        raise ValueError("jobs > 1 needs the default make_estimator (hume_params cross "
                         "processes, a function does not)")
    if int(coarse_stride) < 1:
        raise ValueError(f"coarse_stride must be at least 1, got {coarse_stride}")
    if int(seeds) < 2:
        raise ValueError(f"seeds must be at least 2 (the criterion compares runs), got {seeds}")
    hi = max(lo, min(hi, n // MIN_ROWS_PER_CLASS))
    window = confirm_window(confirm)

    # the settings of the short runs, then of the confirm stage's (phase 0 / 1)
    settings = [dict(SHORT_RUN if short_run is None else short_run),
                dict(CONFIRM_RUN if confirm_run is None else confirm_run)]
    phase = 0

    def default_make(k: int, overrides: Mapping[str, Any] | None, seed: int) -> HUME:
        return HUME(k, random_state=seed, **{**hume_params, **(overrides or {})})

    make = make_estimator or default_make
    table: list[dict[str, Any]] = []
    first: dict[int, HUME] = {}

    swap = bool(cross_view) and not isinstance(phi2, Spaces)

    # Short run j: its seed and whether it labels phi2 (the views exchanged).
    plan = [(random_state + (j // 2 if swap else j), swap and j % 2 == 1)
            for j in range(int(seeds))]
    # The joint score is at most the cross-view ARI (the seed AMI is at most 1), so a
    # candidate whose cross-view ARI is below the best joint score so far cannot win: its
    # further phi1 seeds are skipped (the pick is the same as without the bound).
    bounded = criterion == "joint" and swap and len(plan) > 2
    done: dict[int, list[tuple[np.ndarray, bool, int]]] = {}
    seconds: dict[int, float] = {}

    def in_process(task: _ShortRun) -> tuple[HUME, float]:
        t0 = time.perf_counter()
        est = make(task[0], settings[task[3]], task[1]).fit(
            *((phi2, phi1) if task[2] else (phi1, phi2)))
        return est, time.perf_counter() - t0

    def fit_runs(pairs: Sequence[tuple[int, int]]) -> dict[tuple[int, int], tuple[HUME, float]]:
        """Short run j of candidate k for every (k, j), side by side with ``jobs`` > 1."""
        # the largest k first: they take longest, so the workers finish together
        tasks = {(k, *plan[j], phase): (k, j) for k, j in sorted(pairs, key=lambda p: -p[0])}
        out: dict[tuple[int, int], tuple[HUME, float]] = {}
        if workers is None:  # here, with the caller's torch threads
            for task, key in tasks.items():
                out[key] = in_process(task)
        else:
            workers.run(_short_run, list(tasks),
                        lambda task, result: out.__setitem__(tasks[task], result))
        return out

    def commit(k: int, j: int, result: tuple[HUME, float]) -> None:
        est, secs = result
        if j == 0:
            first[k] = est
        done.setdefault(k, []).append((np.asarray(est.labels_), plan[j][1], plan[j][0]))
        seconds[k] = seconds.get(k, 0.0) + secs
        known.pop(k, None)

    known: dict[int, tuple[float | None, float | None]] = {}  # terms per k (AMI is not cheap)

    def terms(k: int) -> tuple[float | None, float | None]:
        if k not in known:
            labelings, swapped, run_seeds = zip(*done[k], strict=True)
            known[k] = criterion_terms(labelings, swapped, run_seeds)
        return known[k]

    def say(k: int, stage: str, text: str) -> None:
        if progress is not None:
            progress(f"k {k:4d} ({stage}): {text}")

    def record(k: int, stage: str) -> None:
        labelings = [y for y, _, _ in done[k]]
        mean, low = stability(labelings)
        seed_ami, cross_ari = terms(k)
        if criterion == "joint":
            complete = len(labelings) == len(plan)
            mean = joint_score(seed_ami, cross_ari) if complete else None
        table.append({"k": k, "stage": stage, "iterations": int(first[k].params_["iterations"]),
                      "seeds": len(labelings), "criterion": criterion,
                      "classes_used": round(float(np.mean([np.unique(y).size
                                                           for y in labelings])), 2),
                      "stability": "" if mean is None else round(mean, 6),
                      "stability_min": round(low, 6),
                      "seed_ami": "" if seed_ami is None else round(seed_ami, 6),
                      "cross_ari": "" if cross_ari is None else round(cross_ari, 6),
                      "seconds": round(seconds[k], 3)})

    def best_so_far() -> float:
        """The best score in the table among this phase's rows (-inf before any)."""
        return max((r["stability"] for r in table if r["stability"] != ""
                    and (r["stage"] == "confirm") == bool(phase)), default=-np.inf)

    def falling(k: int) -> bool:
        """Whether candidate k cannot beat the best score of the table so far: its
        cross-view ARI (the bound of its joint score) or its score is below it."""
        row = next(r for r in table if r["k"] == k and r["stage"] == "coarse")
        bound = row["cross_ari"] if row["cross_ari"] != "" else row["stability"]
        return bound != "" and bound < best_so_far()

    def run_stage(ks: Sequence[int], stage: str) -> None:
        head = [0, 1] if bounded else list(range(len(plan)))
        results = fit_runs([(k, j) for k in ks for j in head])
        for k in ks:
            for j in head:
                commit(k, j, results[(k, j)])
            seed_ami, cross_ari = terms(k)
            value = (joint_score(seed_ami, cross_ari) if criterion == "joint" and not bounded
                     else stability([y for y, _, _ in done[k]])[0])
            say(k, stage, f"{'cross-view ARI' if bounded else criterion} {value:.4f}")
        if bounded:
            best = best_so_far()
            order = sorted(ks, key=lambda k: (terms(k)[1], k), reverse=True)
            rest = range(2, len(plan))
            while order and terms(order[0])[1] >= best:
                # up to `jobs` candidates at once; replaying them in order keeps exactly
                # the runs one process would have kept, so the table does not depend on jobs
                batch = [k for k in order[:int(jobs)] if terms(k)[1] >= best]
                results = fit_runs([(k, j) for k in batch for j in rest])
                for k in batch:
                    if terms(k)[1] < best:
                        order = []
                        break
                    for j in rest:
                        commit(k, j, results[(k, j)])
                    score = joint_score(*terms(k))
                    best = max(best, score)
                    say(k, stage, f"joint {score:.4f} (seed AMI {terms(k)[0]:.4f})")
                    order.remove(k)
        for k in ks:
            record(k, stage)

    state = {"phi1": phi1, "phi2": phi2, "params": dict(hume_params), "settings": settings}
    grid = search_grid(lo, hi, grid_ratio)
    with Workers(int(jobs), state) if int(jobs) > 1 else nullcontext() as workers:
        # every small k and every other grid point, upward until the curve has fallen
        for ks in coarse_rounds(strided(grid, int(coarse_stride)), int(coarse_round)):
            run_stage(ks, "coarse")
            if falling(max(ks)):
                break
        if any(window):  # the same criterion on settled runs, around the short runs' pick
            phase = 1
            for store in (done, seconds, known, first):
                store.clear()
            run_stage(confirm_candidates(grid, best_k(table), window), "confirm")
        else:  # the short runs alone: the skipped grid points around the best, then fine
            while ks := grid_gap(grid, {int(r["k"]) for r in table}, best_k(table)):
                run_stage(ks, "coarse")
            run_stage(fine_candidates(grid, best_k(table), int(fine)), "fine")
    k_best = best_k(table)
    est = first[k_best]
    if fit_final:
        t0 = time.perf_counter()
        est = make(k_best, None, random_state).fit(phi1, phi2)
        table.append({"k": k_best, "stage": "full",
                      "iterations": int(est.params_["iterations"]), "seeds": 1,
                      "criterion": criterion,
                      "classes_used": int(np.unique(est.labels_).size), "stability": "",
                      "stability_min": "", "seed_ami": "", "cross_ari": "",
                      "seconds": round(time.perf_counter() - t0, 3)})
    return KSelection(k_=k_best, labels_=np.asarray(est.labels_, dtype=np.int64),
                      estimator_=est, table=table, k_range=(lo, hi), criterion=criterion,
                      seconds=time.perf_counter() - start)


#: A short run: (k, seed, whether it labels phi2, phase: 0 short, 1 confirm).
_ShortRun = tuple[int, int, bool, int]


def _short_run(task: _ShortRun, state: dict[str, Any]) -> tuple[HUME, float]:
    """One short or confirm run in a worker process (state: phi1, phi2, the HUME params,
    the settings per phase); the fitted estimator and its seconds."""
    k, seed, exchanged, phase = task
    t0 = time.perf_counter()
    views = (state["phi2"], state["phi1"]) if exchanged else (state["phi1"], state["phi2"])
    est = HUME(k, random_state=seed, **{**state["params"], **state["settings"][phase]})
    est.fit(*views)
    return est, time.perf_counter() - t0
