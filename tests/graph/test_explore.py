"""The explorer's walk from any node, with depth and size limits, on every backend."""

from __future__ import annotations

import pytest

from obsmem.model import Outcome
from obsmem.stores.graph.explore import parse_node_id


@pytest.fixture
def world(store, make_fix):
    """Two fixes of one signature on service api, a third fix on api, one on db."""
    a = make_fix(
        "OOMKilled pod api-1",
        "raise memory limit",
        service="api",
        agent="ag1",
        success=True,
        ts=10_000,
    )
    b = make_fix(
        "OOMKilled pod api-1",
        "restart the pod",
        service="api",
        agent="ag2",
        success=False,
        ts=20_000,
    )
    c = make_fix("Disk full on api node", "rotate logs", service="api", agent="ag1", ts=30_000)
    d = make_fix(
        "Connection pool exhausted",
        "add pgbouncer",
        service="db",
        agent="ag2",
        success=True,
        ts=40_000,
    )
    store.upsert_fixes([a, b, c, d])
    store.record_outcomes([Outcome("o-1", a.id, False, 50_000, agent="ag2")])
    return {"a": a, "b": b, "c": c, "d": d}


def _ids(hood):
    return {n["id"] for n in hood["nodes"]}


def test_from_a_fix_one_hop(store, world):
    a, b = world["a"], world["b"]
    hood = store.explore(f"fix:{a.id}")
    assert hood["start"] == f"fix:{a.id}" and hood["truncated"] is False
    assert _ids(hood) == {
        f"fix:{a.id}",
        f"issue:{a.signature}",
        "service:api",
        "agent:ag1",
        "agent:ag2",
    }
    applied = {e["source"]: e for e in hood["edges"] if e["type"] == "APPLIED"}
    # ag1 applied it and it worked; ag2 reported a failure later: outcome colours per edge.
    assert applied["agent:ag1"]["outcome"] == "worked"
    assert applied["agent:ag2"]["outcome"] == "failed"
    assert f"fix:{b.id}" not in _ids(hood)
    node = next(n for n in hood["nodes"] if n["id"] == f"fix:{a.id}")
    assert node["depth"] == 0 and node["kind"] == "fix"


def test_expanding_a_service_and_an_agent_and_a_signature(store, world):
    a, b, c, d = world["a"], world["b"], world["c"], world["d"]
    svc = store.explore("service:api")
    assert _ids(svc) == {"service:api", f"fix:{a.id}", f"fix:{b.id}", f"fix:{c.id}"}
    assert {e["type"] for e in svc["edges"]} == {"AFFECTS"}
    agent = store.explore("agent:ag2")
    assert _ids(agent) == {"agent:ag2", f"fix:{a.id}", f"fix:{b.id}", f"fix:{d.id}"}
    sig = store.explore(f"issue:{a.signature}")
    assert _ids(sig) == {f"issue:{a.signature}", f"fix:{a.id}", f"fix:{b.id}"}
    assert next(n for n in sig["nodes"] if n["depth"] == 0)["label"].startswith("OOMKilled")


def test_depth_and_size_limits(store, world):
    a, d = world["a"], world["d"]
    two = store.explore(f"fix:{a.id}", depth=2)
    # Two hops from a: via service api and agent ag2 to the other fixes, d included.
    assert f"fix:{d.id}" in _ids(two)
    assert max(n["depth"] for n in two["nodes"]) == 2
    small = store.explore("service:api", limit=2)
    assert len(small["nodes"]) == 2 and small["truncated"] is True
    assert all(e["source"] in _ids(small) and e["target"] in _ids(small) for e in small["edges"])
    assert store.explore(f"fix:{a.id}", depth=99)["depth"] == 3


def test_missing_nodes_and_bad_ids(store, world):
    assert store.explore("fix:nope") is None
    assert store.explore("agent:nobody") is None
    assert store.explore("service:nowhere") is None
    with pytest.raises(ValueError):
        store.explore("planet:mars")
    with pytest.raises(ValueError):
        parse_node_id("fix:")
    assert parse_node_id("agent:a:b") == ("agent", "a:b")


def test_remove_agent_keeps_the_fixes_and_their_counts(store, world):
    a = world["a"]
    assert store.remove_agent("ag2") is True
    assert store.get_agent("ag2") is None and store.remove_agent("ag2") is False
    fix = store.get_fix(a.id)
    assert fix is not None and (fix.successes, fix.failures) == (1, 1)
    assert {o["agent"] for o in store.outcomes_for_fix(a.id)} == {"ag1"}
    assert "agent:ag2" not in {n["id"] for n in store.explore(f"fix:{a.id}")["nodes"]}


def test_recent_fixes_sorted_by_created_or_last_seen(store, make_fix):
    old = make_fix("old problem", "old fix", ts=1_000)
    new = make_fix("new problem", "new fix", ts=5_000)
    store.upsert_fixes([old, new])
    seen_again = make_fix("old problem", "old fix", ts=9_000)  # same id, seen later
    store.upsert_fixes([seen_again])
    assert [f.id for f in store.recent_fixes(10, 0)] == [new.id, old.id]
    assert [f.id for f in store.recent_fixes(10, 0, order="last_seen")] == [old.id, new.id]
