"""Durable queue of writes a store could not take yet, so an acknowledged write is never lost.

One SQLite file in the data dir, WAL mode with `synchronous=FULL`: `append`
returns only after the entry is fsync'd. Writers take `BEGIN IMMEDIATE` and
hold it for one short statement, with a busy timeout, so many threads (one
shared connection behind a lock) and several processes (one connection each)
can use one file at once.

Order: `seq` is an AUTOINCREMENT key, so it only grows (never reused, even
after deletes) and gives the per-store replay order.

Entries that can never apply (bad data, a bug) go to `dead_letter`, where an
operator can read them and `requeue_dead` them; an outage never sends an
entry there (that is the replayer's business, see replay.py).

Cross-process replay uses a per-store lease (`store_lease` table: owner and
expiry). Only the lease holder drains a store, which keeps replay in seq order
across processes; a crashed holder's lease simply expires and is retaken.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from obsmem.errors import OutboxError as OutboxError  # re-exported: old import path
from obsmem.model import now_ms as _now_ms
from obsmem.private_files import touch_private

STORES = ("graph", "vectors")
BUSY_TIMEOUT_S = 30.0
MAX_MB_ENV = "OBSMEM_OUTBOX_MAX_MB"
DEFAULT_MAX_MB = 1024  # a long outage queues fixes, not an unbounded file that fills the disk
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    store      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    attempts   INTEGER NOT NULL DEFAULT 0,
    created_ms INTEGER NOT NULL,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS outbox_store_seq ON outbox (store, seq);
CREATE TABLE IF NOT EXISTS dead_letter (
    seq        INTEGER PRIMARY KEY,
    store      TEXT    NOT NULL,
    kind       TEXT    NOT NULL,
    payload    TEXT    NOT NULL,
    attempts   INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    last_error TEXT,
    dead_ms    INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS store_lease (
    store    TEXT PRIMARY KEY,
    owner    TEXT    NOT NULL,
    until_ms INTEGER NOT NULL
);
"""

_COLS = "seq, store, kind, payload, attempts, created_ms, last_error"


@dataclass(frozen=True, slots=True)
class Entry:
    seq: int
    store: str
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_ms: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class DeadLetter(Entry):
    """An entry that ran out of attempts, and when it did."""

    dead_ms: int


def default_max_bytes() -> int | None:
    """The cap from OBSMEM_OUTBOX_MAX_MB (default 1024 MB; 0 means no cap)."""
    raw = os.environ.get(MAX_MB_ENV, "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError as e:
        raise OutboxError(f"{MAX_MB_ENV}={raw!r} is not a number of megabytes") from e
    return int(mb * 1024 * 1024) if mb > 0 else None


def _recovery_hint(path: Path) -> str:
    return (
        f"stop every obsmem process using it, move it aside "
        f"(mv {path} {path}.corrupt; also move any {path.name}-wal and -shm next to it), "
        f"salvage what you can with `sqlite3 {path}.corrupt .recover | sqlite3 {path}`, "
        f"then restart obsmem (it creates a fresh outbox if none exists)"
    )


class Outbox:
    """Durable pending writes per store. Thread-safe; several processes may share one file."""

    def __init__(self, path: Path | str, *, max_bytes: int | None = None):
        self.path = Path(path)
        self.max_bytes = max_bytes if max_bytes is not None else default_max_bytes()
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._closed = False
        self._open()

    # ------------------------------------------------------------ plumbing

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise OutboxError(f"cannot create outbox directory {self.path.parent}: {e}") from e
        with suppress(OSError):  # a read-only disk: SQLite's own error below names it
            # 0600 before SQLite opens it: its -wal and -shm files take the main file's mode.
            touch_private(self.path)
        try:
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as e:
            raise OutboxError(f"cannot open outbox {self.path}: {e}") from e
        try:
            self._check_integrity(conn)
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise OutboxError(f"outbox {self.path}: could not enable WAL (got {mode!r})")
            conn.execute("PRAGMA synchronous=FULL")
            if self.max_bytes is not None:
                page = conn.execute("PRAGMA page_size").fetchone()[0]
                conn.execute(f"PRAGMA max_page_count={max(1, int(self.max_bytes) // page)}")
            conn.execute("BEGIN IMMEDIATE")
            try:
                for stmt in filter(None, (s.strip() for s in _SCHEMA.split(";"))):
                    conn.execute(stmt)
                conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        except OutboxError:
            conn.close()
            raise
        except sqlite3.DatabaseError as e:
            conn.close()
            raise self._error("open", e) from e
        self._conn = conn

    def _check_integrity(self, conn: sqlite3.Connection) -> None:
        """Refuse a damaged file loudly: resetting it would drop acknowledged writes."""
        try:
            rows = conn.execute("PRAGMA quick_check").fetchall()
        except sqlite3.DatabaseError as e:
            raise self._error("open", e) from e
        if rows != [("ok",)]:
            detail = "; ".join(str(r[0]) for r in rows[:5])
            raise OutboxError(
                f"outbox {self.path} failed its integrity check ({detail}). It may hold writes "
                "not yet in the stores; do not delete it. To recover: " + _recovery_hint(self.path)
            )

    def _error(self, action: str, e: sqlite3.Error) -> OutboxError:
        """Name the cause an operator can act on, with the path."""
        msg = str(e)
        code = getattr(e, "sqlite_errorname", "") or ""
        if code.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")):
            return OutboxError(
                f"outbox {self.path} is corrupt or not an obsmem outbox ({msg}). It may hold "
                "writes not yet in the stores; do not delete it. To recover: "
                + _recovery_hint(self.path)
            )
        if code.startswith("SQLITE_READONLY") or not _writable(self.path):
            why = f"the data dir {self.path.parent} is read-only ({msg})"
        elif code == "SQLITE_FULL" and self._at_cap():
            why = (
                f"the outbox reached its size cap of {self.max_bytes} bytes (capped by max_bytes / "
                f"{MAX_MB_ENV}): the stores have been unreachable long enough to queue that much. "
                f"Bring them back (`obsmem health`) so it drains, or raise {MAX_MB_ENV} ({msg})"
            )
        elif code == "SQLITE_FULL":
            why = f"the disk is full ({msg})"
            if self.max_bytes is not None:
                why += f"; the outbox is capped at {self.max_bytes} bytes (max_bytes)"
        elif code.startswith("SQLITE_IOERR"):
            why = f"I/O error, the disk may be full or failing ({msg})"
        elif code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
            why = f"locked by another process for over {BUSY_TIMEOUT_S:.0f} s ({msg})"
        elif code.startswith("SQLITE_CANTOPEN"):
            why = f"cannot open the file or its -wal/-shm companions ({msg})"
        else:
            why = f"{msg} ({code or type(e).__name__})"
        return OutboxError(f"outbox {self.path}: cannot {action}: {why}")

    def _at_cap(self) -> bool:
        """The file is within a few pages of max_bytes (so SQLITE_FULL is the cap, not the disk)."""
        if self.max_bytes is None:
            return False
        size = 0
        for p in (
            self.path,
            self.path.with_name(self.path.name + "-wal"),
        ):  # pages may sit in the WAL
            with suppress(OSError):
                size += p.stat().st_size
        return size + 64 * 1024 >= self.max_bytes

    @contextmanager
    def _db(self, action: str, *, write: bool) -> Iterator[sqlite3.Connection]:
        """One short transaction; IMMEDIATE for writes so lock upgrades never deadlock."""
        with self._lock:
            if self._closed:
                raise OutboxError(f"outbox {self.path} is closed")
            if self._pid != os.getpid():  # forked: never share a SQLite handle across fork
                self._pid = os.getpid()
                self._conn = None
                self._open()
            conn = self._conn
            assert conn is not None
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    yield conn
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise self._error(action, e) from e

    # ------------------------------------------------------------ queueing

    def append(self, store: str, kind: str, payload: dict[str, Any]) -> int:
        """Queue one write; returns its seq once it is on disk."""
        return self.append_many(store, kind, [payload])[0]

    def append_many(self, store: str, kind: str, payloads: Iterable[dict[str, Any]]) -> list[int]:
        """Queue several writes in one transaction (one fsync); all or none."""
        if not isinstance(store, str) or not store:
            raise OutboxError(f"outbox {self.path}: store must be a non-empty string")
        if not isinstance(kind, str) or not kind:
            raise OutboxError(f"outbox {self.path}: kind must be a non-empty string")
        texts = [_dumps(self.path, p) for p in payloads]
        if not texts:
            return []
        now = _now_ms()
        with self._db(f"queue {len(texts)} {store}/{kind} write(s)", write=True) as conn:
            seqs = []
            for text in texts:
                cur = conn.execute(
                    "INSERT INTO outbox (store, kind, payload, created_ms) VALUES (?, ?, ?, ?)",
                    (store, kind, text, now),
                )
                seqs.append(int(cur.lastrowid or 0))
        return seqs

    def peek(self, store: str, limit: int = 200) -> list[Entry]:
        with self._db("read", write=False) as conn:
            rows = conn.execute(
                f"SELECT {_COLS} FROM outbox WHERE store = ? ORDER BY seq LIMIT ?",
                (store, int(limit)),
            ).fetchall()
        return [Entry(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6]) for r in rows]

    def ack(self, seqs: Sequence[int]) -> None:
        """Applied: forget them. Unknown seqs are ignored (another replayer got there first)."""
        if not seqs:
            return
        with self._db("ack", write=True) as conn:
            conn.executemany("DELETE FROM outbox WHERE seq = ?", [(int(s),) for s in seqs])

    def fail(self, seqs: Sequence[int], error: str) -> None:
        if not seqs:
            return
        with self._db("record failure", write=True) as conn:
            conn.executemany(
                "UPDATE outbox SET attempts = attempts + 1, last_error = ? WHERE seq = ?",
                [(str(error)[:4000], int(s)) for s in seqs],
            )

    def dead_letter(self, seqs: Sequence[int], error: str) -> None:
        """Park entries that can never apply, out of the queue but kept for operators."""
        if not seqs:
            return
        now = _now_ms()
        with self._db("dead-letter", write=True) as conn:
            for s in seqs:
                conn.execute(
                    f"INSERT OR REPLACE INTO dead_letter ({_COLS}, dead_ms) "
                    f"SELECT {_COLS.replace('last_error', '?')}, ? FROM outbox WHERE seq = ?",
                    (str(error)[:4000], now, int(s)),
                )
                conn.execute("DELETE FROM outbox WHERE seq = ?", (int(s),))

    def dead_letters(self, limit: int = 100) -> list[DeadLetter]:
        with self._db("read", write=False) as conn:
            rows = conn.execute(
                f"SELECT {_COLS}, dead_ms FROM dead_letter ORDER BY seq LIMIT ?", (int(limit),)
            ).fetchall()
        return [
            DeadLetter(r[0], r[1], r[2], json.loads(r[3]), r[4], r[5], r[6], r[7]) for r in rows
        ]

    def requeue_dead(self, seqs: Sequence[int]) -> list[int]:
        """Give dead letters another go (after a fix): back at the queue tail, 0 attempts."""
        new: list[int] = []
        with self._db("requeue", write=True) as conn:
            for s in seqs:
                row = conn.execute(
                    "SELECT store, kind, payload, created_ms FROM dead_letter WHERE seq = ?",
                    (int(s),),
                ).fetchone()
                if row is None:
                    continue
                cur = conn.execute(
                    "INSERT INTO outbox (store, kind, payload, created_ms) VALUES (?, ?, ?, ?)",
                    row,
                )
                conn.execute("DELETE FROM dead_letter WHERE seq = ?", (int(s),))
                new.append(int(cur.lastrowid or 0))
        return new

    # ------------------------------------------------------------ status

    def depth(self, store: str | None = None) -> int:
        with self._db("read", write=False) as conn:
            if store is None:
                row = conn.execute("SELECT count(*) FROM outbox").fetchone()
            else:
                row = conn.execute(
                    "SELECT count(*) FROM outbox WHERE store = ?", (store,)
                ).fetchone()
        return int(row[0])

    def oldest_age_s(self, store: str | None = None) -> float | None:
        with self._db("read", write=False) as conn:
            if store is None:
                row = conn.execute("SELECT min(created_ms) FROM outbox").fetchone()
            else:
                row = conn.execute(
                    "SELECT created_ms FROM outbox WHERE store = ? ORDER BY seq LIMIT 1", (store,)
                ).fetchone()
        if row is None or row[0] is None:
            return None
        return max(0.0, (_now_ms() - int(row[0])) / 1000.0)

    def has_pending(self, store: str) -> bool:
        """Called on every write (pending entries must go first): one index probe."""
        with self._db("read", write=False) as conn:
            row = conn.execute("SELECT 1 FROM outbox WHERE store = ? LIMIT 1", (store,)).fetchone()
        return row is not None

    def stats(self) -> dict[str, Any]:
        with self._db("read", write=False) as conn:
            per = dict(conn.execute("SELECT store, count(*) FROM outbox GROUP BY store").fetchall())
            oldest = conn.execute("SELECT min(created_ms) FROM outbox").fetchone()[0]
            dead = dict(
                conn.execute("SELECT store, count(*) FROM dead_letter GROUP BY store").fetchall()
            )
        for s in STORES:
            per.setdefault(s, 0)
            dead.setdefault(s, 0)
        return {
            "path": str(self.path),
            "depth": {k: int(v) for k, v in per.items()},
            "total": int(sum(per.values())),
            "oldest_age_s": None if oldest is None else max(0.0, (_now_ms() - oldest) / 1000.0),
            "dead_letters": {k: int(v) for k, v in dead.items()},
            "dead_letters_total": int(sum(dead.values())),
        }

    # ------------------------------------------------------------ leases

    def acquire_lease(self, store: str, owner: str, ttl_s: float) -> bool:
        """Take or renew the right to drain `store`; True if `owner` now holds it."""
        now = _now_ms()
        until = now + int(ttl_s * 1000)
        with self._db("take lease", write=True) as conn:
            conn.execute(
                "INSERT INTO store_lease (store, owner, until_ms) VALUES (?, ?, ?) "
                "ON CONFLICT (store) DO UPDATE SET owner = excluded.owner, "
                "until_ms = excluded.until_ms "
                "WHERE store_lease.owner = excluded.owner OR store_lease.until_ms < ?",
                (store, owner, until, now),
            )
            row = conn.execute("SELECT owner FROM store_lease WHERE store = ?", (store,)).fetchone()
        return row is not None and row[0] == owner

    def release_lease(self, store: str, owner: str) -> None:
        with self._db("release lease", write=True) as conn:
            conn.execute("DELETE FROM store_lease WHERE store = ? AND owner = ?", (store, owner))

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._conn is not None and self._pid == os.getpid():
                with suppress(sqlite3.Error):
                    self._conn.close()
            self._conn = None

    def __enter__(self) -> Outbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _writable(path: Path) -> bool:
    """access(2) says EROFS on a read-only mount even for root, unlike permission bits."""
    target = path if path.exists() else path.parent
    return os.access(target, os.W_OK)


def _dumps(path: Path, payload: dict[str, Any]) -> str:
    if not isinstance(payload, dict):
        raise OutboxError(f"outbox {path}: payload must be a dict, not {type(payload).__name__}")
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise OutboxError(f"outbox {path}: payload is not JSON-serialisable: {e}") from e
