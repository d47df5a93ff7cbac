"""Background replay of the outbox into stores that are healthy again.

One daemon thread per store, so a store that is down (or hangs until its
timeout) never stalls another store's queue. Each thread drains its store in
seq order, handing consecutive entries of one kind to the applier in one call.

- The applier raised an *unavailable* error (an outage, decided by the
  caller's `is_unavailable`): back off exponentially with jitter and retry;
  attempts are not counted, since an outage says nothing about the entry.
- Any other error: the batch is retried one entry at a time to find the
  culprit; that entry's attempts go up, and after `max_attempts` it is moved
  to the dead-letter table so it cannot block the entries behind it.

Several processes may replay one outbox. Only the holder of a store's lease
(a row with an expiry in the outbox, renewed before every applier call)
drains that store, so replay stays in seq order across processes and costs
one UPDATE per batch; a crashed holder's lease expires after `lease_s` and
another process takes over. If an applier call outlives the lease, a second
process may apply the same entries too; appliers are idempotent (MERGE / ON
CONFLICT on stable ids), so that is harmless.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from obsmem.stores.outbox import Entry, Outbox

log = logging.getLogger("obsmem.stores.replay")

Applier = Callable[[str, list[dict[str, Any]]], None]

IDLE_POLL_S = 2.0  # other processes may queue entries without kicking us


@dataclass
class _StoreState:
    thread: threading.Thread | None = None
    wake: threading.Event | None = None
    failures: int = 0  # consecutive rounds that ended in backoff
    due: float = 0.0  # monotonic time of the next attempt while backing off
    last_attempt: float = 0.0
    last_drain_ms: int | None = None
    last_error: str | None = None
    unavailable: bool = False
    lease_at: float = 0.0  # monotonic time the lease was last taken or renewed


class Replayer:
    """Drains the outbox into the stores through idempotent appliers."""

    def __init__(
        self,
        outbox: Outbox,
        appliers: dict[str, Applier],
        *,
        is_unavailable: Callable[[BaseException], bool],
        batch: int = 200,
        max_attempts: int = 5,
        backoff_base_s: float = 0.2,
        backoff_max_s: float = 10.0,
        lease_s: float = 30.0,
    ):
        self.outbox = outbox
        self.appliers = dict(appliers)
        self.is_unavailable = is_unavailable
        self.batch = max(1, int(batch))
        self.max_attempts = max(1, int(max_attempts))
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.lease_s = lease_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stop = threading.Event()
        self._progress = threading.Condition()
        self._states = {store: _StoreState(wake=threading.Event()) for store in self.appliers}

    # ------------------------------------------------------------ public

    @property
    def last_drain_ms(self) -> dict[str, int | None]:
        """Per store: epoch ms when its queue was last seen empty after a replay."""
        return {s: st.last_drain_ms for s, st in self._states.items()}

    @property
    def last_error(self) -> dict[str, str | None]:
        return {s: st.last_error for s, st in self._states.items()}

    def status(self) -> dict[str, dict[str, Any]]:
        now = time.monotonic()
        return {
            s: {
                "running": bool(st.thread and st.thread.is_alive()),
                "last_drain_ms": st.last_drain_ms,
                "last_error": st.last_error,
                "unavailable": st.unavailable,
                "retry_in_s": round(max(0.0, st.due - now), 3) if st.failures else 0.0,
            }
            for s, st in self._states.items()
        }

    def start(self) -> Replayer:
        self._stop.clear()
        for store, st in self._states.items():
            if st.thread is not None and st.thread.is_alive():
                continue
            st.thread = threading.Thread(
                target=self._run, args=(store,), name=f"obsmem-replay-{store}", daemon=True
            )
            st.thread.start()
        return self

    def kick(self, store: str | None = None) -> None:
        """Wake now (a write was queued, or a store came back).

        During an outage a kick cuts the current wait short but keeps the
        backoff growing, and is never honoured sooner than `backoff_base_s`
        after the last attempt: a burst of queued writes cannot hammer a
        store that is down.
        """
        for s, st in self._states.items():
            if store is None or s == store:
                st.due = min(st.due, st.last_attempt + self.backoff_base_s)
                assert st.wake is not None
                st.wake.set()

    def drain(self, timeout: float = 10.0, store: str | None = None) -> bool:
        """Wait until the queues (every replayed store's, or `store`'s) are empty."""
        deadline = time.monotonic() + timeout
        stores = [s for s in self._states if store is None or s == store]
        self.kick(store)
        while True:
            if all(not self.outbox.has_pending(s) for s in stores):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with self._progress:
                self._progress.wait(min(left, 0.05))

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        for st in self._states.values():
            assert st.wake is not None
            st.wake.set()
        for st in self._states.values():
            if st.thread is not None:
                st.thread.join(timeout)

    # ------------------------------------------------------------ worker

    def _run(self, store: str) -> None:
        st = self._states[store]
        assert st.wake is not None
        holding = False
        while not self._stop.is_set():
            wait = IDLE_POLL_S
            try:
                now = time.monotonic()
                if st.failures and now < st.due:
                    wait = st.due - now
                elif self.outbox.has_pending(store):
                    holding = self.outbox.acquire_lease(store, self.owner, self.lease_s)
                    st.lease_at = time.monotonic()
                    wait = self._round(store, st) if holding else min(IDLE_POLL_S, self.lease_s)
                elif holding:
                    self.outbox.release_lease(store, self.owner)
                    holding = False
            except Exception as e:  # the replayer must outlive anything (a full disk, a bug)
                log.exception("replay of %s failed unexpectedly", store)
                st.last_error = f"{type(e).__name__}: {e}"
                wait = self._backoff(st)
            with self._progress:
                self._progress.notify_all()
            if wait > 0:
                st.wake.wait(wait)
                st.wake.clear()
        if holding:
            try:
                self.outbox.release_lease(store, self.owner)
            except Exception:
                log.debug("could not release %s lease", store, exc_info=True)

    def _round(self, store: str, st: _StoreState) -> float:
        """Apply one batch; returns how long to wait before the next round."""
        entries = self.outbox.peek(store, self.batch)
        for group in _runs_of_same_kind(entries):
            if time.monotonic() - st.lease_at > self.lease_s / 3:
                st.lease_at = time.monotonic()
                if not self.outbox.acquire_lease(store, self.owner, self.lease_s):
                    return min(IDLE_POLL_S, self.lease_s)  # another process took over
            if not self._apply(store, st, group):
                return self._backoff(st)
            if self._stop.is_set():
                return 0.0
        st.failures = 0
        st.unavailable = False
        if not self.outbox.has_pending(store):
            st.last_drain_ms = int(time.time() * 1000)
            st.last_error = None
        return 0.0

    def _apply(self, store: str, st: _StoreState, group: list[Entry]) -> bool:
        """True if the queue may move past `group` (applied or dead-lettered)."""
        st.last_attempt = time.monotonic()
        try:
            self.appliers[store](group[0].kind, [e.payload for e in group])
        except Exception as e:
            err = f"{type(e).__name__}: {e}"
            st.last_error = err
            if self._unavailable(e):
                st.unavailable = True
                log.info("%s unavailable, %d entries wait: %s", store, len(group), err)
                return False
            if len(group) > 1:  # find the poison entry; the rest still apply in order
                return all(self._apply(store, st, [one]) for one in group)
            entry = group[0]
            if entry.attempts + 1 >= self.max_attempts:
                log.error(
                    "dead-lettering %s/%s entry seq=%d after %d attempts: %s",
                    store,
                    entry.kind,
                    entry.seq,
                    entry.attempts + 1,
                    err,
                )
                self.outbox.fail([entry.seq], err)  # the dead letter shows every attempt
                self.outbox.dead_letter([entry.seq], err)
                return True
            self.outbox.fail([entry.seq], err)
            return False
        self.outbox.ack([e.seq for e in group])
        st.unavailable = False
        return True

    def _unavailable(self, e: BaseException) -> bool:
        try:
            return bool(self.is_unavailable(e))
        except Exception:
            log.exception("is_unavailable raised; treating the error as not an outage")
            return False

    def _backoff(self, st: _StoreState) -> float:
        delay = min(self.backoff_max_s, self.backoff_base_s * (2 ** min(st.failures, 30)))
        delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not crypto
        st.failures += 1
        st.due = time.monotonic() + delay
        return float(delay)


def _runs_of_same_kind(entries: list[Entry]) -> list[list[Entry]]:
    runs: list[list[Entry]] = []
    for e in entries:
        if runs and runs[-1][0].kind == e.kind:
            runs[-1].append(e)
        else:
            runs.append([e])
    return runs
