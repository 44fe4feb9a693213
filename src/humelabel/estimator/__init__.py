"""``HUME``: the scikit-learn-style estimator over the search.

Hyperparameters live in ``__init__`` (``None`` means "take the preset's value"), ``fit``
returns self, learned state sits in trailing-underscore attributes. Several phi2 spaces are
given explicitly as :class:`Spaces`.
"""

from ._data import DTYPES, INITS, PHI2_SCALINGS, Spaces, phi2_scaling_of
from ._hume import HUME
from ._params import check_prior, describe_init

__all__ = ["DTYPES", "HUME", "INITS", "PHI2_SCALINGS", "Spaces", "check_prior", "describe_init",
           "phi2_scaling_of"]
