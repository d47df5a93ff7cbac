"""DatabaseManager, the router: the write route (direct or queued, kick) and its breakers,
against the session's real embedded FalkorDB and Postgres (cut by a real proxy for outages)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from obsmem import model as m
from obsmem.config import Settings
from obsmem.errors import GraphUnavailable, VectorUnavailable
from obsmem.model import FixWrite
from obsmem.stores.router import GRAPH, VECTORS, DatabaseManager
from tests import waiting
from tests.conftest import _fresh_db
from tests.dashboard.tcpproxy import TcpProxy


def write(i: int, **kw) -> FixWrite:
    issue, solution = f"router test issue {i}: queue consumer stuck", f"restart consumer {i}"
    base = dict(id=m.fix_id_for(issue, solution), event_id=m.new_event_id(), issue=issue,
                solution=solution, signature=m.issue_signature(issue), ts=m.now_ms())  # fmt: skip
    return FixWrite(**{**base, **kw})


def settings(embedded, tmp_path: Path, **kw) -> Settings:
    base = dict(data_dir=tmp_path / "mgr", falkordb_url=embedded.falkordb_url(),
                falkordb_graph="router_" + uuid.uuid4().hex[:8],
                database_url=_fresh_db(embedded.postgres_url(), "router_"), demo=False)  # fmt: skip
    return Settings(**{**base, **kw})


@pytest.fixture
def mgr(embedded, embedder, tmp_path: Path) -> Iterator[DatabaseManager]:
    manager = DatabaseManager(settings(embedded, tmp_path), embedder=embedder)
    yield manager
    manager.close()


def wait_for(cond, timeout: float = 30.0) -> bool:
    return waiting.wait_for(cond, timeout)


def test_stores_implement_their_protocols(mgr: DatabaseManager) -> None:
    """Every method of GraphStore / VectorStore exists on the concrete stores and on the
    breaker-guarded views callers use (mypy checks the signatures in `make test`)."""
    from obsmem.stores.pgvector import PgVectorStore
    from obsmem.stores.protocols import GraphStore, VectorStore

    assert isinstance(mgr._vectors, PgVectorStore) and isinstance(mgr._vectors, VectorStore)
    assert isinstance(mgr._graph, GraphStore)
    assert isinstance(mgr.graph, GraphStore) and isinstance(mgr.vectors, VectorStore)


def test_direct_write_when_up_and_nothing_queued(mgr: DatabaseManager) -> None:
    w = write(1, success=True, service="queue")
    assert mgr.write_fixes(GRAPH, [w]) is True
    assert mgr.write_fixes(VECTORS, [w]) is True
    assert mgr.outbox.depth() == 0
    assert mgr.graph.get_fix(w.id).service == "queue"
    assert set(mgr.vectors.get_rows([w.id])) == {w.id}
    assert isinstance(mgr.graph.get_fix(w.id), m.Fix)
    assert mgr.write_fixes(GRAPH, []) is True  # nothing to do is done


def test_a_write_queues_behind_a_backlog_and_keeps_order(embedded, embedder, tmp_path) -> None:
    mgr = DatabaseManager(settings(embedded, tmp_path), embedder=embedder, replay=False)
    try:
        first, second = write(2, success=False), write(2, success=True)  # same fix, two events
        mgr.outbox.append_many(VECTORS, "fix", [first.to_dict()])  # an older write waits
        assert mgr.write_fixes(VECTORS, [second]) is False  # so this one may not overtake it
        assert mgr.outbox.depth(VECTORS) == 2 and mgr.outbox.depth(GRAPH) == 0
        queued = mgr.outbox.peek(VECTORS)
        assert [e.payload["event_id"] for e in queued] == [first.event_id, second.event_id]
        assert "_embedding" in queued[1].payload  # embedded up front, replay stays cheap
        assert mgr.vectors.get_rows([first.id]) == {}
        mgr.replayer.start()
        assert mgr.drain(30)
        row = mgr.vectors.get_rows([first.id])[first.id]
        assert (row["occurrences"], row["successes"], row["failures"]) == (2, 1, 1)
        assert row["success"] is True  # applied in order: the newest outcome wins
    finally:
        mgr.close()


def test_open_breaker_queues_without_touching_the_store_then_drains(mgr: DatabaseManager) -> None:
    w = write(3)
    mgr._breakers[VECTORS].trip(VectorUnavailable("test: pretend postgres timed out"))
    assert mgr.is_down(VECTORS)
    assert mgr.write_fixes(VECTORS, [w]) is False
    assert mgr.write_fixes(GRAPH, [w]) is True  # the other store is not held back
    # Postgres was up all along: the probe closes the breaker, which kicks the replayer.
    assert wait_for(lambda: not mgr.is_down(VECTORS))
    assert wait_for(lambda: mgr.outbox.depth(VECTORS) == 0)
    assert set(mgr.vectors.get_rows([w.id])) == {w.id}


def test_real_graph_outage_queues_and_opens_the_breaker(embedded, embedder, tmp_path) -> None:
    proxy, url = TcpProxy.for_url(embedded.falkordb_url())
    mgr = DatabaseManager(settings(embedded, tmp_path, falkordb_url=url, store_timeout_s=1.0),
                          embedder=embedder, replay=False)  # fmt: skip
    try:
        assert mgr.write_fixes(GRAPH, [write(4)]) is True
        proxy.cut()
        w = write(5)
        assert mgr.write_fixes(GRAPH, [w]) is False  # the outage became a queued write
        assert mgr.is_down(GRAPH)
        assert mgr.outbox.depth(GRAPH) == 1
        t0 = time.perf_counter()
        assert mgr.write_fixes(GRAPH, [write(6)]) is False  # breaker open: no new timeout
        assert time.perf_counter() - t0 < 0.5
        with pytest.raises(GraphUnavailable):
            mgr.graph.get_fix(w.id)  # reads fail fast with the store's own error
        assert mgr.write_fixes(VECTORS, [w]) is True
        assert mgr.health()["status"] == "degraded"
    finally:
        mgr.close()


def test_a_bug_is_raised_not_queued(mgr: DatabaseManager) -> None:
    with pytest.raises(ValueError, match="unknown graph write kind"):
        mgr.write(GRAPH, "no-such-kind", [{"id": "x"}])
    assert mgr.outbox.depth() == 0 and not mgr.is_down(GRAPH)


def test_health_is_healthy_with_both_up(mgr: DatabaseManager) -> None:
    h = mgr.health()
    assert h["status"] == "healthy"
    assert h["stores"]["graph"]["ok"] and h["stores"]["vectors"]["ok"]
    assert h["checked_at"].endswith("Z")
