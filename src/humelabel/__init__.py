"""humelabel: find the human labeling of an unlabeled dataset with HUME.

HUME (Gadetsky & Brbic, NeurIPS 2023) searches for the labeling of representation phi1 on
which a linear classifier trained in a second representation phi2 generalizes best.
"""

from ._version import __version__
from .core.presets import PRESETS  # noqa: E402
from .estimator import HUME, Spaces  # noqa: E402
from .runs.multiseed import fit_seeds  # noqa: E402

__all__ = ["HUME", "PRESETS", "Spaces", "__version__", "fit_seeds"]
