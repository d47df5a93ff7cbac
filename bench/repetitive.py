"""A repetitive corpus: 10 services x 16 symptoms x 12 causes x 12 actions, recombined.

Real memories of recurring incidents repeat themselves: the same few words
("latency", "after deploy", "restart") sit in a large share of all documents.
That is what makes a keyword leg expensive (long posting lists, every query
term common) and what the varied corpus of bench/generate.py does not show.
Fix *i* depends only on `(seed, i)`; an incident number keeps ids distinct when
the 23,040 combinations repeat. The dicts have the shape of `bench.generate.fix`.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

SERVICES = ("checkout", "payments", "orders", "search", "auth", "inventory", "shipping", "billing",
            "notifications", "gateway")  # fmt: skip
SYMPTOMS = (
    "p99 latency spike after deploy", "error rate above 5 percent", "pods crash looping",
    "connection pool exhausted", "memory usage climbing until OOMKilled", "CPU throttled at limit",
    "requests timing out at the load balancer", "disk full on data volume", "consumer lag growing",
    "5xx responses from upstream", "TLS handshake failures", "DNS lookups timing out",
    "queue depth growing without bound", "health checks failing intermittently",
    "slow queries on the primary database", "cache hit ratio dropped sharply",
)  # fmt: skip
CAUSES = (
    "a bad config push", "a memory leak in the new release", "an undersized connection pool",
    "a noisy neighbour on the node", "an expired certificate", "a missing database index",
    "a retry storm from clients", "log volume filling the disk", "a stuck consumer rebalance",
    "a DNS resolver overload", "a dependency version bump", "a traffic surge from a campaign",
)  # fmt: skip
ACTIONS = (
    "rolled back the deploy", "restarted the affected pods", "raised the connection pool size",
    "added the missing index", "renewed and rotated the certificate", "scaled the deployment out",
    "cleaned up old logs and added rotation", "reset the consumer group offsets",
    "raised the memory limit and fixed the leak", "added a circuit breaker with backoff",
    "pinned the dependency to the previous version", "moved the pod to a dedicated node",
)  # fmt: skip
COMBINATIONS = len(SERVICES) * len(SYMPTOMS) * len(CAUSES) * len(ACTIONS)  # 23,040


def parts(i: int, seed: int = 0) -> tuple[int, int, int, int]:
    r = random.Random(seed * 1_000_003 + i)
    return (r.randrange(len(SERVICES)), r.randrange(len(SYMPTOMS)), r.randrange(len(CAUSES)),
            r.randrange(len(ACTIONS)))  # fmt: skip


def fix(i: int, seed: int = 0) -> dict[str, Any]:
    sv, sy, ca, ac = parts(i, seed)
    service = SERVICES[sv]
    return {
        "issue": f"{service} service: {SYMPTOMS[sy]} (incident {i})",
        "solution": f"Root cause was {CAUSES[ca]}. We {ACTIONS[ac]} on {service} and it recovered.",
        "service": service, "agent": f"agent-{sv}", "namespace": "prod", "severity": "warning",
        "root_cause": f"cause-{ca}", "success": (i % 4) != 0, "tags": [service, f"symptom-{sy}"],
    }  # fmt: skip


def fixes(n: int, seed: int = 0, start: int = 0) -> Iterator[dict[str, Any]]:
    for i in range(start, start + n):
        yield fix(i, seed)


def template_key(item: dict[str, Any]) -> str:
    """The text without its incident number: items sharing it share a real embedding."""
    return item["issue"].rsplit(" (incident", 1)[0] + " | " + item["solution"]


def query(j: int, seed: int = 0) -> str:
    """An alert-like query: a service, a symptom, sometimes a suspected cause; distinct per j."""
    r = random.Random(seed * 7_919 + 104_729 + j)
    service, symptom = SERVICES[r.randrange(len(SERVICES))], SYMPTOMS[r.randrange(len(SYMPTOMS))]
    lead = ("alert:", "seeing", "on-call:", "help:")[r.randrange(4)]
    tail = f" maybe {CAUSES[r.randrange(len(CAUSES))]}" if r.random() < 0.5 else ""
    return f"{lead} {service} {symptom}{tail} #{j}"
