"""Reads fall back to Postgres when the graph is cut, on every graph backend.

The fallback lives in Memory, above the GraphStore protocol, so it must hold for
FalkorDB and Neo4j alike: the graph sits behind a TCP proxy that the test cuts
(a real dropped network), Postgres stays up. Neo4j runs where NEO4J_URI is set
or Docker can start it, and is skipped with the reason otherwise.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from obsmem.config import Settings
from tests.dashboard.tcpproxy import TcpProxy

READS = ["/api/state", "/api/fixes", "/api/stats", "/api/agents", "/api/similar?q=replica+lag",
         "/api/fixes?q=replica+lag", "/", "/fixes", "/agents", "/charts"]  # fmt: skip


def _graph_behind_proxy(
    backend: str, request: pytest.FixtureRequest
) -> tuple[TcpProxy, dict[str, Any]]:
    if backend == "falkordb":
        embedded = request.getfixturevalue("embedded")
        proxy, url = TcpProxy.for_url(embedded.falkordb_url())
        return proxy, {"falkordb_url": url, "falkordb_graph": "cut_" + uuid.uuid4().hex[:8]}
    neo = request.getfixturevalue("neo4j_settings")
    parts = urlsplit(neo["uri"])
    proxy = TcpProxy((parts.hostname or "127.0.0.1", parts.port or 7687))
    # bolt://, not neo4j://: a routing table would hand the driver the real address.
    return proxy, {"neo4j_uri": f"bolt://127.0.0.1:{proxy.port}", "neo4j_user": neo["user"],
                   "neo4j_password": neo["password"], "neo4j_database": neo["database"] or None}  # fmt: skip


@pytest.mark.parametrize("backend", ["falkordb", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def test_reads_answer_from_postgres_when_the_graph_is_cut(
    backend: str, request: pytest.FixtureRequest, embedded: Any, embedder: Any, tmp_path: Path
) -> None:
    from dashboard.app import create_app
    from obsmem.memory import Memory
    from tests.conftest import _fresh_db

    proxy, graph = _graph_behind_proxy(backend, request)
    settings = Settings(data_dir=tmp_path / "mem", database_url=_fresh_db(embedded.postgres_url(), "cut_"),
                        read_timeout_s=0.5, store_timeout_s=2.0, demo=False, **graph)  # fmt: skip
    tag = uuid.uuid4().hex[:8]
    mem = Memory.open(settings, embedder=embedder)
    try:
        mem.register_agent(f"cut-agent-{tag}", server="node-1")
        done = mem.remember_many([
            {"issue": f"{tag} replica lag above 30s on orders-db replica {i}",
             "solution": f"Raise max_wal_senders and rebuild replica {i}", "agent": f"cut-agent-{tag}"}
            for i in range(4)
        ])  # fmt: skip
        assert mem.drain(30)
        assert mem.get_all_agents()
        proxy.cut()
        client = create_app(mem).test_client()
        for path in [*READS, f"/api/fixes/{done[0].id}", f"/fixes/{done[0].id}"]:
            resp = client.get(path)
            assert resp.status_code == 200, (backend, path, resp.get_data(as_text=True)[:300])
            if path.startswith("/api/"):
                body = resp.get_json()
                assert body["degraded"] is True and body["served_by"] == ["vectors"], (path, body)
            else:
                assert 'data-testid="degraded-banner"' in resp.get_data(as_text=True), path
        listed = client.get("/api/fixes").get_json()
        assert {f["id"] for f in listed["fixes"]} >= {r.id for r in done}
        agents = client.get("/api/agents").get_json()
        assert f"cut-agent-{tag}" in {a["name"] for a in agents["agents"]}
        assert "agents" in agents["unavailable"]
        assert mem.health()["stores"]["graph"]["state"] in ("down", "hanging")
    finally:
        mem.close()
        proxy.cut()
