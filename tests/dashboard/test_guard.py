"""Browser safety without a token, probed over real HTTP (waitress on 127.0.0.1).

DNS rebinding (a foreign Host), cross-site form posts (no JSON content type,
empty bodies included), foreign Origins, made-up HTTP methods flooding the
metrics, and OBSMEM_AUTH_READS=1 without a token.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from obsmem.config import ConfigError, Settings


@pytest.fixture(scope="module")
def server(dash_memory) -> Iterator[dict[str, Any]]:
    from dashboard.app import create_app
    from dashboard.serve import start_in_thread

    app = create_app(dash_memory)  # no token: the loopback default
    running = start_in_thread(app, threads=2)
    yield {"url": running.url, "memory": dash_memory, "app": app}
    running.stop()


def _agent(memory: Any, name: str) -> Any:
    return memory.get_agent(name)


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8000", "127.0.0.1.nip.io", "10.0.0.5"]
)
def test_a_foreign_host_header_is_refused(server, host: str) -> None:
    """DNS rebinding: the page's name now points at 127.0.0.1, its Host header does not."""
    for path in ("/api/agents", "/", "/api/fixes", "/metrics"):
        resp = requests.get(server["url"] + path, headers={"Host": host}, timeout=30)
        assert resp.status_code == 403, (host, path)
        assert "OBSMEM_ALLOWED_HOSTS" in resp.text
    name = "rebind-" + uuid.uuid4().hex[:6]
    resp = requests.post(f"{server['url']}/api/register-agent", json={"name": name},
                         headers={"Host": host}, timeout=30)  # fmt: skip
    assert resp.status_code == 403
    assert _agent(server["memory"], name) is None


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "LOCALHOST", "[::1]"])
def test_loopback_host_names_are_served(server, host: str) -> None:
    port = server["url"].rsplit(":", 1)[1]
    resp = requests.get(
        server["url"] + "/api/agents", headers={"Host": f"{host}:{port}"}, timeout=30
    )
    assert resp.status_code == 200


def test_configured_hosts_are_served(server) -> None:
    app = server["app"]
    app.config["OBSMEM_ALLOWED_HOSTS"] = frozenset({"obsmem.internal"})
    try:
        ok = requests.get(
            server["url"] + "/api/agents", headers={"Host": "obsmem.internal"}, timeout=30
        )
        bad = requests.get(
            server["url"] + "/api/agents", headers={"Host": "evil.example"}, timeout=30
        )
    finally:
        app.config["OBSMEM_ALLOWED_HOSTS"] = None
    assert ok.status_code == 200 and bad.status_code == 403


def test_allowed_hosts_come_from_the_environment() -> None:
    from dashboard.guard import allowed_hosts, host_name

    assert allowed_hosts(Settings.from_env({})) is None
    settings = Settings.from_env({"OBSMEM_ALLOWED_HOSTS": "A.example, b.example ,"})
    assert allowed_hosts(settings) == {"a.example", "b.example"}
    assert host_name("[::1]:8000") == "[::1]" and host_name("Obs.Example:80") == "obs.example"


@pytest.mark.parametrize(
    "ctype",
    [None, "application/x-www-form-urlencoded", "text/plain", "multipart/form-data; boundary=x"],
)
def test_a_cross_site_form_post_with_an_empty_body_creates_nothing(
    server, ctype: str | None
) -> None:
    """What a hostile page's <form method=post> sends: no preflight, no JSON content type."""
    name = "csrf-" + uuid.uuid4().hex[:6]
    headers = {"Origin": "null"} if ctype is None else {"Content-Type": ctype}
    resp = requests.post(f"{server['url']}/api/agents/{name}/heartbeat", data=b"", headers=headers,
                         timeout=30)  # fmt: skip
    assert resp.status_code in (403, 415)
    resp = requests.post(f"{server['url']}/api/agents/{name}/heartbeat", data=b"",
                         headers={} if ctype is None else {"Content-Type": ctype}, timeout=30)  # fmt: skip
    assert resp.status_code == 415
    assert _agent(server["memory"], name) is None


def test_a_foreign_origin_cannot_write_even_as_json(server) -> None:
    name = "origin-" + uuid.uuid4().hex[:6]
    url = f"{server['url']}/api/register-agent"
    resp = requests.post(
        url, json={"name": name}, headers={"Origin": "http://evil.example"}, timeout=30
    )
    assert resp.status_code == 403
    assert _agent(server["memory"], name) is None
    resp = requests.post(url, json={"name": name}, headers={"Origin": server["url"]}, timeout=30)
    assert resp.status_code == 201  # the dashboard's own pages


def test_the_client_still_heartbeats(server) -> None:
    from obsmem.client import Client

    name = "client-" + uuid.uuid4().hex[:6]
    assert Client(server["url"]).heartbeat(name)["agent"]["name"] == name


def test_made_up_methods_do_not_grow_the_metrics(server) -> None:
    url = server["url"]
    requests.get(url + "/api/agents", timeout=30)
    before = len(requests.get(url + "/metrics", timeout=30).content)
    with requests.Session() as s:
        for i in range(300):
            s.request(f"XMETHOD{i}", url + "/api/agents", timeout=30)
    text = requests.get(url + "/metrics", timeout=30).text
    assert "XMETHOD" not in text
    assert len(text) < before + 6_000, (before, len(text))
    assert 'method="other"' in text


def test_auth_reads_without_a_token_is_a_config_error(dash_memory) -> None:
    from dashboard.app import create_app

    with pytest.raises(ConfigError, match="OBSMEM_API_TOKEN"):
        Settings.from_env({"OBSMEM_AUTH_READS": "1"})
    Settings.from_env({"OBSMEM_AUTH_READS": "1", "OBSMEM_API_TOKEN": "t-" + uuid.uuid4().hex})
    with pytest.raises(ConfigError, match="OBSMEM_AUTH_READS"):
        create_app(
            dash_memory, settings=dash_memory.settings.with_(auth_reads=True, api_token=None)
        )
