"""The Postgres pool's checkout check (obsmem.stores.pool_check) against the real embedded server."""

from __future__ import annotations

import time

import numpy as np
import psycopg
import pytest
from psycopg_pool import ConnectionPool

from obsmem.stores.pgvector import PgVectorStore
from obsmem.stores.pool_check import check_quiet_connection, has_pending_input


def _last_query(url: str, pid: int) -> str:
    with psycopg.connect(url, autocommit=True) as other:
        row = other.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone()
    assert row is not None
    return str(row[0])


def _terminate(url: str, where: str, params: tuple[object, ...]) -> list[int]:
    """pg_terminate_backend on the matching backends; returns once they are gone."""
    with psycopg.connect(url, autocommit=True) as admin:
        pids = [
            r[0]
            for r in admin.execute(
                f"SELECT pid FROM pg_stat_activity WHERE {where} AND pid <> pg_backend_pid()",
                params,
            ).fetchall()
        ]
        for pid in pids:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            left = admin.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(%s)", (pids,)
            ).fetchone()
            if left is not None and left[0] == 0:
                break
            time.sleep(0.05)
    return pids


def test_a_quiet_connection_passes_without_a_round_trip(pg_db_url):
    with psycopg.connect(pg_db_url, autocommit=True) as conn:
        conn.execute("SELECT 'pool-check-marker'")
        pid = conn.info.backend_pid
        check_quiet_connection(conn)
        assert _last_query(pg_db_url, pid) == "SELECT 'pool-check-marker'"
        # psycopg_pool's own check does send a statement: what the quiet check saves.
        ConnectionPool.check_connection(conn)
        assert _last_query(pg_db_url, pid) == ""


def test_a_dropped_connection_fails_the_check(pg_db_url):
    with psycopg.connect(pg_db_url, autocommit=True) as conn:
        conn.execute("SELECT 1")
        _terminate(pg_db_url, "pid = %s", (conn.info.backend_pid,))
        deadline = time.monotonic() + 5
        while not has_pending_input(conn.fileno()) and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(psycopg.OperationalError):
            check_quiet_connection(conn)


def test_a_closed_connection_fails_the_check(pg_db_url):
    conn = psycopg.connect(pg_db_url, autocommit=True)
    conn.close()
    with pytest.raises(psycopg.OperationalError):
        check_quiet_connection(conn)


def test_the_store_replaces_pooled_connections_the_server_dropped(pg_db_url):
    store = PgVectorStore(pg_db_url, pool_min=2, pool_max=2)
    try:
        store.migrate()
        emb = np.ones(384, dtype=np.float32) / np.sqrt(384)
        assert store.knn(emb, 5) == []
        dbname = psycopg.conninfo.conninfo_to_dict(pg_db_url)["dbname"]
        killed = _terminate(pg_db_url, "application_name = 'obsmem' AND datname = %s", (dbname,))
        assert killed  # the pool's idle connections were there, and are gone now
        for _ in range(4):  # every pooled connection is checked out at least once
            assert store.knn(emb, 5) == []
    finally:
        store.close()
