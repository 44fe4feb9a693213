"""The one seed rule of the package (Python API and every command), and random_state handling.

Seeds are integers in 0..MAX_SEED (numpy and scikit-learn take seeds below 2**32).
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

__all__ = ["MAX_SEED", "check_seed", "seed_from_random_state"]

#: Largest seed accepted anywhere (numpy and scikit-learn take seeds below 2**32).
MAX_SEED = 2**32 - 1


def check_seed(seed: Any) -> int:
    """seed as an int, or ValueError unless it is an integer in 0..MAX_SEED (numpy integers
    count, bools do not)."""
    if (isinstance(seed, (bool, np.bool_)) or not isinstance(seed, numbers.Integral)
            or not 0 <= int(seed) <= MAX_SEED):
        raise ValueError(f"seeds must be integers in 0..{MAX_SEED}, got {seed!r}")
    return int(seed)


def seed_from_random_state(random_state: Any) -> int:
    """One int seed in 0..MAX_SEED from a scikit-learn style ``random_state``.

    An int is the seed itself (checked by :func:`check_seed`); a ``numpy.random.RandomState``
    or ``numpy.random.Generator`` gives one draw (so the same object state gives the same
    seed, and the object advances, as scikit-learn estimators do); ``None`` draws from
    numpy's global RandomState (as :func:`sklearn.utils.check_random_state` does).
    """
    if random_state is None:
        random_state = np.random.mtrand._rand
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, MAX_SEED + 1, dtype=np.int64))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, MAX_SEED + 1))
    if isinstance(random_state, numbers.Integral) and not isinstance(random_state, bool):
        return check_seed(random_state)
    raise ValueError(f"random_state must be None, an integer in 0..{MAX_SEED}, a numpy "
                     f"RandomState or a numpy Generator, got {random_state!r}")
