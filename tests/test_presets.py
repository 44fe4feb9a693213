import pytest

from humelabel.presets import HYPERPARAMETERS, PRESETS, resolve

# The spec's table "Published defaults" (../shared/design/hume-algorithm.md), typed out.
PUBLISHED = {
    "paper": dict(tau=0.1, entropy_weight=10, outer_lr=0.001, inner_lr=0.001, inner_steps=300,
                  iterations=1000, num_subsets=20, subset_size=10000, train_fraction=0.9,
                  anneal=True, fixed_inner_init=False, inner="unrolled"),
    "imagenet": dict(tau=0.1, entropy_weight=10, outer_lr=0.1, inner_lr=0.1, inner_steps=100,
                     iterations=1000, num_subsets=20, subset_size=20000, train_fraction=0.7,
                     anneal=False, fixed_inner_init=True, inner="unrolled"),
}


@pytest.mark.parametrize("name", ["paper", "imagenet"])
def test_presets_equal_published_table(name):
    assert dict(PRESETS[name]) == PUBLISHED[name]
    assert set(PRESETS[name]) == set(HYPERPARAMETERS)


def test_resolve_overrides_and_rejects_unknown():
    assert resolve("paper", {"tau": 0.5, "iterations": None})["tau"] == 0.5
    assert resolve("paper", {"iterations": None})["iterations"] == 1000
    with pytest.raises(ValueError, match="unknown preset"):
        resolve("cifar", {})


def test_presets_are_read_only():
    with pytest.raises(TypeError):
        PRESETS["paper"]["tau"] = 1.0  # type: ignore[index]
