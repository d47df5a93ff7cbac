"""Reads with a deadline run on kept daemon workers (obsmem.stores.read_workers), not a thread each."""

from __future__ import annotations

import threading
import time

import pytest

from obsmem.errors import GraphUnavailable, is_unavailable
from obsmem.stores import breaker as B
from obsmem.stores.read_workers import ReadWorkers


def _alive(name: str) -> int:
    return sum(1 for t in threading.enumerate() if t.name == name)


def test_sequential_reads_reuse_one_worker() -> None:
    workers = ReadWorkers("t-seq")
    idents = {workers.submit(threading.get_ident).result(5) for _ in range(20)}
    assert workers.started == 1
    assert len(idents) == 1
    assert all(t.daemon for t in threading.enumerate() if t.name == "t-seq")


def test_a_busy_worker_never_delays_the_next_read() -> None:
    workers = ReadWorkers("t-busy")
    release = threading.Event()
    stuck = [workers.submit(release.wait, 10) for _ in range(3)]  # e.g. a stopped server
    try:
        assert workers.submit(lambda: "answered").result(2) == "answered"
        assert workers.started == 4
    finally:
        release.set()
    assert all(f.result(5) for f in stuck)
    # All four are idle now: the next reads reuse them.
    for _ in range(10):
        workers.submit(time.sleep, 0).result(5)
    assert workers.started == 4


def test_errors_reach_the_caller() -> None:
    workers = ReadWorkers("t-err")
    with pytest.raises(ZeroDivisionError):
        workers.submit(lambda: 1 / 0).result(5)
    assert workers.submit(lambda: 2).result(5) == 2
    assert workers.started == 1


def test_idle_workers_leave() -> None:
    workers = ReadWorkers("t-idle", idle_s=0.05)
    workers.submit(time.sleep, 0).result(5)
    deadline = time.monotonic() + 5
    while _alive("t-idle") and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _alive("t-idle") == 0
    assert workers.submit(lambda: "again").result(5) == "again"  # a new worker starts
    assert workers.started == 2


class Store:
    def ping(self) -> float:
        return 0.1

    def read(self) -> int:
        return threading.get_ident()


def test_guarded_reads_with_a_deadline_share_a_worker() -> None:
    store = Store()
    br = B.Breaker("graph", lambda: store, is_outage=is_unavailable, make_error=GraphUnavailable)
    guarded = B.Guarded(br, lambda: store, reads={"read"}, read_timeout=lambda: 2.0)
    idents = [guarded.read() for _ in range(10)]
    assert threading.get_ident() not in idents  # the deadline needs another thread
    assert len(set(idents)) == 1
    assert _alive("obsmem-read-graph") >= 1
