"""``humelabel run``: raw texts or images -> embeddings (cached) -> HUME over seeds -> labels
and a cluster report."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..analysis.metrics import evaluate
from ..embed import cached_embedding, is_image_input, is_tfidf, list_images, read_texts
from ..embed.jobs import resolve_device_dtype
from ..io import (
    InputError,
    check_output_dir,
    check_same_rows,
    load_class_names,
    load_labels,
    load_matrix,
    probe_output_dir,
    save_npy_atomic,
    write_json_atomic,
    write_text_atomic,
)
from ..io.rundir import file_record, provenance
from ..runs.candidates import (
    GRAPH_MAX_ROWS,
    GRAPH_MIN_ROWS,
    candidate_grid,
    graph_fits,
)
from ..runs.outputs import is_multi_seed_dir
from .common import (
    EXIT_OK,
    CliError,
    check_backend,
    note,
    output_parent,
    progress,
    sizes_line,
)
from .embed import DEFAULT_CACHE, embed_options
from .fit import check_k, check_truth
from .reliable import reliable_outputs
from .run_options import DEFAULT_TEXT_SPACES, add_run_options, resolve_jobs

__all__ = ["add_commands"]

def add_commands(sub: Any) -> None:
    """Add ``run`` to the CLI's subparsers."""
    run = sub.add_parser(
        "run", parents=[output_parent(quiet=False)],
        help="raw texts or images -> embeddings -> HUME -> labels and a cluster report",
        description="Embed the input in two spaces (cached), search for the labeling with "
        "HUME's fast preset (one run per seed and candidate: the tau schedule, phi1's graph "
        "view, the ratio prior, and the ratio prior with a size floor continued from the "
        "seed's best uniform-prior run, in DIR/grid/<candidate>/runs/<seed>/, or "
        "DIR/runs/<seed>/ with a single candidate; per seed the most learnable candidate "
        "kept (select.csv); the seeds' picks combined by majority vote around the one ranked "
        "first by agreement with the others and learnability; alignment.json lets predict "
        "--model DIR label new rows), and write labels.npy, config.json, clusters.json, "
        "report.md and report.html (cluster sizes and most typical members; metrics.json "
        "with --truth) to --out.",
    )
    add_run_options(run)
    run.set_defaults(handler=_cmd_run)


#: HUME preset of ``humelabel run``, and the files of its report (next to the combination's).
RUN_PRESET = "fast"


RUN_REPORT_FILES = ("clusters.json", "report.md", "report.html", "metrics.json", "refined.npy",
                    "k_selection.csv", "k_selection.png", "reliable.csv", "reliable.json")


def _validate_run(args: argparse.Namespace) -> None:
    if args.k != "auto" and args.k < 2:
        raise InputError(f"--k {args.k}", "must be at least 2")
    if args.spaces is not None and args.spaces[0] == args.spaces[1]:
        raise InputError(f"--spaces {' '.join(args.spaces)}",
                         "give two different spaces (HUME needs two views of the data)")
    if args.truth is not None and args.truth_column is not None:
        raise CliError("give --truth or --truth-column, not both")
    if args.reliable_min_agreement is not None and args.reliable is None:
        raise CliError("--reliable-min-agreement needs --reliable N")
    resolve_device_dtype(embed_options(args, normalize=False))
    if not is_multi_seed_dir(args.out):  # else its finished seeds are reused
        check_output_dir(args.out, args.overwrite, "run", _run_inputs(args))


def _run_inputs(args: argparse.Namespace) -> list[str]:
    return [p for p in (args.input, args.truth) if p is not None]


def _read_run_input(args: argparse.Namespace) -> tuple[str, Any]:
    """(modality, TextInput or ImageInput) of ``--input``."""
    modality = args.modality
    if modality == "auto":
        modality = "images" if is_image_input(args.input, args.column) else "text"
    if modality == "images":
        if args.truth_column is not None:
            raise InputError(f"--truth-column {args.truth_column}",
                             "only for .csv/.jsonl text inputs")
        return modality, list_images(args.input, args.column)
    if os.path.isdir(args.input):
        raise InputError(args.input, "is a folder; texts come from a .txt, .csv or .jsonl file")
    return modality, read_texts(args.input, args.column, args.truth_column)


def _truth(args: argparse.Namespace, inputs: Any, n: int
           ) -> tuple[np.ndarray | None, dict[int, str] | None]:
    names = load_class_names(args.class_names) if args.class_names else None
    if args.truth is not None:
        truth = load_labels(args.truth)
        check_same_rows((args.input, np.empty((n, 0))), (args.truth, truth))
        check_truth(args.truth, truth)
        return truth, names
    if args.truth_column is not None:
        classes, truth = np.unique(np.asarray(inputs.labels), return_inverse=True)
        return truth.reshape(-1).astype(np.int64), names or {
            i: str(c) for i, c in enumerate(classes)}
    return None, names


def _cmd_run(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel run``: embed (cached), fit, report."""
    from ..analysis.report import cluster_summary, write_report
    from ..runs.multiseed import ScoreOptions, fit_seeds
    from ..runs.refine import refine_labels

    t_start = time.perf_counter()
    _validate_run(args)
    check_backend(args)
    modality, inputs = _read_run_input(args)
    items = inputs.texts if modality == "text" else inputs.names
    n = len(items)
    if args.k != "auto":
        check_k(args.k, n, args.input)
    elif args.k_range[0] > max(2, n // 5):
        raise InputError(f"--k-range {args.k_range[0]}-{args.k_range[1]}",
                         f"starts above rows / 5 = {max(2, n // 5)} for the {n} rows")
    truth, names = _truth(args, inputs, n)
    if args.spaces is None:
        if modality == "images":
            raise CliError("images need --spaces PHI1 PHI2 (two image models, e.g. "
                           "hf:DINOV2_FOLDER hf:CLIP_FOLDER); no image model ships offline")
        args.spaces = list(DEFAULT_TEXT_SPACES)
    for spec in args.spaces:
        if modality == "images" and is_tfidf(spec):
            raise InputError(f"--spaces {spec}", "TF-IDF is a text space; the input is images")
    probe_output_dir(args.out)  # last: validation writes nothing

    cache_dir = os.path.expanduser(
        args.cache_dir or os.environ.get("HUMELABEL_CACHE") or DEFAULT_CACHE)
    options = embed_options(args, normalize=False)
    spaces, matrices, files = [], [], {}
    for role, spec in zip(("phi1", "phi2"), args.spaces, strict=True):
        t0 = time.perf_counter()
        progress(args.quiet, f"{role}: embedding {n} {'texts' if modality == 'text' else 'images'} "
              f"with {spec}")
        path, meta, hit = cached_embedding(inputs, spec, cache_dir, options,
                                           what=f"--spaces {spec}")
        matrices.append(load_matrix(path))
        files[role] = file_record(str(path), matrices[-1])
        spaces.append({
            "role": role, "model": spec, "file": str(path), "sha256": meta.get("sha256"),
            "dimension": meta.get("dimension"), "backend": meta.get("backend"),
            "normalization": meta.get("normalization"), "cached": hit,
            "seconds": time.perf_counter() - t0,
        })
        took = "from cache" if hit else f"computed in {spaces[-1]['seconds']:.1f} s"
        progress(args.quiet, f"{role}: {matrices[-1].shape[1]}-d, {took} ({path})")

    seeds = args.seeds or [args.seed]
    selection = None
    if args.k == "auto":
        from ..runs.choose_k import choose_k

        progress(args.quiet, f"choosing k over {args.k_range[0]}-{args.k_range[1]}")
        selection = choose_k(matrices[0], matrices[1], args.k_range, random_state=seeds[0],
                             criterion=args.k_criterion, fit_final=False, preset=RUN_PRESET,
                             device=args.device, jobs=resolve_jobs(args.jobs, args.device),
                             progress=lambda message: progress(args.quiet, message))
        args.k = selection.k_
        progress(args.quiet, f"chose k = {args.k} (k_selection.csv)")
        if (message := selection.note()) is not None:
            note(message)
    progress(args.quiet, f"fitting HUME (k={args.k}, preset {RUN_PRESET}, {len(seeds)} seeds)")
    scorer = None
    cpu_jobs = resolve_jobs(args.jobs, "cpu")  # scikit-learn's folds run on the CPU
    graph = args.graph and graph_fits(n)
    if args.graph and not graph:
        progress(args.quiet, f"no graph candidate: {n} rows, outside {GRAPH_MIN_ROWS}-"
                 f"{GRAPH_MAX_ROWS} (--no-graph silences this)")
    grid = candidate_grid(args.tau_end, graph, args.ratio, args.continuation)
    if grid is not None:
        from ..runs.learnability import LearnabilityScorer

        scorer = LearnabilityScorer(n_jobs=cpu_jobs).fit(matrices)
    result = fit_seeds(matrices[0], matrices[1], args.k, seeds, out=args.out,
                       overwrite=args.overwrite, preset=RUN_PRESET, device=args.device,
                       jobs=resolve_jobs(args.jobs, args.device),
                       overrides=_overrides(args), files=files, argv=argv, grid=grid,
                       select_scorer=scorer,
                       protect=_run_inputs(args),
                       score=ScoreOptions(n_folds=min(10, max(2, n // args.k))),
                       verbose=not args.quiet, save=False, backend=args.backend,
                       address=args.address,
                       progress=lambda message: progress(args.quiet, message))
    labels = result.labels_
    refined = None
    if args.refine:
        progress(args.quiet, "refining the combination over both spaces")
        refined = labels = refine_labels(matrices, result.labels_, n_jobs=cpu_jobs)
    if grid is not None:
        kept = ", ".join(f"seed {seed}: {name}" for seed, name
                         in zip(result.seeds, result.picks or [], strict=True))
        progress(args.quiet, f"candidates: kept {kept} (select.csv)")
    reliable = None
    if args.reliable is not None:
        progress(args.quiet, f"picking up to {args.reliable} reliable points per cluster")
        share = args.reliable_min_agreement
        fitted = [] if share is None else [run.labels for run in result.all_runs]
        reliable = reliable_outputs(result.labels_, result.agreement_, matrices, args.reliable,
                                    args.k, truth, fitted, share)
    fit_info = {"preset": RUN_PRESET, "overrides": _overrides(args),
                "candidates": (None if grid is None else
                               {"configs": grid, "selected": result.selected,
                                "picks": dict(zip(map(str, result.seeds), result.picks or [],
                                                  strict=True)),
                                "score": "LearnabilityScorer, class-weighted"}),
                "device_requested": args.device,
                "seeds_requested": list(seeds), **result.record()}
    metrics = evaluate(truth, labels) if truth is not None else None
    clusters = cluster_summary(labels, args.k, matrices[0], top=args.top, truth=truth,
                               class_names=names)
    source = "/".join(Path(os.path.abspath(args.input)).parts[-2:])  # e.g. trec/data.jsonl
    subtitle = (f"{n} {'texts' if modality == 'text' else 'images'} from {source}; "
                f"k = {args.k}; phi1 = {args.spaces[0]}, phi2 = {args.spaces[1]}; "
                f"HUME preset {fit_info['preset']}, {fit_info['combination']}, seeds "
                f"{','.join(str(s) for s in fit_info['seeds'])}")
    config = {
        **provenance(argv, "run"),
        "k": args.k,
        "modality": modality,
        "input": {**inputs.source, "checksum": inputs.checksum, "n": n},
        "truth": (args.truth or (f"column {args.truth_column}" if args.truth_column else None)),
        "spaces": spaces,
        "cache_dir": os.path.abspath(cache_dir),
        "fit": fit_info,
        "refined": refined is not None,
        "k_selection": selection.record() if selection is not None else None,
        "seconds": time.perf_counter() - t_start,
    }

    def fill(folder: Path) -> None:
        write_report(folder, clusters, items, modality, title=f"HUME clusters of {source}",
                     subtitle=subtitle, metrics=metrics,
                     image_files=inputs.files if modality == "images" else None)
        if metrics is not None:
            write_json_atomic(folder / "metrics.json", metrics)
        if refined is not None:
            save_npy_atomic(folder / "refined.npy", refined)
        if reliable is not None:
            write_text_atomic(folder / "reliable.csv", reliable[0])
            write_json_atomic(folder / "reliable.json", reliable[1])
        if selection is not None:
            from ..analysis.plots import plot_k_selection

            (folder / "k_selection.csv").write_text(selection.csv(), encoding="utf-8")
            plot_k_selection(selection.table, selection.k_, folder / "k_selection.png")

    result.save(args.out, command="run", config=config, fill=fill, known=RUN_REPORT_FILES)
    if not args.quiet:
        print(f"wrote {args.out}")
        print(sizes_line(labels, args.k, "cluster"))
        if metrics is not None:
            print(f"ACC {metrics['acc']:.4f}  NMI {metrics['nmi']:.4f}  ARI {metrics['ari']:.4f}")
        if reliable is not None:
            print(reliable[2])
        print(f"report: {os.path.join(args.out, 'report.html')}")
    return EXIT_OK


def _overrides(args: argparse.Namespace) -> dict[str, float]:
    """The hyperparameters ``run`` sets on top of its preset."""
    return {"tau_end": args.tau_end} if isinstance(args.tau_end, float) else {}
