"""A psycopg connection that stops waiting at the read deadline (obsmem.stores.deadline).

Every round trip of a psycopg connection goes through `Connection.wait`, which
takes a timeout. Inside a read with a deadline this class passes the time left;
when it runs out, the server has not answered (a hung or stopped server also
never enforces its own `statement_timeout`), so the connection is closed (a
reply may still arrive and its protocol state is unknown; the pool replaces a
closed connection on return) and `ReadDeadlineExceeded` is raised. Outside a
read with a deadline (writes, schema, benches) it waits as psycopg does.
"""

from __future__ import annotations

from typing import Any, TypeVar

import psycopg
from psycopg.abc import PQGen

from obsmem.stores import deadline

RV = TypeVar("RV")

_WAIT_INTERVAL = 0.1  # psycopg's own default (psycopg.connection._WAIT_INTERVAL)


class DeadlineConnection(psycopg.Connection[Any]):
    """`psycopg.Connection` whose waits end at the current read deadline, if any."""

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
            raise deadline.ReadDeadlineExceeded(
                "postgres: no answer within the read deadline (connection closed)"
            ) from None
