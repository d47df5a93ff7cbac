"""The graph contract suite runs once per backend: FalkorDB always (the session's
embedded server, a fresh graph per test); Neo4j when NEO4J_URI is set or a Docker
engine can run `neo4j:5` through testcontainers, else skipped with the reason."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from obsmem.model import FixWrite, fix_id_for, issue_signature
from obsmem.stores.graph import CypherGraph


def _docker_engine() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


@pytest.fixture(scope="session")
def neo4j_settings() -> Iterator[dict[str, str]]:
    if os.environ.get("NEO4J_URI"):
        yield {
            "uri": os.environ["NEO4J_URI"],
            "user": os.environ.get("NEO4J_USER", "neo4j"),
            "password": os.environ.get("NEO4J_PASSWORD", ""),
            "database": os.environ.get("NEO4J_DATABASE", ""),
        }
        return
    if not _docker_engine():
        pytest.skip("neo4j: NEO4J_URI not set and no Docker engine")
    try:
        from testcontainers.neo4j import Neo4jContainer
    except ImportError:
        pytest.skip("neo4j: NEO4J_URI not set and testcontainers is not installed")
    password = uuid.uuid4().hex
    with Neo4jContainer("neo4j:5", password=password) as container:
        yield {
            "uri": container.get_connection_url(),
            "user": "neo4j",
            "password": password,
            "database": "",
        }


@pytest.fixture(params=["falkordb", pytest.param("neo4j", marks=pytest.mark.neo4j)])
def store(request: pytest.FixtureRequest) -> Iterator[CypherGraph]:
    if request.param == "falkordb":
        from obsmem.stores.graph.falkor import FalkorGraph

        url = request.getfixturevalue("falkor_url")
        graph = FalkorGraph(url, graph="t_" + uuid.uuid4().hex[:12])
        graph.ensure_schema()
        yield graph
        graph.drop()
        graph.close()
    else:
        from obsmem.stores.graph.neo4j import Neo4jGraph

        cfg = request.getfixturevalue("neo4j_settings")
        graph = Neo4jGraph(
            cfg["uri"], user=cfg["user"], password=cfg["password"], database=cfg["database"] or None
        )
        graph.drop()  # a shared database: start empty
        graph.ensure_schema()
        yield graph
        graph.drop()
        graph.close()


@pytest.fixture
def make_fix() -> Callable[..., FixWrite]:
    """A FixWrite with ids derived the way obsmem derives them."""
    counter = iter(range(1, 1_000_000))

    def make(
        issue: str = "OOMKilled in pod api-7f9c",
        solution: str = "raise the memory limit",
        *,
        event_id: str | None = None,
        ts: int | None = None,
        **kw: object,
    ) -> FixWrite:
        n = next(counter)
        return FixWrite(
            id=fix_id_for(issue, solution),
            event_id=event_id or f"ev-{uuid.uuid4().hex}",
            issue=issue,
            solution=solution,
            signature=issue_signature(issue),
            ts=ts if ts is not None else 1_700_000_000_000 + n * 1000,
            **kw,  # type: ignore[arg-type]
        )

    return make
