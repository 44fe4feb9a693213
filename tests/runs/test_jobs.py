"""runs.jobs: Workers keeps one pool over several batches, with the same results as here."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
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


def summed(task: str, state: dict[str, Any]) -> tuple[float, bool, bool]:
    """(sum of the named array of the state, whether it is a memory map, whether the
    inputs' field is an array), in a worker."""
    array = state[task] if task in state else getattr(state["inputs"], task)
    return float(np.asarray(array).sum()), isinstance(array, np.memmap), \
        isinstance(state["inputs"].big, np.ndarray)


@dataclasses.dataclass
class Inputs:
    """The shape of FitInputs (module level, so that it pickles): arrays as fields."""

    big: np.ndarray
    small: np.ndarray


def test_large_arrays_reach_the_workers_through_files(tmp_path, monkeypatch) -> None:
    import glob
    import tempfile

    from humelabel.runs import jobs

    mapped = np.lib.format.open_memmap(tmp_path / "mapped.npy", mode="w+", dtype=np.float32,
                                       shape=(jobs.FILE_BYTES // 4 + 1,))
    mapped[:] = 2.0
    state = {"inputs": Inputs(np.ones(jobs.FILE_BYTES // 8 + 1), np.ones(3)),
             "mapped": mapped, "factor": 3}
    folder = tmp_path / "workers"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    shared = jobs._to_files(state, str(folder))
    # The large arrays are files (the memory map stays one); small values stay as they are.
    assert isinstance(shared["inputs"].big, jobs._ArrayFile)
    assert shared["inputs"].small is state["inputs"].small and shared["factor"] == 3
    assert shared["mapped"].mapped and not shared["inputs"].big.mapped
    back = jobs._from_files(shared)
    np.testing.assert_array_equal(back["inputs"].big, state["inputs"].big)
    np.testing.assert_array_equal(back["mapped"], mapped)
    out: dict[str, tuple[float, bool, bool]] = {}
    with Workers(2, state) as workers:
        workers.run(summed, ["big", "small", "mapped"], out.__setitem__)
        assert len(glob.glob(str(folder / "humelabel-workers-*"))) == 1
    assert out == {"big": (float(state["inputs"].big.sum()), False, True),
                   "small": (3.0, False, True),
                   "mapped": (float(mapped.sum()), True, True)}
    assert not glob.glob(str(folder / "humelabel-workers-*"))  # removed with the pool


def test_one_core_while_busy() -> None:
    from threadpoolctl import threadpool_info

    from humelabel.runs.jobs import one_core

    class Scorer:
        n_jobs = 2

    scorer = Scorer()
    with one_core(scorer, busy=True):
        assert scorer.n_jobs == 1
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert scorer.n_jobs == 2  # restored
    with one_core(scorer, busy=False):
        assert scorer.n_jobs == 2
    with one_core(object(), busy=True):  # a scorer without n_jobs: only the BLAS threads
        pass
