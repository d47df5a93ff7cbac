"""Daemon threads kept between store reads, so a read with a deadline does not start a thread.

The store guard (obsmem.stores.breaker) runs each read with a deadline of a store
whose driver cannot keep the deadline itself (Neo4j; Postgres and FalkorDB reads run
inline, see obsmem.stores.deadline) on a worker thread and stops waiting when the
deadline passes. Starting a thread per read cost
two thread starts per recall (the vector search and the graph enrichment), each a
clone, a GIL hand-off and a thread exit. These workers wait for the next read
instead, and leave after `idle_s` without one (a closed store's workers are gone
soon after, holding nothing: a task's references are dropped when it ends). They
are daemon threads, unlike a ThreadPoolExecutor's (joined at interpreter exit), so
a read stuck on a stopped server never holds up the exit; such a read keeps its
worker, and the next read gets another one.
"""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

IDLE_S = 10.0

_Task = tuple["cf.Future[Any]", Callable[..., Any], tuple[Any, ...], dict[str, Any]]


class ReadWorkers:
    """`submit(fn, ...)` -> Future, run on an idle worker or a new one (never queued behind one)."""

    def __init__(self, name: str, idle_s: float = IDLE_S) -> None:
        self.name = name
        self.idle_s = idle_s
        self._tasks: queue.SimpleQueue[_Task] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._idle = 0  # workers waiting for a task and not yet promised one
        self.started = 0  # threads started so far (for tests and curiosity)

    def submit(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> cf.Future[T]:
        future: cf.Future[T] = cf.Future()
        with self._lock:
            spawn = self._idle == 0
            if spawn:
                self.started += 1
            else:
                self._idle -= 1  # an idle worker is promised to this task
        self._tasks.put((future, fn, args, kwargs))
        if spawn:
            threading.Thread(target=self._work, name=self.name, daemon=True).start()
        return future

    def _work(self) -> None:
        while True:
            try:
                future, fn, args, kwargs = self._tasks.get(timeout=self.idle_s)
            except queue.Empty:
                with self._lock:
                    if self._idle > 0:  # no task is promised to the idle workers: leave
                        self._idle -= 1
                        return
                continue  # a task was promised to us and is on its way
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn(*args, **kwargs))
                except BaseException as exc:  # handed to the caller, who decides
                    future.set_exception(exc)
            del future, fn, args, kwargs  # drop the result before waiting again
            with self._lock:
                self._idle += 1
