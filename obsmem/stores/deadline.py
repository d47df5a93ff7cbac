"""A read's deadline, set by the store guard and kept by the driver's own waits.

The guard (`obsmem.stores.breaker.Guarded`) used to run every interactive read on
a worker thread and stop waiting at the read timeout, so a hung server (SIGSTOP, a
dropped network) could not hold a request forever; each read then cost a thread
hand-off. A store whose driver can stop waiting by itself (psycopg's `wait`
timeout, redis-py's per-read socket timeout) says so with `enforces_read_deadline`, and its
reads run inline in the caller's thread under `read_deadline(seconds)`: every
driver wait inside asks `remaining()`, and on expiry the store closes the
connection (its state is unknown) and raises `ReadDeadlineExceeded`.

A context variable: work a read hands to another thread runs without the deadline
unless it runs in a copy of the read's context (`contextvars.copy_context().run`).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar

# Driver waits never get less than this: a zero timeout means "don't wait at all" to
# some drivers and "no timeout" to others.
MIN_WAIT_S = 0.001

_deadline: ContextVar[float | None] = ContextVar("obsmem_read_deadline", default=None)


class ReadDeadlineExceeded(TimeoutError):
    """A driver stopped waiting at the read deadline (and closed that connection)."""


@contextlib.contextmanager
def read_deadline(seconds: float) -> Iterator[None]:
    """Driver waits inside this block end `seconds` from now (or earlier, if nested)."""
    at = time.monotonic() + seconds
    outer = _deadline.get()
    token = _deadline.set(at if outer is None else min(at, outer))
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the current read's deadline (at least MIN_WAIT_S); None without one."""
    at = _deadline.get()
    if at is None:
        return None
    return max(at - time.monotonic(), MIN_WAIT_S)


def active() -> bool:
    """True inside a read with a deadline."""
    return _deadline.get() is not None
