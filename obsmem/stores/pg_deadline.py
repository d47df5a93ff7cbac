"""A psycopg connection that stops waiting at the deadline in force (obsmem.stores.deadline).

Every round trip of a psycopg connection goes through `Connection.wait`, which
takes a timeout. Inside a read with a deadline this class passes the time left;
inside a write, the write timeout (per round trip). When it runs out, the server
has not answered (a hung or stopped server also never enforces its own
`statement_timeout`), so the connection is closed (a reply may still arrive and
its protocol state is unknown; the pool replaces a closed connection on return)
and `deadline.exceeded` is raised: a `TimeoutError`, which the store guard counts
as an outage (the breaker opens, a write is queued in the outbox).

A write cut this way may still be applied: its statement was already in the
server's socket buffer, and a stopped server runs it when it is resumed (for
an autocommit statement or a sent COMMIT, it commits; a transaction whose COMMIT
was not sent is rolled back). The queued copy then applies a second time on
replay, which the writes' event ids make harmless (see `PgVectorStore.upsert`,
`record_outcomes`, `delete`). The late apply comes first in practice: a resumed
server runs the buffered statement at once, a live but slow one ends it by its
`statement_timeout` (the same number), while the replay waits for the breaker's
probe (every 0.5 s) to answer. Outside any deadline (benches, the CLI's direct
store calls) it waits as psycopg does.
"""

from __future__ import annotations

from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen

from obsmem.stores import deadline

RV = TypeVar("RV")

_WAIT_INTERVAL = 0.1  # psycopg's own default (psycopg.connection._WAIT_INTERVAL)


class DeadlineConnection(psycopg.Connection[Any]):
    """`psycopg.Connection` whose waits end at the current read or write deadline, if any."""

    def wait(
        self, gen: PQGen[RV], interval: float = _WAIT_INTERVAL, timeout: float | None = None
    ) -> RV:
        left = deadline.remaining()
        if left is None or (timeout is not None and timeout < left):
            return super().wait(gen, interval, timeout)  # no deadline, or the caller's is sooner
        try:
            return super().wait(gen, interval, left)
        except psycopg.errors._WaitTimeout:
            self.close()
            raise deadline.exceeded("postgres: no answer", "connection closed") from None
