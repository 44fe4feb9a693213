"""Published hyperparameters (spec table "Published defaults"), one dict per preset.

``paper`` is the STL-10 / CIFAR-10 / CIFAR-100-20 column, ``imagenet`` the ImageNet-1000
column. They must stay exactly as published; faster variants are separate presets.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

HYPERPARAMETERS = (
    "tau",
    "entropy_weight",
    "outer_lr",
    "inner_lr",
    "inner_steps",
    "iterations",
    "num_subsets",
    "subset_size",
    "train_fraction",
    "anneal",
    "fixed_inner_init",
    "inner",
)

_PAPER = {
    "tau": 0.1,
    "entropy_weight": 10.0,
    "outer_lr": 0.001,
    "inner_lr": 0.001,
    "inner_steps": 300,
    "iterations": 1000,
    "num_subsets": 20,
    "subset_size": 10000,
    "train_fraction": 0.9,
    "anneal": True,
    "fixed_inner_init": False,
    "inner": "unrolled",
}

_IMAGENET = {
    **_PAPER,
    "outer_lr": 0.1,
    "inner_lr": 0.1,
    "inner_steps": 100,
    "subset_size": 20000,
    "train_fraction": 0.7,
    "anneal": False,
    "fixed_inner_init": True,
}

PRESETS: MappingProxyType[str, MappingProxyType[str, Any]] = MappingProxyType(
    {name: MappingProxyType(values) for name, values in
     {"paper": _PAPER, "imagenet": _IMAGENET}.items()}
)


def resolve(preset: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The preset's values with every non-None override applied."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r} (expected one of {', '.join(PRESETS)})")
    values = dict(PRESETS[preset])
    values.update({key: value for key, value in overrides.items() if value is not None})
    return values
