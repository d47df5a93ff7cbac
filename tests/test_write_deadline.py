"""Postgres writes whose deadline the driver keeps (obsmem.stores.deadline.write_deadline).

A write's deadline is per round trip: a long bulk write is not cut, a round trip a
stopped server never answers is. On a real SIGSTOPped Postgres (this module's own
embedded pair) a `remember` returns within about the write timeout with its vector
write queued, the breaker opens, and after SIGCONT the server applies the write it
already had in its socket buffer, the replay applies the queued copy again, and
Postgres ends exactly right: each fix once, each event counted once, BM25 statistics
matching the postings, both stores agreeing, no broken connection left in the pool.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextvars
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import pytest

from bench.hang import process_tree_stopped
from obsmem.config import Settings
from obsmem.errors import VectorUnavailable, is_unavailable
from obsmem.memory import Memory
from obsmem.reconcile import reconcile
from obsmem.stores import breaker as B
from obsmem.stores import deadline
from obsmem.stores.embedded import EmbeddedServers
from obsmem.stores.graph.falkor import FalkorGraph
from obsmem.stores.graph.neo4j import Neo4jGraph
from obsmem.stores.pgvector import PgVectorStore, VectorRow
from tests.test_read_deadline import slow_statement_is_cut
from tests.waiting import wait_for

WRITE_TIMEOUT = 1.0
SLACK = 1.0  # scheduling on a loaded 2-core box; a missing deadline would wait until SIGCONT


@pytest.fixture(autouse=True)
def fast_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(B, "PROBE_INTERVAL_S", 0.05)


# ---------------------------------------------------------------- the deadline itself


def test_a_write_deadline_is_per_round_trip() -> None:
    with deadline.write_deadline(0.5):
        time.sleep(0.2)
        left = deadline.remaining()
        assert left is not None and 0.49 < left <= 0.5  # not spent by the time already taken
        assert isinstance(deadline.exceeded("x"), deadline.WriteDeadlineExceeded)
        assert "within the write timeout (0.5 s per round trip)" in str(deadline.exceeded("x"))
        with deadline.read_deadline(0.1):  # the sooner one wins, and names the error
            left = deadline.remaining()
            assert left is not None and left <= 0.1
            assert isinstance(deadline.exceeded("x"), deadline.ReadDeadlineExceeded)
        with deadline.lifted():
            assert deadline.remaining() is None and not deadline.active()
        assert contextvars.copy_context().run(deadline.remaining) == pytest.approx(0.5)
    assert not deadline.active()
    with deadline.read_deadline(0.2), deadline.write_deadline(5):  # a write inside a read
        left = deadline.remaining()
        assert left is not None and left <= 0.2


class Store:
    """Records the deadline each call ran under."""

    def __init__(self, *, writes: bool) -> None:
        self.enforces_read_deadline = True
        self.enforces_write_deadline = writes

    def ping(self) -> float:
        return 0.1

    def read(self) -> float | None:
        return deadline.remaining()

    def write(self) -> float | None:
        time.sleep(0.05)
        return deadline.remaining()

    def walk(self) -> Iterator[float | None]:
        for _ in range(2):
            time.sleep(0.05)
            yield deadline.remaining()

    def hang(self) -> None:
        raise deadline.exceeded("postgres: no answer", "connection closed")


def _guard(store: Store) -> tuple[B.Breaker, Any]:
    br = B.Breaker("vectors", lambda: store, is_outage=is_unavailable, make_error=VectorUnavailable)
    return br, B.Guarded(br, lambda: store, reads={"read", "ping"}, read_timeout=lambda: 0.5,
                         write_timeout=lambda: 3.0)  # fmt: skip


def test_the_guard_runs_writes_under_the_write_timeout_only_where_the_driver_keeps_it() -> None:
    br, keeps = _guard(Store(writes=True))
    br2, other = _guard(Store(writes=False))  # FalkorDB, Neo4j: their driver's own timeout
    try:
        assert 2.99 < keeps.write() <= 3.0
        assert other.write() is None
        walked = list(keeps.walk())  # a generator: each step runs under the deadline
        assert len(walked) == 2 and all(2.99 < w <= 3.0 for w in walked)
        assert list(other.walk()) == [None, None]
        assert 0.4 < keeps.read() <= 0.5 and 0.4 < other.read() <= 0.5
        with pytest.raises(VectorUnavailable, match=r"within the write timeout \(3 s per round"):
            keeps.hang()
        assert br.is_open and br.kind == "hanging"  # an outage: the caller queues the write
    finally:
        br.stop()
        br2.stop()
    # The graph backends keep what they had: no write deadline from the guard.
    assert not getattr(FalkorGraph, "enforces_write_deadline", False)
    assert not getattr(Neo4jGraph, "enforces_write_deadline", False)
    assert PgVectorStore.enforces_write_deadline is True


# ---------------------------------------------------------------- Postgres, no hang needed


def test_a_write_round_trip_ends_at_its_deadline_and_its_connection_is_replaced(
    pg_db_url: str,
) -> None:
    store = PgVectorStore(pg_db_url, pool_min=1, pool_max=1, timeout_s=10.0)
    store.migrate()
    try:
        with deadline.write_deadline(0.4), store._conn() as conn:
            for _ in range(4):  # 0.8 s in all, each round trip well inside 0.4 s
                conn.execute("SELECT pg_sleep(0.2)")
        slow_statement_is_cut(
            store,
            deadline.write_deadline(0.3),
            pytest.raises(deadline.WriteDeadlineExceeded, match="connection closed"),
        )
    finally:
        store.close()


def test_a_migrations_own_sql_is_not_cut_by_the_write_deadline(
    pg_db_url: str, tmp_path: Path
) -> None:
    """Its bookkeeping round trips keep the deadline; an index build may take long."""
    (tmp_path / "001_slow.sql").write_text(
        "SELECT pg_sleep(0.6); CREATE TABLE slow_step (id int);", encoding="utf-8"
    )
    store = PgVectorStore(pg_db_url, pool_min=1, pool_max=1)
    try:
        with deadline.write_deadline(0.3):
            assert store.migrate(tmp_path) == ["001_slow"]
        assert store.pending_migrations(tmp_path) == []
    finally:
        store.close()


# ---------------------------------------------------------------- a real hang


@pytest.fixture
def mem(own_servers: EmbeddedServers, embedder: Any, tmp_path: Path) -> Iterator[Memory]:
    url = own_servers.postgres_url()
    name = "w_" + uuid.uuid4().hex[:10]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    settings = Settings(data_dir=tmp_path / "mem", falkordb_url=own_servers.falkordb_url(),
                        falkordb_graph=name, database_url=url.replace("/postgres?", f"/{name}?"),
                        store_timeout_s=WRITE_TIMEOUT, read_timeout_s=0.5, demo=False)  # fmt: skip
    memory = Memory.open(settings, embedder=embedder)
    yield memory
    memory.close()
    FalkorGraph(own_servers.falkordb_url(), graph=name).drop()


def _sql(mem: Memory, query: str) -> list[tuple[Any, ...]]:
    """Read Postgres on a fresh connection of its own (not the store's pool, not its guard)."""
    assert mem.settings.database_url
    with psycopg.connect(mem.settings.database_url, autocommit=True, connect_timeout=5) as conn:
        return conn.execute(query).fetchall()


def _figures(mem: Memory) -> dict[str, tuple[int, int, int]]:
    rows = _sql(mem, "SELECT id, occurrences, successes, failures FROM fixes")
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


def _assert_keyword_statistics_match_the_postings(mem: Memory) -> None:
    """What BM25 reads (documents, total length, df per term) equals a count from scratch."""
    (docs, total_len), = _sql(mem, "SELECT docs, total_len FROM keyword_stats")  # fmt: skip
    (fixes, doc_len), = _sql(mem, "SELECT count(*), coalesce(sum(doc_len), 0) FROM fixes")  # fmt: skip
    assert (docs, total_len) == pytest.approx((fixes, doc_len))
    wrong_df = _sql(mem, """
        SELECT coalesce(d.term, c.term), d.df, c.n FROM term_df d
        FULL JOIN (SELECT term, count(*) AS n FROM fix_terms GROUP BY term) c ON c.term = d.term
        WHERE coalesce(d.df, 0) <> coalesce(c.n, 0)""")  # fmt: skip
    assert wrong_df == []
    orphans = _sql(mem, "SELECT count(*) FROM fix_terms p WHERE NOT EXISTS"
                        " (SELECT 1 FROM fixes f WHERE f.doc = p.doc)")  # fmt: skip
    assert orphans == [(0,)]


def _timed(
    fn: Callable[[], Any], limit: float = WRITE_TIMEOUT + SLACK, what: str = "the write"
) -> tuple[Any, float]:
    """(fn(), seconds taken), failing if it takes over `limit`: run in a thread of its own_servers,
    so that a write waiting on the stopped server fails the test (and the server gets its
    SIGCONT) instead of hanging it."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["got"] = fn()
        except BaseException as exc:
            box["exc"] = exc

    t0 = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(limit)
    took = time.monotonic() - t0
    assert not worker.is_alive(), f"{what}: still waiting after {limit:g} s (no write deadline)"
    if "exc" in box:
        raise box["exc"]
    return box["got"], took


def test_a_remember_on_a_stopped_postgres_is_queued_at_the_write_timeout_and_counts_once(
    own_servers: EmbeddedServers, mem: Memory
) -> None:
    seeded = mem.remember_many([
        {"issue": f"seed {i}: disk full on db-{i}", "solution": f"rotate the logs on db-{i}",
         "success": True} for i in range(3)
    ])  # fmt: skip
    assert all(r.pending == () for r in seeded)
    base = _figures(mem)
    mgr = mem.manager
    # The replayer waits until the server has applied what it had in its socket buffer, so the
    # queued copy meets an already-applied write (the case to prove harmless).
    mgr.replayer.stop()
    a = {"issue": "queue lag on orders topic", "solution": "scale the consumers", "success": True}
    with process_tree_stopped(own_servers.postgres.pid()):
        first, _ = _timed(lambda: mem.remember(**a))
        assert first.stored_in == ("graph",) and first.pending == ("vectors",)
        assert mgr.is_down("vectors") and mgr.breaker_state()["vectors"]["kind"] == "hanging"
        # Open: the next writes queue at once, behind the first.
        again, took = _timed(lambda: mem.remember(**{**a, "success": False}))  # 2nd occurrence
        assert took < WRITE_TIMEOUT and again.id == first.id and again.pending == ("vectors",)
        more = mem.remember_many([
            {"issue": f"cert expiry on edge-{i}", "solution": f"renew the cert on edge-{i}"}
            for i in range(2)
        ])  # fmt: skip
        voted = mem.feedback(seeded[0].id, False)
        assert all(r.pending == ("vectors",) for r in more)
        assert voted["pending"] == ["vectors"] and voted["stored_in"] == ["graph"]
        assert mgr.outbox.stats()["depth"] == {"graph": 0, "vectors": 5}
    # Resumed, the server runs the statement it already had: the cut write is applied...
    assert wait_for(lambda: first.id in _figures(mem), timeout=10)
    assert _figures(mem)[first.id] == (1, 1, 0)
    assert wait_for(lambda: not mgr.is_down("vectors"))
    # ... and the replay applies its queued copy again, with everything queued behind it.
    mgr.replayer.start()
    assert mem.drain(30)
    got = _figures(mem)
    assert got[first.id] == (2, 1, 1)  # two occurrences, one success, one failure: not three
    assert got[seeded[0].id] == (base[seeded[0].id][0], 1, 1)  # the vote counted once
    assert all(got[r.id] == (1, 0, 0) for r in more)
    assert len(got) == 6
    _assert_keyword_statistics_match_the_postings(mem)
    report = reconcile(mgr)
    assert report.drift == 0, report.lines()  # the graph (never stopped) agrees figure by figure
    assert mgr.graph.count_fixes() == 6

    # The connection cut at the deadline was dropped; every pool slot works.
    assert mgr._vectors._pool.get_stats().get("returns_bad", 0) >= 1
    with cf.ThreadPoolExecutor(4) as pool:
        counts = list(pool.map(lambda _: mgr.vectors.count(None), range(8)))
        written = list(pool.map(
            lambda i: mem.remember(f"dns timeout in zone {i}", f"flush the resolver cache {i}"),
            range(4),
        ))  # fmt: skip
    assert counts == [6] * 8
    assert all(w.stored_in == ("graph", "vectors") for w in written)


def test_a_bulk_write_cut_mid_transaction_is_rolled_back_and_replayed_once(
    own_servers: EmbeddedServers, mem: Memory
) -> None:
    """Several rows take the COPY path in one transaction: cut at the deadline, the server
    never sees its COMMIT and rolls it back; the replay then writes each row once."""
    items = [{"issue": f"oom kill in pod web-{i}", "solution": f"raise the memory limit of web-{i}"}
             for i in range(3)]  # fmt: skip
    mgr = mem.manager
    with process_tree_stopped(own_servers.postgres.pid()):
        got, _ = _timed(lambda: mem.remember_many(items))
        assert all(r.stored_in == ("graph",) and r.pending == ("vectors",) for r in got)
        assert mgr.is_down("vectors")
    assert wait_for(lambda: not mgr.is_down("vectors"))
    assert mem.drain(30)
    assert _figures(mem) == {r.id: (1, 0, 0) for r in got}
    _assert_keyword_statistics_match_the_postings(mem)
    assert reconcile(mgr).drift == 0
    assert mgr._vectors._pool.get_stats().get("returns_bad", 0) >= 1
    assert mgr.vectors.count(None) == 3


@pytest.fixture
def own_db(own_servers: EmbeddedServers) -> str:
    """A fresh database on this module's own Postgres."""
    url = own_servers.postgres_url()
    name = "w_" + uuid.uuid4().hex[:10]
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return url.replace("/postgres?", f"/{name}?")


def test_every_postgres_write_and_schema_step_ends_at_the_write_timeout(
    own_servers: EmbeddedServers, own_db: str
) -> None:
    """upsert (one row, and the COPY path), record_outcomes, delete, set_figures, the schema
    steps run again after every outage (migrate, check_model) and reconcile's walk of the ids:
    each, met by a stopped server, fails as an outage within about the write timeout. (A
    fresh guard per call: an open breaker would fail the next one at once.)"""
    from obsmem.model import Fix, Outcome

    timeout = 0.5
    # A pooled connection for each step, open before the stop.
    store = PgVectorStore(own_db, pool_min=8, pool_max=8, timeout_s=1.0)
    store.migrate()
    store.check_model("x", 384)
    store._pool.wait(10)
    emb = np.zeros(384, dtype=np.float32)
    emb[0] = 1.0

    def row(i: int) -> VectorRow:
        return VectorRow(id=f"d{i}", event_id=f"e{i}", issue=f"disk full {i}",
                         solution="rotate logs", ts=1, signature="disk full", embedding=emb)  # fmt: skip

    steps: dict[str, Callable[[Any], Any]] = {
        "upsert one": lambda s: s.upsert([row(1)]),
        "upsert copy": lambda s: s.upsert([row(2), row(3)]),
        "record_outcomes": lambda s: s.record_outcomes([Outcome("o1", "d1", True, 1)]),
        "delete": lambda s: s.delete(["d1"]),
        "set_figures": lambda s: s.set_figures([Fix(id="d1", issue="x", solution="y", ts=1)]),
        "migrate": lambda s: s.migrate(),
        "check_model": lambda s: s.check_model("x", 384),
        "iter_ids": lambda s: list(s.iter_ids()),  # a bulk walk (reconcile): page by page
    }
    breakers = []
    try:
        with process_tree_stopped(own_servers.postgres.pid()):
            for name, step in steps.items():
                br = B.Breaker("vectors", lambda: store, is_outage=is_unavailable,
                               make_error=VectorUnavailable)  # fmt: skip
                breakers.append(br)
                guarded = B.guarded(br, lambda: store, write_timeout=lambda: timeout)
                # migrate connects anew first: connect_timeout, which psycopg (as libpq) never
                # sets below 2 s; the rest wait in the driver, at most the write timeout
                said = "postgres" if name == "migrate" else "no answer within the write timeout"
                bound = 2.0 if name == "migrate" else timeout
                with pytest.raises(VectorUnavailable, match=said):
                    _timed(lambda s=guarded, f=step: f(s), bound + SLACK, what=name)
                assert br.is_open and br.kind == "hanging", name
        assert wait_for(lambda: not any(b.is_open for b in breakers))
        assert store._pool.get_stats().get("returns_bad", 0) >= 7  # each cut connection dropped
        assert store.migrate() == []
        assert [store.count() for _ in range(6)] == [store.count()] * 6
    finally:
        for br in breakers:
            br.stop()
        store.close()
