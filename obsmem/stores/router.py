"""DatabaseManager: both stores, the outbox between them and us, health and stats.

The rule that keeps writes safe: a write goes straight to a store only when that
store has nothing queued; otherwise it joins the queue behind the older writes,
so the replayer applies them in order. A store that fails mid-write gets the
write queued too. Nothing here raises into the caller for an outage.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from obsmem.config import Settings
from obsmem.errors import OUTAGES, GraphUnavailable, VectorUnavailable
from obsmem.errors import is_unavailable as is_unavailable  # re-exported: old import path
from obsmem.model import AgentWrite, FixWrite, Outcome, StoreHealth, health_status, now_iso
from obsmem.stores.breaker import Breaker, guarded, outage_kind
from obsmem.stores.protocols import GraphStore, VectorRow, VectorStore

if TYPE_CHECKING:
    from obsmem.stores.embedded import EmbeddedServers

log = logging.getLogger("obsmem.stores.router")

GRAPH = "graph"
VECTORS = "vectors"
STORES = (GRAPH, VECTORS)

# Interactive reads: bounded by Settings.read_timeout_s (see obsmem.stores.breaker). Writes,
# schema and bulk walks (export, reconcile) keep the longer store_timeout_s (for Postgres: per
# round trip, kept by the driver).
GRAPH_READS = frozenset({
    "ping", "get_fix", "get_fixes", "recent_fixes", "count_fixes", "text_search", "similar_issues",
    "agents", "get_agent", "fixes_by_agent", "outcomes_for_fix", "neighbourhood",
    "success_by_root_cause", "success_by_signature", "fixes_over_time", "stats",
})  # fmt: skip
VECTOR_READS = frozenset({
    "ping", "get_rows", "get_embeddings", "count", "search", "knn", "keyword",
    "recent_rows",
    "success_by_root_cause", "success_by_signature", "fixes_over_time",
})  # fmt: skip
SLOW_PING_MS = 250.0  # a ping slower than this reports the store as "slow" (still serving)


def _iso(epoch_s: float | None) -> str | None:
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, UTC).isoformat().replace("+00:00", "Z")


class DatabaseManager:
    """Opens the graph and vector stores (embedded or external) and routes writes."""

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Any = None,
        replay: bool = True,
    ) -> None:
        self.settings = settings
        self.data_dir = Path(settings.data_dir).resolve()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._embedder = embedder
        self._embedder_lock = threading.Lock()
        self._lock = threading.RLock()
        self._schema_ready = {GRAPH: False, VECTORS: False}
        self._last_error: dict[str, str | None] = {GRAPH: None, VECTORS: None}
        self.embedded: EmbeddedServers | None = None
        self._graph: GraphStore
        self._vectors: VectorStore
        self._open_stores()
        self._breakers = {
            GRAPH: Breaker("graph", lambda: self._graph, is_outage=is_unavailable,
                           make_error=GraphUnavailable, on_close=lambda: self._store_back(GRAPH)),
            VECTORS: Breaker("vectors", lambda: self._vectors, is_outage=is_unavailable,
                             make_error=VectorUnavailable, on_close=lambda: self._store_back(VECTORS)),
        }  # fmt: skip
        # The stores as callers use them: typed, failing fast while their breaker is open, and
        # interactive reads bounded by the short read timeout.
        # Writes of a store whose driver keeps a deadline (Postgres) end at the write timeout,
        # per round trip; the others' drivers have theirs (see obsmem.stores.breaker).
        read_timeout = lambda: self.settings.read_timeout_s  # noqa: E731
        write_timeout = lambda: self.settings.store_timeout_s  # noqa: E731
        self.graph: GraphStore = guarded(
            self._breakers[GRAPH], lambda: self._graph, reads=GRAPH_READS, read_timeout=read_timeout
        )
        self.vectors: VectorStore = guarded(self._breakers[VECTORS], lambda: self._vectors,
                                            reads=VECTOR_READS, read_timeout=read_timeout,
                                            write_timeout=write_timeout)  # fmt: skip
        for store in STORES:
            self._learn(store)
            self.ensure_schema(store)

        from obsmem.stores.outbox import Outbox
        from obsmem.stores.replay import Replayer

        self.outbox = Outbox(self.data_dir / "outbox.sqlite3")
        self.replayer = Replayer(
            self.outbox,
            {GRAPH: self._apply_graph, VECTORS: self._apply_vectors},
            is_unavailable=is_unavailable,
        )
        if replay:
            self.replayer.start()

    # ------------------------------------------------------------ opening
    def _open_stores(self) -> None:
        from obsmem.stores.graph import open_graph
        from obsmem.stores.pgvector import PgVectorStore

        s = self.settings
        if s.graph_embedded or s.vectors_embedded:
            from obsmem.stores.embedded import EmbeddedServers

            self.embedded = EmbeddedServers(
                self.data_dir, want_graph=s.graph_embedded, want_vectors=s.vectors_embedded
            )
            self.embedded.on_restart.append(self._on_embedded_restart)
            self.embedded.start()
        falkor_url = self.embedded.falkordb_url() if s.graph_embedded and self.embedded else None
        self._graph = open_graph(s, falkordb_url=falkor_url)
        pg_url = s.database_url or self.embedded.postgres_url()  # type: ignore[union-attr]
        self._vectors = PgVectorStore(
            pg_url, pool_min=s.pg_pool_min, pool_max=s.pg_pool_max, timeout_s=s.store_timeout_s
        )

    def _on_embedded_restart(self, name: str) -> None:
        """A restarted FalkorDB may sit on a new port: reconnect, then let the queue drain."""
        if name == "falkordb" and self.embedded is not None:
            from obsmem.stores.graph import open_graph

            old = self._graph
            self._graph = open_graph(self.settings, falkordb_url=self.embedded.falkordb_url())
            # Close the old client only once calls already inside it are done: closing it under
            # a running query raised "I/O operation on closed file" (a ValueError, so not an
            # outage) out of remember() in another thread.
            timer = threading.Timer(2 * self.settings.store_timeout_s + 5, old.close)
            timer.daemon = True
            timer.start()
        self._schema_ready[GRAPH if name == "falkordb" else VECTORS] = False
        with contextlib.suppress(Exception):
            self.replayer.kick()

    def _learn(self, store: str) -> None:
        """One ping under the read timeout: a fresh process whose store hangs opens its breaker
        in read_timeout_s, instead of spending the write timeout on schema setup (and then again
        on the first request)."""
        try:
            (self.graph if store == GRAPH else self.vectors).ping()
        except Exception as exc:  # not an outage (e.g. no schema yet): ensure_schema deals with it
            if is_unavailable(exc):
                self._last_error[store] = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]

    def _store_back(self, store: str) -> None:
        self._schema_ready[store] = False
        self._last_error[store] = None
        replayer = getattr(self, "replayer", None)  # a probe may win the race with __init__
        if replayer is not None:
            replayer.kick(store)

    def is_down(self, store: str) -> bool:
        """Known down right now (breaker open): skip work whose result would only be queued."""
        return self._breakers[store].is_open

    def breaker_state(self) -> dict[str, Any]:
        return {name: b.state() for name, b in self._breakers.items()}

    def ensure_schema(self, store: str) -> bool:
        """Create schema once per process; False (and retried later) while the store is down."""
        if self._schema_ready[store]:
            return True
        try:
            if store == GRAPH:
                self.graph.ensure_schema()
            else:
                self.vectors.migrate()
                self.vectors.check_model(self.embedder_name, self.embedder_dim)
            self._schema_ready[store] = True
            return True
        except OUTAGES as exc:
            self._last_error[store] = f"{type(exc).__name__}: {exc}"
            log.warning("%s store not ready: %s", store, exc)
            return False

    # ------------------------------------------------------------ embedder
    @property
    def embedder(self) -> Any:
        if self._embedder is None:
            with self._embedder_lock:
                if self._embedder is None:
                    from obsmem.embed import Embedder

                    self._embedder = Embedder(query_precision=self.settings.query_embedder)
        return self._embedder

    @property
    def embedder_name(self) -> str:
        if self._embedder is not None:
            return str(self._embedder.name)
        from obsmem.embed import MODEL_NAME

        return MODEL_NAME

    @property
    def embedder_dim(self) -> int:
        if self._embedder is not None:
            return int(self._embedder.dim)
        from obsmem.embed import MODEL_DIM

        return MODEL_DIM

    # ------------------------------------------------------------ writes
    def _route(
        self,
        store: str,
        kind: str,
        apply_now: Callable[[], object],
        payloads: Callable[[], list[dict[str, Any]]],
    ) -> bool:
        """The write route, the one place it is decided: apply now when the store is up and has
        nothing queued, else (or when it fails with an outage) queue durably and kick the
        replayer. `payloads` is only called when the write is queued. True when applied now."""
        if (
            not self.outbox.has_pending(store)
            and not self.is_down(store)
            and self.ensure_schema(store)
        ):
            try:
                apply_now()
                self._last_error[store] = None
                return True
            except OUTAGES as exc:
                self._last_error[store] = f"{type(exc).__name__}: {exc}"
                log.warning("%s unavailable, queueing %s write(s): %s", store, kind, exc)
        self.outbox.append_many(store, kind, payloads())
        self.kick(store)
        return False

    def write(self, store: str, kind: str, payloads: Sequence[dict[str, Any]]) -> bool:
        """Apply now, or queue durably. True when the store took it now."""
        if not payloads:
            return True
        items = list(payloads)
        apply = self._apply_graph if store == GRAPH else self._apply_vectors
        return self._route(store, kind, lambda: apply(kind, items), lambda: items)

    def write_fixes(
        self, store: str, writes: Sequence[FixWrite], rows: Sequence[VectorRow] | None = None
    ) -> bool:
        """`remember` calls to one store, applied as records (no dict round trip) or queued.

        The vector side embeds now, always, and a queued write carries its embedding.
        Queueing without embedding made a write 10x cheaper while Postgres had a backlog,
        so under load writers filled the queue faster than the replayer (which then had
        to embed) could drain it: recovery never finished. Paying the embedding up front
        keeps writers at their normal pace and replay cheap. `rows`: the vector rows when
        the caller already embedded them (beside the graph write).
        """
        if not writes:
            return True
        if store == GRAPH:
            return self._route(
                GRAPH, "fix", lambda: self.graph.upsert_fixes(writes),
                lambda: [w.to_dict() for w in writes],
            )  # fmt: skip
        embedded = list(rows) if rows is not None else self.vector_rows(writes)
        return self._route(
            VECTORS, "fix", lambda: self.vectors.upsert(embedded),
            lambda: [{**w.to_dict(), "_embedding": [float(x) for x in r.embedding]}
                     for w, r in zip(writes, embedded, strict=True)],
        )  # fmt: skip

    def kick(self, store: str) -> None:
        """Wake the store's replayer, unless its breaker is open: then the probe kicks it when
        the store answers, and a kick per queued write would only add the replayer's lease
        write (an fsync) to every write made during the outage."""
        if not self.is_down(store):
            self.replayer.kick(store)

    def _apply_graph(self, kind: str, payloads: list[dict[str, Any]]) -> None:
        if not self.ensure_schema(GRAPH):
            raise GraphUnavailable(self._last_error[GRAPH] or "graph not ready")
        g = self.graph
        if kind == "fix":
            g.upsert_fixes([FixWrite.from_dict(p) for p in payloads])
        elif kind == "outcome":
            g.record_outcomes([Outcome(**p) for p in payloads])
        elif kind == "agent":
            g.upsert_agents([AgentWrite(**p) for p in payloads])
        elif kind == "delete":
            g.delete_fixes([p["id"] for p in payloads])
        else:
            raise ValueError(f"unknown graph write kind {kind!r}")

    def _apply_vectors(self, kind: str, payloads: list[dict[str, Any]]) -> None:
        if not self.ensure_schema(VECTORS):
            raise VectorUnavailable(self._last_error[VECTORS] or "vectors not ready")
        v = self.vectors
        if kind == "fix":
            writes = [FixWrite.from_dict(p) for p in payloads]
            v.upsert(self.vector_rows(writes, [p.get("_embedding") for p in payloads]))
        elif kind == "outcome":
            v.record_outcomes([Outcome(**p) for p in payloads])
        elif kind == "delete":
            v.delete([p["id"] for p in payloads])
        elif kind == "agent":
            pass  # agents live in the graph only
        else:
            raise ValueError(f"unknown vectors write kind {kind!r}")

    def vector_rows(
        self, writes: Sequence[FixWrite], embeddings: Sequence[Any] | None = None
    ) -> list[Any]:
        """Rows for the vector store; embeds whatever has no embedding yet, in one batch."""
        import numpy as np

        from obsmem.ranking import embedding_text

        embs: list[Any] = list(embeddings) if embeddings is not None else [None] * len(writes)
        missing = [i for i, e in enumerate(embs) if e is None]
        if missing:
            vecs = self.embedder.embed_many(
                [embedding_text(writes[i].issue, writes[i].solution) for i in missing]
            )
            for i, vec in zip(missing, vecs, strict=True):
                embs[i] = vec
        return [
            VectorRow.from_write(w, np.asarray(e, dtype=np.float32))
            for w, e in zip(writes, embs, strict=True)
        ]

    # ------------------------------------------------------------ health
    def store_health(self, store: str) -> StoreHealth:
        embedded = self.embedded is not None and (
            self.settings.graph_embedded if store == GRAPH else self.settings.vectors_embedded
        )
        backend = self.settings.graph_backend if store == GRAPH else "postgres"
        restarts = 0
        if embedded and self.embedded is not None:
            restarts = self.embedded.state["falkordb" if store == GRAPH else "postgres"].restarts
        breaker = self._breakers[store]

        def down(err: str | None, kind: str, last_error: str | None) -> StoreHealth:
            return StoreHealth(
                store, backend, False, None, err, embedded, restarts,
                state=breaker.kind or kind, since=_iso(breaker.opened_at),
                last_error=last_error, last_error_at=_iso(breaker.last_error_at),
            )  # fmt: skip

        if breaker.is_open:  # known down or hanging: say so without waiting on it again
            return down(breaker.last_error or self._last_error[store], "down", breaker.last_error)
        try:
            latency = self.graph.ping() if store == GRAPH else self.vectors.ping()
            self.ensure_schema(store)
        except Exception as exc:
            err = f"{type(exc).__name__}: {exc}".splitlines()[0][:300]
            self._last_error[store] = err
            return down(err, outage_kind(exc), breaker.last_error or err)
        return StoreHealth(
            store, backend, True, round(latency, 3), None, embedded, restarts,
            state="slow" if latency > SLOW_PING_MS else "up",
            last_error=breaker.last_error, last_error_at=_iso(breaker.last_error_at),
        )  # fmt: skip

    def health(self) -> dict[str, Any]:
        stores = {name: self.store_health(name) for name in STORES}
        outbox = self.outbox.stats()
        status = health_status([s.ok for s in stores.values()], outbox)
        return {
            "status": status,
            "stores": {k: v.to_dict() for k, v in stores.items()},
            "outbox": outbox,
            "replayer": self.replayer_state(),
            "breakers": self.breaker_state(),
            "embedded": self.embedded.describe(ping=False) if self.embedded is not None else None,
            "checked_at": now_iso(),
        }

    def replayer_state(self) -> dict[str, Any]:
        return self.replayer.status()

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every queued write has been applied (tests, shutdown, CLI)."""
        self.replayer.kick()
        return bool(self.replayer.drain(timeout))

    def close(self) -> None:
        for breaker in self._breakers.values():
            breaker.stop()
        for step in (self.replayer.stop, self._graph.close, self._vectors.close, self.outbox.close):
            with contextlib.suppress(Exception):
                step()
        if self.embedded is not None:
            self.embedded.stop()
