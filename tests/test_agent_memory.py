"""The drop-in module API keeps old agents working, in-process."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from obsmem.memory import Memory

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "agent_memory.py"


@pytest.fixture
def agent_memory(fresh_memory: Memory):
    spec = importlib.util.spec_from_file_location("agent_memory_under_test", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._backend = fresh_memory  # the module's own singleton, pointed at the test's stores
    return module


def test_old_api_round_trip(agent_memory) -> None:
    out = agent_memory.remember(
        "mysql replication broken: Error 1062 duplicate entry on replica",
        "SET GLOBAL sql_slave_skip_counter = 1; START SLAVE; then verify with pt-table-checksum",
        metadata={"success": True, "agent": "db-bot", "service": "mysql", "ticket": "OPS-1234"},
    )
    assert out["id"].startswith("fix_") and out["pending"] == []
    hits = agent_memory.recall("replica stopped with duplicate key error", limit=2)
    assert hits and hits[0]["id"] == out["id"]
    assert hits[0]["metadata"] == {"ticket": "OPS-1234"} and hits[0]["service"] == "mysql"
    assert hits[0]["success"] is True and "why" in hits[0]
    assert isinstance(hits, list) and 0 <= hits[0]["relevance"] <= 1 and "below_bar" in hits[0]
    found = agent_memory.recall_result("mysql replication broken, duplicate entry on replica")
    assert found["no_match"] is False and found["hits"][0]["id"] == out["id"]
    off = agent_memory.recall_result("banana smoothie recipe with oat milk", limit=2)
    assert off["no_match"] is True and all(h["below_bar"] for h in off["hits"])

    recent = agent_memory.get_recent_fixes(limit=5)
    assert [f["id"] for f in recent] == [out["id"]]
    assert agent_memory.register_agent("db-bot", "db-host-3") is True  # the guide's success flag
    agent = agent_memory.get_agent("db-bot")
    assert agent["name"] == "db-bot" and agent["server"] == "db-host-3"
    assert [a["name"] for a in agent_memory.get_all_agents()] == ["db-bot"]
    similar = agent_memory.find_similar_issues("mysql replication duplicate entry", limit=3)
    assert similar and similar[0]["occurrence_count"] == 1
