"""Deadlines for driver waits, set by the store guard and kept by the driver's own waits.

The guard (`obsmem.stores.breaker.Guarded`) used to run every interactive read on
a worker thread and stop waiting at the read timeout, so a hung server (SIGSTOP, a
dropped network) could not hold a request forever; each read then cost a thread
hand-off. A store whose driver can stop waiting by itself (psycopg's `wait`
timeout, redis-py's per-read socket timeout) says so with `enforces_read_deadline`, and its
reads run inline in the caller's thread under `read_deadline(seconds)`: every
driver wait inside asks `remaining()`, and on expiry the store closes the
connection (its state is unknown) and raises `exceeded(...)`.

Writes of a store that says `enforces_write_deadline` (Postgres) run under
`write_deadline(seconds)`, the same mechanism with one difference: the budget is
per driver wait (one round trip), not for the whole block. A bulk write (many
chunks, a COPY, a reconcile walk) may take minutes and is not cut for being long;
a round trip the server does not answer within the write timeout is a hang. (The
server's own `statement_timeout` is the same number, but a stopped server never
enforces it.)

A context variable: work a read hands to another thread runs without the deadline
unless it runs in a copy of the read's context (`contextvars.copy_context().run`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass

# Driver waits never get less than this: a zero timeout means "don't wait at all" to
# some drivers and "no timeout" to others.
MIN_WAIT_S = 0.001


@dataclass(frozen=True)
class _Bound:
    at: float | None  # monotonic instant every wait ends by (reads)
    each: float | None  # seconds any one wait may take (writes)
    kind: str  # "read" or "write": the innermost block's, for the error


_bound: ContextVar[_Bound | None] = ContextVar("obsmem_deadline", default=None)


class DeadlineExceeded(TimeoutError):
    """A driver stopped waiting at a deadline (and closed that connection): an outage."""


class ReadDeadlineExceeded(DeadlineExceeded):
    """A driver stopped waiting at the read deadline (and closed that connection)."""


class WriteDeadlineExceeded(DeadlineExceeded):
    """One round trip of a write got no answer within the write timeout (connection closed)."""


@contextlib.contextmanager
def _bounded(bound: _Bound | None) -> Iterator[None]:
    token = _bound.set(bound)
    try:
        yield
    finally:
        _bound.reset(token)


def read_deadline(seconds: float) -> contextlib.AbstractContextManager[None]:
    """Driver waits inside this block end `seconds` from now (or earlier, if nested)."""
    at = time.monotonic() + seconds
    outer = _bound.get()
    if outer is None:
        return _bounded(_Bound(at, None, "read"))
    return _bounded(_Bound(at if outer.at is None else min(at, outer.at), outer.each, "read"))


def write_deadline(seconds: float) -> contextlib.AbstractContextManager[None]:
    """Each driver wait inside this block (one round trip) ends `seconds` after it starts."""
    outer = _bound.get()
    if outer is None:
        return _bounded(_Bound(None, seconds, "write"))
    each = seconds if outer.each is None else min(seconds, outer.each)
    return _bounded(_Bound(outer.at, each, "write"))


def lifted() -> contextlib.AbstractContextManager[None]:
    """No deadline inside this block: for a step known to be long (a migration's own SQL)."""
    return _bounded(None)


def remaining() -> float | None:
    """Seconds the next driver wait may take (at least MIN_WAIT_S); None without a deadline."""
    bound = _bound.get()
    if bound is None:
        return None
    if bound.at is None:
        left = bound.each
    else:
        left = bound.at - time.monotonic()
        if bound.each is not None:
            left = min(left, bound.each)
    return None if left is None else max(left, MIN_WAIT_S)


def active() -> bool:
    """True inside a read or write with a deadline."""
    return _bound.get() is not None


def exceeded(what: str, then: str = "") -> DeadlineExceeded:
    """The error for a driver wait that ran out under the deadline in force: "<what> within
    the read deadline (<then>)", or "... within the write timeout (N s per round trip) ..."."""
    bound = _bound.get()
    tail = f" ({then})" if then else ""
    if bound is not None and bound.kind == "write":
        per = f" ({bound.each:g} s per round trip)" if bound.each is not None else ""
        return WriteDeadlineExceeded(f"{what} within the write timeout{per}{tail}")
    return ReadDeadlineExceeded(f"{what} within the read deadline{tail}")
