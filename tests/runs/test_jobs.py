"""runs.jobs: Workers keeps one pool over several batches, with the same results as here."""

from __future__ import annotations

from typing import Any

import pytest

from humelabel.runs.jobs import Workers


def scaled(task: int, state: dict[str, Any]) -> tuple[int, int]:
    """Module level, so that a spawned worker can import it: (task * factor, torch threads)."""
    import torch

    return task * state["factor"], torch.get_num_threads()


@pytest.mark.parametrize("jobs", [1, 2])
def test_workers_run_batches_with_the_state(jobs: int) -> None:
    out: dict[int, tuple[int, int]] = {}
    with Workers(jobs, {"factor": 3}) as workers:
        workers.run(scaled, [1, 2, 3], out.__setitem__)
        workers.run(scaled, [4], out.__setitem__)  # a second batch, the same pool
    assert {t: v for t, (v, _) in out.items()} == {1: 3, 2: 6, 3: 9, 4: 12}
    assert {threads for _, threads in out.values()} == {1}  # one torch thread per worker


def test_workers_check_jobs() -> None:
    with pytest.raises(ValueError, match="jobs"):
        Workers(0, {})
