"""Security end to end: secrets never stored, hostile text is inert, the doors are locked.

Everything runs against the session's real FalkorDB and Postgres and, for the
HTTP side, a real `python -m dashboard.serve` process on 127.0.0.1.
"""

from __future__ import annotations

import ast
import inspect
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from obsmem.memory import Memory
from obsmem.model import ValidationError
from tests.test_redact import AWS_ID, AWS_SECRET, GH, JWT, PEM, STRIPE

ROOT = Path(__file__).resolve().parents[1]
URL_PASSWORD = "s3cr3tPassw0rdXYZ"
SECRETS = [AWS_ID, AWS_SECRET, GH, JWT, STRIPE, URL_PASSWORD, "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn"]


def _graph_dump(mem: Memory) -> str:
    """Every property of every node and relationship, as text."""
    g = mem.manager.graph
    nodes = g._read("MATCH (n) RETURN properties(n) AS p")
    rels = g._read("MATCH ()-[r]->() RETURN properties(r) AS p")
    return json.dumps([r["p"] for r in nodes + rels], default=str)


def _vectors_dump(mem: Memory) -> str:
    """Every row of every table in obsmem's Postgres database, as text."""
    import psycopg

    out = []
    with psycopg.connect(mem.settings.database_url) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        ]
        for t in tables:
            out += [
                r[0] for r in conn.execute(f'SELECT row_to_json(x)::text FROM "{t}" x').fetchall()
            ]
    return "\n".join(out)


# ---------------------------------------------------------------- secrets never stored


def test_secrets_in_every_text_field_never_reach_a_store_or_the_embedder(
    fresh_memory: Memory,
) -> None:
    mem = fresh_memory
    r = mem.remember(
        f"deploy failed: export AWS_ACCESS_KEY_ID={AWS_ID} then aws s3 ls denied",
        f'rotated aws_secret_access_key = "{AWS_SECRET}" and git clone https://{GH}@github.com/acme/app',
        root_cause=f"leaked key in CI logs, cookie session={JWT}; Path=/",
        metadata={
            "env": {"DATABASE_URL": f"postgres://app:{URL_PASSWORD}@db.internal:5432/app"},
            "notes": [f"stripe: {STRIPE}", {"pem": f"key file:\n{PEM}\nthen restart"}],
            "count": 3,
        },
        tags=["ci", "leak"],
        agent="sec-agent",
    )
    assert {
        "aws_access_key",
        "aws_secret_key",
        "github_token",
        "jwt",
        "url_password",
        "stripe_key",
        "private_key",
    } <= set(r.redacted), r.redacted
    mem.recall(f"who used {AWS_ID} with {STRIPE}", k=3)  # queries are cached by the embedder
    assert mem.drain(30)
    graph, vectors = _graph_dump(mem), _vectors_dump(mem)
    cache = "\n".join(mem.manager.embedder._cache)
    outbox = (Path(mem.settings.data_dir) / "outbox.sqlite3").read_bytes().decode("latin-1")
    for secret in SECRETS:
        for where, text in (
            ("graph", graph),
            ("vectors", vectors),
            ("embedder cache", cache),
            ("outbox", outbox),
        ):
            assert secret not in text, f"{secret[:8]}... reached the {where}"
    fix = mem.get_fix(r.id)
    assert fix is not None and "[REDACTED:" in fix.issue and "[REDACTED:" in fix.root_cause
    assert fix.metadata["count"] == 3 and "[REDACTED:" in fix.metadata["env"]["DATABASE_URL"]
    assert "deploy failed" in fix.issue and "aws s3 ls denied" in fix.issue  # the rest is kept


def test_clean_text_is_stored_byte_for_byte_and_reports_nothing(fresh_memory: Memory) -> None:
    issue = "pod api-7f9c6 OOMKilled: sha256 9f86d081884c7d659a2feaea0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a0"
    meta = {"url": "https://grafana.internal/d/abc?orgId=1", "ratio": 0.5}
    r = fresh_memory.remember(issue, "raise limit to 1Gi", metadata=meta)
    assert r.redacted == ()
    fix = fresh_memory.get_fix(r.id)
    assert fix is not None and fix.issue == issue and fix.metadata == meta


def test_secrets_queued_in_the_outbox_are_redacted_too(embedded, embedder, tmp_path) -> None:
    """With the graph unreachable the write waits in the outbox file: redacted there as well."""
    from obsmem.config import Settings
    from tests.conftest import _fresh_db
    from tests.dashboard.tcpproxy import TcpProxy

    proxy, url = TcpProxy.for_url(embedded.falkordb_url())
    settings = Settings(
        data_dir=tmp_path / "q",
        falkordb_url=url,
        falkordb_graph="q_" + uuid.uuid4().hex[:6],
        store_timeout_s=0.5,
        database_url=_fresh_db(embedded.postgres_url(), "q_"),
        demo=False,
    )
    with Memory.open(settings, embedder=embedder, replay=False) as mem:
        proxy.cut()
        r = mem.remember(f"token {GH} leaked", f"revoke {AWS_ID}", metadata={"k": JWT})
        assert "graph" in r.pending
        queued = json.dumps([e.payload for e in mem.manager.outbox.peek("graph")])
    raw = (tmp_path / "q" / "outbox.sqlite3").read_bytes().decode("latin-1")
    wal = tmp_path / "q" / "outbox.sqlite3-wal"
    raw += wal.read_bytes().decode("latin-1") if wal.exists() else ""
    for secret in (GH, AWS_ID, JWT):
        assert secret not in queued and secret not in raw


# ---------------------------------------------------------------- hostile text


HOSTILE = [
    "'}) DETACH DELETE n //",
    '"}) MATCH (n) DETACH DELETE n //',
    "') MATCH (n) SET n.issue = 'pwned' //",
    "'; DROP TABLE fixes; --",
    "\\'; DROP TABLE fixes; --",
    "x' OR '1'='1",
    "$1 $2 %s %(issue)s {issue} {{x}} `n`",
    '*:* OR issue:* AND title:(a OR b)~2^10 "unterminated [ ] { } \\ / ! - + && ||',
    "a & !b | (c <-> d):* & 'e' <2> f",
    "CALL db.idx.fulltext.drop('Fix')",
    "MATCH (n) RETURN n; GRAPH.DELETE obsmem",
    "1); DELETE FROM fixes; SELECT (1",
    "ǘ 🧨 \u202e reversed \u200b zero-width",
]
NAME_FIELDS = ("agent", "service", "namespace", "severity")


def _counts(mem: Memory) -> tuple[dict[str, int], dict[str, int], int]:
    s = mem.manager.graph.stats()
    return dict(s.nodes), dict(s.relationships), mem.manager.vectors.count(None)


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_in_every_field_is_stored_and_returned_unchanged(
    fresh_memory: Memory, text: str
) -> None:
    mem = fresh_memory
    anchor = mem.remember(
        "anchor issue: disk full on node-1", "rotate logs", agent="anchor", service="svc"
    )
    before = _counts(mem)
    names = {f: f"{text[:150]}" for f in NAME_FIELDS}
    r = mem.remember(
        f"issue {text}",
        f"solution {text}",
        root_cause=text,
        tags=[text[:150]],
        metadata={text[:50]: text, "nested": [text]},
        **names,
    )
    fix = mem.get_fix(r.id)
    assert fix is not None
    assert (fix.issue, fix.solution, fix.root_cause) == (f"issue {text}", f"solution {text}", text)
    assert (fix.agent, fix.service, fix.namespace, fix.severity) == tuple(
        names[f].strip() for f in NAME_FIELDS
    )
    assert fix.metadata == {text[:50]: text, "nested": [text]}
    assert list(fix.tags) == [text[:150].strip()]
    row = mem.manager.vectors.get_rows([r.id])[r.id]
    assert (row["issue"], row["solution"]) == (f"issue {text}", f"solution {text}")
    # Reads with the same text as query and as filters: answers, never errors or side effects.
    mem.recall(text, k=5)
    mem.recall(text, k=5, service=text[:150], agent=text[:150])
    mem.get_recent_fixes(limit=5, agent=text[:150], service=text[:150])
    mem.find_similar_issues(text, limit=3)
    mem.feedback(r.id, True, agent=text[:150])
    mem.register_agent(text[:150], server=text[:150])
    g_nodes, g_rels, rows = _counts(mem)
    # Exactly what the calls add: one fix (+ its agent/service/issue nodes), never a deletion.
    assert rows == before[2] + 1
    assert g_nodes["Fix"] == before[0]["Fix"] + 1
    assert all(g_nodes.get(k, 0) >= v for k, v in before[0].items()), (before[0], g_nodes)
    assert all(g_rels.get(k, 0) >= v for k, v in before[1].items()), (before[1], g_rels)
    assert mem.get_fix(anchor.id) is not None
    assert mem.count_fixes() == 2


def test_hostile_text_in_ids_is_refused(fresh_memory: Memory) -> None:
    before = _counts(fresh_memory)
    for text in HOSTILE:
        for call in (
            lambda t: fresh_memory.get_fix(t),
            lambda t: fresh_memory.delete_fix(t),
            lambda t: fresh_memory.feedback(t, True),
            lambda t: fresh_memory.remember("a", "b", id=t),
        ):
            with pytest.raises(ValidationError):
                call(text)
    assert _counts(fresh_memory) == before


# ---------------------------------------------------------------- access control, real server


TOKEN = "sectest-" + uuid.uuid4().hex


@pytest.fixture(scope="module")
def token_server(embedded, tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A real dashboard.serve subprocess with OBSMEM_API_TOKEN and DEBUG logging; yields url and log."""
    from bench.crash import free_port
    from tests.conftest import _fresh_db

    port = free_port()
    log = tmp_path_factory.mktemp("tok") / "server.log"
    env = {
        **os.environ,
        "OBSMEM_DATA_DIR": str(log.parent / "data"),
        "OBSMEM_PORT": str(port),
        "OBSMEM_HOST": "127.0.0.1",
        "FALKORDB_URL": embedded.falkordb_url(),
        "OBSMEM_GRAPH": "tok_" + uuid.uuid4().hex[:6],
        "OBSMEM_DEMO": "0",
        "DATABASE_URL": _fresh_db(embedded.postgres_url(), "tok_"),
        "OBSMEM_THREADS": "2",
        "OBSMEM_API_TOKEN": TOKEN,
        "OBSMEM_LOG_LEVEL": "DEBUG",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard.serve"],
            env=env,
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                requests.get(url + "/health", timeout=2)
                break
            except requests.RequestException:
                assert proc.poll() is None, log.read_text()[-2000:]
                import time

                time.sleep(0.2)
        yield {"url": url, "log": log, "proc": proc}
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def url_map_routes(memory) -> list[tuple[str, str]]:
    from dashboard.app import create_app
    from dashboard.auth import is_read

    app = create_app(memory)
    routes = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", "fix_0000", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS", "GET"}):
            if not is_read(method, path):  # POST /api/recall only reads: it follows the read rule
                routes.append((method, path))
    return routes


def test_no_write_is_answered_without_the_token(token_server, url_map_routes) -> None:
    url = token_server["url"]
    assert len(url_map_routes) >= 5
    bad_headers = [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
        {"Authorization": f"Bearer {TOKEN.upper()}"},
        {"X-Api-Token": TOKEN},
        {"Cookie": f"token={TOKEN}"},
    ]
    for method, path in url_map_routes:
        variants = [
            path,
            path + f"?token={TOKEN}",
            path.replace("/api/", "/api//"),
            path + "/",
            path.upper(),
        ]
        for p in variants:
            for headers in bad_headers:
                resp = requests.request(
                    method,
                    url + p,
                    json={"issue": "x", "solution": "y"},
                    headers=headers,
                    timeout=30,
                )
                assert resp.status_code in (401, 404, 405), (method, p, headers, resp.status_code)
                if resp.status_code == 401:
                    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        # Method override headers do not turn a read into a write.
        resp = requests.get(url + path, headers={"X-HTTP-Method-Override": method}, timeout=30)
        assert resp.status_code < 500
    n = requests.get(url + "/api/fixes", timeout=30).json()["total"]
    assert n == 0  # none of the attempts above wrote anything


def test_pages_carry_security_headers_over_http(token_server) -> None:
    url = token_server["url"]
    for path in ("/", "/fixes", "/agents", "/no-such-page", "/api/fixes"):
        h = requests.get(url + path, timeout=30).headers
        assert "default-src 'self'" in h["Content-Security-Policy"], path
        assert h["X-Content-Type-Options"] == "nosniff" and h["X-Frame-Options"] == "DENY", path
        assert "Server" not in h or "waitress" not in h["Server"].lower()


def test_security_headers_fill_in_what_a_response_does_not_set() -> None:
    """Every header a response lacks is added once; one it sets (in any case) is kept."""
    from flask import Response

    from dashboard.app import SECURITY_HEADERS, _security_headers

    plain = _security_headers(Response("{}", mimetype="application/json"))
    for k, v in SECURITY_HEADERS.items():
        assert plain.headers.getlist(k) == [v]
    assert plain.headers.getlist("Cache-Control") == ["no-store"]
    own = Response("x", mimetype="application/json")
    own.headers["x-frame-options"] = "SAMEORIGIN"
    own.headers["Cache-Control"] = "max-age=60"
    own = _security_headers(own)
    assert own.headers.getlist("X-Frame-Options") == ["SAMEORIGIN"]
    assert own.headers.getlist("Cache-Control") == ["max-age=60"]
    assert own.headers["Referrer-Policy"] == "no-referrer"
    page = _security_headers(Response("<p>", mimetype="text/html"))
    assert "Cache-Control" not in page.headers


def test_writes_with_the_token_work_and_the_token_is_never_logged(token_server) -> None:
    url, auth = token_server["url"], {"Authorization": f"Bearer {TOKEN}"}
    resp = requests.post(
        url + "/api/remember",
        json={"issue": "token test", "solution": "ok"},
        headers=auth,
        timeout=120,
    )
    assert resp.status_code == 201, resp.text
    fid = resp.json()["id"]
    assert (
        requests.post(
            url + f"/api/fixes/{fid}/feedback",
            json={"success": True},
            headers={"authorization": f"bearer {TOKEN}"},
            timeout=30,
        ).status_code
        == 200
    )
    # Error paths log more: a bad body, an unknown id, a 404, a token in the query string.
    requests.post(
        url + "/api/remember",
        data=b"{not json",
        headers={**auth, "Content-Type": "application/json"},
        timeout=30,
    )
    requests.get(url + f"/api/fixes/nope?token={TOKEN}", headers=auth, timeout=30)
    requests.get(url + f"/no/such/page/{TOKEN}", timeout=30)
    requests.post(
        url + "/api/register-agent",
        json={"name": TOKEN[:5]},
        headers={"Authorization": f"Bearer {TOKEN}z"},
        timeout=30,
    )
    proc = token_server["proc"]
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)
    text = token_server["log"].read_text()
    assert "obsmem serving on" in text and "DEBUG" in text  # the log was really captured
    assert TOKEN not in text


def test_token_comparison_is_constant_time() -> None:
    """The token check goes through hmac.compare_digest and nothing else compares it."""
    from dashboard import auth

    src = inspect.getsource(auth.token_ok)
    assert "hmac.compare_digest" in src
    tree = ast.parse(src.strip())
    for node in ast.walk(tree):
        if isinstance(node, ast.Compare):
            names = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)}
            assert not names & {"given", "expected"}, ast.unparse(node)


def test_settings_never_show_secrets() -> None:
    from obsmem.config import Settings

    s = Settings.from_env(
        {
            "OBSMEM_API_TOKEN": TOKEN,
            "NEO4J_PASSWORD": "neo-secret-1",
            "DATABASE_URL": "postgres://u:pg-secret-2@h/db",
            "FALKORDB_URL": "redis://:fk-secret-3@h:1",
        }
    )
    for secret in (TOKEN, "neo-secret-1", "pg-secret-2", "fk-secret-3"):
        assert secret not in repr(s) and secret not in str(s)


# ---------------------------------------------------------------- no default credentials


PRODUCTION = [p for d in ("obsmem", "dashboard", "scripts") for p in (ROOT / d).rglob("*.py")]
_LITERAL_SECRET = re.compile(
    r"""(?ix)
    (password|passwd|secret|api_token|token)\w*\s*[=:]\s*["'][^"'$<{]{3,}["']   # password = "x"
    | \.get\(\s*["'](NEO4J_PASSWORD|OBSMEM_API_TOKEN|DATABASE_URL)["']\s*,\s*["'][^"']+["']  # env default
    | auth\s*=\s*\(\s*["'][^"']+["']\s*,\s*["'][^"']+["']                       # auth=("neo4j","x")
    | \b(changeme|neo4j/neo4j|neo4j/password|postgres:postgres@)\b
    """
)


def test_no_default_credentials_in_production_code() -> None:
    hits = []
    for path in PRODUCTION:
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if _LITERAL_SECRET.search(line) and "noqa: secret-ok" not in line:
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, "\n".join(hits)


def test_neo4j_password_comes_only_from_the_environment() -> None:
    from obsmem.config import ConfigError, Settings

    s = Settings.from_env({"NEO4J_URI": "bolt://db:7687"})
    assert s.neo4j_password is None
    with pytest.raises(ConfigError, match="NEO4J_PASSWORD"):
        s.check_serve()
    assert (
        Settings.from_env({"NEO4J_URI": "bolt://db:7687", "NEO4J_PASSWORD": "p"}).neo4j_password
        == "p"
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.10"])
def test_cli_refuses_a_public_bind_without_a_token(host: str, tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OBSMEM_API_TOKEN"}
    env.update(OBSMEM_HOST=host, OBSMEM_DATA_DIR=str(tmp_path / "d"), OBSMEM_DEMO="0")
    out = subprocess.run(
        [str(Path(sys.executable).parent / "obsmem"), "serve"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode != 0
    assert "OBSMEM_API_TOKEN" in out.stdout + out.stderr
    assert not (tmp_path / "d" / "postgres").exists()  # refused before starting anything
