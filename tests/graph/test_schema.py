"""Schema init is idempotent; the init script exits cleanly with one line on failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from obsmem.stores.graph.admin import init_schema

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "init_neo4j.py"
WANTED = {
    "fix_id",
    "agent_name",
    "issue_signature",
    "service_name",
    "fix_timestamp",
    "fix_issue",
    "fix_success",
    "agent_status",
    "agent_last_seen",
    "fix_text",
}


def test_init_schema_twice_same_result(store):
    first = init_schema(store)
    second = init_schema(store)
    assert first.ok and second.ok and not first.missing
    assert set(second.present) >= WANTED and second.present == first.present
    assert second.created == []
    assert init_schema(store, dry_run=True).statements == first.statements


def _script(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"NEO4J_URI", "FALKORDB_URL", "OBSMEM_DATA_DIR"}
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_script_against_falkordb_twice(falkor_url, graph_name):
    env = {"FALKORDB_URL": falkor_url, "OBSMEM_GRAPH": graph_name}
    for _ in range(2):
        done = _script(env)
        assert done.returncode == 0, done.stderr
        assert "MISSING" not in done.stdout and "fix_text" in done.stdout
    assert "CREATE INDEX" in _script(env, "--dry-run").stdout


def test_script_unreachable_and_bad_password_one_line(falkor_url):
    down = _script({"FALKORDB_URL": "redis://127.0.0.1:1", "OBSMEM_STORE_TIMEOUT": "1"})
    assert down.returncode == 2 and len(down.stderr.strip().splitlines()) == 1
    assert "Traceback" not in down.stderr
    port = falkor_url.rsplit(":", 1)[1]
    auth = _script({"FALKORDB_URL": f"redis://:wrong@127.0.0.1:{port}"})
    assert auth.returncode == 3 and len(auth.stderr.strip().splitlines()) == 1
    neo = _script(
        {"NEO4J_URI": "bolt://127.0.0.1:1", "NEO4J_PASSWORD": "x", "OBSMEM_STORE_TIMEOUT": "1"}
    )
    assert neo.returncode == 2 and len(neo.stderr.strip().splitlines()) == 1
