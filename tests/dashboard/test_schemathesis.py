"""Property-based fuzzing of every documented operation (schemathesis, in-process WSGI): no 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from dashboard.openapi import spec

OPERATIONS = [
    (path, method) for path, ops in spec()["paths"].items() for method in ops if path != "/metrics"
]  # /metrics is plain text with no inputs; test_api covers it


@pytest.fixture(scope="module")
def api_schema(embedded, embedder, tmp_path_factory):
    """Its own memory: fuzzed writes must not change what the other dashboard tests count."""
    import uuid

    from dashboard.app import create_app
    from obsmem.config import Settings
    from obsmem.memory import Memory
    from tests.conftest import _fresh_db
    from tests.dashboard.conftest import seed

    settings_ = Settings(
        data_dir=tmp_path_factory.mktemp("fuzz"),
        falkordb_url=embedded.falkordb_url(),
        falkordb_graph="fuzz_" + uuid.uuid4().hex[:8],
        database_url=_fresh_db(embedded.postgres_url(), "fuzz_"),
        demo=False,
    )
    memory = Memory.open(settings_, embedder=embedder)
    seed(memory)
    yield schemathesis.openapi.from_wsgi("/openapi.json", create_app(memory))
    memory.close()


@pytest.mark.parametrize(
    ("path", "method"), OPERATIONS, ids=[f"{m.upper()} {p}" for p, m in OPERATIONS]
)
def test_no_server_errors(api_schema, path, method):
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(
        max_examples=6,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case):
        response = case.call()
        case.validate_response(response, checks=[not_a_server_error])

    run()
