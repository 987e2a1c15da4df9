"""Doing one thing to many agents at once, a bounded number at a time.

``sac agents start``, ``stop`` and ``restart`` with many names and the Python API's ``start_many`` go
through :func:`each`. Threads, not processes: every job spends its time in a child (the
runner it spawned, the claude CLI) or asleep between polls of its state file, so one thread
per job in flight is cheap and keeps the CLI's own imports paid once. A job's failure is its
result, never the others' end.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Generic, TypeVar

if TYPE_CHECKING:
    from concurrent.futures import Future

T = TypeVar("T")
R = TypeVar("R")

#: Most jobs in flight by default, however many cores: each start holds a claude CLI
#: (~200 MB) and a runner while it comes up, and 2 cores are busy with 4 starts already.
MAX_DEFAULT_JOBS = 16


def default_jobs() -> int:
    """How many starts in flight suit this host: two per core (a start waits as much as it
    computes), at least 4, at most :data:`MAX_DEFAULT_JOBS`."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(4, min(MAX_DEFAULT_JOBS, 2 * cores))


class Cancelled(Exception):
    """Raised inside a job (from its progress callback) once :func:`each` was interrupted."""


class Outcome(Generic[T, R]):
    """One job's end: its item and either its result or the exception it raised."""

    __slots__ = ("error", "item", "result")

    def __init__(self, item: T, result: R | None = None, error: BaseException | None = None) -> None:
        self.item, self.result, self.error = item, result, error


def each(
    items: Iterable[T], fn: Callable[[T], R], *, jobs: int | None = None, cancel: threading.Event | None = None
) -> Iterator[Outcome[T, R]]:
    """Run ``fn(item)`` for every item, at most ``jobs`` at a time, and yield each
    :class:`Outcome` as it ends (first done, first yielded). An exception in one job is that
    job's outcome. When the caller stops iterating (Ctrl-C, a closed pipe), ``cancel`` is
    set, jobs not begun never begin, and the jobs in flight are left to notice ``cancel``."""
    from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

    cancel = cancel if cancel is not None else threading.Event()
    items = list(items)
    if not items:
        return
    pool = ThreadPoolExecutor(max_workers=max(1, min(jobs or default_jobs(), len(items))), thread_name_prefix="sac")

    def run(item: T) -> Outcome[T, R]:
        if cancel.is_set():
            return Outcome(item, error=Cancelled())
        try:
            return Outcome(item, result=fn(item))
        except BaseException as e:  # noqa: BLE001 (a job's failure is its outcome; KeyboardInterrupt stays in the main thread)
            return Outcome(item, error=e)

    pending: set[Future[Outcome[T, R]]] = set()
    try:  # (submitting inside: a Ctrl-C between two submits still cancels the rest)
        for item in items:
            pending.add(pool.submit(run, item))
        while pending:
            done, pending = wait(pending, return_when=FIRST_COMPLETED)
            for f in done:
                yield f.result()
    finally:
        cancel.set()
        pool.shutdown(wait=not pending, cancel_futures=True)
