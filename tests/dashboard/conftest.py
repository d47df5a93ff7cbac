"""A Memory of our own (own graph, own database) seeded with known agents and fixes.

The session `memory` fixture is shared with other suites that write to it; the
dashboard tests assert exact counts and rankings, so they get an isolated one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from obsmem.config import Settings

TOKEN = "test-" + uuid.uuid4().hex  # made up per run; never a real secret

AGENTS = [("k8s-watcher", "node-1"), ("db-guardian", "db-1"), ("net-sentry", "edge-2")]

SEED: list[dict[str, Any]] = [
    {
        "issue": "Pods OOMKilled after deploy of payments-api, container memory limit 512Mi",
        "solution": "Raise the memory limit to 1Gi and fix the unbounded cache in the payments worker",
        "service": "payments-api",
        "agent": "k8s-watcher",
        "success": True,
        "root_cause": "memory_leak",
        "tags": ["k8s", "oom"],
    },
    {
        "issue": "Postgres connection pool exhausted: FATAL too many clients already",
        "solution": "Put pgbouncer in front of orders-db and lower the per-pod pool size to 5",
        "service": "orders-db",
        "agent": "db-guardian",
        "success": True,
        "root_cause": "pool_exhaustion",
    },
    {
        "issue": "TLS certificate expired on the ingress gateway, browsers show NET::ERR_CERT_DATE_INVALID",
        "solution": "Renew the certificate with cert-manager and restart the ingress controller",
        "service": "ingress",
        "agent": "net-sentry",
        "success": False,
        "root_cause": "expired_cert",
    },
    {
        "issue": "Disk full on logging node: /var/log at 100%, fluentd buffer overflow",
        "solution": "Rotate and compress logs with logrotate daily; cap the fluentd buffer at 2GB",
        "service": "logging",
        "agent": "k8s-watcher",
        "success": True,
        "root_cause": "disk_full",
    },
    {
        "issue": "DNS resolution timeouts inside the cluster, coredns CPU throttled",
        "solution": "Scale coredns to 4 replicas and raise its CPU limit",
        "service": "coredns",
        "agent": "net-sentry",
    },
]
# Filler so that pagination has pages: same service, distinct problems.
FILLER = [
    {
        "issue": f"Synthetic batch job {i} failed with exit code {100 + i} in reporting cron",
        "solution": f"Rerun batch job {i} with the --resume flag after clearing lock {i}",
        "service": "reporting",
        "agent": "k8s-watcher",
        "success": i % 2 == 0,
    }
    for i in range(30)
]


def seed(memory: Any) -> dict[str, str]:
    """Agents + fixes + one feedback; returns {service: fix id} for the hand-written fixes."""
    for name, server in AGENTS:
        memory.register_agent(name, server=server)
    results = memory.remember_many(SEED + FILLER)
    ids = {item["service"]: r.id for item, r in zip(SEED, results, strict=False)}
    memory.feedback(ids["payments-api"], True, agent="db-guardian")
    memory.drain(30)
    return ids


@pytest.fixture(scope="package")
def dash_settings(embedded, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from tests.conftest import _fresh_db

    return Settings(
        data_dir=tmp_path_factory.mktemp("dash"),
        falkordb_url=embedded.falkordb_url(),
        falkordb_graph="dash_" + uuid.uuid4().hex[:8],
        database_url=_fresh_db(embedded.postgres_url(), "dash_"),
        demo=False,
    )


@pytest.fixture(scope="package")
def dash_memory(dash_settings: Settings, embedder) -> Iterator[Any]:
    from obsmem.memory import Memory

    mem = Memory.open(dash_settings, embedder=embedder)
    yield mem
    mem.close()


@pytest.fixture(scope="package")
def seeded(dash_memory) -> dict[str, str]:
    return seed(dash_memory)


@pytest.fixture(scope="package")
def app(dash_memory, seeded):
    from dashboard.app import create_app

    return create_app(dash_memory)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture(scope="package")
def token_app(dash_memory, seeded):
    """Same memory, writes need the token."""
    from dashboard.app import create_app

    return create_app(dash_memory, settings=dash_memory.settings.with_(api_token=TOKEN))


@pytest.fixture(scope="package")
def locked_app(dash_memory, seeded):
    """Same memory, reads need the token too."""
    from dashboard.app import create_app

    return create_app(
        dash_memory, settings=dash_memory.settings.with_(api_token=TOKEN, auth_reads=True)
    )
