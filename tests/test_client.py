"""obsmem.client.Client against a real served app (werkzeug on 127.0.0.1, a fresh Memory)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from werkzeug.serving import make_server

from obsmem.client import Client, ObsmemError, ServiceError

TOKEN = "test-" + uuid.uuid4().hex  # made up per run; never a real secret


def _serve(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def served(fresh_memory) -> Iterator[tuple[Any, str]]:
    from dashboard.app import create_app

    app = create_app(fresh_memory, settings=fresh_memory.settings.with_(api_token=TOKEN))
    for url in _serve(app):
        yield fresh_memory, url


def test_remember_recall_and_read_back(served) -> None:
    memory, url = served
    with Client(url, TOKEN, retries=0, timeout=120) as c:
        first = c.remember("Redis evicting keys: maxmemory reached on cache-7",
                           "Raise maxmemory to 4gb and set allkeys-lru", service="cache", success=True)  # fmt: skip
        again = c.remember("Redis evicting keys: maxmemory reached on cache-7",
                           "Raise maxmemory to 4gb and set allkeys-lru")  # fmt: skip
        assert first["stored_in"] == ["graph", "vectors"] and first["duplicate_of"] is None
        assert again["id"] == first["id"] and again["duplicate_of"] == first["id"]
        hits = c.recall("redis maxmemory evictions", k=3)["hits"]
        assert hits[0]["fix"]["id"] == first["id"]
        detail = c.get_fix(first["id"])
        assert detail is not None and detail["fix"]["occurrences"] == 2
        assert detail["fix"]["service"] == "cache"
        assert c.get_fix("fix_does_not_exist") is None
    assert memory.get_fix(first["id"]).occurrences == 2  # the same stores, not a copy


def test_feedback_delete_and_agents(served) -> None:
    _, url = served
    with Client(url, TOKEN, retries=0, timeout=120) as c:
        fid = c.remember("Kafka consumer lag on orders topic", "Add two partitions and consumers")[
            "id"
        ]
        c.feedback(fid, False, agent="lag-watch")
        assert c.get_fix(fid)["fix"]["failures"] == 1
        agent = c.register_agent("lag-watch", server="node-9")["agent"]
        assert agent["name"] == "lag-watch" and agent["server"] == "node-9"
        assert "lag-watch" in {a["name"] for a in c.get_all_agents()}
        assert c.heartbeat("lag-watch")["agent"]["status"] == "active"
        assert c.delete_fix(fid) is True
        assert c.delete_fix(fid) is False
        assert c.get_fix(fid) is None


def test_errors_carry_status_code_and_field(served) -> None:
    _, url = served
    with Client(url, TOKEN, retries=0, timeout=120) as c:
        with pytest.raises(ServiceError) as bad:
            c.remember("x", "y", confidence=7)
        assert (bad.value.status, bad.value.code, bad.value.field) == (400, "invalid", "confidence")
        assert isinstance(bad.value, ObsmemError)  # agents may catch the family base
        with pytest.raises(ServiceError) as missing:
            c.feedback("fix_nope", True)
        assert missing.value.status == 404
    with Client(url, token=None, retries=0, timeout=120) as anonymous:
        with pytest.raises(ServiceError) as denied:
            anonymous.remember("disk full", "clean it")
        assert denied.value.status == 401
        assert anonymous.health()["status"] in {"healthy", "degraded"}


def test_unreachable_service_raises_connection_error() -> None:
    import requests

    with (
        Client("http://127.0.0.1:9", retries=0, timeout=2) as c,
        pytest.raises(requests.ConnectionError),
    ):
        c.get_all_agents()


def _recording_app(seen: list[dict[str, Any]]) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append({"port": environ.get("REMOTE_PORT"), "host": environ.get("HTTP_HOST")})
        body = b'{"agents": [], "total": 0}'
        start_response(
            "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
        )
        return [body]

    return app


def _waitress(app: Any) -> Iterator[str]:
    """The server `obsmem serve` runs (waitress), which keeps connections alive."""
    from dashboard.serve import start_in_thread

    running = start_in_thread(app)
    try:
        yield running.url
    finally:
        running.stop()


def test_calls_share_one_keep_alive_connection() -> None:
    seen: list[dict[str, Any]] = []
    for url in _waitress(_recording_app(seen)):
        with Client(url, retries=0, timeout=10) as c:
            for _ in range(5):
                assert c.get_all_agents() == []
    assert len(seen) == 5
    assert len({s["port"] for s in seen}) == 1  # one TCP connection (client port) for all


def test_a_proxy_from_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []
    for proxy in _serve(_recording_app(seen)):
        for var in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(var, raising=False)
        monkeypatch.setenv("HTTP_PROXY", proxy)
        with Client("http://obsmem.invalid:8000", retries=0, timeout=10) as c:
            assert c.get_all_agents() == []
    assert seen and seen[0]["host"] == "obsmem.invalid:8000"
