"""Session-wide real servers: one embedded FalkorDB + Postgres, one embedder.

Tests isolate themselves by graph name (FalkorDB holds many graphs) and by
Postgres database, so the servers start once per session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OBSMEM_DEMO", "0")

from obsmem.stores.embedded import EmbeddedServers

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """`slow` tests (long crash/soak/scale runs) skip with a reason unless OBSMEM_SLOW=1 or -m slow."""
    if os.environ.get("OBSMEM_SLOW") == "1" or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: set OBSMEM_SLOW=1 (or -m slow) to run the long mode")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def embedded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServers]:
    servers = EmbeddedServers(tmp_path_factory.mktemp("embedded")).start()
    yield servers
    servers.stop(force=True)


@pytest.fixture(scope="session")
def falkor_url(embedded: EmbeddedServers) -> str:
    return embedded.falkordb_url()


@pytest.fixture(scope="session")
def pg_url(embedded: EmbeddedServers) -> str:
    return embedded.postgres_url()


@pytest.fixture
def graph_name() -> str:
    return "t_" + uuid.uuid4().hex[:12]


@pytest.fixture
def pg_db_url(pg_url: str) -> Iterator[str]:
    """A fresh, empty database on the session's Postgres for one test."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = pg_url.replace("/postgres?", f"/{name}?")
    yield url
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def embedder():
    """The real MiniLM, loaded once per session."""
    from obsmem.embed import Embedder

    return Embedder()


def _fresh_db(pg_url: str, prefix: str) -> str:
    import psycopg

    name = prefix + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return pg_url.replace("/postgres?", f"/{name}?")


@pytest.fixture(scope="session")
def memory_settings(embedded: EmbeddedServers, tmp_path_factory: pytest.TempPathFactory):
    """Settings for a Memory on the session's servers: its own graph and its own database."""
    from obsmem.config import Settings

    return Settings(
        data_dir=tmp_path_factory.mktemp("memory"),
        falkordb_url=embedded.falkordb_url(),
        falkordb_graph="mem_" + uuid.uuid4().hex[:8],
        database_url=_fresh_db(embedded.postgres_url(), "mem_"),
        demo=False,
    )


@pytest.fixture(scope="session")
def memory(memory_settings, embedder):
    """One real Memory for the session (tests that need isolation make their own)."""
    from obsmem.memory import Memory

    mem = Memory.open(memory_settings, embedder=embedder)
    yield mem
    mem.close()


@pytest.fixture
def fresh_memory(embedded: EmbeddedServers, embedder, tmp_path: Path):
    """A Memory with an empty graph and an empty database, for tests that count things."""
    from obsmem.config import Settings
    from obsmem.memory import Memory

    settings = Settings(
        data_dir=tmp_path / "mem",
        falkordb_url=embedded.falkordb_url(),
        falkordb_graph="fresh_" + uuid.uuid4().hex[:8],
        database_url=_fresh_db(embedded.postgres_url(), "fresh_"),
        demo=False,
    )
    mem = Memory.open(settings, embedder=embedder)
    yield mem
    mem.close()


@pytest.fixture(scope="module")
def own_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServers]:
    """A pair of servers for one test module alone: SIGSTOPping them disturbs no other test."""
    servers = EmbeddedServers(tmp_path_factory.mktemp("own-servers")).start(supervise=False)
    yield servers
    servers.stop(force=True)
