"""The replayer against a real outbox file and appliers that fail the way stores do."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from obsmem.stores.outbox import Outbox
from obsmem.stores.replay import Replayer


class Unavailable(ConnectionError):
    """What a store that is down raises."""


def is_unavailable(e: BaseException) -> bool:
    return isinstance(e, Unavailable)


class Store:
    """An idempotent in-memory store (MERGE on id) that can be switched off."""

    def __init__(self, poison: set[int] | None = None) -> None:
        self.calls: list[tuple[str, list[int]]] = []
        self.rows: dict[int, dict[str, Any]] = {}
        self.order: list[int] = []
        self.down = threading.Event()
        self.down_calls = 0
        self.poison = poison or set()
        self.lock = threading.Lock()

    def apply(self, kind: str, payloads: list[dict[str, Any]]) -> None:
        with self.lock:
            if self.down.is_set():
                self.down_calls += 1
                raise Unavailable("connection refused")
            ids = [p["id"] for p in payloads]
            if self.poison & set(ids):
                raise ValueError(f"bad data in {sorted(self.poison & set(ids))}")
            self.calls.append((kind, ids))
            for p in payloads:
                if p["id"] not in self.rows:
                    self.order.append(p["id"])
                self.rows[p["id"]] = p


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Outbox]:
    ob = Outbox(tmp_path / "outbox.sqlite3")
    yield ob
    ob.close()


def _replayer(box: Outbox, **appliers: Any) -> Replayer:
    return Replayer(
        box,
        appliers,
        is_unavailable=is_unavailable,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
        max_attempts=3,
    )


def _queue(box: Outbox, store: str, kind: str, ids: range | list[int]) -> None:
    box.append_many(store, kind, [{"id": i} for i in ids])


def test_drains_in_order_grouping_runs_of_one_kind(box: Outbox) -> None:
    graph = Store()
    _queue(box, "graph", "fix", range(0, 3))
    _queue(box, "graph", "outcome", range(3, 5))
    _queue(box, "graph", "fix", range(5, 6))
    rep = _replayer(box, graph=graph.apply).start()
    try:
        assert rep.drain(10)
    finally:
        rep.stop()
    assert graph.calls == [("fix", [0, 1, 2]), ("outcome", [3, 4]), ("fix", [5])]
    assert box.depth() == 0
    assert rep.last_drain_ms["graph"] is not None and rep.last_error["graph"] is None


def test_batch_size_bounds_each_call(box: Outbox) -> None:
    graph = Store()
    _queue(box, "graph", "fix", range(7))
    rep = Replayer(box, {"graph": graph.apply}, is_unavailable=is_unavailable, batch=3).start()
    try:
        assert rep.drain(10)
    finally:
        rep.stop()
    assert graph.calls == [("fix", [0, 1, 2]), ("fix", [3, 4, 5]), ("fix", [6])]


def test_outage_backs_off_without_counting_attempts(box: Outbox) -> None:
    graph = Store()
    graph.down.set()
    _queue(box, "graph", "fix", range(4))
    rep = _replayer(box, graph=graph.apply).start()
    try:
        assert not rep.drain(0.5)  # far more than max_attempts tries at this backoff
        assert graph.down_calls > 3
        assert [e.attempts for e in box.peek("graph", 10)] == [0, 0, 0, 0]
        assert box.dead_letters() == []
        assert "connection refused" in (rep.last_error["graph"] or "")
        assert rep.status()["graph"]["unavailable"]
        _queue(box, "graph", "fix", range(4, 6))  # writes keep queuing during the outage
        graph.down.clear()
        rep.kick("graph")  # the store is back
        assert rep.drain(10)
    finally:
        rep.stop()
    assert graph.order == list(range(6))
    assert rep.last_error["graph"] is None


def test_a_down_store_does_not_stall_the_other(box: Outbox) -> None:
    graph, vectors = Store(), Store()
    graph.down.set()
    _queue(box, "graph", "fix", range(3))
    _queue(box, "vectors", "fix", range(3))
    rep = _replayer(box, graph=graph.apply, vectors=vectors.apply).start()
    try:
        assert rep.drain(10, store="vectors")
        assert vectors.order == [0, 1, 2]
        assert box.depth("graph") == 3
        graph.down.clear()
        assert rep.drain(10)
    finally:
        rep.stop()
    assert graph.order == [0, 1, 2]


def test_poison_entry_is_dead_lettered_and_the_rest_apply_in_order(box: Outbox) -> None:
    graph = Store(poison={3})
    _queue(box, "graph", "fix", range(7))
    rep = _replayer(box, graph=graph.apply).start()
    try:
        assert rep.drain(10)
    finally:
        rep.stop()
    assert graph.order == [0, 1, 2, 4, 5, 6]
    (dead,) = box.dead_letters()
    assert dead.payload == {"id": 3}
    assert dead.attempts == 3
    assert "bad data" in (dead.last_error or "")
    # An operator fixes the cause and requeues it.
    graph.poison.clear()
    box.requeue_dead([dead.seq])
    rep = _replayer(box, graph=graph.apply).start()
    try:
        assert rep.drain(10)
    finally:
        rep.stop()
    assert graph.order[-1] == 3 and box.dead_letters() == []


def test_a_broken_is_unavailable_counts_as_a_failure(box: Outbox) -> None:
    def boom(e: BaseException) -> bool:
        raise RuntimeError("classifier bug")

    def always_fails(kind: str, payloads: list[dict[str, Any]]) -> None:
        raise KeyError("nope")

    _queue(box, "graph", "fix", [1])
    rep = Replayer(
        box,
        {"graph": always_fails},
        is_unavailable=boom,
        backoff_base_s=0.01,
        backoff_max_s=0.02,
        max_attempts=2,
    ).start()
    try:
        assert rep.drain(10)  # dead-lettered, the thread survived
        assert rep.status()["graph"]["running"]
    finally:
        rep.stop()
    assert len(box.dead_letters()) == 1


def test_two_replayers_share_one_outbox_in_order(tmp_path: Path) -> None:
    """Two processes' worth: separate connections and owners, one store lease."""
    path = tmp_path / "outbox.sqlite3"
    a, b = Outbox(path), Outbox(path)
    graph = Store()
    _queue(a, "graph", "fix", range(300))
    reps = [
        Replayer(ob, {"graph": graph.apply}, is_unavailable=is_unavailable, batch=7)
        for ob in (a, b)
    ]
    for r in reps:
        r.start()
    try:
        assert all(r.drain(20) for r in reps)
    finally:
        for r in reps:
            r.stop()
        a.close()
        b.close()
    applied = [i for _, ids in graph.calls for i in ids]
    assert applied == list(range(300))  # exactly once each, in seq order


def test_a_crashed_holders_lease_is_retaken(box: Outbox) -> None:
    graph = Store()
    _queue(box, "graph", "fix", range(3))
    assert box.acquire_lease("graph", "crashed-process", ttl_s=0.3)
    rep = _replayer(box, graph=graph.apply).start()
    try:
        assert rep.drain(10)
    finally:
        rep.stop()
    assert graph.order == [0, 1, 2]


def test_stop_ends_the_threads(box: Outbox) -> None:
    rep = _replayer(box, graph=Store().apply, vectors=Store().apply).start()
    rep.stop()
    assert not any(s["running"] for s in rep.status().values())
