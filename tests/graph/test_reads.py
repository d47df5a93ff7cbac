"""Reads, pagination, search, deletes and hostile input, on every backend."""

from __future__ import annotations

import pytest

from obsmem.model import FixFilter, Outcome

HOSTILE = [
    "'}) DETACH DELETE n //",
    '"}) MATCH (n) DETACH DELETE n //',
    "`; DROP INDEX fix_id; \\",
    'AND OR NOT ~ * ? : \\ / + - && || ! ( ) { } [ ] ^ " %x% @f:{x} $q',
    "trailing backslash \\",
    "ünïcødé ✓ 日本語テスト 🔥 עברית",
]


def test_get_fixes_reads_every_stored_field_of_a_fix():
    from obsmem.model import FIX_FIELDS
    from obsmem.stores.graph import cypher as C

    assert sorted(C.FIX_COLUMNS) == sorted(FIX_FIELDS)


def test_pagination_edges(store, make_fix):
    writes = [make_fix(f"issue {i}", f"solution {i}", ts=1000 + i) for i in range(5)]
    store.upsert_fixes(writes)
    ids_newest_first = [w.id for w in sorted(writes, key=lambda w: -w.ts)]
    assert [f.id for f in store.recent_fixes(10, 0)] == ids_newest_first
    assert [f.id for f in store.recent_fixes(1, 0)] == ids_newest_first[:1]
    assert [f.id for f in store.recent_fixes(2, 4)] == ids_newest_first[4:]
    assert store.recent_fixes(10, 5) == [] and store.recent_fixes(10, 99) == []
    assert store.count_fixes() == 5
    assert sorted(store.iter_fix_ids(batch=2)) == sorted(w.id for w in writes)
    assert sorted(f.id for f in store.iter_fixes(batch=1)) == sorted(w.id for w in writes)


def test_filters(store, make_fix):
    a = make_fix("a", "x", service="api", agent="ag1", success=True, root_cause="mem", ts=100)
    b = make_fix("b", "y", service="db", agent="ag2", success=False, ts=200)
    store.upsert_fixes([a, b])
    store.record_outcomes([Outcome("o", b.id, False, 300, agent="ag1")])
    assert {f.id for f in store.recent_fixes(10, 0, FixFilter(service="api"))} == {a.id}
    assert {f.id for f in store.recent_fixes(10, 0, FixFilter(agent="ag1"))} == {a.id, b.id}
    assert {f.id for f in store.recent_fixes(10, 0, FixFilter(agent="ag2"))} == {b.id}
    assert store.count_fixes(FixFilter(success=False)) == 1
    assert store.count_fixes(FixFilter(since_ms=150)) == 1
    assert store.count_fixes(FixFilter(until_ms=150)) == 1
    assert store.count_fixes(FixFilter(root_cause="mem")) == 1
    assert store.count_fixes(FixFilter(service="nope")) == 0
    assert [f.id for f in store.fixes_by_agent("ag1")] == [b.id, a.id]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_strings_are_data(store, make_fix, text):
    w = make_fix(
        f"{text} issue",
        f"{text} solution",
        agent=text.strip()[:50] or "x",
        service=text[:40],
        root_cause=text,
        tags=(text[:30],),
        metadata={text: text},
    )
    store.upsert_fixes([w])
    fix = store.get_fix(w.id)
    assert fix is not None
    assert (fix.issue, fix.solution, fix.root_cause) == (w.issue, w.solution, text)
    assert fix.metadata == {text: text} and fix.tags == (text[:30],)
    store.text_search(text, 5)  # must not raise, whatever the text
    store.similar_issues(text, 5)
    store.count_fixes(FixFilter(service=text, agent=text, root_cause=text))
    assert store.stats().nodes["Fix"] == 1


def test_very_long_text_roundtrips(store, make_fix):
    long = "x" * 50_000 + " needle " + "é" * 50_000
    w = make_fix(long[:20_000], long)
    store.upsert_fixes([w, w])
    fix = store.get_fix(w.id)
    assert fix is not None and fix.solution == long and fix.occurrences == 1


def test_text_search_and_similar_issues(store, make_fix):
    oom1 = make_fix("OOMKilled pod api-1", "raise memory limit", success=True)
    oom2 = make_fix("OOMKilled pod api-2", "restart the pod", success=False)
    disk = make_fix("disk full on node-3", "rotate logs")
    store.upsert_fixes([oom1, oom2, make_fix("OOMKilled pod api-1", "raise memory limit"), disk])
    hits = [fid for fid, _ in store.text_search("oomkilled memory", 10)]
    assert oom1.id in hits and disk.id not in hits
    assert [fid for fid, _ in store.text_search("logs", 10)] == [disk.id]
    assert store.text_search("", 10) == [] and store.text_search("!!! ???", 10) == []
    assert store.text_search("oomkilled", 10, FixFilter(success=False)) == [
        (oom2.id, pytest.approx(store.text_search("oomkilled", 10, FixFilter(success=False))[0][1]))
    ]
    groups = store.similar_issues("OOMKilled pod", 5)
    assert groups and groups[0].signature == oom1.signature  # api-1/api-2 share a signature
    g = groups[0]
    assert set(g.fix_ids) == {oom1.id, oom2.id}
    assert (g.occurrence_count, g.fixes, g.success_rate) == (3, 2, 0.5)


def test_delete_leaves_no_orphans(store, make_fix):
    a = make_fix("shared issue 1", "fix a", service="api", agent="ag")
    b = make_fix("shared issue 2", "fix b", service="api")
    c = make_fix("lonely", "fix c", service="solo")
    store.upsert_fixes([a, b, c])
    assert store.delete_fix(c.id) is True
    assert store.delete_fix(c.id) is False
    stats = store.stats()
    assert stats.nodes == {"Fix": 2, "Agent": 1, "Issue": 1, "Service": 1}
    assert store.delete_fixes([a.id, b.id, "fix_nope"]) == 2
    stats = store.stats()
    assert stats.nodes == {"Fix": 0, "Agent": 1, "Issue": 0, "Service": 0}
    assert sum(stats.relationships.values()) == 0


def test_neighbourhood_and_analytics(store, make_fix):
    a = make_fix(
        "OOMKilled pod api-1",
        "raise memory limit",
        service="api",
        agent="ag1",
        success=True,
        root_cause="memory",
        ts=10_000,
    )
    b = make_fix(
        "OOMKilled pod api-2", "restart", agent="ag2", success=False, root_cause="memory", ts=70_000
    )
    store.upsert_fixes([a, b])
    hood = store.neighbourhood(a.id)
    ids = {n["id"] for n in hood["nodes"]}
    assert ids == {f"fix:{a.id}", f"fix:{b.id}", f"issue:{a.signature}", "service:api", "agent:ag1"}
    types = sorted(e["type"] for e in hood["edges"])
    assert types == ["AFFECTS", "APPLIED", "RESOLVES", "RESOLVES"]
    assert store.neighbourhood("fix_missing") == {"nodes": [], "edges": []}
    assert store.success_by_root_cause() == [
        {"root_cause": "memory", "fixes": 2, "successes": 1, "failures": 1, "success_rate": 0.5}
    ]
    sig = store.success_by_signature()
    assert sig[0]["signature"] == a.signature and sig[0]["occurrences"] == 2
    buckets = store.fixes_over_time(60_000, 0)
    assert [(x["bucket"], x["fixes"]) for x in buckets] == [(0, 1), (60_000, 1)]
    outs = list(store.iter_outcomes(batch=1))
    assert {(o.fix_id, o.success, o.agent) for o in outs} == {
        (a.id, True, "ag1"),
        (b.id, False, "ag2"),
    }


def test_ping_measures_a_round_trip_and_fails_when_unreachable(store):
    """A latency in ms (a float above zero), and the store's own outage error when nobody answers."""
    from obsmem.errors import GraphUnavailable

    ms = store.ping()
    assert isinstance(ms, float) and 0 < ms < 30_000
    if store.backend == "neo4j":
        from obsmem.stores.graph.neo4j import Neo4jGraph

        dead = Neo4jGraph("bolt://127.0.0.1:9", user="neo4j", password="unused", timeout_s=1)
    else:
        from obsmem.stores.graph.falkor import FalkorGraph

        dead = FalkorGraph("redis://127.0.0.1:9", graph="unreachable", timeout_s=1)
    try:
        with pytest.raises(GraphUnavailable):
            dead.ping()
    finally:
        dead.close()
