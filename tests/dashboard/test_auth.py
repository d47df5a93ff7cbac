"""Token auth: writes need it, reads too with auth_reads; /health stays open but says little."""

from __future__ import annotations

import logging
import re
import uuid

import pytest

from dashboard.auth import is_read
from tests.dashboard.conftest import TOKEN

READS = {"GET", "HEAD", "OPTIONS"}
BEARER = {"Authorization": f"Bearer {TOKEN}"}


def _routes(app):
    """Every (method, concrete path) the app serves, with placeholders filled in."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "placeholder", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path


def test_every_write_route_refuses_without_a_token(token_app):
    client = token_app.test_client()
    writes = [(m, p) for m, p in _routes(token_app) if not is_read(m, p)]  # POST /api/recall reads
    assert len(writes) >= 5
    for method, path in writes:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": TOKEN},
            {"Authorization": f"Basic {TOKEN}"},
        ):
            resp = client.open(path, method=method, json={}, headers=headers)
            assert resp.status_code == 401, (method, path, headers)
            assert resp.get_json()["error"]["code"] == "unauthorized"
            assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_writes_work_with_the_token_and_reads_stay_open(token_app):
    client = token_app.test_client()
    name = "tok-" + uuid.uuid4().hex[:6]
    resp = client.post("/api/register-agent", json={"name": name}, headers=BEARER)
    assert resp.status_code == 201
    assert client.get("/api/agents").status_code == 200
    assert client.get("/").status_code == 200
    assert client.get("/health").get_json()["stores"]


def test_every_read_route_needs_the_token_when_reads_are_protected(locked_app):
    client = locked_app.test_client()
    open_paths = {"/health", "/openapi.json"}
    for method, path in _routes(locked_app):
        if (
            not is_read(method, path)
            or path in open_paths
            or not path.startswith(("/api/", "/metrics"))
        ):
            continue
        body = {"json": {"q": "disk"}} if method == "POST" else {}  # a read by POST is still JSON
        assert client.open(path, method=method, **body).status_code == 401, path
        assert client.open(path, method=method, headers=BEARER, **body).status_code != 401, path


def test_health_reveals_only_the_status_without_the_token(locked_app):
    client = locked_app.test_client()
    assert set(client.get("/health").get_json()) == {"status"}
    assert "stores" in client.get("/health", headers=BEARER).get_json()


def test_pages_render_locked_without_data(locked_app, seeded):
    client = locked_app.test_client()
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="locked-banner"' in html
    assert "k8s-watcher" not in html
    fixes = client.get("/fixes").get_data(as_text=True)
    assert "payments" not in fixes
    detail = client.get(f"/fixes/{seeded['payments-api']}").get_data(as_text=True)
    assert "OOMKilled" not in detail
    assert client.get("/static/app.js").status_code == 200


def test_token_is_never_logged(token_app, caplog):
    client = token_app.test_client()
    with caplog.at_level(logging.DEBUG):
        client.post(
            "/api/register-agent", json={"name": "x"}, headers={"Authorization": "Bearer nope"}
        )
        client.post("/api/register-agent", json={"name": "logged"}, headers=BEARER)
        client.get("/api/fixes/%20", headers=BEARER)
    assert TOKEN not in caplog.text


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3"])
def test_serving_beyond_loopback_without_a_token_is_refused(dash_settings, host):
    from dashboard.serve import serve
    from obsmem.config import ConfigError

    with pytest.raises(ConfigError, match="OBSMEM_API_TOKEN"):
        serve(dash_settings.with_(host=host))
