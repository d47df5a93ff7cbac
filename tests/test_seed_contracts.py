"""Every example of the original control-plane ops guide, verbatim, in-process and over HTTP.

Agents written against that guide (scripts/database_helpers.py's `db_manager`,
scripts/agent_memory.py, the dashboard's HTTP API) must keep working unchanged.
The examples below are copied from the guide character for character and run
with `exec`, against the real embedded stores: in-process, and through a real
waitress server with OBSMEM_URL set. The assertions are the fields and types
the guide documents.
"""

from __future__ import annotations

import importlib
import logging
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema.validators import Draft202012Validator

from obsmem.config import ConfigError, Settings

TOKEN = "seed-" + uuid.uuid4().hex  # made up per run; never a real secret
REPO = Path(__file__).resolve().parents[1]
GUIDE_NAME = "control-plane-ops-guide.md"

# ---------------------------------------------------------------- the guide's examples, verbatim

DB_USAGE = """from scripts.database_helpers import db_manager

# Get recent fixes
fixes = db_manager.get_recent_fixes(limit=20)

# Register an agent
db_manager.register_agent("agent-1", "server-1")

# Find similar issues
similar = db_manager.find_similar_issues("connection", limit=5)

# Get database stats
stats = db_manager.get_database_stats()
"""

MEMORY_USAGE = """from scripts.agent_memory import recall, remember, get_all_agents

# Store a fix
remember("issue:connection-timeout", "Increased timeout to 30s",
         metadata={"success": True})

# Recall similar fixes
fixes = recall("issue:connection", limit=10)

# Get all registered agents
agents = get_all_agents()
"""

STORING = """from scripts.agent_memory import remember

remember(
    "issue:connection-timeout",
    "Increased timeout to 30s and added retry logic",
    metadata={"success": True, "server": "prod-1"}
)
"""

SIMILAR = """from scripts.agent_memory import find_similar_issues

# Find all connection-related issues
similar = find_similar_issues("connection", limit=10)
for issue in similar:
    print(f"{issue['issue']}: {issue['solution']}")
    print(f"  Occurred {issue['occurrence_count']} times")
"""

REGISTERING = """from scripts.agent_memory import register_agent

# Register agent with server info
success = register_agent("obs-agent-1", "prod-server-1")
"""

AGENT_HEALTH = """from scripts.agent_memory import get_all_agents
from datetime import datetime, timedelta

agents = get_all_agents()
now = datetime.now().timestamp() * 1000

for agent in agents:
    last_seen = agent.get('last_seen', 0)
    age = (now - last_seen) / 1000 / 60  # minutes

    if age > 60:
        print(f"⚠ Agent {agent['name']} hasn't reported in {age:.0f} minutes")
    else:
        print(f"✓ Agent {agent['name']} is healthy")
"""

ERROR_HANDLING = """from scripts.database_helpers import db_manager

# Check database availability
stats = db_manager.get_database_stats()
if not stats['neo4j_connected']:
    print("⚠ Neo4j is not connected")
if not stats['memori_available']:
    print("⚠ Memori is not available")

# Operations still work, just return empty results
fixes = db_manager.get_recent_fixes()  # Returns [] if Neo4j down
"""

EXAMPLES = [DB_USAGE, MEMORY_USAGE, STORING, SIMILAR, REGISTERING, AGENT_HEALTH, ERROR_HANDLING]


def _guide() -> Path | None:
    for base in (REPO.parent, REPO.parent.parent):
        path = base / "shared" / "reference" / GUIDE_NAME
        if path.is_file():
            return path
    return None


def test_the_examples_here_are_the_guides_verbatim() -> None:
    guide = _guide()
    if guide is None:
        pytest.skip(f"{GUIDE_NAME} is not next to this checkout (../shared/reference/)")
    text = guide.read_text(encoding="utf-8")
    for example in EXAMPLES:
        assert example in text, example.splitlines()[0]


def run(example: str) -> dict[str, Any]:
    """Run a guide example as an agent would (a fresh namespace); its variables come back."""
    namespace: dict[str, Any] = {"__name__": "guide_example"}
    exec(compile(example, "<guide example>", "exec"), namespace)  # our own constants, above
    return namespace


# ---------------------------------------------------------------- stores, server, modes


@pytest.fixture(scope="module")
def guide_settings(embedded, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from tests.conftest import _fresh_db

    return Settings(
        data_dir=tmp_path_factory.mktemp("guide"),
        falkordb_url=embedded.falkordb_url(),
        falkordb_graph="guide_" + uuid.uuid4().hex[:8],
        database_url=_fresh_db(embedded.postgres_url(), "guide_"),
        demo=False,
    )


@pytest.fixture(scope="module")
def guide_memory(guide_settings: Settings, embedder) -> Iterator[Any]:
    from obsmem.memory import Memory

    mem = Memory.open(guide_settings, embedder=embedder)
    mem.register_agent("stale-agent", "old-host")  # registered now: healthy in the guide's sense
    mem.remember(
        "connection refused by orders-db on port 5432 after failover",
        "Point the pool at the new primary and restart the orders api",
        success=True,
    )
    yield mem
    mem.close()


@pytest.fixture(scope="module")
def server(guide_memory: Any) -> Iterator[str]:
    """A real waitress server over the same stores; writes need TOKEN, reads are open."""
    from dashboard.app import create_app
    from dashboard.serve import start_in_thread

    app = create_app(guide_memory, settings=guide_memory.settings.with_(api_token=TOKEN))
    running = start_in_thread(app, "127.0.0.1", 0, threads=4)
    yield running.url
    running.stop()


@pytest.fixture
def modules() -> Iterator[tuple[Any, Any]]:
    """scripts.agent_memory and scripts.database_helpers, as an agent imports them; reset after."""
    am = importlib.import_module("scripts.agent_memory")
    dh = importlib.import_module("scripts.database_helpers")
    yield am, dh
    dh.db_manager.close()
    am._backend = None
    am._manager = None


@pytest.fixture(params=["in-process", "http"])
def mode(request, modules, guide_memory, server, monkeypatch) -> str:
    """In-process: the module singletons run on the test's Memory. HTTP: they open a Client
    themselves from OBSMEM_URL / OBSMEM_API_TOKEN, as a deployed agent does."""
    am, dh = modules
    dh.db_manager.close()
    am._backend = am._manager = None
    if request.param == "in-process":
        monkeypatch.delenv("OBSMEM_URL", raising=False)
        dh.db_manager.backend = guide_memory
    else:
        monkeypatch.setenv("OBSMEM_URL", server)
        monkeypatch.setenv("OBSMEM_API_TOKEN", TOKEN)
    return request.param


# ---------------------------------------------------------------- documented shapes


def assert_fix(fix: dict[str, Any]) -> None:
    assert isinstance(fix["issue"], str) and fix["issue"]
    assert isinstance(fix["solution"], str) and fix["solution"]
    assert isinstance(fix["timestamp"], int) and not isinstance(fix["timestamp"], bool)
    assert fix["timestamp"] == fix["ts"]  # the guide's name beside obsmem's
    assert abs(fix["timestamp"] / 1000 - datetime.now().timestamp()) < 86_400  # epoch ms, recent
    assert fix["success"] is None or isinstance(fix["success"], bool)


def assert_issue(issue: dict[str, Any]) -> None:
    assert isinstance(issue["issue"], str) and issue["issue"]
    assert isinstance(issue["solution"], str) and issue["solution"]
    assert isinstance(issue["occurrence_count"], int) and issue["occurrence_count"] >= 1


def assert_agent(agent: dict[str, Any]) -> None:
    assert isinstance(agent["name"], str)
    assert isinstance(agent["status"], str)
    assert agent["server"] is None or isinstance(agent["server"], str)
    assert isinstance(agent["last_seen"], int) and agent["last_seen"] > 1_600_000_000_000  # ms


# ---------------------------------------------------------------- Python API, both modes


def test_storing_a_fix(mode: str, guide_memory: Any) -> None:
    run(STORING)
    fixes = guide_memory.get_recent_fixes(limit=50)
    stored = [f for f in fixes if f.solution == "Increased timeout to 30s and added retry logic"]
    assert stored and stored[0].issue == "issue:connection-timeout"
    assert stored[0].success is True and stored[0].metadata == {"server": "prod-1"}


def test_agent_memory_usage(mode: str) -> None:
    ns = run(MEMORY_USAGE)
    assert isinstance(ns["fixes"], list) and ns["fixes"]
    assert any(f["solution"] == "Increased timeout to 30s" for f in ns["fixes"])
    assert all(isinstance(f["issue"], str) and isinstance(f["solution"], str) for f in ns["fixes"])
    assert isinstance(ns["agents"], list) and ns["agents"]
    for agent in ns["agents"]:
        assert_agent(agent)


def test_database_helpers_usage(mode: str) -> None:
    run(STORING)
    ns = run(DB_USAGE)
    assert isinstance(ns["fixes"], list) and ns["fixes"]
    for fix in ns["fixes"]:
        assert_fix(fix)
    assert any(
        f["issue"] == "issue:connection-timeout" and f["success"] is True for f in ns["fixes"]
    )
    assert isinstance(ns["similar"], list) and ns["similar"]
    for issue in ns["similar"]:
        assert_issue(issue)
    assert any("connection" in i["issue"] for i in ns["similar"])
    stats = ns["stats"]
    assert stats["neo4j_connected"] is True and stats["memori_available"] is True
    assert isinstance(stats["total_fixes"], int) and stats["total_fixes"] >= 2
    db = ns["db_manager"]
    assert db.register_agent("agent-1", "server-1") is True
    assert {"name": "agent-1", "server": "server-1"}.items() <= db.get_agent("agent-1").items()
    assert (
        db.remember_fix(
            "connection reset by peer on the payments gateway",
            "Enable TCP keepalive on the gateway pool",
            success=True,
        )
        is True
    )


def test_querying_similar_issues(mode: str, capsys) -> None:
    run(STORING)
    ns = run(SIMILAR)
    out = capsys.readouterr().out
    assert ns["similar"], "connection issues were stored, so some must be similar"
    for issue in ns["similar"]:
        assert_issue(issue)
        assert f"{issue['issue']}: {issue['solution']}" in out
    assert "issue:connection-timeout: " in out
    assert "  Occurred " in out and " times" in out


def test_registering_an_agent(mode: str) -> None:
    ns = run(REGISTERING)
    assert ns["success"] is True


def test_getting_agent_health(mode: str, capsys) -> None:
    run(REGISTERING)
    ns = run(AGENT_HEALTH)
    out = capsys.readouterr().out
    assert "✓ Agent obs-agent-1 is healthy" in out
    for agent in ns["agents"]:
        assert_agent(agent)


def test_error_handling_example_with_the_stores_up(mode: str, capsys) -> None:
    ns = run(ERROR_HANDLING)
    assert "not connected" not in capsys.readouterr().out
    assert isinstance(ns["fixes"], list) and ns["fixes"]
    for fix in ns["fixes"]:
        assert_fix(fix)


def test_same_shapes_in_process_and_over_http(modules, guide_memory, server, monkeypatch) -> None:
    """Every agent_memory function answers with the same keys whichever way it is connected."""
    am, dh = modules
    calls = {
        "remember": lambda: am.remember(
            "issue:disk-full", "Rotated logs", metadata={"success": True}
        ),
        "recall": lambda: am.recall("issue:connection", limit=3),
        "get_recent_fixes": lambda: am.get_recent_fixes(limit=5),
        "get_all_agents": am.get_all_agents,
        "register_agent": lambda: am.register_agent("shape-agent", "shape-host"),
        "find_similar_issues": lambda: am.find_similar_issues("connection", limit=3),
    }

    def shapes() -> dict[str, Any]:
        out = {}
        for name, call in calls.items():
            value = call()
            if isinstance(value, list):
                assert value, name
                out[name] = ("list", sorted(value[0]))
            elif isinstance(value, dict):
                out[name] = ("dict", sorted(value))
            else:
                out[name] = (type(value).__name__, value)
        return out

    dh.db_manager.backend = guide_memory
    local = shapes()
    dh.db_manager.close()
    am._backend = am._manager = None
    monkeypatch.setenv("OBSMEM_URL", server)
    monkeypatch.setenv("OBSMEM_API_TOKEN", TOKEN)
    remote = shapes()
    assert dh.db_manager.backend.base_url == server  # really went over HTTP
    assert local == remote
    assert local["register_agent"] == ("bool", True)


def test_db_manager_opens_lazily_from_the_environment(
    modules, guide_settings, guide_memory, monkeypatch, tmp_path
) -> None:
    """No OBSMEM_URL: the first call opens a Memory from the same env as everything else."""
    _am, dh = modules
    dh.db_manager.close()
    monkeypatch.delenv("OBSMEM_URL", raising=False)
    monkeypatch.setenv("OBSMEM_DATA_DIR", str(tmp_path / "lazy"))
    monkeypatch.setenv("FALKORDB_URL", guide_settings.falkordb_url)
    monkeypatch.setenv("OBSMEM_GRAPH", guide_settings.falkordb_graph)
    monkeypatch.setenv("DATABASE_URL", guide_settings.database_url)
    manager = dh.DatabaseManager()
    try:
        assert manager._backend is None  # nothing opened at import or construction
        fixes = manager.get_recent_fixes(limit=50)
        assert any(f["issue"].startswith("connection refused by orders-db") for f in fixes)
        assert manager.backend is not guide_memory and manager.backend.settings.falkordb_graph == (
            guide_settings.falkordb_graph
        )
        stats = manager.get_database_stats()
        assert stats["neo4j_connected"] is True and stats["memori_available"] is True
    finally:
        manager.close()
    assert manager._backend is None


# ---------------------------------------------------------------- the guide's error rule


def test_stores_down_give_empty_results_and_warnings_never_exceptions(
    embedder, tmp_path, caplog
) -> None:
    """Both stores unreachable: reads are empty, stats say so, writes wait in the outbox."""
    from obsmem.memory import Memory
    from scripts.database_helpers import DatabaseManager

    dead = Settings(
        data_dir=tmp_path / "down",
        falkordb_url="redis://127.0.0.1:9",
        database_url="postgresql://nobody@127.0.0.1:9/none?connect_timeout=1",
        store_timeout_s=1.0,
        demo=False,
    )
    mem = Memory.open(dead, embedder=embedder)
    try:
        db = DatabaseManager(mem)
        with caplog.at_level(logging.WARNING, logger="scripts.database_helpers"):
            assert db.get_recent_fixes() == []
            assert db.get_all_agents() == []
            assert db.find_similar_issues("connection", limit=5) == []
            assert db.get_agent("agent-1") is None
        warned = {
            r.getMessage().split(" ")[0]
            for r in caplog.records
            if r.name == "scripts.database_helpers" and r.levelno == logging.WARNING
        }
        assert {"get_recent_fixes", "get_all_agents", "find_similar_issues"} <= warned
        stats = db.get_database_stats()
        assert stats["neo4j_connected"] is False and stats["memori_available"] is False
        # Writes are not lost: the outbox keeps them until the stores are back.
        assert db.register_agent("agent-1", "server-1") is True
        assert db.remember_fix("issue:dns", "Flush the resolver cache", success=True) is True
        depth = mem.manager.outbox.stats()["depth"]
        assert depth["graph"] == 2 and depth["vectors"] == 1
        assert db.get_database_stats()["outbox_pending"] == 3
    finally:
        mem.close()


def test_service_down_gives_empty_results_never_exceptions(caplog) -> None:
    from scripts.database_helpers import DatabaseManager

    db = DatabaseManager(url="http://127.0.0.1:9", token=TOKEN)
    try:
        with caplog.at_level(logging.WARNING, logger="scripts.database_helpers"):
            assert db.get_recent_fixes(limit=20) == []
            assert db.get_all_agents() == []
            assert db.find_similar_issues("connection", limit=5) == []
            assert db.register_agent("agent-1", "server-1") is False
            assert db.remember_fix("issue:x", "y") is False
            stats = db.get_database_stats()
        assert stats["neo4j_connected"] is False and stats["memori_available"] is False
        assert sum(r.name == "scripts.database_helpers" for r in caplog.records) >= 5
    finally:
        db.close()


def test_bad_input_is_a_false_or_empty_answer_too(modules, mode) -> None:
    _am, dh = modules
    assert dh.db_manager.register_agent("", "server-1") is False
    assert dh.db_manager.remember_fix("issue:x", "y", not_a_field=1) is False


# ---------------------------------------------------------------- the HTTP API examples


def _schema(spec: dict[str, Any], name: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    )


@pytest.fixture(scope="module")
def spec(server: str) -> dict[str, Any]:
    return requests.get(server + "/openapi.json", timeout=30).json()


def test_http_register_agent(server: str, spec: dict[str, Any]) -> None:
    resp = requests.post(
        server + "/api/register-agent",
        json={"name": "agent-1", "server": "server-1"},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert resp.status_code == 201
    body = resp.json()
    assert {"status": "registered", "name": "agent-1", "server": "server-1"}.items() <= body.items()
    assert body["agent"]["name"] == "agent-1"  # obsmem's own shape is still there
    _schema(spec, "Registered").validate(body)


def test_http_fixes_page(server: str, spec: dict[str, Any], guide_memory: Any) -> None:
    guide_memory.remember("connection-timeout", "Increased timeout to 30s", success=True)
    body = requests.get(server + "/api/fixes?limit=20", timeout=30).json()
    assert body["limit"] == 20 and isinstance(body["count"], int)
    assert body["count"] == len(body["fixes"]) >= 1 and body["total"] >= body["count"]
    for fix in body["fixes"]:
        assert_fix(fix)
    assert any(f["issue"] == "connection-timeout" and f["success"] is True for f in body["fixes"])
    _schema(spec, "FixPage").validate(body)
    searched = requests.get(
        server + "/api/fixes", params={"q": "connection", "limit": 5}, timeout=30
    ).json()
    assert searched["count"] == len(searched["fixes"]) and searched["limit"] == 5
    _schema(spec, "FixPage").validate(searched)


def test_http_health(server: str, spec: dict[str, Any]) -> None:
    resp = requests.get(server + "/health", timeout=30)
    body = resp.json()
    assert resp.status_code == 200 and body["status"] in {"healthy", "degraded"}
    datetime.fromisoformat(body["timestamp"].replace("Z", "+00:00"))
    checks = body["checks"]
    for name in ("disk", "memory"):
        assert isinstance(checks[name]["status"], str)
        assert isinstance(checks[name]["usage_percent"], float)
        assert 0 <= checks[name]["usage_percent"] <= 100
    assert {"status": "ok", "connected": True}.items() <= checks["database"].items()
    assert "checked_at" in body and "stores" in body  # obsmem's own fields stay
    _schema(spec, "Health").validate(body)


def test_http_state_and_agents(server: str, spec: dict[str, Any]) -> None:
    state = requests.get(server + "/api/state", timeout=30).json()
    for key in ("agents", "recent_fixes", "disk_usage", "last_check"):
        assert key in state, key
    assert isinstance(state["disk_usage"], str) and state["disk_usage"].endswith("% used")
    agents = requests.get(server + "/api/agents", timeout=30).json()
    assert agents["agents"]
    for agent in agents["agents"]:
        assert {"name", "status", "server", "last_seen"} <= set(agent)
        _schema(spec, "Agent").validate(agent)


def test_http_similar_issues_sends_what_the_client_reads(server: str, spec: dict[str, Any]) -> None:
    body = requests.get(
        server + "/api/similar", params={"q": "connection", "limit": 5}, timeout=30
    ).json()
    assert {"groups", "issues", "query"} <= set(body)
    assert body["issues"] and len(body["issues"]) == len(body["groups"])
    for issue, group in zip(body["issues"], body["groups"], strict=True):
        assert_issue(issue)
        assert issue["issue"] == group["issue"] and "solution" not in group
    _schema(spec, "Similar").validate(body)


def test_recall_is_a_read(server: str, guide_memory: Any, modules, monkeypatch) -> None:
    """POST /api/recall follows the read rule: open while reads are public, token when not."""
    resp = requests.post(
        server + "/api/recall", json={"q": "connection timeout", "k": 3}, timeout=30
    )
    assert resp.status_code == 200 and resp.json()["hits"]
    assert (
        requests.post(
            server + "/api/remember", json={"issue": "x", "solution": "y"}, timeout=30
        ).status_code
        == 401
    )  # writes still need the token
    am, dh = modules  # a read-only agent with no token recalls through the Python client
    dh.db_manager.close()
    am._backend = am._manager = None
    monkeypatch.setenv("OBSMEM_URL", server)
    monkeypatch.delenv("OBSMEM_API_TOKEN", raising=False)
    assert am.recall("issue:connection", limit=3)

    from dashboard.app import create_app

    locked = create_app(
        guide_memory, settings=guide_memory.settings.with_(api_token=TOKEN, auth_reads=True)
    ).test_client()
    assert locked.post("/api/recall", json={"q": "connection"}).status_code == 401
    assert (
        locked.post(
            "/api/recall", json={"q": "connection"}, headers={"Authorization": f"Bearer {TOKEN}"}
        ).status_code
        == 200
    )


# ---------------------------------------------------------------- OBS_AGENT_LOG_LEVEL


def test_obs_agent_log_level_is_honoured() -> None:
    assert Settings.from_env({"OBS_AGENT_LOG_LEVEL": "debug"}).log_level == "DEBUG"
    assert (
        Settings.from_env({"OBS_AGENT_LOG_LEVEL": "DEBUG", "OBSMEM_LOG_LEVEL": "ERROR"}).log_level
        == "ERROR"
    )
    assert Settings.from_env({}).log_level == "INFO"
    with pytest.raises(ConfigError, match="OBS_AGENT_LOG_LEVEL"):
        Settings.from_env({"OBS_AGENT_LOG_LEVEL": "LOUD"})


def test_scripts_apply_obs_agent_log_level(modules) -> None:
    _am, dh = modules
    loggers = [logging.getLogger(n) for n in ("obsmem", "scripts")]
    before = [lg.level for lg in loggers]
    try:
        assert dh.apply_log_level({"OBS_AGENT_LOG_LEVEL": "ERROR"}) == "ERROR"
        assert all(lg.getEffectiveLevel() == logging.ERROR for lg in loggers)
        assert not logging.getLogger("obsmem.memory").isEnabledFor(logging.WARNING)
        assert dh.apply_log_level({"OBS_AGENT_LOG_LEVEL": "DEBUG"}) == "DEBUG"
        assert logging.getLogger("scripts.database_helpers").isEnabledFor(logging.DEBUG)
        assert dh.apply_log_level({}) is None  # unset: leave the program's logging alone
        assert dh.apply_log_level({"OBS_AGENT_LOG_LEVEL": "LOUD"}) is None
    finally:
        for lg, level in zip(loggers, before, strict=True):
            lg.setLevel(level)


def test_cli_honours_obs_agent_log_level(monkeypatch) -> None:
    from click.testing import CliRunner

    from obsmem.cli import cli

    seen: list[Any] = []
    # Records the level the CLI asks for instead of reconfiguring pytest's own logging.
    monkeypatch.setattr(logging, "basicConfig", lambda **kw: seen.append(kw.get("level")))
    runner = CliRunner()
    env = {"OBS_AGENT_LOG_LEVEL": "DEBUG", "OBSMEM_LOG_LEVEL": None}
    assert runner.invoke(cli, ["health", "--help"], env=env).exit_code == 0
    assert runner.invoke(cli, ["-v", "health", "--help"], env=env).exit_code == 0  # -v wins
    assert (
        runner.invoke(cli, ["health", "--help"], env={**env, "OBS_AGENT_LOG_LEVEL": None}).exit_code
        == 0
    )
    assert seen == ["DEBUG", logging.INFO, logging.WARNING]
    bad = runner.invoke(cli, ["health", "--help"], env={**env, "OBS_AGENT_LOG_LEVEL": "LOUD"})
    assert bad.exit_code == 2 and "OBS_AGENT_LOG_LEVEL" in bad.output
