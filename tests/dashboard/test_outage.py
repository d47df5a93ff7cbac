"""With no store reachable: reads answer 503, /health says unhealthy, writes queue (no 5xx crash)."""

from __future__ import annotations

import uuid

import pytest

from tests.dashboard.tcpproxy import TcpProxy


@pytest.fixture(scope="module")
def dead_client(embedded, embedder, tmp_path_factory):
    """A Memory whose stores sit behind proxies that are cut once it is open."""
    from dashboard.app import create_app
    from obsmem.config import Settings
    from obsmem.memory import Memory
    from tests.conftest import _fresh_db

    graph_proxy, falkor_url = TcpProxy.for_url(embedded.falkordb_url())
    pg_proxy, pg_url = TcpProxy.for_pg_socket_url(
        _fresh_db(embedded.postgres_url(), "dead_"), tmp_path_factory.mktemp("pgsock")
    )
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("dead"),
        falkordb_url=falkor_url,
        falkordb_graph="dead_" + uuid.uuid4().hex[:6],
        database_url=pg_url,
        store_timeout_s=1.0,
        demo=False,
    )
    memory = Memory.open(settings, embedder=embedder, replay=False)
    graph_proxy.cut()
    pg_proxy.cut()
    yield create_app(memory).test_client()
    memory.close()


def test_reads_answer_503_with_the_error_shape(dead_client):
    for path in ("/api/fixes", "/api/agents", "/api/recall?q=disk+full"):
        resp = dead_client.get(path)
        assert resp.status_code == 503, path
        assert resp.get_json()["error"]["code"] == "unavailable"
        assert resp.headers["Retry-After"]


def test_health_is_unhealthy_and_503(dead_client):
    resp = dead_client.get("/health")
    assert resp.status_code == 503
    body = resp.get_json()
    assert body["status"] == "unhealthy"
    assert not body["stores"]["graph"]["ok"] and not body["stores"]["vectors"]["ok"]


def test_writes_queue_instead_of_failing(dead_client):
    resp = dead_client.post("/api/remember", json={"issue": "queue me", "solution": "later"})
    assert resp.status_code == 201
    assert set(resp.get_json()["pending"]) == {"graph", "vectors"}
    assert dead_client.get("/metrics").status_code == 200
    text = dead_client.get("/metrics").get_data(as_text=True)
    assert 'obsmem_outbox_depth{store="graph"} 1.0' in text
    assert 'obsmem_store_up{store="vectors"} 0.0' in text
