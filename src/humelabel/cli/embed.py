"""``humelabel embed text|images`` and ``humelabel run``: from raw data to labels and a report.

Registered into :func:`humelabel.cli.build_parser` by :func:`add_commands`; uses the same
conventions as the rest of the CLI: bad input prints one line ``humelabel: error: <file>:
<problem>`` and exits 2, outputs are written atomically, an interrupted embedding resumes
from its finished shards on the next identical call.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..embed import (
    EmbedOptions,
    TfidfSettings,
    embed_images,
    embed_texts,
    is_tfidf,
    list_images,
    meta_path,
    read_texts,
)
from ..embed.jobs import DTYPES, resolve_device_dtype
from ..embed.ssl import encoder_path, is_ssl, parse_ssl_spec
from ..embed.ssl_train import SSLSettings
from ..io import (
    InputError,
    check_output_file,
)
from .common import (
    EXIT_OK,
    output_parent,
    positive_int,
    seed,
)

__all__ = ["DEFAULT_CACHE", "add_commands", "add_ssl"]

#: Default cache folder of ``humelabel run`` (``$HUMELABEL_CACHE`` overrides it).
DEFAULT_CACHE = os.path.join("~", ".cache", "humelabel", "embeddings")






def add_common(parser: argparse.ArgumentParser, batch_size: int) -> None:
    """Options shared by ``embed text``, ``embed images`` and ``run``."""
    parser.add_argument("--column", metavar="NAME",
                        help="column (.csv) or key (.jsonl) to read (default: text for texts, "
                        "path for image lists, or the only column)")
    parser.add_argument("--batch-size", type=positive_int, default=batch_size, metavar="N",
                        help="rows per forward pass (default: %(default)s)")
    parser.add_argument("--device", default="auto",
                        help="auto, cpu, cuda, cuda:1, ... (default: %(default)s)")
    parser.add_argument("--dtype", choices=DTYPES, default="float32",
                        help="output dtype; float16 also runs the model in half precision on "
                        "a GPU (default: %(default)s)")
    parser.add_argument("--shard-size", type=positive_int, metavar="N",
                        help="rows per checkpoint of a resumable run (default: 1024 texts, "
                        "16 batches of images)")
    parser.add_argument("--allow-download", action="store_true",
                        help="let the backend download weights that are not available locally "
                        "(default: offline, local folders and caches only)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")


def add_tfidf(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    group = parser.add_argument_group("TF-IDF space (--model tfidf)")
    defaults = TfidfSettings()
    group.add_argument(f"--{prefix}dim", dest="tfidf_dim", type=positive_int,
                       default=defaults.dim, metavar="D",
                       help="SVD dimension (default: %(default)s)")
    group.add_argument(f"--{prefix}ngram-max", dest="tfidf_ngram_max", type=positive_int,
                       default=defaults.ngram_max, metavar="N",
                       help="word n-grams from 1 to N (default: %(default)s)")
    group.add_argument(f"--{prefix}min-df", dest="tfidf_min_df", type=positive_int,
                       default=defaults.min_df, metavar="N",
                       help="ignore n-grams in fewer texts (default: %(default)s)")


def positive_float(text: str) -> float:
    """argparse type: a float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text!r}")
    return value


def add_ssl(parser: argparse.ArgumentParser) -> None:
    """Training options of ``--model ssl:METHOD`` (``embed images`` and ``run``)."""
    group = parser.add_argument_group(
        "self-supervised encoder (--model ssl:simclr|moco|byol, trained on these images)")
    defaults = SSLSettings()
    group.add_argument("--epochs", type=positive_int, default=defaults.epochs, metavar="N",
                       help="training epochs (default: %(default)s); a checkpoint is kept "
                       "after each one and an interrupted training resumes from it")
    group.add_argument("--train-batch-size", type=positive_int, default=defaults.batch_size,
                       metavar="N", help="images per training step, two views each (default: "
                       "%(default)s)")
    group.add_argument("--ssl-lr", type=positive_float, default=defaults.lr, metavar="LR",
                       help="peak AdamW learning rate (default: %(default)s)")
    group.add_argument("--ssl-temperature", type=positive_float, metavar="T",
                       help="contrastive temperature of simclr / moco (default: 0.5 / 0.2)")
    group.add_argument("--ssl-seed", type=seed, default=defaults.seed, metavar="S",
                       help="seed of the weights, shuffling and augmentations; the same seed "
                       "gives the same weights on the CPU (default: %(default)s)")


def add_commands(sub: Any) -> None:
    """Add ``embed`` (with ``text`` and ``images``) to the CLI's subparsers."""
    embed = sub.add_parser(
        "embed", help="turn texts or images into a representation matrix (.npy)",
        description="Embed raw data with a pretrained model (offline by default) or the "
        "model-free TF-IDF space. Writes OUT (.npy) and OUT's .meta.json; an interrupted run "
        "resumes from its finished batches when called again.",
    )
    modes = embed.add_subparsers(dest="modality", required=True, metavar="MODALITY")

    text = modes.add_parser(
        "text", parents=[output_parent("X.npy", "output matrix", quiet=False)],
        help="embed texts (.txt one per line, .csv, .jsonl)",
        description="Embed texts with a sentence-transformers model (hub id, alias minilm / "
        "mpnet, or local folder) or with --model tfidf (TF-IDF on word n-grams, truncated "
        "SVD, L2-normalised rows).",
    )
    text.add_argument("--input", required=True, metavar="FILE",
                      help=".txt (one text per line), .csv or .jsonl (see --column)")
    text.add_argument("--model", required=True, metavar="M",
                      help="tfidf, minilm, mpnet, a sentence-transformers id, or a folder")
    text.add_argument("--normalize", action="store_true", help="L2-normalise the rows")
    add_common(text, batch_size=64)
    add_tfidf(text)
    text.set_defaults(handler=_cmd_embed_text)

    images = modes.add_parser(
        "images", parents=[output_parent("X.npy", "output matrix", quiet=False)],
        help="embed image files (a folder, or a list of files)",
        description="Embed images with a Hugging Face (hf:, the default), timm:, open_clip: "
        "or torchvision: model; with a self-supervised encoder trained on these images "
        "(ssl:simclr, ssl:moco, ssl:byol; writes its weights to OUT's .encoder.safetensors) "
        "or one trained earlier (ssl:WEIGHTS.safetensors); or with a download-free classical "
        "view (hog, patches: Coates-Ng k-means patch features). Input: a folder (searched "
        "recursively; class subfolders are allowed and ignored; rows in sorted path order) "
        "or a .txt/.csv/.jsonl list of files relative to the list's folder.",
    )
    images.add_argument("--input", required=True, metavar="DIR_OR_LIST",
                        help="image folder, or list of image files")
    images.add_argument("--model", required=True, metavar="M",
                        help="hf:NAME_OR_FOLDER, timm:NAME[@FILE], open_clip:ARCH@PRETRAINED "
                        "or torchvision:NAME[@WEIGHTS]; @random: that timm, open_clip or "
                        "torchvision architecture with random weights (seed 0; for tests); "
                        "ssl:simclr|moco|byol (trained here), ssl:WEIGHTS.safetensors, hog or "
                        "patches")
    images.add_argument("--normalize", action="store_true", help="L2-normalise the rows")
    add_common(images, batch_size=32)
    add_ssl(images)
    images.set_defaults(handler=_cmd_embed_images)



# --------------------------------------------------------------------------------------------
# embed
# --------------------------------------------------------------------------------------------


def embed_options(args: argparse.Namespace, *, normalize: bool) -> EmbedOptions:
    return EmbedOptions(
        batch_size=args.batch_size, device=args.device, dtype=args.dtype, normalize=normalize,
        allow_download=args.allow_download, progress=not args.quiet,
        shard_size=args.shard_size,
        tfidf=TfidfSettings(dim=getattr(args, "tfidf_dim", TfidfSettings.dim),
                            ngram_max=getattr(args, "tfidf_ngram_max", TfidfSettings.ngram_max),
                            min_df=getattr(args, "tfidf_min_df", TfidfSettings.min_df)),
        ssl=SSLSettings(epochs=getattr(args, "epochs", SSLSettings.epochs),
                        batch_size=getattr(args, "train_batch_size", SSLSettings.batch_size),
                        lr=getattr(args, "ssl_lr", SSLSettings.lr),
                        seed=getattr(args, "ssl_seed", SSLSettings.seed),
                        temperature=getattr(args, "ssl_temperature", None)),
    )


def _check_out_file(out: str, overwrite: bool, inputs: Sequence[str],
                    weights: bool = False) -> None:
    """Fail before any work if ``out`` is not a writable ``.npy`` path, or one that holds
    anything but an earlier embedding (by its metadata file); with ``weights`` the same for
    the encoder weights written beside it."""
    path = Path(out)
    if path.suffix.lower() != ".npy":
        raise InputError(out, "output must be a .npy file")
    for target in (out, meta_path(out), *([encoder_path(out)] if weights else [])):
        check_output_file(target, overwrite, "embed", inputs, record=meta_path(out))
    if path.is_dir():
        raise InputError(out, "is a directory (expected a .npy file)")
    if path.exists() and not overwrite:
        raise InputError(out, "exists (use --overwrite)")
    parent = path.parent if str(path.parent) else Path(".")
    existing = next((p for p in (parent, *parent.parents) if p.exists()), Path("."))
    if not existing.is_dir() or not os.access(existing, os.W_OK):
        raise InputError(out, f"cannot write into {existing}")


def _embed_summary(out: str, meta: dict[str, Any]) -> str:
    resumed = f"; resumed {meta['resumed_rows']} finished rows" if meta.get("resumed_rows") else ""
    trained = ""
    if meta.get("history"):
        trained = (f"; trained {len(meta['history'])} epochs in {meta['train_seconds']:.1f} s "
                   f"(final loss {meta['history'][-1]['loss']:.4f}, weights {meta['weights']})")
    return (f"wrote {out} ({meta['n']} x {meta['dimension']}, {meta['dtype']}, "
            f"normalization {meta['normalization']}) and {meta_path(out)} in "
            f"{meta['seconds']:.1f} s{resumed}{trained}")


def _cmd_embed_text(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel embed text``."""
    _check_out_file(args.out, args.overwrite, [args.input])
    options = embed_options(args, normalize=args.normalize)
    if not is_tfidf(args.model):
        resolve_device_dtype(options)
    inputs = read_texts(args.input, args.column)
    meta = embed_texts(inputs, args.model, args.out, options)
    if not args.quiet:
        print(_embed_summary(args.out, meta))
    return EXIT_OK


def _cmd_embed_images(args: argparse.Namespace, argv: Sequence[str]) -> int:
    """``humelabel embed images``."""
    what = f"--model {args.model}"
    trains = is_ssl(args.model) and parse_ssl_spec(args.model, what)[0] == "train"
    weights = [parse_ssl_spec(args.model, what)[1]] if is_ssl(args.model) and not trains else []
    _check_out_file(args.out, args.overwrite, [args.input, *weights], weights=trains)
    options = embed_options(args, normalize=args.normalize)
    if is_tfidf(args.model):
        raise InputError(f"--model {args.model}", "TF-IDF is a text space, not an image model")
    resolve_device_dtype(options)
    inputs = list_images(args.input, args.column)
    meta = embed_images(inputs, args.model, args.out, options)
    if not args.quiet:
        print(_embed_summary(args.out, meta))
    return EXIT_OK















