"""What every command shares: exit codes, one-line errors, option groups, seeds, checks.

Argument parsing and messages only; the work is done by the library below.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, NoReturn

import numpy as np

from ..core.device import resolve_device
from ..core.inner import INNER_SOLVERS
from ..core.objective import OUTER_LOSSES, PRIORS
from ..core.presets import HYPERPARAMETERS, PRESETS
from ..estimator import HUME, INITS, check_prior
from ..io import InputError
from ..io.rundir import PROG
from ..runs.seeds import MAX_SEED, parse_seeds

__all__ = [
    "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "PROG", "CliError", "OneLineParser",
    "add_backend_options", "add_hyperparameter_options", "check_backend", "check_device",
    "check_hyperparameters", "error_line",
    "finite_float", "hyperparameter_overrides", "metrics_line", "option", "output_parent",
    "note", "positive_int", "progress", "seed", "seed_list",
]

#: Exit codes: 0 success; 2 bad input or usage; 130 interrupted (Ctrl-C).
EXIT_OK = 0
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_HYPERPARAMETER_HELP = {
    "tau": "temperature of the task encoder's sparsemax",
    "tau_end": "lower tau geometrically from --tau at the first step to this at the last "
               "(default: tau constant)",
    "entropy_weight": "weight of the label-entropy regulariser",
    "outer_lr": "Adam learning rate of the task encoder (outer loop)",
    "inner_lr": "gradient-descent step size of the inner linear classifier",
    "inner_steps": "gradient steps of the inner classifier per split",
    "iterations": "outer optimisation steps",
    "num_subsets": "random train/test splits per outer step",
    "subset_size": "rows per random subset (clipped to the number of rows)",
    "train_fraction": "fraction of each subset used to train the inner classifier",
    "anneal": "anneal tau and the outer learning rate during the search",
    "fixed_inner_init": "reuse one inner-classifier initialisation for every split",
    "inner": "inner solver: unrolled gradient descent (the paper) or closed-form ridge",
    "alpha": "ridge regularisation relative to the per-sample covariance (inner=ridge)",
    "outer_loss": "generalisation loss on the test part: ce, nmse (1 - R^2) or mse",
    "logit_scale": "outputs x this are the logits of the ce outer loss (ridge outputs need >1)",
    "split_pool": "draw splits from a fixed pool of this many (0: fresh splits every time)",
    "init": "task-encoder start: random orthogonal, or k-means centroids of phi1",
    "prior": "class-proportion term: uniform (Eq. 7 entropy bonus), ratio (generalization / "
             "entropy: allows imbalanced classes), or FILE of k known class proportions "
             "(.npy, .json list, or numbers in text; + entropy_weight x KL to them)",
    "size_floor": "a floor on cluster size, as a share f of the mean: adds sum_c relu(f/k - "
                  "share_c) / (f/k) to the objective, no pull to equal sizes (0: off; meant "
                  "with --prior ratio)",
    "graph_neighbors": "add phi1's N-nearest-neighbour graph (its spectral embedding) as a "
                       "phi2 space, so the labeling must also follow phi1's neighbourhoods "
                       "(default: off)",
}

#: Allowed values of the string-valued hyperparameters.
_CHOICES = {"inner": INNER_SOLVERS, "outer_loss": OUTER_LOSSES, "init": INITS}


class CliError(ValueError):
    """A problem with the command-line arguments themselves (message printed as is)."""


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line (``CliError``), not a usage block."""

    def error(self, message: str) -> NoReturn:
        raise CliError(f"{self.prog}: {message}")


# --------------------------------------------------------------------------------------------
# Value types (argparse ``type=``): each rejects a bad value in one line
# --------------------------------------------------------------------------------------------


def finite_float(text: str) -> float:
    """argparse type: a finite float (rejects nan/inf)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def prior_value(text: str) -> str | tuple[float, ...]:
    """argparse type of ``--prior``: a name of PRIORS, or a file of class proportions (a
    ``.npy`` vector, a ``.json`` list, or numbers separated by spaces, commas or newlines)."""
    if text in PRIORS:
        return text
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is neither one of {', '.join(PRIORS)} nor a file of class proportions")
    try:
        if text.endswith(".npy"):
            values = np.load(text, allow_pickle=False)
        elif text.endswith(".json"):
            with open(text, encoding="utf-8") as handle:
                values = np.asarray(json.load(handle), dtype=np.float64)
        else:
            with open(text, encoding="utf-8") as handle:
                values = np.asarray(handle.read().replace(",", " ").split(), dtype=np.float64)
        return check_prior(values.astype(np.float64))
    except (OSError, ValueError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise argparse.ArgumentTypeError(f"{text}: {reason}") from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def seed(text: str) -> int:
    """argparse type: one seed, the rule of every command: an integer in 0..MAX_SEED."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer seed") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"{text!r}: seeds must be in 0..{MAX_SEED}")
    return value


def seed_list(text: str) -> list[int]:
    """argparse type: ``"0-9"`` or ``"0,3,5-7"`` -> seeds (see ``runs.seeds.parse_seeds``)."""
    try:
        return parse_seeds(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# --------------------------------------------------------------------------------------------
# Option groups shared through ``parents=``
# --------------------------------------------------------------------------------------------


def output_parent(what: str = "DIR", help_text: str = "output directory", *,
                  required: bool = True, quiet: bool = True) -> argparse.ArgumentParser:
    """``--out``, ``--overwrite`` (and ``--quiet``), for ``parents=`` of a subcommand: every
    command that writes states the same overwrite rule."""
    parent = argparse.ArgumentParser(add_help=False)
    group = parent.add_argument_group("output")
    group.add_argument("--out", required=required, metavar=what, help=help_text)
    group.add_argument("--overwrite", action="store_true",
                       help="replace an earlier output of this same command (never a folder "
                       "or file that holds anything else, nor one of the inputs)")
    if quiet:
        group.add_argument("--quiet", action="store_true", help="no progress and no summary")
    return parent


def progress(quiet: bool, message: str) -> None:
    """A progress line on stderr unless ``quiet``."""
    if not quiet:
        print(message, file=sys.stderr, flush=True)


def note(message: str) -> None:
    """A ``humelabel: note: ...`` line on stderr (shown even with ``--quiet``)."""
    print(f"{PROG}: note: {message}", file=sys.stderr, flush=True)


def option(name: str) -> str:
    """Command-line flag of a hyperparameter: ``entropy_weight`` -> ``--entropy-weight``."""
    return "--" + name.replace("_", "-")


def add_backend_options(group: Any) -> None:
    """``--backend local|ray`` and ``--address`` of the commands that run many fits."""
    group.add_argument("--backend", choices=("local", "ray"), default="local",
                       help="local: this machine (fit: --jobs processes); ray: one Ray task per "
                       "run (one CPU and torch thread each, same results), a dead worker's "
                       "run retried; needs pip install 'humelabel[ray]' (default: "
                       "%(default)s)")
    group.add_argument("--address", metavar="HOST:PORT",
                       help="with --backend ray: the cluster's head (ray start --head prints "
                       "it; 'auto' for this machine's); default: start a local cluster")


def check_backend(args: argparse.Namespace) -> None:
    """``--address`` only with ``--backend ray``, and ray importable before any work."""
    if args.address is not None and args.backend != "ray":
        raise CliError("--address needs --backend ray")
    if args.backend == "ray":
        from ..runs.ray_backend import import_ray

        import_ray()


def add_hyperparameter_options(parser: argparse.ArgumentParser) -> None:
    """One option per name in :data:`humelabel.presets.HYPERPARAMETERS` (default: preset)."""
    group = parser.add_argument_group(
        "hyperparameters", "override the preset's values (default: the preset's value)"
    )
    for name in HYPERPARAMETERS:
        ref = PRESETS["paper"][name]
        shown = ", ".join(f"{preset} {values[name]}" for preset, values in PRESETS.items())
        help_text = f"{_HYPERPARAMETER_HELP.get(name, name)} (presets: {shown})"
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": help_text}
        if isinstance(ref, bool):
            kwargs["action"] = argparse.BooleanOptionalAction
        elif name in _CHOICES:
            kwargs["choices"] = _CHOICES[name]
        elif name == "tau_end":
            kwargs.update(type=finite_float, metavar="X")
        elif name == "prior":
            kwargs.update(type=prior_value, metavar="uniform|ratio|FILE")
        elif name == "graph_neighbors":
            kwargs.update(type=positive_int, metavar="N")
        elif isinstance(ref, int):
            kwargs.update(type=int, metavar="N")
        elif isinstance(ref, float):
            kwargs.update(type=finite_float, metavar="X")
        else:
            kwargs["metavar"] = "VALUE"
        group.add_argument(option(name), **kwargs)


def hyperparameter_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The hyperparameter options given on the command line (the rest take the preset's)."""
    return {name: getattr(args, name) for name in HYPERPARAMETERS
            if getattr(args, name) is not None}


def check_device(device: str) -> None:
    """Fail now, in one line naming ``--device``, if ``device`` is unusable here."""
    try:
        resolve_device(device)
    except ValueError as exc:  # e.g. CUDA requested but not available
        raise InputError(f"--device {device}", str(exc)) from exc
    except RuntimeError as exc:  # torch's answer to a string that names no device
        raise InputError(
            f"--device {device}", "not a torch device (expected auto, cpu, cuda, cuda:N, ...)"
        ) from exc


def check_hyperparameters(preset: str, overrides: dict[str, Any]) -> None:
    """Validate the resolved hyperparameters; name the offending option in the error."""
    try:
        HUME(preset=preset, **overrides).resolved_params()
    except ValueError as exc:
        for name, value in overrides.items():  # find the option responsible
            try:
                HUME(preset=preset, **{name: value}).resolved_params()
            except ValueError as single:
                raise InputError(f"{option(name)} {value}", str(single)) from exc
        raise InputError(f"--preset {preset}", str(exc)) from exc


def sizes_line(labels: np.ndarray, k: int, what: str = "class") -> str:
    """``"<n> rows, <what> sizes: 0:12, 1:30, ..."`` for labels (n,) in [0, k), naming the
    empty ones (the search can leave a class with no row; the user asked for k)."""
    sizes = np.bincount(labels, minlength=k)
    line = (f"{labels.shape[0]} rows, {what} sizes: "
            + ", ".join(f"{c}:{int(size)}" for c, size in enumerate(sizes)))
    empty = np.flatnonzero(sizes == 0)
    if empty.size:
        plural = what + ("es" if what.endswith("s") else "s")
        line += (f" ({empty.size} of {k} {plural} empty: "
                 + ", ".join(str(int(c)) for c in empty) + ")")
    return line


def metrics_line(metrics: dict[str, Any]) -> str:
    return f"ACC {metrics['acc']:.4f}  NMI {metrics['nmi']:.4f}  ARI {metrics['ari']:.4f}"


def error_line(message: str) -> int:
    print(f"{PROG}: error: {' '.join(message.split())}", file=sys.stderr)
    return EXIT_USAGE
