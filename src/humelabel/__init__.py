"""humelabel: find the human labeling of an unlabeled dataset with HUME.

HUME (Gadetsky & Brbic, NeurIPS 2023) searches for the labeling of representation phi1 on
which a linear classifier trained in a second representation phi2 generalizes best.
"""

__version__ = "0.1.0"

from .estimator import HUME  # noqa: E402
from .presets import PRESETS  # noqa: E402

__all__ = ["HUME", "PRESETS", "__version__"]
