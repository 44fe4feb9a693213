"""Seed lists for the multi-seed commands; the seed rule itself is :mod:`humelabel.core.seeds`."""

from __future__ import annotations

from ..core.seeds import MAX_SEED, check_seed

__all__ = ["MAX_SEED", "MAX_SEEDS", "check_seed", "parse_seeds"]

#: Largest seed range expanded by :func:`parse_seeds` (guards against typos like 0-1000000).
MAX_SEEDS = 100_000


def parse_seeds(text: str) -> list[int]:
    """Seeds from a list of ranges: ``"0-19"``, ``"0,3,5-7"`` -> sorted unique non-negative ints.

    Raises:
        ValueError: empty parts, non-integers, negative seeds, reversed ranges, duplicates.
    """
    seeds: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            raise ValueError("empty item (expected e.g. 0-19 or 0,3,5-7)")
        first, sep, last = part.partition("-")
        try:
            lo = int(first)
            hi = int(last) if sep else lo
        except ValueError:
            raise ValueError(f"{part!r} is not a seed or a range A-B of seeds") from None
        if not (0 <= lo <= MAX_SEED and 0 <= hi <= MAX_SEED):
            raise ValueError(f"{part!r}: seeds must be in 0..{MAX_SEED}")
        if hi < lo:
            raise ValueError(f"{part!r}: range end is below its start")
        if hi - lo + 1 + len(seeds) > MAX_SEEDS:
            raise ValueError(f"more than {MAX_SEEDS} seeds")
        seeds.extend(range(lo, hi + 1))
    if len(set(seeds)) != len(seeds):
        raise ValueError("a seed is listed twice")
    return sorted(seeds)
