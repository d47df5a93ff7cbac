"""Neo4j backend (production) through the official driver.

The DDL below runs on Neo4j 4.4 LTS and 5.x alike (named `IF NOT EXISTS`
indexes, `FOR ... REQUIRE ... IS UNIQUE`, TEXT and FULLTEXT indexes), and the
installed 6.x driver still speaks Bolt 4.4, so no per-version branch is needed.
Reads and writes run as managed transactions (`execute_read`/`execute_write`),
which the driver retries on transient errors and cluster leader changes; a
`neo4j://` URI gets routing. `fix_issue` is a TEXT index: a RANGE index
refuses values over ~8 kB, and issue text may be 20k characters.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from obsmem.stores.graph.base import CypherGraph, GraphAuthError, GraphUnavailable, SchemaItem
from obsmem.stores.graph.cypher import search_terms

T = TypeVar("T")

# (name, kind, label, properties, statement)
_WANTED: tuple[tuple[str, str, str, tuple[str, ...], str], ...] = (
    ("fix_id", "unique", "Fix", ("id",),
     "CREATE CONSTRAINT fix_id IF NOT EXISTS FOR (n:Fix) REQUIRE n.id IS UNIQUE"),
    ("agent_name", "unique", "Agent", ("name",),
     "CREATE CONSTRAINT agent_name IF NOT EXISTS FOR (n:Agent) REQUIRE n.name IS UNIQUE"),
    ("issue_signature", "unique", "Issue", ("signature",),
     "CREATE CONSTRAINT issue_signature IF NOT EXISTS FOR (n:Issue) REQUIRE n.signature IS UNIQUE"),
    ("service_name", "unique", "Service", ("name",),
     "CREATE CONSTRAINT service_name IF NOT EXISTS FOR (n:Service) REQUIRE n.name IS UNIQUE"),
    ("fix_timestamp", "index", "Fix", ("ts",),
     "CREATE INDEX fix_timestamp IF NOT EXISTS FOR (n:Fix) ON (n.ts)"),
    ("fix_issue", "text", "Fix", ("issue",),
     "CREATE TEXT INDEX fix_issue IF NOT EXISTS FOR (n:Fix) ON (n.issue)"),
    ("fix_success", "index", "Fix", ("success",),
     "CREATE INDEX fix_success IF NOT EXISTS FOR (n:Fix) ON (n.success)"),
    ("fix_last_seen", "index", "Fix", ("last_seen",),
     "CREATE INDEX fix_last_seen IF NOT EXISTS FOR (n:Fix) ON (n.last_seen)"),
    ("agent_status", "index", "Agent", ("status",),
     "CREATE INDEX agent_status IF NOT EXISTS FOR (n:Agent) ON (n.status)"),
    ("agent_last_seen", "index", "Agent", ("last_seen",),
     "CREATE INDEX agent_last_seen IF NOT EXISTS FOR (n:Agent) ON (n.last_seen)"),
    ("fix_text", "fulltext", "Fix", ("issue", "solution"),
     "CREATE FULLTEXT INDEX fix_text IF NOT EXISTS FOR (n:Fix) ON EACH [n.issue, n.solution]"),
)  # fmt: skip

_SHOW_INDEXES = "SHOW INDEXES YIELD name, type, labelsOrTypes, properties, state"
_SHOW_CONSTRAINTS = "SHOW CONSTRAINTS YIELD name, type, labelsOrTypes, properties"
_INDEX_WAIT_S = 60


class Neo4jGraph(CypherGraph):
    backend = "neo4j"
    ft_call = "CALL db.index.fulltext.queryNodes('fix_text', $q)"

    def __init__(
        self,
        uri: str,
        user: str = "neo4j",
        password: str | None = None,
        database: str | None = None,
        timeout_s: float = 5.0,
        max_pool: int = 50,
    ) -> None:
        import neo4j

        super().__init__()
        self._neo4j = neo4j
        self.database = database
        self.timeout_s = timeout_s
        try:
            self._driver = neo4j.GraphDatabase.driver(
                uri,
                auth=(user, password or ""),
                max_connection_pool_size=max_pool,
                connection_timeout=timeout_s,
                connection_acquisition_timeout=timeout_s,
                max_transaction_retry_time=timeout_s,
                user_agent="obsmem",
            )
        except (neo4j.exceptions.ConfigurationError, ValueError) as exc:
            raise GraphUnavailable(f"bad NEO4J_URI {uri!r}: {exc}") from None

    # --- plumbing
    def _guard(self, fn: Callable[[], T]) -> T:
        ex = self._neo4j.exceptions
        try:
            return fn()
        except ex.AuthError as exc:
            raise GraphAuthError(f"Neo4j refused the credentials: {exc.message}") from None
        except (ex.ServiceUnavailable, ex.SessionExpired, ex.TransientError) as exc:
            raise GraphUnavailable(f"Neo4j unreachable: {exc}") from None
        except ex.ClientError as exc:
            if "TransactionTimedOut" in (exc.code or "") or "Timeout" in (exc.code or ""):
                raise GraphUnavailable(f"Neo4j timed out: {exc.message}") from None
            raise
        except (ex.DriverError, OSError) as exc:
            raise GraphUnavailable(f"Neo4j unreachable: {exc}") from None

    def _session(self, read: bool) -> Any:
        mode = self._neo4j.READ_ACCESS if read else self._neo4j.WRITE_ACCESS
        return self._driver.session(database=self.database, default_access_mode=mode)

    def _read(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        @self._neo4j.unit_of_work(timeout=self.timeout_s)
        def work(tx: Any) -> list[dict[str, Any]]:
            return [r.data() for r in tx.run(query, params or {})]

        def run() -> list[dict[str, Any]]:
            with self._session(read=True) as session:
                return list(session.execute_read(work))

        return self._guard(run)

    def _write(self, steps: Sequence[tuple[str, dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        @self._neo4j.unit_of_work(timeout=self.timeout_s * max(1, len(steps)))
        def work(tx: Any) -> list[list[dict[str, Any]]]:
            return [[r.data() for r in tx.run(q, p)] for q, p in steps]

        def run() -> list[list[dict[str, Any]]]:
            with self._session(read=False) as session:
                return list(session.execute_write(work))

        return self._guard(run)

    def _ddl(self, statement: str) -> None:
        def run() -> None:
            with self._session(read=False) as session:
                session.run(statement).consume()

        self._guard(run)

    def _ft_query(self, text: str) -> str | None:
        terms = search_terms(text)
        # Word characters only, each quoted: no Lucene operator or escape survives.
        return " OR ".join(f'"{t}"' for t in terms) if terms else None

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._driver.close()

    def server_info(self) -> dict[str, Any]:
        rows = self._read("CALL dbms.components() YIELD name, versions, edition "
                          "RETURN name, versions, edition")  # fmt: skip
        return rows[0] if rows else {}

    # --- schema
    def schema(self) -> list[SchemaItem]:
        indexes = self._read(_SHOW_INDEXES)
        constraints = self._read(_SHOW_CONSTRAINTS)
        out = []
        for name, kind, label, props, stmt in _WANTED:
            if kind == "unique":
                pool = constraints
                match = [r for r in pool if "UNIQUE" in (r.get("type") or "")]
            else:
                want = {"index": "RANGE", "text": "TEXT", "fulltext": "FULLTEXT"}[kind]
                pool = indexes
                # 4.4 calls a range index BTREE.
                match = [r for r in pool if r.get("type") in ({want, "BTREE"} if want == "RANGE"
                                                              else {want})]  # fmt: skip
            exists = any(r.get("name") == name for r in pool) or any(
                list(r.get("labelsOrTypes") or []) == [label]
                and tuple(r.get("properties") or ()) == props
                for r in match
            )
            out.append(SchemaItem(name, kind, label, props, stmt, exists))
        return out

    def ensure_schema(self) -> list[str]:
        for item in self.schema():
            if not item.exists:
                self._ddl(item.statement)
        with contextlib.suppress(self._neo4j.exceptions.ClientError):
            self._ddl(f"CALL db.awaitIndexes({_INDEX_WAIT_S})")
        return [i.name for i in self.schema() if i.exists]

    def drop(self) -> None:
        """Delete every obsmem node (tests only; the database itself stays)."""
        self._write([("MATCH (n) WHERE n:Fix OR n:Agent OR n:Issue OR n:Service "
                      "DETACH DELETE n", {})])  # fmt: skip
