"""Every `obsmem` command against real embedded stores: success paths and one-line failures."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from obsmem.cli import cli
from obsmem.config import Settings
from tests.test_transfer import env_for, store_settings

COMMANDS = ["serve", "init", "health", "remember", "recall", "feedback", "agents", "fixes",
            "stats", "export", "import", "reconcile", "prune", "demo", "show", "delete"]  # fmt: skip
OBSMEM = str(Path(sys.executable).with_name("obsmem"))


@pytest.fixture(scope="module")
def store(embedded, embedder, tmp_path_factory) -> Iterator[Settings]:
    """Stores seeded with the demo set once for the module (commands that write add to it)."""
    from obsmem.demo import seed
    from obsmem.memory import Memory

    settings = store_settings(embedded, tmp_path_factory.mktemp("cli"), "cli_")
    with Memory.open(settings, embedder=embedder) as mem:
        seed(mem)
    return settings


def run(settings: Settings | None, *args: str, env: dict[str, str] | None = None):
    runner = CliRunner()
    full_env = {**(env_for(settings) if settings else {}), **(env or {})}
    return runner.invoke(cli, list(args), env=full_env, catch_exceptions=False)


def one_line_error(result) -> str:
    lines = [x for x in result.stderr.splitlines() if x.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    assert lines[0].startswith("obsmem: error: ")
    return lines[0]


def test_every_command_has_help() -> None:
    result = run(None, "--help")
    assert result.exit_code == 0
    for name in COMMANDS:
        assert re.search(rf"^\s+{name}\s", result.output, re.M), name
        sub = run(None, name, "--help")
        assert sub.exit_code == 0 and "Usage: " in sub.output, name


def test_help_does_not_import_torch_or_drivers() -> None:
    code = ("import sys\nfrom obsmem.cli import main\ntry:\n    main(['--help'])\n"
            "except SystemExit as e:\n    assert e.code == 0\n"
            "heavy = [m for m in ('torch', 'sentence_transformers', 'psycopg', 'falkordb', 'neo4j')"
            " if m in sys.modules]\nassert not heavy, heavy\n")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, timeout=60)


def test_listing_commands_do_not_load_torch(store: Settings) -> None:
    """agents/fixes/stats/health open the stores but never the embedding model."""
    code = ("import sys, json\nfrom obsmem.cli import main\n"
            "for args in (['agents', '--json'], ['fixes', '--json'], ['stats', '--json'],"
            " ['health', '--json']):\n"
            "    try:\n        main(args)\n    except SystemExit as e:\n        assert e.code == 0, args\n"
            "assert 'torch' not in sys.modules and 'sentence_transformers' not in sys.modules\n")  # fmt: skip
    env = {**os.environ, **env_for(store)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]


def test_health(store: Settings) -> None:
    result = run(store, "health", "--json")
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["stores"]["graph"]["ok"] and report["stores"]["vectors"]["ok"]
    assert "status:" in run(store, "health").stdout


def test_health_exits_1_when_no_store_answers(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"OBSMEM_DATA_DIR": str(tmp_path / "d"), "FALKORDB_URL": f"redis://127.0.0.1:{port}",
           "DATABASE_URL": f"postgresql://obsmem@127.0.0.1:{port}/obsmem",
           "OBSMEM_STORE_TIMEOUT": "1"}  # fmt: skip
    result = run(None, "health", "--json", env=env)
    assert result.exit_code == 1
    assert json.loads(result.stdout)["status"] == "unhealthy"
    down = run(None, "recall", "disk full", env=env)
    assert down.exit_code == 1
    assert "reachable" in one_line_error(down)


def test_agents_fixes_stats(store: Settings) -> None:
    agents = json.loads(run(store, "agents", "--json").stdout)
    assert len(agents) == 8
    assert {a["status"] for a in agents} >= {"active", "inactive"}
    table = run(store, "agents").stdout
    assert "k8s-sentinel" in table and "last seen" in table

    fixes = json.loads(run(store, "fixes", "--json", "--limit", "3").stdout)
    assert len(fixes) == 3 and all(f["id"].startswith("fix_") for f in fixes)
    pg = json.loads(run(store, "fixes", "--json", "--service", "pg-main", "--limit", "50").stdout)
    assert pg and all(f["service"] == "pg-main" for f in pg)
    recent = json.loads(run(store, "fixes", "--json", "--since", "3d", "--limit", "100").stdout)
    assert 0 < len(recent) < 61

    stats = json.loads(run(store, "stats", "--json").stdout)
    assert stats["graph"]["fixes"] >= 61 and stats["vectors"]["fixes"] >= 61
    assert "success rate" in run(store, "stats").stdout


def test_remember_recall_feedback(store: Settings) -> None:
    issue = "zookeeper session expired, kafka broker 3 dropped out of the cluster"
    result = run(store, "remember", issue, "raise zookeeper.session.timeout.ms to 18000",
                 "--agent", "cli-test", "--service", "kafka", "--success", "--tag", "kafka",
                 "--metadata", '{"ticket": "OPS-1"}', "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    fix_id = json.loads(result.stdout)["id"]

    hits = json.loads(run(store, "recall", "kafka broker dropped zookeeper session", "-k", "3",
                          "--json").stdout)["hits"]  # fmt: skip
    assert hits[0]["fix"]["id"] == fix_id
    text = run(store, "recall", "zookeeper session expired").stdout
    assert fix_id in text and "solution:" in text and "relevance" in text
    assert "no good match" not in text

    off = run(store, "recall", "banana smoothie recipe with oat milk")
    assert off.exit_code == 0  # an honest answer, not an error
    assert off.stdout.startswith("no good match") and "closest" in off.stdout
    strict = json.loads(run(store, "recall", "zookeeper session expired", "--min-relevance", "1",
                            "--json").stdout)  # fmt: skip
    assert strict["no_match"] is True and strict["hits"][0]["below_bar"] is True

    fb = run(store, "feedback", fix_id, "--failed", "--agent", "cli-test", "--json")
    assert fb.exit_code == 0 and json.loads(fb.stdout)["success"] is False
    detail = json.loads(run(store, "fixes", "--json", "--agent", "cli-test").stdout)
    assert detail[0]["failures"] == 1 and detail[0]["successes"] == 1


def test_expected_failures_are_one_line(store: Settings, tmp_path: Path) -> None:
    empty = run(store, "remember", "   ", "something")
    assert empty.exit_code == 2 and "issue" in one_line_error(empty)
    bad_meta = run(store, "remember", "a", "b", "--metadata", "{nope")
    assert bad_meta.exit_code == 2 and "metadata" in one_line_error(bad_meta)
    unknown = run(store, "feedback", "fix_doesnotexist", "--worked")
    assert unknown.exit_code == 1 and "no fix with id" in one_line_error(unknown)
    missing = run(store, "import", str(tmp_path / "nope.jsonl"))
    assert missing.exit_code == 1 and "nope.jsonl" in one_line_error(missing)
    garbage = tmp_path / "garbage.jsonl"
    garbage.write_text("hello\n")
    bad = run(store, "import", str(garbage))
    assert bad.exit_code == 1 and "not JSON" in one_line_error(bad)
    duration = run(store, "prune", "--older-than", "ninety")
    assert duration.exit_code == 2 and "duration" in one_line_error(duration)
    since = run(store, "fixes", "--since", "yesterday")
    assert since.exit_code == 2 and "since" in one_line_error(since)
    config = run(store, "stats", env={"OBSMEM_PORT": "99999"})
    assert config.exit_code == 2 and "OBSMEM_PORT" in one_line_error(config)


def test_export_import_reconcile(store: Settings, embedded, tmp_path: Path) -> None:
    path = tmp_path / "dump.jsonl"
    exported = run(store, "export", str(path))
    assert exported.exit_code == 0 and "exported" in exported.stderr
    target = store_settings(embedded, tmp_path, "cli2_")
    imported = run(target, "import", str(path), "--json")
    assert imported.exit_code == 0, imported.output
    summary = json.loads(imported.stdout)
    assert summary["fixes"] >= 61 and summary["complete"]
    rec = json.loads(run(target, "reconcile", "--json").stdout)
    assert rec["in_sync"] and rec["graph_fixes"] == summary["fixes"]
    q = "replica lag growing"
    a = [h["fix"]["id"] for h in json.loads(run(store, "recall", q, "--json").stdout)["hits"]]
    b = [h["fix"]["id"] for h in json.loads(run(target, "recall", q, "--json").stdout)["hits"]]
    assert a == b
    assert run(target, "reconcile", "--check").exit_code == 0
    assert "in sync" in run(target, "reconcile", "--repair").stdout


def test_prune_dry_run_and_demo_idempotent(store: Settings) -> None:
    plan = json.loads(run(store, "prune", "--older-than", "20d", "--dry-run", "--json").stdout)
    assert plan["dry_run"] and plan["matched"] > 0 and plan["deleted"] == 0
    assert "would delete" in run(store, "prune", "--older-than", "20d", "--dry-run").stdout
    before = json.loads(run(store, "stats", "--json").stdout)["graph"]
    again = json.loads(run(store, "demo", "--json").stdout)
    assert again["added"] == 0 and again["fixes"] == 61
    assert json.loads(run(store, "stats", "--json").stdout)["graph"] == before


def test_init_dry_run_and_apply(store: Settings) -> None:
    dry = json.loads(run(store, "init", "--dry-run", "--json").stdout)
    assert dry["dry_run"] and dry["graph"]["missing"] == [] and dry["vectors"]["pending"] == []
    done = run(store, "init")
    assert done.exit_code == 0 and "schema up to date" in done.stdout
    assert "embedder (onnx): " in done.stdout and done.stdout.rstrip().endswith("model.onnx")
    assert "query embedder (int8): " in done.stdout and "query-int8.onnx" in done.stdout


def test_serve_refuses_an_open_bind_without_token(store: Settings) -> None:
    result = run(store, "serve", "--host", "0.0.0.0", env={"OBSMEM_API_TOKEN": ""})
    assert result.exit_code == 2 and "OBSMEM_API_TOKEN" in one_line_error(result)


def test_serve_subprocess_answers_health_and_stops_on_sigterm(
    store: Settings, tmp_path: Path
) -> None:
    """A real `obsmem` process: serve, GET /health, SIGTERM, exit 0."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, **env_for(store)}
    # Output to a file, not an unread pipe: a full pipe would block the server's logging.
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen([OBSMEM, "serve", "--port", str(port)], env=env,
                            stdout=log, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 90
        status, seen = None, set()
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                resp = requests.get(f"http://127.0.0.1:{port}/health", timeout=5)
            except requests.ConnectionError:
                time.sleep(0.5)
                continue
            status = resp.status_code
            seen.add(resp.json()["status"])
            if status == 200:
                break
            assert (status, resp.json()["status"]) == (503, "starting")  # warming the embedder
            time.sleep(0.1)
        assert status == 200, (
            (tmp_path / "serve.log").read_text() if proc.poll() is not None else status
        )
        assert seen <= {"starting", "healthy", "degraded"}, seen
        # Healthy means warm: the first recall is served by a loaded model.
        first = requests.post(
            f"http://127.0.0.1:{port}/api/recall", json={"query": "disk full"}, timeout=10
        )
        assert (
            first.status_code == 200
            and "obsmem warm: ready" in (tmp_path / "serve.log").read_text()
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError((tmp_path / "serve.log").read_text()[-3000:]) from None
        finally:
            log.close()
    assert code == 0
    text = (tmp_path / "serve.log").read_text()
    # one access-log line per request, no progress bars, and where the data lives
    assert re.search(r"127\.0\.0\.1 GET /health 200 \d+\.\d ms", text), text[-2000:]
    assert "Loading weights" not in text and "it/s]" not in text
    assert f"data dir: {store.data_dir}" in text


def test_show_delete_and_remove_agent(store: Settings) -> None:
    issue = "etcd leader elections every few seconds, apiserver latency above 2s"
    made = run(
        store,
        "remember",
        issue,
        "move etcd to dedicated SSDs\nand raise heartbeat-interval",
        "--agent",
        "cli-show",
        "--service",
        "etcd",
        "--success",
        "--json",
    )
    fix_id = json.loads(made.stdout)["id"]
    run(store, "feedback", fix_id, "--failed", "--agent", "cli-other")
    shown = run(store, "show", fix_id)
    assert shown.exit_code == 0, shown.output
    out = shown.stdout
    assert fix_id in out and "dedicated SSDs" in out and "raise heartbeat-interval" in out
    assert "1 worked, 1 failed" in out and "cli-show" in out and "cli-other" in out
    assert json.loads(run(store, "show", fix_id, "--json").stdout)["fix"]["service"] == "etcd"
    missing = run(store, "show", "fix_nothere")
    assert missing.exit_code == 1 and "no fix with id" in one_line_error(missing)

    # remove an agent: gone from the list and the outcome trail, the fix keeps its counts
    removed = run(store, "agents", "--remove", "cli-other")
    assert removed.exit_code == 0 and "removed agent cli-other" in removed.stdout
    names = {a["name"] for a in json.loads(run(store, "agents", "--json").stdout)}
    assert "cli-other" not in names and "cli-show" in names
    detail = json.loads(run(store, "show", fix_id, "--json").stdout)
    assert [o["agent"] for o in detail["outcomes"]] == ["cli-show"]
    assert detail["fix"]["failures"] == 1
    again = run(store, "agents", "--remove", "cli-other")
    assert again.exit_code == 1 and "no agent named" in one_line_error(again)

    # delete: asks first, refuses on "n", deletes with --yes
    kept = CliRunner().invoke(cli, ["delete", fix_id], env=env_for(store), input="n\n")
    assert kept.exit_code == 1 and run(store, "show", fix_id).exit_code == 0
    gone = run(store, "delete", fix_id, "--yes")
    assert gone.exit_code == 0 and f"deleted {fix_id}" in gone.stdout
    assert run(store, "show", fix_id).exit_code == 1
    assert "no fix with id" in one_line_error(run(store, "delete", fix_id, "--yes"))


def test_data_dir_is_found_from_a_subdirectory_and_printed(
    store: Settings, tmp_path: Path, monkeypatch
) -> None:
    project = tmp_path / "project"
    (project / ".obsmem").mkdir(parents=True)
    (project / ".obsmem" / "outbox.sqlite3").write_bytes(b"")
    deep = project / "src" / "deeper"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    env = {**env_for(store), "OBSMEM_DATA_DIR": ""}
    stats = run(None, "stats", env=env)
    assert stats.exit_code == 0, stats.output
    assert f"data dir  {project / '.obsmem'} (the nearest .obsmem" in stats.stdout
    health = run(None, "health", env=env)
    assert f"data dir {project / '.obsmem'}" in health.stdout
    assert json.loads(run(None, "stats", "--json", env=env).stdout)["data_dir"] == str(
        project / ".obsmem"
    )


def test_find_data_dir_rules(tmp_path: Path) -> None:
    from obsmem.config import find_data_dir

    (tmp_path / "a" / ".obsmem").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    found = find_data_dir({}, cwd=tmp_path / "a" / "b" / "c")
    assert (found.path, found.source) == (tmp_path / "a" / ".obsmem", "found")
    assert found.is_new and "empty: starting a new memory" in found.describe()
    env = find_data_dir({"OBSMEM_DATA_DIR": str(tmp_path / "x")}, cwd=tmp_path / "a")
    assert (env.path, env.source) == (tmp_path / "x", "OBSMEM_DATA_DIR")
    if not any((p / ".obsmem").is_dir() for p in tmp_path.parents):
        new = find_data_dir({}, cwd=tmp_path)
        assert (new.path, new.source) == (tmp_path / ".obsmem", "new")
        assert "no .obsmem at or above the current directory" in new.describe()


def test_an_empty_embedded_data_dir_is_announced(tmp_path: Path) -> None:
    """From a directory with no memory, the CLI says it is starting an empty one."""
    env = {
        "OBSMEM_DATA_DIR": str(tmp_path / "fresh"),
        "FALKORDB_URL": "",
        "DATABASE_URL": "",
        "OBSMEM_DEMO": "0",
    }
    result = run(None, "stats", env=env)
    assert result.exit_code == 0, result.output
    assert (
        f"obsmem: data dir {tmp_path / 'fresh'} (from OBSMEM_DATA_DIR, empty: starting a new "
        "memory)" in result.stderr
    )
    assert "fixes     0" in result.stdout
    second = run(None, "stats", env=env)  # now it exists: no announcement
    assert "starting a new memory" not in second.stderr
