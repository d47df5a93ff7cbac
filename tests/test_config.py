"""Settings.from_env: defaults that depend on each other."""

from __future__ import annotations

import pytest

from obsmem.config import ConfigError, Settings, pool_max_for


def test_pg_pool_fits_two_connections_per_server_thread(tmp_path) -> None:
    base = {"OBSMEM_DATA_DIR": str(tmp_path)}
    assert Settings.from_env(base).pg_pool_max == pool_max_for(8) == 18
    assert Settings.from_env({**base, "OBSMEM_THREADS": "16"}).pg_pool_max == 34
    assert Settings.from_env({**base, "OBSMEM_THREADS": "2"}).pg_pool_max == 10  # the floor
    assert Settings.from_env({**base, "OBSMEM_PG_POOL_MAX": "5"}).pg_pool_max == 5  # stated wins
    with pytest.raises(ConfigError):
        Settings.from_env({**base, "OBSMEM_THREADS": "0"})


def test_query_embedder_defaults_to_int8_and_can_be_turned_off() -> None:
    assert Settings.from_env({}).query_embedder == "int8"
    assert Settings.from_env({"OBSMEM_QUERY_EMBEDDER": "FP32"}).query_embedder == "fp32"
    with pytest.raises(ConfigError, match="OBSMEM_QUERY_EMBEDDER"):
        Settings.from_env({"OBSMEM_QUERY_EMBEDDER": "int4"})
