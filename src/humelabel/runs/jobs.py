"""Run tasks in this process or in a pool of spawned processes, one torch thread each.

Every process (this one too, while it works) uses one torch thread, so a result does not
depend on how many processes share the work. A worker exits as soon as the process that
started it is gone (a watchdog thread compares ``os.getppid()`` with the parent's pid), so
killing a command never leaves its workers computing.

Large arrays of the shared state reach the workers through files, not the start-up pipe
(:func:`_to_files`): a spawned process reads its start-up data only after importing this
package (torch: seconds), and the parent blocks writing the arrays until it has, one worker
after the other; with files the workers start side by side.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

import numpy as np
import torch
from threadpoolctl import threadpool_limits

__all__ = ["WATCHDOG_INTERVAL_S", "Workers", "execute", "one_core"]

#: Seconds between two checks of a worker's watchdog that its parent is alive.
WATCHDOG_INTERVAL_S = 0.5

T = TypeVar("T")

#: Per-process state given to every task (set by :func:`_init_worker`).
_STATE: dict[str, Any] = {}


def _watch_parent(parent_pid: int) -> None:
    """Exit this process at once when its parent (``parent_pid``) has died."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(1)
        time.sleep(WATCHDOG_INTERVAL_S)


#: Arrays of at least this many bytes go to the workers as files (:func:`_to_files`).
FILE_BYTES = 1 << 20


@dataclasses.dataclass(frozen=True)
class _ArrayFile:
    """An array saved by :func:`_to_files`: its ``.npy`` path, and whether to memory-map it
    (it was a memory map in the parent, so it need not fit in memory)."""

    path: str
    mapped: bool

    def load(self) -> np.ndarray:
        return np.load(self.path, mmap_mode="r" if self.mapped else None)


def _swap(value: Any, convert: Callable[[Any], Any]) -> Any:
    """``value`` with ``convert`` applied to itself (an array or :class:`_ArrayFile`), or to
    the fields of a dataclass, or to the values of a dict (one level: the shape of the pool's
    state)."""
    if isinstance(value, (np.ndarray, _ArrayFile)):
        return convert(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: convert(getattr(value, f.name))
                   for f in dataclasses.fields(value) if f.init}
        if all(changes[name] is getattr(value, name) for name in changes):
            return value
        return dataclasses.replace(value, **changes)
    if isinstance(value, dict):
        return {key: convert(item) for key, item in value.items()}
    return value


def _to_files(state: dict[str, Any], folder: str) -> dict[str, Any]:
    """``state`` with each array of at least :data:`FILE_BYTES` (a value, or a field of a
    dataclass or dict value) saved under ``folder`` and replaced by its :class:`_ArrayFile`."""
    count = [0]

    def save(item: Any) -> Any:
        if not isinstance(item, np.ndarray) or item.nbytes < FILE_BYTES or item.dtype.hasobject:
            return item
        count[0] += 1
        path = os.path.join(folder, f"{count[0]}.npy")
        np.save(path, item)
        return _ArrayFile(path, isinstance(item, np.memmap))

    return {key: _swap(value, save) for key, value in state.items()}


def _from_files(state: dict[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`_to_files` (the arrays read back)."""
    def load(item: Any) -> Any:
        return item.load() if isinstance(item, _ArrayFile) else item

    return {key: _swap(value, load) for key, value in state.items()}


def _init_worker(state: dict[str, Any], parent_pid: int | None = None) -> None:
    """Pool initializer (also called in-process): one torch thread, the shared state (its
    arrays read back from files in a pool process), and in a pool process a watchdog that
    ends it with its parent."""
    torch.set_num_threads(1)
    _STATE.clear()
    _STATE.update(_from_files(state))
    if parent_pid is not None:
        if os.getppid() != parent_pid:  # the parent died while this worker started
            os._exit(1)
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True,
                         name="humelabel-parent-watchdog").start()


def _call(function: Callable[[T, dict[str, Any]], Any], task: T) -> Any:
    return function(task, _STATE)


def execute(function: Callable[[T, dict[str, Any]], Any], tasks: Sequence[T], jobs: int,
            state: dict[str, Any], on_done: Callable[[T, Any], None]) -> None:
    """Call ``function(task, state)`` for every task and ``on_done(task, result)`` after each.

    ``jobs == 1`` (or a single task) runs here; else ``min(jobs, len(tasks))`` spawned
    processes share the tasks (``function``, the tasks, ``state`` and the results must then
    pickle, and ``function`` must be a module-level function). On an exception or Ctrl-C
    the pending tasks are cancelled; the finished ones have been reported.
    """
    if not tasks:
        return
    with Workers(1 if jobs == 1 else min(jobs, len(tasks)), state) as workers:
        workers.run(function, tasks, on_done)


class Workers:
    """A pool of ``jobs`` spawned processes kept over several batches of tasks (``execute``
    starts one per call; a caller whose next batch depends on the last one's results would
    pay the start-up each time). ``jobs == 1`` runs every batch here.

    Use as a context manager: ``with Workers(2, state) as workers: workers.run(f, tasks,
    on_done)``, with the same contract per batch as :func:`execute`.
    """

    def __init__(self, jobs: int, state: dict[str, Any]) -> None:
        if jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {jobs}")
        self.jobs, self.state = int(jobs), state
        self._pool: ProcessPoolExecutor | None = None
        self._threads: int | None = None
        self._folder: str | None = None

    def __enter__(self) -> Workers:
        if self.jobs == 1:  # here, with one torch thread while it works
            self._threads = torch.get_num_threads()
            _init_worker(self.state)
        else:
            self._folder = tempfile.mkdtemp(prefix="humelabel-workers-")
            try:
                shared = _to_files(self.state, self._folder)
            except BaseException:
                self._remove_folder()
                raise
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(shared, os.getpid()))
        return self

    def _remove_folder(self) -> None:
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def run(self, function: Callable[[T, dict[str, Any]], Any], tasks: Sequence[T],
            on_done: Callable[[T, Any], None]) -> None:
        """``on_done(task, function(task, state))`` for every task (in completion order)."""
        if self._pool is None:
            for task in tasks:
                on_done(task, function(task, _STATE))
            return
        futures = {self._pool.submit(_call, function, task): task for task in tasks}
        for future in as_completed(futures):
            on_done(futures[future], future.result())

    def __exit__(self, kind: object, error: object, trace: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=error is not None)
            self._pool = None
        self._remove_folder()
        if self._threads is not None:
            _STATE.clear()
            torch.set_num_threads(self._threads)
            self._threads = None


@contextlib.contextmanager
def one_core(scorer: Any, busy: bool) -> Any:
    """While ``busy`` (workers still compute), the block runs on one core: ``scorer.n_jobs``
    (where it has one, joblib's convention) set to 1 and this process's BLAS to one thread
    (threadpoolctl), so that the workers keep theirs. Otherwise nothing changes."""
    if not busy:
        yield
        return
    has = hasattr(scorer, "n_jobs")
    saved = scorer.n_jobs if has else None
    if has:
        scorer.n_jobs = 1
    try:
        with threadpool_limits(1):
            yield
    finally:
        if has:
            scorer.n_jobs = saved
