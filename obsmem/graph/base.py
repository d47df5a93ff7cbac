"""The GraphStore protocol: what obsmem asks of a graph, whatever the backend.

Backends: `falkor.FalkorGraph` (embedded default, RESP) and `neo4j.Neo4jGraph`.
Every write is idempotent on obsmem's own ids (fix id, event id, agent name), so
the outbox may replay any write any number of times.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from obsmem.model import Agent, AgentWrite, Fix, FixFilter, FixWrite, IssueGroup, Outcome


class GraphUnavailable(RuntimeError):
    """The graph server cannot be reached (down, timed out, refused): the caller may queue."""


class GraphAuthError(GraphUnavailable):
    """Credentials were refused: retrying will not help, an operator must act."""


# Only these relationship types ever appear in Cypher; nothing is built from input.
RELATIONSHIP_TYPES = ("APPLIED", "RESOLVES", "AFFECTS")


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


@runtime_checkable
class GraphStore(Protocol):
    backend: str

    # --- lifecycle and schema
    def ping(self) -> float:
        """Round trip in ms; raises GraphUnavailable."""
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
    def delete_fix(self, fix_id: str) -> bool: ...
    def delete_fixes(self, fix_ids: Sequence[str]) -> int: ...

    # --- reads
    def get_fix(self, fix_id: str) -> Fix | None: ...
    def get_fixes(self, fix_ids: Sequence[str]) -> dict[str, Fix]: ...
    def recent_fixes(self, limit: int, offset: int, flt: FixFilter | None = None) -> list[Fix]: ...
    def count_fixes(self, flt: FixFilter | None = None) -> int: ...
    def text_search(self, query: str, limit: int, flt: FixFilter | None = None) -> list[tuple[str, float]]:
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

    def success_by_root_cause(self) -> list[dict[str, Any]]: ...
    def success_by_signature(self, limit: int = 20) -> list[dict[str, Any]]: ...
    def fixes_over_time(self, bucket_ms: int, since_ms: int) -> list[dict[str, Any]]: ...
    def stats(self) -> GraphStats: ...
    def iter_fix_ids(self, batch: int = 5000) -> Iterator[str]: ...
    def iter_fixes(self, batch: int = 1000) -> Iterator[Fix]: ...
    def iter_outcomes(self, batch: int = 5000) -> Iterator[Outcome]: ...
