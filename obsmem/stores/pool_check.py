"""The Postgres pool's check on checkout, without a round trip while the connection is quiet.

`ConnectionPool.check_connection` runs an empty statement on every checkout: a
round trip, a wake-up of the backend and a GIL hand-off, on every recall (twice
when the keyword leg and the kNN each took a connection). A connection idle in the pool
has nothing to read on its socket, while one the server dropped (a restart,
`pg_terminate_backend`, a killed backend) has its FATAL message or EOF waiting.
So the socket is polled first, without blocking, and only a connection with
something to read (or one psycopg already knows is closed) gets the real check,
which fails and makes the pool replace it, as before.
"""

from __future__ import annotations

import select

import psycopg
from psycopg_pool import ConnectionPool


def has_pending_input(fd: int) -> bool:
    """True when the socket has bytes, EOF or an error waiting (never blocks)."""
    poller = select.poll()
    poller.register(fd, select.POLLIN | select.POLLPRI)
    return bool(poller.poll(0))


def check_quiet_connection(conn: psycopg.Connection) -> None:
    """Raise when `conn` is unusable; a round trip only when its socket is not quiet."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("the connection is closed")
    try:
        quiet = not has_pending_input(conn.fileno())
    except (OSError, ValueError, psycopg.Error):
        quiet = False
    if not quiet or conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        ConnectionPool.check_connection(conn)
