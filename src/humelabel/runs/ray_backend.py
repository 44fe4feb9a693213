"""Run tasks on a Ray cluster: the second executor next to :mod:`humelabel.runs.jobs`.

:func:`execute` has the interface of :func:`humelabel.runs.jobs.execute`: it calls
``function(task, state)`` for every task, each as one Ray task with one CPU and one torch
thread (so a result is the same as with ``jobs=1``), and ``on_done(task, result)`` in this
process as each result arrives (the caller writes the run directories there, so the workers
need no access to the output directory). ``state`` (the input arrays, the scorer) is put into
the object store once (``ray.put``) and every task gets its reference; a worker process
deserializes it once and keeps it for the tasks it runs next. A task whose worker dies (killed,
out of memory, a lost node) is retried up to ``max_retries`` times; an exception raised by the
task itself is not retried and is raised here, the pending tasks cancelled.

Ray is optional (``pip install 'humelabel[ray]'``) and imported only here, when used.
:func:`connect` joins the cluster at ``address`` (``ray start --head`` printed it), or starts a
local one, and leaves again at the end, if it was the one that connected.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from ..io import InputError

__all__ = ["DEFAULT_MAX_RETRIES", "connect", "execute", "import_ray"]

#: How many times a task whose worker died is run again before the command fails.
DEFAULT_MAX_RETRIES = 3

T = TypeVar("T")

#: Per worker process: the state of the last reference it resolved (hex id -> state).
_CACHE: dict[str, Any] = {}


def import_ray() -> Any:
    """The ``ray`` module; InputError (one line) naming the package when it is missing."""
    try:
        import ray
    except ImportError as exc:
        raise InputError("--backend ray", "needs the package ray, which is not installed "
                         f"({exc}); pip install 'humelabel[ray]'") from None
    return ray


@contextlib.contextmanager
def connect(address: str | None = None) -> Iterator[Any]:
    """Connected to Ray within the block: to the cluster at ``address`` (``host:port``, or
    ``auto`` for the one running on this machine), else to a new local one (even when one is
    running); an existing connection of this process is used as it is. Disconnects at the end
    only if it connected. Yields the ``ray`` module."""
    ray = import_ray()
    if ray.is_initialized():
        yield ray
        return
    options: dict[str, Any] = {"log_to_driver": False, "configure_logging": False}
    try:
        if address is None:
            ray.init(address="local", include_dashboard=False, **options)
        else:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        shown = f"--address {address}" if address is not None else "--backend ray"
        raise InputError(shown, f"cannot connect to Ray: {exc}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def _state(holder: list[Any]) -> dict[str, Any]:
    """The state behind the reference in ``holder`` (fetched once per worker process)."""
    import ray

    ref = holder[0]
    key = ref.hex()
    if key not in _CACHE:
        _CACHE.clear()  # one command's state at a time
        _CACHE[key] = ray.get(ref)
    return _CACHE[key]


def _run(function: Callable[[T, dict[str, Any]], Any], task: T, holder: list[Any]) -> Any:
    """The body of every Ray task: one torch thread, then ``function(task, state)``."""
    import torch

    torch.set_num_threads(1)
    return function(task, _state(holder))


def _cancel(ray: Any, refs: Sequence[Any]) -> None:
    for ref in refs:
        with contextlib.suppress(Exception):
            ray.cancel(ref, force=True)


def execute(function: Callable[[T, dict[str, Any]], Any], tasks: Sequence[T], jobs: int,
            state: dict[str, Any], on_done: Callable[[T, Any], None], *,
            address: str | None = None, max_retries: int = DEFAULT_MAX_RETRIES) -> None:
    """Call ``function(task, state)`` for every task on Ray, ``on_done(task, result)`` here
    as each finishes (in the order they finish).

    ``jobs`` is accepted for the interface of :func:`humelabel.runs.jobs.execute` and not
    used: every task asks for one CPU and the cluster runs as many at once as it has CPUs.
    ``function`` must be a module-level function importable on the workers (humelabel must be
    installed there), and the tasks, ``state`` and results must pickle. Connects as
    :func:`connect` does unless this process is connected already.
    """
    if not tasks:
        return
    if max_retries < 0:
        raise ValueError(f"max_retries must be at least 0, got {max_retries}")
    with connect(address) as ray:
        remote = ray.remote(num_cpus=1, max_retries=max_retries, retry_exceptions=False)(_run)
        holder = [ray.put(state)]  # in a list, so that each task gets the reference itself
        refs = {remote.remote(function, task, holder): task for task in tasks}
        pending = list(refs)
        try:
            while pending:
                ready, pending = ray.wait(pending, num_returns=1)
                try:
                    result = ray.get(ready[0])
                except ray.exceptions.RayTaskError as exc:
                    cause = getattr(exc, "cause", None)
                    if isinstance(cause, Exception):
                        raise cause from None
                    raise
                on_done(refs[ready[0]], result)
        except BaseException:
            _cancel(ray, pending)
            raise
