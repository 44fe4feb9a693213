import pytest

from humelabel.core.presets import HYPERPARAMETERS, PRESETS, resolve

# The spec's table "Published defaults" (../shared/design/hume-algorithm.md), typed out.
PUBLISHED = {
    "paper": dict(tau=0.1, entropy_weight=10, outer_lr=0.001, inner_lr=0.001, inner_steps=300,
                  iterations=1000, num_subsets=20, subset_size=10000, train_fraction=0.9,
                  anneal=True, fixed_inner_init=False, inner="unrolled"),
    "imagenet": dict(tau=0.1, entropy_weight=10, outer_lr=0.1, inner_lr=0.1, inner_steps=100,
                     iterations=1000, num_subsets=20, subset_size=20000, train_fraction=0.7,
                     anneal=False, fixed_inner_init=True, inner="unrolled"),
}
# Settings the paper does not have, at the values that leave its search unchanged.
PAPER_NEUTRAL = dict(outer_loss="ce", logit_scale=1.0, split_pool=0, init="random",
                     prior="uniform")


@pytest.mark.parametrize("name", ["paper", "imagenet"])
def test_presets_equal_published_table(name):
    preset = dict(PRESETS[name])
    assert {key: preset[key] for key in PUBLISHED[name]} == PUBLISHED[name]
    assert {key: preset[key] for key in PAPER_NEUTRAL} == PAPER_NEUTRAL
    assert set(preset) == set(HYPERPARAMETERS)


def test_fast_preset_uses_the_closed_form_solver():
    fast = PRESETS["fast"]
    assert set(fast) == set(HYPERPARAMETERS)
    assert fast["inner"] == "ridge" and fast["split_pool"] > 0


def test_resolve_overrides_and_rejects_unknown():
    assert resolve("paper", {"tau": 0.5, "iterations": None})["tau"] == 0.5
    assert resolve("paper", {"iterations": None})["iterations"] == 1000
    with pytest.raises(ValueError, match="unknown preset"):
        resolve("cifar", {})


def test_presets_are_read_only():
    with pytest.raises(TypeError):
        PRESETS["paper"]["tau"] = 1.0  # type: ignore[index]
