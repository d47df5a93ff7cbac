"""A circuit breaker per store, so an outage costs one timeout, not one per call.

The first call that meets an outage opens the breaker; while it is open every
call fails at once with the store's own "unavailable" error (writes queue, reads
degrade), and a background probe pings the store until it answers, then closes
the breaker and tells the owner (which kicks the outbox replayer).

Reads get their own, short deadline (`read_timeout`): a hanging server (SIGSTOP,
a dropped network) never answers, and a driver-level timeout is either long (the
write timeout) or, for a Postgres statement timeout, enforced by the very server
that hangs. A store whose driver can stop waiting by itself says so with
`enforces_read_deadline` (Postgres, FalkorDB): its reads run inline in the
caller's thread under `deadline.read_deadline`, with no thread hand-off. For the
others (Neo4j) the deadline is enforced above the driver: the read runs on a
worker thread and the caller stops waiting. A read that misses its deadline opens
the breaker like any outage, so a hang costs one short timeout, not one per page.

Writes (every method not named a read: writes, schema, bulk walks) of a store that
says `enforces_write_deadline` (Postgres) run inline under
`deadline.write_deadline(write_timeout)`: each round trip the server does not
answer within the write timeout ends there, and the write is queued like any
outage. The others keep their driver's own timeout (FalkorDB's socket timeout,
Neo4j's).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import inspect
import logging
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterator
from typing import Any, NoReturn, TypeVar, cast

from obsmem.stores import deadline
from obsmem.stores.read_workers import ReadWorkers

log = logging.getLogger("obsmem.stores.breaker")

PROBE_INTERVAL_S = 0.5
READ_WORKERS = 64  # worker-thread reads in flight per store; stuck ones free up when it answers


def outage_kind(exc: BaseException) -> str:
    """ "hanging" for a timeout (the server took the connection but does not answer), else "down"."""
    if isinstance(exc, TimeoutError | cf.TimeoutError):
        return "hanging"
    text = f"{type(exc).__name__} {exc}".lower()
    # EAGAIN: a stopped server's listen queue is full; it exists but does not accept.
    hung = ("timeout", "timed out", "temporarily unavailable")
    return "hanging" if any(h in text for h in hung) else "down"


T = TypeVar("T")


class Breaker:
    def __init__(
        self,
        name: str,
        target: Callable[[], Any],
        *,
        is_outage: Callable[[BaseException], bool],
        make_error: Callable[[str], BaseException],
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self._target = target
        self._is_outage = is_outage
        self._make_error = make_error
        self._on_close = on_close
        self._lock = threading.Lock()
        self._open_since: float | None = None
        self._opened_at: float | None = None  # wall clock, for "since when" in health
        self._kind: str | None = None
        self._last_error: str | None = None
        self.last_error_at: float | None = None  # epoch seconds of the latest outage error
        self._prober: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def is_open(self) -> bool:
        return self._open_since is not None

    @property
    def last_error(self) -> str | None:
        return self._last_error

    @property
    def kind(self) -> str | None:
        """Why it is open: "down" (refused, reset) or "hanging" (timed out); None when closed."""
        return self._kind if self.is_open else None

    @property
    def opened_at(self) -> float | None:
        """Epoch seconds at which the current outage began (None when closed)."""
        return self._opened_at if self.is_open else None

    def state(self) -> dict[str, Any]:
        return {
            "open": self.is_open,
            "open_for_s": round(time.monotonic() - self._open_since, 3)
            if self._open_since
            else None,
            "last_error": self._last_error,
            "kind": self.kind,
            "since": self.opened_at,
        }

    def is_outage(self, exc: BaseException) -> bool:
        return self._is_outage(exc)

    def check(self) -> None:
        if self._open_since is not None:
            raise self._make_error(f"{self.name} is unavailable ({self._last_error})")

    def trip(self, exc: BaseException) -> None:
        with self._lock:
            self._last_error = _describe(exc)
            self.last_error_at = time.time()
            if self._open_since is None:
                self._open_since = time.monotonic()
                self._opened_at = time.time()
                self._kind = outage_kind(exc)
                log.warning(
                    "%s unavailable, failing fast until it answers: %s", self.name, self._last_error
                )
            if (self._prober is None or not self._prober.is_alive()) and not self._stopped.is_set():
                self._prober = threading.Thread(
                    target=self._probe, name=f"obsmem-probe-{self.name}", daemon=True
                )
                self._prober.start()

    def _probe(self) -> None:
        while not self._stopped.wait(PROBE_INTERVAL_S):
            try:
                target = self._target()
                getattr(
                    target, "probe", target.ping
                )()  # a store's own fresh-connection check, if any
            except Exception as exc:
                if not self._is_outage(exc):
                    log.exception("%s probe failed unexpectedly", self.name)
                self._last_error = _describe(exc)
                if outage_kind(exc) == "down":
                    self._kind = "down"  # a hang that became a refusal (killed meanwhile)
                continue
            with self._lock:
                self._open_since = None
                self._opened_at = None
                self._kind = None
            log.warning("%s answers again", self.name)
            if self._on_close is not None:
                try:
                    self._on_close()
                except Exception:
                    log.exception("%s on_close hook failed", self.name)
            return

    def stop(self) -> None:
        self._stopped.set()


def guarded(
    breaker: Breaker,
    target: Callable[[], T],
    *,
    reads: Collection[str] = (),
    read_timeout: Callable[[], float | None] = lambda: None,
    write_timeout: Callable[[], float | None] = lambda: None,
) -> T:
    """`target()` seen through `breaker`, typed as the store itself: readers and the type
    checker see a GraphStore / VectorStore, not a proxy of `Any`."""
    return cast(
        T,
        Guarded(
            breaker, target, reads=reads, read_timeout=read_timeout, write_timeout=write_timeout
        ),
    )


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


class Guarded:
    """A store seen through its breaker: same methods, but fast failure while open.

    Methods named in `reads` run under `read_timeout()` seconds: inline, with the
    deadline kept by the driver, when the store `enforces_read_deadline`; else a
    worker thread waits for the driver and the caller stops waiting at the
    deadline. The rest (writes, schema, bulk walks) run inline: under
    `write_timeout()` seconds per round trip when the store
    `enforces_write_deadline`, else under the driver's own timeout.
    """

    def __init__(
        self,
        breaker: Breaker,
        target: Callable[[], Any],
        *,
        reads: Collection[str] = (),
        read_timeout: Callable[[], float | None] = lambda: None,
        write_timeout: Callable[[], float | None] = lambda: None,
    ) -> None:
        self._breaker = breaker
        self._target = target
        self._reads = frozenset(reads)
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._slots = threading.BoundedSemaphore(READ_WORKERS)
        self._workers = ReadWorkers(f"obsmem-read-{breaker.name}")

    def _bounded(
        self,
        name: str,
        attr: Callable[..., Any],
        inline: bool,
        inline_writes: bool,
        args: Any,
        kwargs: Any,
    ) -> Any:
        if name not in self._reads:
            per_trip = self._write_timeout() if inline_writes else None
            if not per_trip:
                return attr(*args, **kwargs)
            with deadline.write_deadline(per_trip):  # its error already says which round trip
                got = attr(*args, **kwargs)
            # A generator method (a bulk walk: iter_ids) runs later, on each next().
            return self._walk(got, per_trip) if inspect.isgenerator(got) else got
        timeout = self._read_timeout()
        if not timeout:
            return attr(*args, **kwargs)
        if inline:  # the store's driver keeps the deadline: no thread hand-off
            try:
                with deadline.read_deadline(timeout):
                    return attr(*args, **kwargs)
            except deadline.ReadDeadlineExceeded as exc:
                raise self._missed(name, timeout) from exc
        # Daemon worker threads, not a ThreadPoolExecutor: an executor's workers are joined
        # at interpreter exit, so one read stuck on a SIGSTOPped server would hang the exit.
        if not self._slots.acquire(blocking=False):
            raise TimeoutError(f"{self._breaker.name}: {READ_WORKERS} reads already waiting on it")

        def run() -> Any:
            try:
                return attr(*args, **kwargs)
            finally:
                self._slots.release()

        future = self._workers.submit(run)
        try:
            return future.result(timeout=timeout)
        except cf.TimeoutError:
            raise self._missed(name, timeout) from None

    def _walk(self, steps: Generator[Any, Any, Any], per_trip: float) -> Iterator[Any]:
        """A bulk walk under the write deadline step by step: each page's round trips are
        bounded, however long the walk; an outage opens the breaker as a call's does."""
        with contextlib.closing(steps):
            while True:
                try:
                    with deadline.write_deadline(per_trip):
                        item = next(steps)
                except StopIteration:
                    return
                except Exception as exc:
                    self._reraise(exc)
                yield item

    def _reraise(self, exc: Exception) -> NoReturn:
        """Raise `exc` as the caller gets it: an outage opens the breaker, and a timeout
        becomes the store's own "unavailable" error (so callers catch one family)."""
        if self._breaker.is_outage(exc):
            self._breaker.trip(exc)
            if isinstance(exc, TimeoutError):
                raise self._breaker._make_error(str(exc)) from exc
        raise exc

    def _missed(self, name: str, timeout: float) -> TimeoutError:
        return TimeoutError(
            f"{self._breaker.name}: no answer to {name} within {timeout:g} s (read timeout)"
        )

    def __getattr__(self, name: str) -> Any:
        target = self._target()
        attr = getattr(target, name)
        if not callable(attr):
            return attr
        breaker = self._breaker
        inline = bool(getattr(target, "enforces_read_deadline", False))
        inline_writes = bool(getattr(target, "enforces_write_deadline", False))

        def call(*args: Any, **kwargs: Any) -> Any:
            breaker.check()
            try:
                return self._bounded(name, attr, inline, inline_writes, args, kwargs)
            except Exception as exc:
                self._reraise(exc)

        call.__name__ = name
        return call
