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

from obsmem.embedded import EmbeddedServers  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


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
def embedder():  # noqa: ANN201
    """The real MiniLM, loaded once per session."""
    from obsmem.embed import Embedder

    return Embedder()
