"""remember / recall / feedback / delete on the real embedded stores."""

from __future__ import annotations

import pytest

from obsmem.memory import Memory, NotFound
from obsmem.model import ValidationError

FIXES = [
    ("Pod checkout-api-7d9f8 in CrashLoopBackOff, container OOMKilled with exit code 137",
     "Raised the memory limit from 256Mi to 768Mi in the deployment and set JVM -Xmx to 75% of the limit.",
     "checkout-api"),
    ("PostgreSQL replica lagging 40 minutes behind primary, replay_lag growing",
     "Long-running analytics query on the replica held back WAL replay; set max_standby_streaming_delay=30s "
     "and moved reporting to a dedicated replica.", "orders-db"),
    ("TLS handshake failures: certificate for api.example.com expired",
     "Renewed the certificate with certbot renew --force-renewal and reloaded nginx; added expiry alert at 14 days.",
     "edge-nginx"),
    ("DNS lookups timing out intermittently from pods, 5s delays on service calls",
     "conntrack races on UDP DNS; enabled NodeLocal DNSCache and set ndots:2 in pod dnsConfig.", "coredns"),
    ("Disk /var/lib/kafka 95% full on broker-2, producers getting NotEnoughReplicas",
     "Lowered retention.ms for high-volume topics to 3 days and expanded the volume by 200Gi.", "kafka"),
    ("Connection pool exhausted: HikariPool-1 - Connection is not available, request timed out after 30000ms",
     "A leak in the report endpoint kept connections open; fixed the missing close and set leakDetectionThreshold.",
     "billing-service"),
]  # fmt: skip

PARAPHRASES = [
    ("checkout pods keep restarting, killed for using too much memory", 0),
    ("read replica is far behind the primary database", 1),
    ("browsers report the site's https certificate is no longer valid", 2),
    ("name resolution inside the cluster is slow and sometimes times out", 3),
    ("kafka broker running out of disk space", 4),
    ("app cannot get a database connection from the pool, timeouts", 5),
]


@pytest.fixture
def seeded(fresh_memory: Memory) -> tuple[Memory, list[str]]:
    ids = [
        fresh_memory.remember(issue, solution, service=svc, agent="seed-agent", success=True).id
        for issue, solution, svc in FIXES
    ]
    return fresh_memory, ids


def test_paraphrased_queries_find_the_right_fix_first(seeded: tuple[Memory, list[str]]) -> None:
    mem, ids = seeded
    for query, expected in PARAPHRASES:
        hits = mem.recall(query, k=3)
        assert hits, query
        assert hits[0].fix.id == ids[expected], (query, [h.fix.issue[:40] for h in hits])
        assert hits.served_by == ("vectors", "graph") and not hits.degraded
        assert set(hits[0].why) >= {"relevance", "vector", "keyword", "success", "usage", "recency"}


def test_remember_reports_where_it_stored(fresh_memory: Memory) -> None:
    r = fresh_memory.remember("nginx 502 from upstream", "restart php-fpm; raise pm.max_children")
    assert r.stored_in == ("graph", "vectors") and r.pending == ()
    assert r.duplicate_of is None
    fix = fresh_memory.get_fix(r.id)
    assert fix is not None and fix.solution == "restart php-fpm; raise pm.max_children"


def test_duplicate_text_merges_and_counts_occurrences(fresh_memory: Memory) -> None:
    a = fresh_memory.remember("Redis  OOM command not allowed", "Set maxmemory-policy allkeys-lru")
    b = fresh_memory.remember(
        "redis oom command NOT allowed ", "set maxmemory-policy   allkeys-lru"
    )
    assert a.id == b.id and b.duplicate_of == a.id
    fix = fresh_memory.get_fix(a.id)
    assert fix is not None and fix.occurrences == 2
    assert fresh_memory.count_fixes() == 1
    assert fresh_memory.manager.vectors.count(None) == 1


def test_feedback_changes_ranking(fresh_memory: Memory) -> None:
    issue = "Node disk pressure on worker nodes, pods evicted"
    a = fresh_memory.remember(issue, "Prune unused container images with crictl rmi --prune").id
    b = fresh_memory.remember(issue, "Delete old journald logs: journalctl --vacuum-size=500M").id
    query = "worker nodes under disk pressure evicting pods"
    before = [h.fix.id for h in fresh_memory.recall(query, k=2)]
    loser = before[0]
    winner = b if loser == a else a
    for _ in range(3):
        fresh_memory.feedback(loser, False, agent="ops-bot")
        fresh_memory.feedback(winner, True, agent="ops-bot")
    after = fresh_memory.recall(query, k=2)
    assert after[0].fix.id == winner
    assert after[0].why["success"] > after[1].why["success"]
    fix = fresh_memory.get_fix(winner)
    assert fix is not None and fix.successes == 3 and fix.success is True


def test_feedback_on_unknown_fix_is_not_found(fresh_memory: Memory) -> None:
    with pytest.raises(NotFound):
        fresh_memory.feedback("fix_doesnotexist", True)


def test_delete_leaves_no_orphans(fresh_memory: Memory) -> None:
    r = fresh_memory.remember("etcd leader changes frequently", "Moved etcd to SSD disks", service="etcd",
                              agent="a1", success=True)  # fmt: skip
    assert fresh_memory.delete_fix(r.id) is True
    assert fresh_memory.get_fix(r.id) is None
    assert fresh_memory.manager.vectors.get_rows([r.id]) == {}
    stats = fresh_memory.manager.graph.stats()
    assert stats.fixes == 0
    assert stats.nodes.get("Issue", 0) == 0 and stats.nodes.get("Service", 0) == 0
    assert fresh_memory.delete_fix(r.id) is False


def test_agents_register_and_heartbeat(fresh_memory: Memory) -> None:
    a = fresh_memory.register_agent("db-watcher", server="host-1")
    assert a.name == "db-watcher" and a.status == "active"
    b = fresh_memory.heartbeat("db-watcher")
    assert b.server == "host-1" and b.last_seen >= a.last_seen
    assert [x.name for x in fresh_memory.get_all_agents()] == ["db-watcher"]


def test_similar_issues_count_occurrences(seeded: tuple[Memory, list[str]]) -> None:
    mem, _ = seeded
    mem.remember(FIXES[0][0], "Another fix: reduce cache size in checkout-api")
    groups = mem.find_similar_issues("checkout-api CrashLoopBackOff OOMKilled", limit=3)
    assert groups and groups[0].occurrence_count >= 2 and groups[0].fixes == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"issue": "", "solution": "x"}, "issue"),
        ({"issue": "x", "solution": None}, "solution"),
        ({"issue": "a\x00b", "solution": "x"}, "issue"),
        ({"issue": "x", "solution": "y", "confidence": float("nan")}, "confidence"),
        ({"issue": "x", "solution": "y", "success": "yes"}, "success"),
        ({"issue": "x", "solution": "y", "metadata": {"a": float("inf")}}, "metadata"),
        ({"issue": "x", "solution": "y", "id": "bad id with spaces"}, "id"),
        ({"issue": "x" * 20_001, "solution": "y"}, "issue"),
    ],
)
def test_bad_input_is_a_clear_error_and_stores_nothing(
    memory: Memory, kwargs: dict, field: str
) -> None:
    before = memory.count_fixes()
    with pytest.raises(ValidationError) as err:
        memory.remember(**kwargs)
    assert err.value.field == field
    assert memory.count_fixes() == before


def test_secrets_are_redacted_before_storage(fresh_memory: Memory) -> None:
    r = fresh_memory.remember(
        "Deploy failed: could not connect to postgres://app:S3cr3tPassw0rd@db.internal:5432/app",
        "Rotated the credential; AWS key AKIAIOSFODNN7EXAMPLE was also in the logs",
    )
    assert r.redacted
    fix = fresh_memory.get_fix(r.id)
    assert fix is not None
    assert "S3cr3tPassw0rd" not in fix.issue and "AKIAIOSFODNN7EXAMPLE" not in fix.solution
    row = fresh_memory.manager.vectors.get_rows([r.id])[r.id]
    assert "S3cr3tPassw0rd" not in row["issue"]


def test_recall_filters(seeded: tuple[Memory, list[str]]) -> None:
    mem, _ = seeded
    hits = mem.recall("memory", k=5, service="kafka")
    assert hits and all(h.fix.service == "kafka" for h in hits)
    assert mem.recall("anything", k=5, service="no-such-service") == []
