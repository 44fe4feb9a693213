import numpy as np
import pytest
import torch

from humelabel.core.inner import UnrolledGD
from humelabel.core.search import SearchConfig, run_search


def _config(**overrides) -> SearchConfig:
    values = dict(tau=0.3, entropy_weight=1.0, outer_lr=0.05, iterations=30, num_subsets=2,
                  subset_size=200, train_fraction=0.8, anneal=False)
    values.update(overrides)
    return SearchConfig(**values)


def _data(two_view):
    phi1, phi2, labels = two_view
    phi1 = phi1 / np.linalg.norm(phi1, axis=1, keepdims=True)
    return torch.from_numpy(phi1), torch.from_numpy(phi2 / 4), labels


def test_history_records_every_step_and_loss_decreases(two_view):
    phi1, phi2, _ = _data(two_view)
    result = run_search(phi1, phi2, 3, _config(iterations=40), UnrolledGD(10, 0.1),
                        torch.Generator().manual_seed(0), progress=False)
    history = result.history
    assert [h["step"] for h in history] == list(range(40))
    assert {"loss", "generalization", "entropy", "grad_norm", "tau", "outer_lr", "time_s"} <= set(
        history[0])
    first = np.mean([h["loss"] for h in history[:5]])
    last = np.mean([h["loss"] for h in history[-5:]])
    assert last < first


def test_annealing_schedule(two_view):
    phi1, phi2, _ = _data(two_view)
    config = _config(iterations=7, anneal=True, anneal_steps=(2, 5), tau=0.5, outer_lr=0.01)
    history = run_search(phi1, phi2, 3, config, UnrolledGD(2, 0.1),
                         torch.Generator().manual_seed(0), progress=False).history
    taus = [h["tau"] for h in history]
    lrs = [h["outer_lr"] for h in history]
    np.testing.assert_allclose(taus, [0.5] * 2 + [0.05] * 3 + [0.005] * 2)
    np.testing.assert_allclose(lrs, [0.01] * 2 + [0.001] * 3 + [0.0001] * 2)
    off = run_search(phi1, phi2, 3, _config(iterations=7, anneal=False, anneal_steps=(2, 5)),
                     UnrolledGD(2, 0.1), torch.Generator().manual_seed(0), progress=False)
    assert len({h["tau"] for h in off.history}) == 1


def test_geometric_tau_schedule(two_view):
    phi1, phi2, _ = _data(two_view)
    history = run_search(phi1, phi2, 3, _config(iterations=5, tau=0.4, tau_end=0.1),
                         UnrolledGD(2, 0.1), torch.Generator().manual_seed(0),
                         progress=False).history
    # 0.4 -> 0.1 in four equal ratios of 1/sqrt(2): first and last step exactly as asked.
    np.testing.assert_allclose([h["tau"] for h in history],
                               [0.4 * 0.5 ** (i / 2) for i in range(5)], rtol=1e-12)


def test_gradient_norm_is_clipped(two_view):
    phi1, phi2, _ = _data(two_view)
    encoder = run_search(phi1, phi2, 3, _config(iterations=1, entropy_weight=100.0),
                         UnrolledGD(2, 0.1), torch.Generator().manual_seed(0),
                         progress=False).encoder
    clipped = torch.cat([p.grad.flatten() for p in encoder.parameters()]).norm()
    assert clipped <= 1.0 + 1e-5


def test_same_seed_same_result(two_view):
    phi1, phi2, _ = _data(two_view)
    runs = [run_search(phi1, phi2, 3, _config(iterations=5), UnrolledGD(3, 0.1),
                       torch.Generator().manual_seed(seed), progress=False).encoder.weight
            for seed in (1, 1, 2)]
    assert torch.equal(runs[0], runs[1])
    assert not torch.equal(runs[0], runs[2])


class _SplitBySplit(UnrolledGD):
    """UnrolledGD without the batched entry point: the search solves split by split."""

    batches_splits = False


@pytest.mark.parametrize("subset_size", [10_000, 150])  # one union group; several groups
def test_batched_splits_match_split_by_split(two_view, subset_size):
    phi1, phi2, _ = _data(two_view)
    config = _config(iterations=3, num_subsets=4, subset_size=subset_size)
    runs = [run_search(phi1, phi2, 3, config, solver(5, 0.1), torch.Generator().manual_seed(0),
                       progress=False) for solver in (UnrolledGD, _SplitBySplit)]
    for key in ("loss", "generalization", "entropy", "grad_norm"):
        np.testing.assert_allclose([h[key] for h in runs[0].history],
                                   [h[key] for h in runs[1].history], rtol=1e-4)
    torch.testing.assert_close(runs[0].encoder.weight, runs[1].encoder.weight)


def test_repeated_pool_splits_are_solved_once_with_the_same_result(two_view):
    from humelabel.core import search
    from humelabel.core.inner import Ridge
    from humelabel.core.objective import SplitSampler

    phi1, phi2, _ = _data(two_view)
    sampler = SplitSampler(phi1.shape[0], 100, 0.8, torch.Generator().manual_seed(0), 3)
    merged = list(search._draws(sampler, 10, merge=True))
    assert sum(count for _, count, _, _ in merged) == 10
    assert len({split_id for split_id, _, _, _ in merged}) == len(merged) <= 3

    def run(merge_draws):
        original = search._draws
        if not merge_draws:
            search._draws = lambda s, num, merge: original(s, num, False)
        try:
            return run_search(phi1, phi2, 3, _config(iterations=3, num_subsets=6, split_pool=3),
                              Ridge(1.0), torch.Generator().manual_seed(0), progress=False)
        finally:
            search._draws = original

    merged_run, plain_run = run(True), run(False)
    torch.testing.assert_close(merged_run.encoder.weight, plain_run.encoder.weight)
    np.testing.assert_allclose([h["loss"] for h in merged_run.history],
                               [h["loss"] for h in plain_run.history], rtol=1e-4, atol=1e-7)
