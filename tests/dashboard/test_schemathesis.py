"""Property-based fuzzing of every documented operation: nothing may answer 5xx."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error


@pytest.fixture(scope="module")
def api_schema(embedded, embedder, tmp_path_factory):
    """Its own memory: fuzzed writes must not change what the other dashboard tests count."""
    import uuid

    from dashboard import create_app
    from obsmem.config import Settings
    from obsmem.memory import Memory
    from tests.conftest import _fresh_db
    from tests.dashboard.conftest import seed

    settings = Settings(data_dir=tmp_path_factory.mktemp("fuzz"),
                        falkordb_url=embedded.falkordb_url(),
                        falkordb_graph="fuzz_" + uuid.uuid4().hex[:8],
                        database_url=_fresh_db(embedded.postgres_url(), "fuzz_"), demo=False)
    memory = Memory.open(settings, embedder=embedder)
    seed(memory)
    yield schemathesis.openapi.from_wsgi("/openapi.json", create_app(memory))
    memory.close()


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=12, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case):
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
