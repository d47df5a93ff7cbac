"""What the router asks of each store: the `GraphStore` and `VectorStore` protocols.

Pure interfaces (no bodies), so a reader sees the whole contract of a store in one
screen and a type checker holds the concrete stores (`CypherGraph` subclasses,
`PgVectorStore`) and the breaker-guarded views of them to it. Imports no driver.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from obsmem.model import Agent, AgentWrite, Fix, FixFilter, FixWrite, IssueGroup, Outcome

Hits = list[tuple[str, float]]  # (fix id, score), best first


@dataclass(frozen=True, kw_only=True)
class VectorRow(FixWrite):
    """What the vector store keeps of one `remember` call: the write and its embedding."""

    embedding: np.ndarray

    @classmethod
    def from_write(cls, w: FixWrite, embedding: Any) -> VectorRow:
        own = {f.name: getattr(w, f.name) for f in fields(FixWrite)}
        own["tags"], own["metadata"] = tuple(w.tags), dict(w.metadata or {})
        return cls(**own, embedding=np.asarray(embedding, dtype=np.float32))


@dataclass(frozen=True)
class GraphStats:
    nodes: dict[str, int]
    relationships: dict[str, int]
    fixes: int
    agents: int
    outcomes: int
    successes: int
    success_rate: float | None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CandidateSearch:
    """What recall needs from the vector store for one query, in as few round trips as it takes.

    `vector` and `keyword` are the two ranked legs; `docs`, `avgdl` and `df` the
    collection statistics absolute BM25 needs (as `term_stats`); `cosines` the
    query's cosine similarity to the keyword hits that are not vector hits (the
    vector hits carry theirs); `embedding` the query vector that was searched.
    """

    vector: Hits
    keyword: Hits
    docs: int
    avgdl: float
    df: dict[str, int]
    cosines: dict[str, float]
    embedding: np.ndarray | None = None


@dataclass(frozen=True)
class SchemaItem:
    """One index or constraint obsmem wants, and whether the server has it."""

    name: str
    kind: str  # index / unique / fulltext
    label: str
    properties: tuple[str, ...]
    statement: str
    exists: bool = False


@runtime_checkable
class GraphStore(Protocol):
    """Who applied which fix to what. Writes are idempotent on obsmem's ids (fix id, event id,
    agent name), so the outbox may replay any of them; outages raise GraphUnavailable."""

    backend: str
    # The driver ends reads at obsmem.stores.deadline's read deadline by itself, so the guard
    # runs reads inline instead of on a worker thread that stops waiting at the deadline.
    enforces_read_deadline: bool

    # --- lifecycle and schema
    def ping(self) -> float:
        """Round trip in ms; raises GraphUnavailable."""
        ...

    def schema(self) -> list[SchemaItem]:
        """Wanted indexes/constraints, each marked with whether the server has it."""
        ...

    def schema_statements(self) -> list[str]: ...

    def ensure_schema(self) -> list[str]:
        """Create indexes and constraints that are missing; return what exists now."""
        ...

    def close(self) -> None: ...

    # --- writes (idempotent, batched with UNWIND)
    def upsert_fixes(self, writes: Sequence[FixWrite]) -> None: ...
    def record_outcomes(self, outcomes: Sequence[Outcome]) -> None: ...
    def upsert_agents(self, agents: Sequence[AgentWrite]) -> None: ...

    def restore_fixes(self, rows: Sequence[dict[str, Any]]) -> None:
        """Import: fix nodes exactly as exported (figures included), linked to Issue/Service."""
        ...

    def restore_outcomes(self, rows: Sequence[dict[str, Any]]) -> None: ...
    def set_recent_events(self, rows: Sequence[dict[str, Any]]) -> None: ...
    def delete_fix(self, fix_id: str) -> bool: ...
    def delete_fixes(self, fix_ids: Sequence[str]) -> int: ...
    def remove_agent(self, name: str) -> bool:
        """Delete an agent node and its APPLIED edges; False when there was none."""
        ...

    # --- reads
    def get_fix(self, fix_id: str) -> Fix | None: ...
    def get_fixes(self, fix_ids: Sequence[str]) -> dict[str, Fix]: ...
    def recent_fixes(
        self, limit: int, offset: int = 0, flt: FixFilter | None = None, order: str = "created"
    ) -> list[Fix]:
        """Newest first by `order`: "created" (first seen) or "last_seen"."""
        ...

    def count_fixes(self, flt: FixFilter | None = None) -> int: ...

    def text_search(self, query: str, limit: int, flt: FixFilter | None = None) -> Hits:
        """Keyword fallback when the vector store is down: (fix id, score), best first."""
        ...

    def similar_issues(self, text: str, limit: int) -> list[IssueGroup]: ...
    def agents(self, now_ms: int | None = None) -> list[Agent]: ...
    def get_agent(self, name: str, now_ms: int | None = None) -> Agent | None: ...
    def fixes_by_agent(self, name: str, limit: int = 50) -> list[Fix]: ...

    def outcomes_for_fix(self, fix_id: str) -> list[dict[str, Any]]:
        """Agents and outcomes of one fix: [{agent, success, ts}], newest first."""
        ...

    def neighbourhood(self, fix_id: str, limit: int = 50) -> dict[str, list[dict[str, Any]]]:
        """Nodes and edges around a fix for the dashboard's graph view."""
        ...

    def explore(self, start: str, depth: int = 1, limit: int = 60) -> dict[str, Any] | None:
        """Nodes and edges within `depth` hops of any node ("kind:key"), at most `limit` nodes."""
        ...

    def success_by_root_cause(self) -> list[dict[str, Any]]: ...
    def success_by_signature(self, limit: int = 20) -> list[dict[str, Any]]: ...
    def fixes_over_time(self, bucket_ms: int, since_ms: int) -> list[dict[str, Any]]: ...
    def stats(self) -> GraphStats: ...
    def iter_fix_ids(self, batch: int = 5000) -> Iterator[str]: ...
    def iter_fixes(self, batch: int = 1000) -> Iterator[Fix]: ...
    def iter_outcomes(self, batch: int = 5000) -> Iterator[Outcome]: ...


@runtime_checkable
class VectorStore(Protocol):
    """Text, figures and embeddings of every fix, searched by vector and keyword.

    Writes are idempotent on (fix id, event id); outages raise VectorUnavailable.
    """

    enforces_read_deadline: bool  # as GraphStore's
    # Writes, schema steps and walks end at obsmem.stores.deadline's write deadline (per round
    # trip) by the driver itself; the guard sets it (store guards without it: driver timeout).
    enforces_write_deadline: bool

    # --- lifecycle and schema
    def ping(self) -> float:
        """Round trip in ms; raises VectorUnavailable."""
        ...

    def migrate(self, directory: Path | None = None) -> list[str]:
        """Apply pending numbered migrations; returns the names applied."""
        ...

    def pending_migrations(self, directory: Path | None = None) -> list[str]: ...

    def check_model(self, name: str, dim: int) -> None:
        """Refuse (ModelMismatch) a database that holds another model's embeddings."""
        ...

    def close(self) -> None: ...

    def term_stats(self, terms: Sequence[str]) -> tuple[int, float, dict[str, int]]:
        """Collection size, mean length and the terms' document frequencies (for relevance)."""
        ...

    # --- read fallbacks for when the graph is out (same shapes as GraphStore's)
    def recent_rows(
        self, limit: int, offset: int = 0, flt: FixFilter | None = None
    ) -> list[dict[str, Any]]: ...
    def success_by_root_cause(self) -> list[dict[str, Any]]: ...
    def success_by_signature(self, limit: int = 20) -> list[dict[str, Any]]: ...
    def fixes_over_time(self, bucket_ms: int, since_ms: int) -> list[dict[str, Any]]: ...

    # --- writes
    def upsert(self, rows: Sequence[VectorRow]) -> int: ...
    def record_outcomes(self, outcomes: Sequence[Outcome]) -> int: ...

    def set_figures(self, fixes: Sequence[Fix]) -> int:
        """Overwrite figures and filter columns with these fixes' values (reconcile)."""
        ...

    def delete(self, ids: Sequence[str]) -> int: ...

    # --- search and reads
    def knn(self, embedding: Any, k: int, flt: FixFilter | None = None) -> Hits: ...
    def keyword(self, query: str, k: int, flt: FixFilter | None = None) -> Hits: ...

    def search(
        self, embedding: Any, query: str, k: int, flt: FixFilter | None = None
    ) -> CandidateSearch:
        """Vector and keyword candidates plus the term statistics and keyword-only cosines
        recall needs; `embedding` may be a zero-argument callable, computed while keywords
        are scored."""
        ...

    def get_rows(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...
    def get_embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]: ...
    def count(self, flt: FixFilter | None = None) -> int: ...
    def iter_ids(self, batch: int = 1000) -> Iterator[list[str]]: ...
