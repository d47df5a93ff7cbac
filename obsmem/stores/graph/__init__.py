"""The graph store: who applied which fix to what, on Neo4j or the embedded FalkorDB.

Drivers are imported inside the backend modules only, so importing obsmem (or
the HTTP client) never needs neo4j or falkordb installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from obsmem.stores.graph.base import (
    CypherGraph,
    GraphAuthError,
    GraphStats,
    GraphStore,
    GraphUnavailable,
    SchemaItem,
)

if TYPE_CHECKING:
    from obsmem.config import Settings

__all__ = [
    "CypherGraph",
    "GraphAuthError",
    "GraphStats",
    "GraphStore",
    "GraphUnavailable",
    "SchemaItem",
    "open_graph",
]


def open_graph(settings: Settings, falkordb_url: str | None = None) -> GraphStore:
    """Neo4j when NEO4J_URI is set; else FalkorDB at `falkordb_url` (the embedded
    server's) or FALKORDB_URL. Connecting is lazy: errors surface on first use."""
    if settings.neo4j_uri:
        from obsmem.stores.graph.neo4j import Neo4jGraph

        return Neo4jGraph(
            settings.neo4j_uri,
            user=settings.neo4j_user,
            password=settings.neo4j_password,
            database=settings.neo4j_database,
            timeout_s=settings.store_timeout_s,
            max_pool=settings.neo4j_max_pool,
        )
    url = falkordb_url or settings.falkordb_url
    if not url:
        raise GraphUnavailable(
            "no graph configured: set NEO4J_URI or FALKORDB_URL, or start the embedded FalkorDB"
        )
    from obsmem.stores.graph.falkor import FalkorGraph

    return FalkorGraph(url, graph=settings.falkordb_graph, timeout_s=settings.store_timeout_s)
