"""Reads while a store is out: real SIGKILL / SIGSTOP of the embedded servers, real HTTP retries.

Every page and read endpoint answers 200 with `degraded: true` while one store
answers (404 where the request itself is wrong), the pages show the banner, a
write retried after a lost response counts once in both stores, and after the
store comes back nothing written meanwhile is missing and the banner is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import psutil
import pytest

from obsmem.config import Settings
from obsmem.memory import Memory

AGENTS = [("deg-watcher", "node-1"), ("deg-guardian", "db-1")]
SEED = [
    {"issue": f"degraded seed {i}: checkout pods crash-loop with exit code {130 + i} after config push",
     "solution": f"Revert config revision {i} and restart the checkout deployment",
     "service": "checkout", "agent": AGENTS[i % 2][0], "success": i % 3 != 0,
     "root_cause": ["bad_config", "memory_leak"][i % 2]}
    for i in range(12)
]  # fmt: skip


@pytest.fixture(scope="module")
def owned(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[Memory]:
    """A Memory that owns its embedded servers, with short timeouts so hangs are quick to meet."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("degraded"), demo=False,
                        read_timeout_s=0.5, store_timeout_s=2.0)  # fmt: skip
    mem = Memory.open(settings, embedder=embedder)
    for name, server in AGENTS:
        mem.register_agent(name, server=server)
    mem.remember_many(SEED)
    assert mem.drain(30)
    mem.get_all_agents()  # the last-known copy shown while the graph is down
    yield mem
    mem.close()
    assert mem.manager.embedded is not None
    mem.manager.embedded.stop(force=True)


@pytest.fixture(scope="module")
def client(owned: Memory) -> Any:
    from dashboard.app import create_app

    return create_app(owned).test_client()


def _procs(store: str, mem: Memory) -> list[psutil.Process]:
    emb = mem.manager.embedded
    assert emb is not None
    pid = emb.falkor.pid() if store == "graph" else emb.postgres.pid()
    assert pid is not None
    main = psutil.Process(pid)
    return [main, *main.children(recursive=True)]  # Postgres: postmaster and every backend


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@contextlib.contextmanager
def outage(mem: Memory, store: str, sig: signal.Signals) -> Iterator[None]:
    """The store SIGKILLed (restarted by supervision afterwards) or SIGSTOPped (SIGCONT afterwards)."""
    emb = mem.manager.embedded
    assert emb is not None
    with emb.supervision_paused():
        procs = _procs(store, mem)
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                os.kill(p.pid, sig)
        if sig == signal.SIGKILL:
            deadline = time.monotonic() + 10
            while not all(_gone(p.pid) for p in procs) and time.monotonic() < deadline:
                time.sleep(0.05)
        try:
            yield
        finally:
            if sig == signal.SIGSTOP:
                for p in procs:
                    with contextlib.suppress(psutil.NoSuchProcess):
                        os.kill(p.pid, signal.SIGCONT)
    _wait_back(mem, store)


def _wait_back(mem: Memory, store: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not mem.manager.is_down(store) and mem.manager.store_health(store).ok:
            return
        time.sleep(0.2)
    raise AssertionError(f"{store} did not come back: {mem.manager.store_health(store)}")


def _health_settles(client: Any, store: str, state: str, timeout: float = 5.0) -> dict[str, Any]:
    """/health names the outage precisely once the breaker's probe has looked (every 0.5 s)."""
    deadline = time.monotonic() + timeout
    while True:
        health = client.get("/health").get_json()["stores"][store]
        if health["state"] == state or time.monotonic() > deadline:
            assert health["state"] == state, health
            return health
        time.sleep(0.2)


def _reads(fix_id: str) -> list[tuple[str, bool]]:
    """(path, is JSON) for every page and read endpoint."""
    return [
        ("/", False), ("/fixes", False), ("/fixes?q=checkout+crash-loop", False),
        (f"/fixes/{fix_id}", False), ("/agents", False), ("/charts", False),
        ("/api/state", True), ("/api/agents", True), ("/api/fixes", True),
        ("/api/fixes?q=checkout+crash-loop", True), (f"/api/fixes/{fix_id}", True),
        ("/api/stats", True), ("/api/similar?q=checkout+pods+crash", True),
        ("/api/recall?q=checkout+pods+crash", True), (f"/api/graph/{fix_id}", True),
    ]  # fmt: skip


def _fix_id(mem: Memory) -> str:
    return mem.remember(**SEED[1]).id  # an existing fix (duplicate): its id


CASES = [("graph", signal.SIGKILL), ("graph", signal.SIGSTOP),
         ("vectors", signal.SIGKILL), ("vectors", signal.SIGSTOP)]  # fmt: skip


@pytest.mark.parametrize(("store", "sig"), CASES, ids=[f"{s}-{g.name}" for s, g in CASES])
def test_every_read_answers_degraded_while_one_store_is_out(
    owned: Memory, client: Any, store: str, sig: signal.Signals
) -> None:
    fix_id = _fix_id(owned)
    assert owned.drain(30)
    other = "vectors" if store == "graph" else "graph"
    tag = f"outage-{store}-{sig.name}-{uuid.uuid4().hex[:6]}"
    with outage(owned, store, sig):
        for path, is_json in _reads(fix_id):
            resp = client.get(path)
            assert resp.status_code == 200, (
                path,
                resp.status_code,
                resp.get_data(as_text=True)[:300],
            )
            if is_json:
                body = resp.get_json()
                assert body["degraded"] is True, path
                assert store not in body["served_by"] and other in body["served_by"], (
                    path,
                    body["served_by"],
                )
            else:
                assert 'data-testid="degraded-banner"' in resp.get_data(as_text=True), path
        assert client.get("/api/fixes/no-such-fix-id").status_code == 404
        listed = client.get("/api/fixes?limit=50").get_json()
        assert listed["total"] >= len(SEED) and len(listed["fixes"]) >= len(SEED)
        agents = client.get("/api/agents").get_json()
        if store == "graph":  # agents live in the graph: the labelled last-known copy
            assert {a["name"] for a in agents["agents"]} >= {n for n, _ in AGENTS}
            assert agents["unavailable"]["agents"]["copy_age_s"] is not None
            assert agents["unavailable"]["agents"]["graph_last_seen"]
            detail = client.get(f"/api/fixes/{fix_id}").get_json()
            assert detail["outcomes_unavailable"]["reason"] == "graph unavailable"
        health = _health_settles(client, store, "down" if sig == signal.SIGKILL else "hanging")
        assert not health["ok"] and health["since"] and health["error"]
        written = [client.post("/api/remember", json={"issue": f"{tag} write {i}: queue lag on orders topic",
                                                       "solution": f"scale consumer group {i}"}).get_json()
                   for i in range(5)]  # fmt: skip
        assert all(store in w["pending"] for w in written)
    # Back: no banner, nothing missing.
    assert owned.drain(60)
    body = client.get("/api/state").get_json()
    assert body["degraded"] is False and set(body["served_by"]) == {"graph", "vectors"}
    assert 'data-testid="degraded-banner"' not in client.get("/").get_data(as_text=True)
    ids = sorted({w["id"] for w in written})
    assert set(owned.manager.graph.get_fixes(ids)) == set(ids)
    assert set(owned.manager.vectors.get_rows(ids)) == set(ids)
    health = client.get("/health").get_json()["stores"][store]
    assert health["ok"] and health["state"] in ("up", "slow") and health["last_error"]


def test_a_hang_costs_one_read_timeout_then_fails_fast(owned: Memory) -> None:
    """After the first read meets the hang, the breaker is open: the next reads do not wait on it."""
    with outage(owned, "graph", signal.SIGSTOP):
        owned.get_recent_fixes(limit=5)  # meets the hang (<= read timeout), opens the breaker
        assert owned.manager.is_down("graph")
        assert owned.manager.store_health("graph").state == "hanging"


# ---------------------------------------------------------------- lost responses


class DroppingProxy:
    """An HTTP forwarder that drops every other response after the server has answered it."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.dropped = 0
        self._n = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    @staticmethod
    def _read_request(conn: socket.socket) -> bytes:
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return data
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value.strip())
        while len(body) < length:
            body += conn.recv(65536)
        head = b"\r\n".join(
            line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")
        )
        return head + b"\r\nConnection: close\r\n\r\n" + body

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            request = self._read_request(conn)
            if not request:
                return
            with socket.create_connection(("127.0.0.1", self.upstream_port), timeout=30) as up:
                up.sendall(request)
                response = b""
                while chunk := up.recv(65536):
                    response += chunk
            self._n += 1
            if self._n % 2 == 1:  # the server has answered; the client never hears it
                self.dropped += 1
                conn.shutdown(socket.SHUT_RDWR)
                return
            conn.sendall(response)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.listener.close()


@pytest.fixture(scope="module")
def lossy_url(owned: Memory) -> Iterator[tuple[str, DroppingProxy]]:
    from dashboard.app import create_app
    from dashboard.serve import start_in_thread

    running = start_in_thread(create_app(owned), port=0, threads=4)
    port = int(running.server.effective_port)
    proxy = DroppingProxy(port)
    yield f"http://127.0.0.1:{proxy.port}", proxy
    proxy.close()
    running.stop()


def _counts(mem: Memory, fix_id: str) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    g = mem.manager.graph.get_fix(fix_id)
    v = mem.manager.vectors.get_rows([fix_id])[fix_id]
    return (g.occurrences, g.successes, g.failures), (
        v["occurrences"],
        v["successes"],
        v["failures"],
    )


def test_retried_writes_count_once_in_both_stores(
    owned: Memory, lossy_url: tuple[str, Any]
) -> None:
    from obsmem.client import Client

    url, proxy = lossy_url
    tag = uuid.uuid4().hex[:8]
    with Client(url, retries=3, timeout=30) as c:
        first = c.remember(
            f"retry {tag}: orders API p99 latency 4s after index drop",
            "Recreate the orders_created_at index concurrently",
            agent="retry-agent",
        )
        c.feedback(first["id"], True, agent="retry-agent")
        c.register_agent("retry-agent", server="node-9")
    assert proxy.dropped >= 3  # every call lost its first answer and was retried
    assert owned.drain(30)
    assert _counts(owned, first["id"]) == ((1, 1, 0), (1, 1, 0))


def test_retried_writes_count_once_through_the_outbox(
    owned: Memory, lossy_url: tuple[str, Any]
) -> None:
    """The retry of a write queued for a store that is down replays as the same event: still once."""
    from obsmem.client import Client

    url, _proxy = lossy_url
    tag = uuid.uuid4().hex[:8]
    with Client(url, retries=3, timeout=30) as c:
        with outage(owned, "graph", signal.SIGKILL):
            fix = c.remember(
                f"replayed {tag}: kafka consumer lag on payments topic",
                "Add two partitions and rebalance the consumer group",
            )
            assert fix["pending"] == ["graph"]
            c.feedback(fix["id"], False)
        assert owned.drain(60)
    assert _counts(owned, fix["id"]) == ((1, 0, 1), (1, 0, 1))


def test_without_a_key_a_resent_write_counts_twice(owned: Memory) -> None:
    """The control: the same remember sent twice as two logical calls is two occurrences."""
    tag = uuid.uuid4().hex[:8]
    item = {"issue": f"control {tag}: redis evictions spike", "solution": "raise maxmemory to 4gb"}
    a = owned.remember(**item)
    owned.remember(**item)
    k = owned.remember(**item, idempotency_key=f"k-{tag}")
    owned.remember(**item, idempotency_key=f"k-{tag}")
    assert owned.drain(30)
    assert a.id == k.id
    assert _counts(owned, a.id)[0][0] == 3 and _counts(owned, a.id)[1][0] == 3


# ---------------------------------------------------------------- the banner in a browser

CHROMIUM = "/usr/bin/chromium"


@pytest.mark.browser
@pytest.mark.skipif(
    not os.path.exists(CHROMIUM), reason=f"{CHROMIUM} is missing: apt-get install -y chromium"
)
def test_chromium_shows_the_banner_and_the_fix_list_then_drops_it(owned: Memory) -> None:
    from playwright.sync_api import sync_playwright

    from dashboard.app import create_app
    from dashboard.serve import start_in_thread

    running = start_in_thread(create_app(owned), "127.0.0.1", 0, threads=4)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page()
            page.set_default_timeout(15_000)
            with outage(owned, "graph", signal.SIGSTOP):
                page.goto(running.url + "/")
                banner = page.get_by_test_id("degraded-banner")
                assert banner.is_visible()
                assert "graph" in banner.inner_text()
                assert page.get_by_test_id("recent-fixes").locator("li").count() >= 5
            page.reload()
            assert page.get_by_test_id("degraded-banner").count() == 0
            assert page.get_by_test_id("recent-fixes").locator("li").count() >= 5
            browser.close()
    finally:
        running.stop()


# ---------------------------------------------------------------- obsmem health


@pytest.mark.parametrize("graph_state", ["down", "hanging"])
def test_cli_health_says_down_or_hanging_since_when(
    graph_state: str, embedded: Any, tmp_path: Any
) -> None:
    """A graph that refuses (nothing listens) or hangs (listens, never answers), Postgres up."""
    from click.testing import CliRunner

    from obsmem.cli import cli
    from tests.conftest import _fresh_db

    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts (backlog), never answers
        port = silent.getsockname()[1]
        if graph_state == "down":
            silent.close()
        env = {"OBSMEM_DATA_DIR": str(tmp_path / "d"), "FALKORDB_URL": f"redis://127.0.0.1:{port}",
               "DATABASE_URL": _fresh_db(embedded.postgres_url(), "clih_"), "OBSMEM_READ_TIMEOUT": "0.5",
               "OBSMEM_STORE_TIMEOUT": "1", "OBSMEM_DEMO": "0"}  # fmt: skip
        result = CliRunner().invoke(cli, ["health"], env=env, catch_exceptions=False)
        as_json = CliRunner().invoke(cli, ["health", "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output  # degraded, not unhealthy: Postgres answers
    graph_line = next(
        line for line in result.stdout.splitlines() if line.strip().startswith("graph")
    )
    assert f"{graph_state.upper()} since " in graph_line, result.stdout
    vectors_line = next(
        line for line in result.stdout.splitlines() if line.strip().startswith("vectors")
    )
    assert " ms" in vectors_line and ("up" in vectors_line or "slow" in vectors_line), result.stdout
    report = json.loads(as_json.stdout)["stores"]["graph"]
    assert report["state"] == graph_state and report["since"] and report["error"]


def test_read_answer_adds_the_trace_before_encoding_and_keeps_the_bodys_own_fields() -> None:
    """The recall view's answer is encoded once, with the same trace fields the
    after-request hook would add to any other read."""
    from flask import Flask

    from dashboard import degraded
    from obsmem import served

    app = Flask(__name__)
    degraded.install(app)
    dumps: list[int] = []
    real_dumps = app.json.dumps
    app.json.dumps = lambda obj, **kw: dumps.append(1) or real_dumps(obj, **kw)  # type: ignore[method-assign]

    @app.post("/api/recall")
    def recall() -> Any:
        served.served("vectors")
        served.missing("graph", "down: connection refused")
        return degraded.read_answer({"hits": [], "served_by": ["vectors"], "query": "q"})

    resp = app.test_client().post("/api/recall", data="{}", content_type="application/json")
    body = resp.get_json()
    assert resp.status_code == 200 and len(dumps) == 1
    assert body["served_by"] == ["vectors"] and body["query"] == "q"
    assert body["degraded"] is True
    assert (
        "graph" in body["degraded_reason"] and "refused" in body["unavailable"]["graph"]["message"]
    )
