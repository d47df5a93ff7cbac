"""Idempotent writes: the outbox may replay anything, any number of times, in order."""

from __future__ import annotations

from obsmem.model import AgentWrite, Outcome


def test_upsert_creates_fix_with_relationships(store, make_fix):
    w = make_fix(
        agent="agent-1",
        service="api",
        namespace="prod",
        severity="high",
        root_cause="memory",
        confidence=0.8,
        tags=("k8s", "oom"),
        metadata={"pod": "api-7f9c", "n": [1, 2]},
        success=True,
    )
    store.upsert_fixes([w])
    fix = store.get_fix(w.id)
    assert fix is not None
    assert (fix.issue, fix.solution, fix.signature) == (w.issue, w.solution, w.signature)
    assert (fix.ts, fix.last_seen, fix.occurrences) == (w.ts, w.ts, 1)
    assert (fix.success, fix.successes, fix.failures) == (True, 1, 0)
    assert (fix.agent, fix.service, fix.namespace) == ("agent-1", "api", "prod")
    assert (fix.severity, fix.root_cause, fix.confidence) == ("high", "memory", 0.8)
    assert fix.tags == ("k8s", "oom")
    assert fix.metadata == {"pod": "api-7f9c", "n": [1, 2]}
    assert fix.agents_count == 1
    # get_fixes returns the fields as columns (FalkorDB: partly in its verbose reply
    # format); the listings still read properties(f): both give the same records
    other = make_fix("disk full", "rotate logs", tags=("a, b", "ü [x]"), confidence=1 / 3,
                     success=False, metadata={"k": "v, w"})  # fmt: skip
    bare = make_fix("dns flaps", "pin the resolver")
    # FalkorDB's verbose text of these lists is unambiguous ("[[a], b]]", "[x, y]" of one tag)
    brackets = make_fix("cert expired", "renew it", tags=("[a]", "b]"))
    one = make_fix("queue backlog", "scale consumers", tags=("x, y",))
    store.upsert_fixes([other, bare, brackets, one])
    listed = {f.id: f for f in store.recent_fixes(10)}
    ids = [w.id, other.id, bare.id, brackets.id, one.id]
    assert store.get_fixes([*ids, "no-such-fix"]) == listed
    fast = [w.id, bare.id, brackets.id, one.id]  # none needs its tags read again
    assert store.get_fixes(fast) == {i: listed[i] for i in fast}
    assert listed[other.id].tags == ("a, b", "ü [x]") and listed[bare.id].tags == ()
    assert listed[brackets.id].tags == ("[a]", "b]") and listed[one.id].tags == ("x, y",)
    stats = store.stats()
    assert stats.nodes == {"Fix": 5, "Agent": 1, "Issue": 5, "Service": 1}
    assert stats.relationships == {"APPLIED": 1, "RESOLVES": 5, "AFFECTS": 1}


def test_same_writes_three_times_count_once(store, make_fix):
    writes = [
        make_fix(agent="a1", service="api", success=True),
        make_fix(agent="a2", success=False),  # same text: same fix, another event
        make_fix("disk full on /var", "rotate logs", agent="a1", service="db"),
        make_fix("disk full on /var", "rotate logs"),  # no agent: guarded by recent events
    ]
    for _ in range(3):
        store.upsert_fixes(writes)
        store.upsert_fixes(writes[::-1][:1])  # a lone replay of one write too
    first = store.get_fix(writes[0].id)
    assert first is not None
    assert (first.occurrences, first.successes, first.failures) == (2, 1, 1)
    assert first.agents_count == 2
    assert first.success is False  # the latest outcome (by event time)
    assert first.last_seen == writes[1].ts and first.ts == writes[0].ts
    disk = store.get_fix(writes[2].id)
    assert disk is not None and disk.occurrences == 2 and disk.success is None
    stats = store.stats()
    assert stats.nodes == {"Fix": 2, "Agent": 2, "Issue": 2, "Service": 2}
    assert stats.relationships["APPLIED"] == 3
    assert stats.outcomes == 2 and stats.successes == 1


def test_one_batch_with_repeats_of_a_fix_and_event(store, make_fix):
    a = make_fix(event_id="e1", agent="x", success=True)
    b = make_fix(event_id="e2", agent="x", success=True)
    store.upsert_fixes([a, b, a, b, a])
    fix = store.get_fix(a.id)
    assert fix is not None and (fix.occurrences, fix.successes) == (2, 2)


def test_older_event_does_not_move_latest_fields_back(store, make_fix):
    new = make_fix(event_id="new", ts=2000, success=False, severity="low", agent="a")
    old = make_fix(event_id="old", ts=1000, success=True, severity="high", agent="a")
    store.upsert_fixes([new])
    store.upsert_fixes([old])
    fix = store.get_fix(new.id)
    assert fix is not None
    assert (fix.ts, fix.last_seen) == (1000, 2000)
    assert fix.success is False and fix.severity == "low"
    assert (fix.successes, fix.failures, fix.occurrences) == (1, 1, 2)
    agent = store.get_agent("a", now_ms=2000)
    assert agent is not None and agent.last_seen == 2000 and agent.registered_at == 1000


def test_outcomes_count_once_and_set_latest(store, make_fix):
    w = make_fix(agent="a1")
    store.upsert_fixes([w])
    outs = [
        Outcome(event_id="o1", fix_id=w.id, success=True, ts=w.ts + 10, agent="a2"),
        Outcome(event_id="o2", fix_id=w.id, success=False, ts=w.ts + 20),
        Outcome(event_id="o3", fix_id="fix_missing", success=True, ts=w.ts + 30),
    ]
    for _ in range(3):
        store.record_outcomes(outs)
    fix = store.get_fix(w.id)
    assert fix is not None
    assert (fix.successes, fix.failures, fix.success) == (1, 1, False)
    assert fix.occurrences == 1  # feedback is not an occurrence
    assert fix.agents_count == 2
    assert store.get_fix("fix_missing") is None
    got = store.outcomes_for_fix(w.id)
    assert [(o["agent"], o["success"], o["event_id"]) for o in got] == [
        ("a2", True, "o1"),
        ("a1", None, w.event_id),
    ]


def test_replayed_event_outlives_recent_events_list(store, make_fix):
    w = make_fix(event_id="first", agent="a")
    store.upsert_fixes([w])
    store.upsert_fixes([make_fix(agent="a") for _ in range(40)])  # pushes "first" out of the list
    store.upsert_fixes([w])  # the APPLIED edge still recognises it
    fix = store.get_fix(w.id)
    assert fix is not None and fix.occurrences == 41


def test_agents_upsert_and_heartbeat_never_moves_back(store):
    store.upsert_agents([AgentWrite("a1", ts=5000, server="host-1")])
    store.upsert_agents([AgentWrite("a1", ts=3000, server="old-host")])
    store.upsert_agents([AgentWrite("a1", ts=9000), AgentWrite("a1", ts=8000, server="h3")])
    agent = store.get_agent("a1", now_ms=9000)
    assert agent is not None
    assert (agent.last_seen, agent.registered_at, agent.server) == (9000, 3000, "host-1")
    assert store.get_agent("nobody") is None


def test_agent_status_from_last_seen_age(store):
    now = 10_000_000_000
    store.upsert_agents(
        [
            AgentWrite("fresh", ts=now - 60_000),
            AgentWrite("edge-active", ts=now - 5 * 60_000 + 1),
            AgentWrite("stale", ts=now - 5 * 60_000),
            AgentWrite("late", ts=now - 60 * 60_000 + 1),
            AgentWrite("gone", ts=now - 60 * 60_000),
        ]
    )
    status = {a.name: a.status for a in store.agents(now_ms=now)}
    assert status == {
        "fresh": "active",
        "edge-active": "active",
        "stale": "stale",
        "late": "stale",
        "gone": "inactive",
    }
