"""Run tasks in this process or in a pool of spawned processes, one torch thread each.

Every process (this one too, while it works) uses one torch thread, so a result does not
depend on how many processes share the work. A worker exits as soon as the process that
started it is gone (a watchdog thread compares ``os.getppid()`` with the parent's pid), so
killing a command never leaves its workers computing.
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any, TypeVar

import torch

__all__ = ["WATCHDOG_INTERVAL_S", "Workers", "execute"]

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


def _init_worker(state: dict[str, Any], parent_pid: int | None = None) -> None:
    """Pool initializer (also called in-process): one torch thread, the shared state, and in
    a pool process a watchdog that ends it with its parent."""
    torch.set_num_threads(1)
    _STATE.clear()
    _STATE.update(state)
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

    def __enter__(self) -> Workers:
        if self.jobs == 1:  # here, with one torch thread while it works
            self._threads = torch.get_num_threads()
            _init_worker(self.state)
        else:
            self._pool = ProcessPoolExecutor(
                max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker, initargs=(self.state, os.getpid()))
        return self

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
        if self._threads is not None:
            _STATE.clear()
            torch.set_num_threads(self._threads)
            self._threads = None
