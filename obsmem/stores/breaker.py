"""A circuit breaker per store, so an outage costs one timeout, not one per call.

The first call that meets an outage opens the breaker; while it is open every
call fails at once with the store's own "unavailable" error (writes queue, reads
degrade), and a background probe pings the store until it answers, then closes
the breaker and tells the owner (which kicks the outbox replayer).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar, cast

log = logging.getLogger("obsmem.stores.breaker")

PROBE_INTERVAL_S = 0.5

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
        self._last_error: str | None = None
        self._prober: threading.Thread | None = None
        self._stopped = threading.Event()

    @property
    def is_open(self) -> bool:
        return self._open_since is not None

    @property
    def last_error(self) -> str | None:
        return self._last_error

    def state(self) -> dict[str, Any]:
        return {
            "open": self.is_open,
            "open_for_s": round(time.monotonic() - self._open_since, 3) if self._open_since else None,
            "last_error": self._last_error,
        }

    def is_outage(self, exc: BaseException) -> bool:
        return self._is_outage(exc)

    def check(self) -> None:
        if self._open_since is not None:
            raise self._make_error(f"{self.name} is unavailable ({self._last_error})")

    def trip(self, exc: BaseException) -> None:
        with self._lock:
            self._last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            if self._open_since is None:
                self._open_since = time.monotonic()
                log.warning("%s unavailable, failing fast until it answers: %s", self.name, self._last_error)
            if (self._prober is None or not self._prober.is_alive()) and not self._stopped.is_set():
                self._prober = threading.Thread(target=self._probe, name=f"obsmem-probe-{self.name}", daemon=True)
                self._prober.start()

    def _probe(self) -> None:
        while not self._stopped.wait(PROBE_INTERVAL_S):
            try:
                self._target().ping()
            except Exception as exc:
                if not self._is_outage(exc):
                    log.exception("%s probe failed unexpectedly", self.name)
                self._last_error = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
                continue
            with self._lock:
                self._open_since = None
            log.warning("%s answers again", self.name)
            if self._on_close is not None:
                try:
                    self._on_close()
                except Exception:
                    log.exception("%s on_close hook failed", self.name)
            return

    def stop(self) -> None:
        self._stopped.set()


def guarded(breaker: Breaker, target: Callable[[], T]) -> T:
    """`target()` seen through `breaker`, typed as the store itself: readers and the type
    checker see a GraphStore / VectorStore, not a proxy of `Any`."""
    return cast(T, Guarded(breaker, target))


class Guarded:
    """A store seen through its breaker: same methods, but fast failure while open.

    Build it with `guarded()`, which keeps the store's type.
    """

    def __init__(self, breaker: Breaker, target: Callable[[], Any]) -> None:
        self._breaker = breaker
        self._target = target

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._target(), name)
        if not callable(attr):
            return attr
        breaker = self._breaker

        def call(*args: Any, **kwargs: Any) -> Any:
            breaker.check()
            try:
                return attr(*args, **kwargs)
            except Exception as exc:
                if breaker.is_outage(exc):
                    breaker.trip(exc)
                raise

        call.__name__ = name
        return call
