"""Reads whose deadline the driver keeps (obsmem.stores.deadline): inline, and still bounded.

Postgres and FalkorDB reads run in the caller's thread; a real SIGSTOPped server
(its own embedded pair, so the session's servers keep serving) makes a read fail
as an outage within about the read timeout, the breaker opens, and after SIGCONT
reads work again on connections that are not the ones left broken.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from bench.hang import process_tree_stopped
from obsmem.errors import GraphUnavailable, VectorUnavailable, is_unavailable
from obsmem.model import AgentWrite, FixWrite, fix_id_for, issue_signature
from obsmem.stores import breaker as B
from obsmem.stores import deadline
from obsmem.stores.embedded import EmbeddedServers
from obsmem.stores.graph.falkor import FalkorGraph
from obsmem.stores.pgvector import PgVectorStore, VectorRow
from obsmem.stores.router import GRAPH_READS, VECTOR_READS
from tests.waiting import wait_for

READ_TIMEOUT = 0.5
SLACK = 1.0  # scheduling on a loaded 2-core box; a missing deadline would take many seconds


@pytest.fixture(autouse=True)
def fast_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(B, "PROBE_INTERVAL_S", 0.05)


# ---------------------------------------------------------------- the deadline itself


def _store_with_one_fix(url: str, *, pool_min: int, pool_max: int) -> tuple[PgVectorStore, Any]:
    """A migrated store holding one fix, and that fix's (unit) embedding."""
    store = PgVectorStore(url, pool_min=pool_min, pool_max=pool_max, timeout_s=10.0)
    store.migrate()
    emb = np.zeros(384, dtype=np.float32)
    emb[0] = 1.0
    store.upsert([VectorRow(id="d1", event_id="e1", issue="disk full on db-1",
                            solution="rotate the logs", signature="disk full", ts=1,
                            embedding=emb)])  # fmt: skip
    return store, emb


def test_no_deadline_outside_a_read() -> None:
    assert deadline.remaining() is None and not deadline.active()


def test_a_nested_deadline_never_extends_the_outer_one() -> None:
    with deadline.read_deadline(0.2):
        with deadline.read_deadline(60):
            left = deadline.remaining()
            assert left is not None and left <= 0.2
        assert deadline.active()
    assert not deadline.active()


def test_the_deadline_stays_in_the_thread_that_set_it() -> None:
    with cf.ThreadPoolExecutor(1) as pool, deadline.read_deadline(5):
        assert pool.submit(deadline.remaining).result() is None
        left = deadline.remaining()
        assert left is not None and 4 < left <= 5


# ---------------------------------------------------------------- the guard


class InlineStore:
    """Says its driver keeps the deadline; `read` misses it once `hung` is set."""

    enforces_read_deadline = True

    def __init__(self) -> None:
        self.hung = False

    def ping(self) -> float:
        if self.hung:
            raise TimeoutError("hung")
        return 0.1

    def read(self) -> tuple[int, float | None]:
        if self.hung:
            raise deadline.ReadDeadlineExceeded("no answer")
        return threading.get_ident(), deadline.remaining()

    def write(self) -> float | None:
        return deadline.remaining()


def test_reads_of_a_store_that_keeps_its_deadline_run_inline_under_it() -> None:
    store = InlineStore()
    br = B.Breaker("vectors", lambda: store, is_outage=is_unavailable, make_error=VectorUnavailable)
    guarded = B.Guarded(br, lambda: store, reads={"read"}, read_timeout=lambda: 2.0)
    ident, left = guarded.read()
    assert ident == threading.get_ident()  # no hand-off to a worker
    assert left is not None and 1.5 < left <= 2.0
    assert guarded._workers.started == 0
    assert guarded.write() is None  # writes keep the driver's own (longer) timeout
    br.stop()


def test_a_missed_deadline_opens_the_breaker_as_a_hang() -> None:
    store = InlineStore()
    br = B.Breaker("vectors", lambda: store, is_outage=is_unavailable, make_error=VectorUnavailable)
    guarded = B.Guarded(br, lambda: store, reads={"read"}, read_timeout=lambda: 0.5)
    store.hung = True
    with pytest.raises(VectorUnavailable, match=r"no answer to read within 0.5 s \(read timeout\)"):
        guarded.read()
    assert br.is_open and br.kind == "hanging"
    with pytest.raises(VectorUnavailable, match="vectors is unavailable"):
        guarded.read()  # fails fast while open
    store.hung = False
    assert wait_for(lambda: not br.is_open)
    assert guarded.read()[0] == threading.get_ident()
    br.stop()


def test_neo4j_keeps_the_worker_thread_deadline() -> None:
    from obsmem.stores.graph.neo4j import Neo4jGraph

    assert Neo4jGraph.enforces_read_deadline is False
    assert FalkorGraph.enforces_read_deadline is True
    assert PgVectorStore.enforces_read_deadline is True


# ---------------------------------------------------------------- Postgres, no hang needed


def slow_statement_is_cut(
    store: PgVectorStore, within: contextlib.AbstractContextManager[None], error: Any
) -> None:
    """A 3 s statement under `within` (a 0.3 s deadline) raises `error` by then, and the
    store's one-connection pool replaces the connection that was cut."""
    t0 = time.monotonic()
    with error, within, store._conn() as conn:
        conn.execute("SELECT pg_sleep(3)")
    assert time.monotonic() - t0 < 0.3 + SLACK
    assert store._pool.get_stats().get("returns_bad", 0) >= 1  # closed, not reused
    assert store.count() == 0  # the pool's one slot has a fresh connection


def test_a_slow_statement_ends_at_the_deadline_and_its_connection_is_replaced(
    pg_db_url: str,
) -> None:
    store = PgVectorStore(pg_db_url, pool_min=1, pool_max=1)
    store.migrate()
    try:
        slow_statement_is_cut(
            store, deadline.read_deadline(0.3), pytest.raises(deadline.ReadDeadlineExceeded)
        )
    finally:
        store.close()


def test_a_slow_pipelined_search_ends_at_the_deadline_and_its_connection_is_replaced(
    pg_db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The search's pipeline (keyword + kNN statements, one sync) waits in
    `DeadlineConnection.wait` too: a keyword statement that outlasts the deadline ends
    the search there, the connection is closed, and the next search gets a fresh one."""
    from obsmem.stores import pgvector as pv

    store, emb = _store_with_one_fix(pg_db_url, pool_min=1, pool_max=1)
    original = pv._KEYWORD_WITH_STATS
    try:
        monkeypatch.setattr(
            pv, "_KEYWORD_WITH_STATS",
            original + " UNION ALL SELECT 'z', NULL, NULL, NULL FROM pg_sleep(3)",
        )  # fmt: skip
        t0 = time.monotonic()
        with (
            pytest.raises(deadline.ReadDeadlineExceeded, match="connection closed"),
            deadline.read_deadline(0.3),
        ):
            store.search(lambda: emb, "disk full", 5)
        assert time.monotonic() - t0 < 0.3 + SLACK
        assert store._pool.get_stats().get("returns_bad", 0) >= 1  # closed, not reused
        monkeypatch.setattr(pv, "_KEYWORD_WITH_STATS", original)
        got = store.search(lambda: emb, "disk full", 5)
        assert got.vector[0][0] == got.keyword[0][0] == "d1"
    finally:
        store.close()


def test_waiting_for_a_pooled_connection_ends_at_the_deadline(pg_db_url: str) -> None:
    """Every connection taken (e.g. by reads stuck on a hung server): the next read waits for
    one no longer than its deadline, not the pool's (write) timeout."""
    store = PgVectorStore(pg_db_url, pool_min=1, pool_max=1, timeout_s=10.0)
    store.migrate()
    try:
        with store._conn():  # the pool's only connection
            t0 = time.monotonic()
            with pytest.raises(deadline.ReadDeadlineExceeded), deadline.read_deadline(0.3):
                store.count()
            assert time.monotonic() - t0 < 0.3 + SLACK
        assert store.count() == 0
    finally:
        store.close()


# ---------------------------------------------------------------- real hangs


def _guard(name: str, store: Any, reads: frozenset[str], error: type) -> tuple[B.Breaker, Any]:
    br = B.Breaker(name, lambda: store, is_outage=is_unavailable, make_error=error)
    return br, B.guarded(br, lambda: store, reads=reads, read_timeout=lambda: READ_TIMEOUT)


def _timed(fn: Callable[[], Any], error: type) -> float:
    t0 = time.monotonic()
    with pytest.raises(error, match=r"within 0.5 s \(read timeout\)"):
        fn()
    return time.monotonic() - t0


def test_a_stopped_postgres_costs_one_read_timeout_then_reads_recover(
    own_servers: EmbeddedServers,
) -> None:
    store, emb = _store_with_one_fix(own_servers.postgres_url(), pool_min=2, pool_max=4)
    counted, count = _guard("vectors", store, VECTOR_READS, VectorUnavailable)
    searched, search = _guard("vectors", store, VECTOR_READS, VectorUnavailable)
    try:
        assert search.search(lambda: emb, "disk full", 5).vector[0][0] == "d1"
        with process_tree_stopped(own_servers.postgres.pid()):
            took = _timed(count.count, VectorUnavailable)
            assert took < READ_TIMEOUT + SLACK
            # The search: keyword and kNN statements pipelined on one connection.
            took = _timed(lambda: search.search(lambda: emb, "disk full", 5), VectorUnavailable)
            assert took < READ_TIMEOUT + SLACK
            assert counted.is_open and counted.kind == "hanging"
            assert searched.is_open and searched.kind == "hanging"
            t0 = time.monotonic()
            with pytest.raises(VectorUnavailable, match="vectors is unavailable"):
                count.count()  # open: fails at once
            assert time.monotonic() - t0 < 0.1
        assert wait_for(lambda: not counted.is_open and not searched.is_open)
        # Every connection a missed read left is gone: all pool slots answer, at once too.
        assert store._pool.get_stats().get("returns_bad", 0) >= 2
        with cf.ThreadPoolExecutor(4) as pool:
            found = list(pool.map(lambda _: search.search(lambda: emb, "disk full", 5), range(8)))
        assert all(f.vector[0][0] == "d1" and f.keyword[0][0] == "d1" for f in found)
        assert [count.count() for _ in range(8)] == [1] * 8
        assert count._workers.started == 0  # never a worker thread
    finally:
        counted.stop()
        searched.stop()
        store.close()


def test_a_stopped_falkordb_costs_one_read_timeout_then_reads_recover(
    own_servers: EmbeddedServers,
) -> None:
    graph = FalkorGraph(
        own_servers.falkordb_url(), graph="t_" + uuid.uuid4().hex[:8], timeout_s=10.0
    )
    graph.ensure_schema()
    issue, solution = "queue lag on orders", "scale the consumers"
    fid = fix_id_for(issue, solution)
    graph.upsert_agents([AgentWrite(name="a1", ts=1)])
    graph.upsert_fixes([FixWrite(id=fid, event_id="e1", issue=issue, solution=solution,
                                 signature=issue_signature(issue), ts=1, agent="a1")])  # fmt: skip
    br, reads = _guard("graph", graph, GRAPH_READS, GraphUnavailable)
    try:
        assert set(reads.get_fixes([fid])) == {fid}
        with process_tree_stopped(own_servers.falkor.pid()):
            took = _timed(lambda: reads.get_fixes([fid]), GraphUnavailable)  # a pipeline
            assert took < READ_TIMEOUT + SLACK
            assert br.is_open and br.kind == "hanging"
            br2, reads2 = _guard("graph", graph, GRAPH_READS, GraphUnavailable)
            took = _timed(lambda: reads2.recent_fixes(5), GraphUnavailable)  # a query
            assert took < READ_TIMEOUT + SLACK
            br2.stop()
        assert wait_for(lambda: not br.is_open)
        for _ in range(5):  # the timed-out connections were dropped, not reused mid-reply
            assert set(reads.get_fixes([fid])) == {fid}
            assert [f.id for f in reads.recent_fixes(5)] == [fid]
        assert reads._workers.started == 0
    finally:
        br.stop()
        graph.drop()
        graph.close()


def test_writes_keep_the_longer_timeout_on_a_stopped_falkordb(own_servers: EmbeddedServers) -> None:
    """A write is not cut at the read timeout: it waits for the store timeout (the driver's)."""
    graph = FalkorGraph(
        own_servers.falkordb_url(), graph="t_" + uuid.uuid4().hex[:8], timeout_s=2.0
    )
    graph.ensure_schema()
    br, store = _guard("graph", graph, GRAPH_READS, GraphUnavailable)
    try:
        with process_tree_stopped(own_servers.falkor.pid()):
            t0 = time.monotonic()
            with pytest.raises(GraphUnavailable):
                store.upsert_agents([AgentWrite(name="w1", ts=1)])
            took = time.monotonic() - t0
        assert 1.5 < took < 2.0 + SLACK
        assert wait_for(lambda: not br.is_open)
        store.upsert_agents([AgentWrite(name="w1", ts=1)])
    finally:
        br.stop()
        graph.drop()
        graph.close()
