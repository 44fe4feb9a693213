"""The paper's own setting on real images: HUME over two representations of MNIST or CIFAR-10.

The representations come from the command line, as a user would make them: ``humelabel embed
images --input DIR --model SPEC`` on the shared test images (a self-supervised encoder trained
here on exactly these images, ``ssl:simclr``, or a download-free classical view, ``hog`` or
``patches``). Then, with the true labels used for the metrics only:

* k-means on each space (rows L2-normalised, 10 inits): the floor;
* the supervised linear probe on phi1 (logistic regression, 5-fold cross-validated
  predictions): the ceiling, it uses the labels;
* HUME (``fast`` preset) once per seed, and the runs combined as ``fit --seeds`` does
  (:func:`humelabel.fit_seeds`);
* reliable samples from that combination at 4, 15, 25 and 400 per class (neighbours in phi1):
  their accuracy.

Embeddings, the SSL checkpoints and HUME runs are kept in ``--work`` (resumable: run the same
command again and only what is missing is computed). Writes ``--out`` (.md) and its .json.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/image_benchmark.py --dataset mnist \
        --phi1 ssl:simclr --phi2 hog --epochs 10 --seeds 0-4
    OMP_NUM_THREADS=1 python benchmarks/image_benchmark.py --dataset cifar10 \
        --phi1 patches --phi2 hog --seeds 0-4
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import re
import subprocess
import sys
import tarfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _results import RESULTS, stamp, write_results

from humelabel import fit_seeds
from humelabel.analysis.baselines import kmeans_labels, linear_probe_labels
from humelabel.analysis.metrics import evaluate
from humelabel.core.presets import resolve
from humelabel.embed import list_images, read_meta
from humelabel.runs.reliable import neighbor_agreement, reliable_accuracy, select_reliable
from humelabel.runs.seeds import parse_seeds

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / ".." / "shared" / "data" / "images"
PER_CLASS = (4, 15, 25, 400)


# --------------------------------------------------------------------------------------------
# The images as files, and their true labels
# --------------------------------------------------------------------------------------------


def _idx(path: Path) -> np.ndarray:
    data = gzip.open(path, "rb").read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def image_folder(dataset: str, work: Path) -> tuple[Path, np.ndarray]:
    """(folder of image files, true labels (n,) in the folder's sorted row order)."""
    from PIL import Image

    folder = work / dataset / "images"
    done = work / dataset / "images.done"
    if dataset == "mnist":
        source = DATA / "mnist-test"
        labels = _idx(source / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
        if not done.exists():
            folder.mkdir(parents=True, exist_ok=True)
            for i, img in enumerate(_idx(source / "t10k-images-idx3-ubyte.gz")):
                Image.fromarray(np.ascontiguousarray(img)).save(folder / f"{i:05d}.png")
            done.write_text("ok\n")
        return folder, labels  # names 00000.png ... : sorted order is file order
    if not done.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with tarfile.open(DATA / "cifar10-test" / "cifar10_test_jpg.tar.gz", "r:gz") as tar:
            tar.extractall(folder, filter="data")
        done.write_text("ok\n")
    names = list_images(folder, hash_files=False).names  # test/<class>/NNNN.jpg, sorted
    classes = sorted({n.split("/")[-2] for n in names})
    return folder, np.array([classes.index(n.split("/")[-2]) for n in names], dtype=np.int64)


def slug(spec: str, epochs: int, temperature: float | None) -> str:
    name = re.sub(r"[^A-Za-z0-9]+", "-", spec).strip("-")
    if not spec.startswith("ssl:"):
        return name
    return f"{name}{'' if temperature is None else f'-t{temperature:g}'}-e{epochs}"


def embed(folder: Path, spec: str, out: Path, epochs: int, temperature: float | None
          ) -> tuple[np.ndarray, dict[str, Any]]:
    """The embedding of ``folder`` with ``spec`` through the CLI (kept in ``out``)."""
    command = [sys.executable, "-m", "humelabel", "embed", "images", "--input", str(folder),
               "--model", spec, "--out", str(out), "--device", "cpu"]
    if spec.startswith("ssl:"):
        command += ["--epochs", str(epochs)]
        if temperature is not None:
            command += ["--ssl-temperature", f"{temperature:g}"]
    if read_meta(out) is None:
        print(f"embedding {folder} with {spec} ...", file=sys.stderr, flush=True)
        subprocess.run(command, check=True)
    return np.load(out, allow_pickle=False), read_meta(out) or {}


def timed(fn, *args, **kwargs) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def row(name: str, truth: np.ndarray, labels: np.ndarray, seconds: float) -> dict[str, Any]:
    metrics = evaluate(truth, labels)
    return {"method": name, "acc": metrics["acc"], "nmi": metrics["nmi"],
            "ari": metrics["ari"], "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=("mnist", "cifar10"), default="mnist")
    parser.add_argument("--phi1", default="ssl:simclr")
    parser.add_argument("--phi2", default="hog")
    parser.add_argument("--epochs", type=int, default=10, help="epochs of ssl: spaces")
    parser.add_argument("--ssl-temperature", type=float, default=None,
                        help="--ssl-temperature of ssl: spaces (default: the method's)")
    parser.add_argument("--seeds", default="0-4")
    parser.add_argument("--neighbors", type=int, default=10)
    parser.add_argument("--work", default=str(ROOT / "benchmarks" / "work" / "images"))
    parser.add_argument("--out", default=None,
                        help="default: docs/results/image_benchmark_<dataset>.md")
    args = parser.parse_args()
    work = Path(args.work)
    seeds = parse_seeds(args.seeds)
    folder, truth = image_folder(args.dataset, work)
    k = int(truth.max()) + 1
    spaces, metas = {}, {}
    for role, spec in (("phi1", args.phi1), ("phi2", args.phi2)):
        name = slug(spec, args.epochs, args.ssl_temperature)
        spaces[role], metas[role] = embed(folder, spec, work / args.dataset / f"{name}.npy",
                                          args.epochs, args.ssl_temperature)
    phi1, phi2 = spaces["phi1"], spaces["phi2"]
    rows = []
    for role in ("phi1", "phi2"):
        labels, took = timed(kmeans_labels, spaces[role], k)
        rows.append(row(f"k-means {role}", truth, labels, took))
        print(rows[-1], file=sys.stderr, flush=True)
    labels, took = timed(linear_probe_labels, phi1, truth)
    rows.append(row("probe phi1 (supervised)", truth, labels, took))
    print(rows[-1], file=sys.stderr, flush=True)
    tag = "--".join(slug(s, args.epochs, args.ssl_temperature) for s in (args.phi1, args.phi2))
    result, took = timed(fit_seeds, phi1, phi2, k, seeds, truth=truth, device="cpu",
                         out=work / args.dataset / f"hume-{tag}")
    runs = []
    for run in result.runs:
        config = json.loads((run.run_dir / "config.json").read_text())
        runs.append({**row(f"run seed {run.seed}", truth, run.labels, config["fit_seconds"]),
                     "seed": run.seed, "score": run.score})
    first = runs[0]
    median = sorted(runs, key=lambda r: r["acc"])[len(runs) // 2]
    rows.append({**first, "method": f"HUME run (seed {first['seed']})"})
    rows.append({**median, "method": f"HUME run (median of {len(runs)}: seed {median['seed']})"})
    rows.append(row(f"HUME combined ({len(runs)} seeds)", truth, result.labels_,
                    sum(r["seconds"] for r in runs)))
    print(rows[-1], file=sys.stderr, flush=True)
    neigh, dist = neighbor_agreement(phi1, result.labels_, args.neighbors)
    reliable = []
    for per_class in PER_CLASS:
        picked = select_reliable(result.labels_, result.agreement_, neigh, per_class,
                                 mean_distance=dist, n_classes=k)
        scored = reliable_accuracy(truth, result.labels_, picked)
        reliable.append({"per_class": per_class, "n": scored["n"],
                         "accuracy": scored["accuracy"],
                         "classes_short": int((picked.counts < per_class).sum())})
    write_page(args, rows, runs, reliable, metas, truth, folder)
    return 0


def space_line(role: str, spec: str, meta: dict[str, Any]) -> str:
    dims = f"{meta.get('n')} x {meta.get('dimension')}"
    if meta.get("backend") == "ssl":
        return (f"- {role}: `{spec}`, trained here on these {meta['n']} images: "
                f"{len(meta['history'])} epochs in {meta['train_seconds'] / 60:.1f} min "
                f"(side {meta['size']}, ResNet widths {meta['widths']}, batch "
                f"{meta['ssl']['batch_size']}, temperature "
                f"{meta['ssl'].get('temperature') or 'default'}, final loss "
                f"{meta['history'][-1]['loss']:.3f}; seconds per epoch "
                f"{', '.join(str(round(h['seconds'])) for h in meta['history'])}); "
                f"features {dims}, embedded in {meta['seconds']:.0f} s including training")
    return f"- {role}: `{spec}` ({dims}, {meta.get('seconds', 0):.0f} s)"


def write_page(args: argparse.Namespace, rows: list[dict[str, Any]], runs: list[dict[str, Any]],
               reliable: list[dict[str, Any]], metas: dict[str, dict[str, Any]],
               truth: np.ndarray, folder: Path) -> None:
    name = {"mnist": "MNIST test", "cifar10": "CIFAR-10 test"}[args.dataset]
    cpu = f"{os.cpu_count()}-core {platform.machine()} CPU, shared with other jobs"
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    lines = [f"# HUME on {name} images ({len(truth):,} images, k {int(truth.max()) + 1})", "",
             f"Machine: {cpu}; OMP_NUM_THREADS={threads}. Spaces, each made by "
             "`humelabel embed images --device cpu` on the shared images:", "",
             space_line("phi1", args.phi1, metas["phi1"]),
             space_line("phi2", args.phi2, metas["phi2"]), "",
             f"HUME: `fast` preset, seeds {args.seeds}. ACC / NMI / ARI in %; the probe uses "
             "the true labels (a ceiling, not a competitor).", "",
             "| method | ACC | NMI | ARI | time (s) |", "|---|---|---|---|---|"]
    lines += [f"| {r['method']} | {100 * r['acc']:.1f} | {100 * r['nmi']:.1f} | "
              f"{100 * r['ari']:.1f} | {r['seconds']:.0f} |" for r in rows]
    lines += ["", "Single runs (seed: ACC, generalization score): " + ", ".join(
        f"{r['seed']}: {100 * r['acc']:.1f} ({r['score']:.3f})" for r in runs) + ".", "",
        f"Reliable samples of the combination (neighbours in phi1, k = {args.neighbors}; "
        "accuracy under the combination's own Hungarian matching):", "",
        "| per class | points | accuracy (%) | classes short |", "|---|---|---|---|"]
    lines += [f"| {r['per_class']} | {r['n']} | {100 * r['accuracy']:.1f} | "
              f"{r['classes_short']} |" for r in reliable]
    out = Path(args.out) if args.out else RESULTS / f"image_benchmark_{args.dataset}.md"
    data = {"dataset": args.dataset, "n": int(len(truth)), "rows": rows, "runs": runs,
            "reliable": reliable, "spaces": {role: {key: meta.get(key) for key in (
                "model", "backend", "n", "dimension", "seconds", "train_seconds", "history",
                "ssl", "size", "widths", "view", "weights_sha256")}
                for role, meta in metas.items()}, "machine": cpu, "threads": threads}
    write_results(out, "\n".join(lines), data, stamp(None, {
        "hume": resolve("fast", {}), "seeds": args.seeds, "phi1": args.phi1,
        "phi2": args.phi2, "epochs": args.epochs, "ssl_temperature": args.ssl_temperature,
        "neighbors": args.neighbors,
        "folder": os.path.relpath(folder, ROOT)}))
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
