"""redis-py connections (under the FalkorDB client) that stop reading at the read deadline.

Every reply redis-py reads, of a query, a pipeline, a health check or the
handshake of a new connection, goes through `Connection.read_response`, which
takes a per-call socket timeout. Inside a read with a deadline
(obsmem.stores.deadline) this class passes the time left; when it runs out,
redis-py disconnects that connection (a late reply must not be read as the
answer to the next command) and raises its TimeoutError, which the graph store
turns into `ReadDeadlineExceeded`. Writes keep the client's longer socket
timeout. Connects are not covered: they are bounded by the socket connect
timeout, and a stopped server's kernel still accepts them until its backlog
fills.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import redis
from redis.connection import parse_url

from obsmem.stores import deadline


class DeadlineReads:
    """Mixin for a redis-py connection class: replies are awaited until the read deadline."""

    def read_response(self, *args: Any, **kwargs: Any) -> Any:
        left = deadline.remaining()
        if left is not None and "timeout" not in kwargs:
            kwargs["timeout"] = left
        return super().read_response(*args, **kwargs)  # type: ignore[misc]


@functools.cache
def _with_deadline(base: type[redis.connection.AbstractConnection]) -> type:
    return type(f"Deadline{base.__name__}", (DeadlineReads, base), {})


def connection_class(url: str) -> type:
    """The connection class redis-py would pick for `url` (TCP, TLS, unix socket), deadline-aware.

    Raises ValueError for a URL redis-py cannot parse.
    """
    redis_url = re.sub(r"^falkor(s?)://", r"redis\1://", url)
    options: dict[str, Any] = parse_url(redis_url)  # type: ignore[no-untyped-call]
    base = options.get("connection_class", redis.Connection)
    return _with_deadline(base)
