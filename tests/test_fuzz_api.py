"""Property tests for the JSON API over real HTTP (waitress on 127.0.0.1): never a 5xx, 4xx changes nothing.

tests/dashboard/test_schemathesis.py already fuzzes every operation in
/openapi.json (no 5xx); this adds what a schema-driven fuzzer does not send:
raw bytes, invalid UTF-8, NaN/Infinity literals, deeply nested JSON, wrong
content types, and a check that refused requests leave the graph unchanged
and accepted ones return the stored text unchanged.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_fuzz_memory import json_tree, text_or_junk, weird_text

FUZZ = settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


@pytest.fixture(scope="module")
def api(embedded, embedder, tmp_path_factory) -> Iterator[dict[str, Any]]:
    from dashboard.app import create_app
    from dashboard.serve import start_in_thread
    from obsmem.config import Settings
    from obsmem.memory import Memory
    from tests.conftest import _fresh_db

    s = Settings(
        data_dir=tmp_path_factory.mktemp("fuzzapi"),
        falkordb_url=embedded.falkordb_url(),
        falkordb_graph="fuzzapi_" + uuid.uuid4().hex[:8],
        database_url=_fresh_db(embedded.postgres_url(), "fuzzapi_"),
        demo=False,
    )
    mem = Memory.open(s, embedder=embedder)
    fid = mem.remember("anchor: disk full on node-1", "rotate logs", agent="anchor").id
    server = start_in_thread(create_app(mem), threads=2)
    yield {"url": server.url, "memory": mem, "fid": fid}
    server.stop()
    mem.close()


def _graph(mem: Any) -> tuple[dict[str, int], dict[str, int]]:
    st_ = mem.manager.graph.stats()
    return dict(st_.nodes), dict(st_.relationships)


def _send(
    url: str,
    method: str,
    path: str,
    body: Any = None,
    raw: bytes | None = None,
    ctype: str = "application/json",
    params: Any = None,
) -> requests.Response:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    return requests.request(
        method,
        url + path,
        data=data,
        params=params,
        timeout=120,
        headers={"Content-Type": ctype} if data is not None else {},
    )


remember_body = st.fixed_dictionaries(
    {},
    optional={
        "issue": text_or_junk,
        "solution": text_or_junk,
        "root_cause": text_or_junk,
        "agent": text_or_junk,
        "service": text_or_junk,
        "tags": st.one_of(st.lists(text_or_junk, max_size=3), text_or_junk),
        "metadata": st.one_of(json_tree, text_or_junk),
        "confidence": st.one_of(st.floats(), text_or_junk),
        "success": st.one_of(st.booleans(), text_or_junk),
        "id": text_or_junk,
        "extra_field": st.integers(),
    },
)


@FUZZ
@given(body=st.one_of(remember_body, json_tree))
def test_remember_never_5xx_and_stores_unchanged(api, body) -> None:
    url, mem = api["url"], api["memory"]
    try:
        raw = json.dumps(body, allow_nan=True).encode(
            "utf-8", "surrogatepass"
        )  # NaN, Infinity literals too
    except (TypeError, ValueError):
        return
    before = _graph(mem)
    resp = _send(url, "POST", "/api/remember", raw=raw)
    assert resp.status_code < 500, resp.text[:500]
    if resp.status_code >= 400:
        err = resp.json()["error"]
        assert err["code"] and err["message"]
        assert _graph(mem) == before, "a refused request changed the graph"
        return
    assert resp.status_code in (200, 201)
    got = resp.json()
    fix = requests.get(url + f"/api/fixes/{got['id']}", timeout=60).json()["fix"]
    if not got["redacted"]:
        assert (fix["issue"], fix["solution"]) == (body["issue"], body["solution"])


hostile_bytes = st.one_of(
    st.binary(max_size=200),
    st.sampled_from(
        [
            b"\xff\xfe\xfd",
            b'{"issue": "\xc3\x28", "solution": "x"}',
            b'{"issue": NaN}',
            b'{"issue": "a", "solution": "b", "confidence": Infinity}',
            b'{"issue": "a", "solution": "b", "confidence": -Infinity}',
            b"[" * 100_000 + b"]" * 100_000,
            b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
            b'{"issue": "a\\u0000b", "solution": "c"}',
            b'{"issue": "\\ud800", "solution": "c"}',
            b'{"issue": "' + b"x" * 1_000_000 + b'", "solution": "y"}',
            b'{"issue": "' + b"x" * 3_000_000 + b'", "solution": "y"}',
            b"null",
            b"[]",
            b'"str"',
            b"1e999999",
            b'{"issue": 1e999999}',
            b"\x00" * 64,
        ]
    ),
)


@FUZZ
@given(
    raw=hostile_bytes,
    path=st.sampled_from(
        ["/api/remember", "/api/recall", "/api/register-agent", "/api/fixes/FIXID/feedback"]
    ),
    ctype=st.sampled_from(
        [
            "application/json",
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/json; charset=latin-1",
            "multipart/form-data",
        ]
    ),
)
def test_hostile_bodies_are_4xx_and_change_nothing(api, raw, path, ctype) -> None:
    url, mem = api["url"], api["memory"]
    before = _graph(mem)
    resp = _send(url, "POST", path.replace("FIXID", api["fid"]), raw=raw, ctype=ctype)
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text[:300])
    assert resp.json()["error"]["message"]
    assert _graph(mem) == before


params = st.dictionaries(
    st.sampled_from(["q", "limit", "offset", "k", "since", "agent", "service", "success", "days"]),
    st.one_of(
        weird_text.filter(lambda s: "\x00" not in s and len(s) < 5000),
        st.integers(-(2**70), 2**70).map(str),
        st.sampled_from(
            [
                "-1",
                "0",
                "1e9",
                "NaN",
                "inf",
                "10000001",
                "99999999999999999999999",
                "²",
                " 5 ",
                "0x10",
            ]
        ),
    ),
    max_size=5,
)


@FUZZ
@given(
    path=st.sampled_from(
        [
            "/api/fixes",
            "/api/recall",
            "/api/similar",
            "/api/agents",
            "/api/stats",
            "/api/state",
            "/api/fixes/FIXID",
            "/api/graph/FIXID",
        ]
    ),
    query=params,
)
def test_reads_with_any_query_string_never_5xx(api, path, query) -> None:
    url, mem = api["url"], api["memory"]
    before = _graph(mem)
    raw_query = {
        k: v.encode("utf-8", "surrogatepass") for k, v in query.items()
    }  # lone surrogates too
    resp = _send(url, "GET", path.replace("FIXID", api["fid"]), params=raw_query)
    assert resp.status_code < 500, (path, query, resp.text[:300])
    assert _graph(mem) == before


@FUZZ
@given(fix_id=weird_text.filter(lambda s: len(s) < 3000))
def test_any_fix_id_in_the_path_never_5xx(api, fix_id) -> None:
    url, mem = api["url"], api["memory"]
    before = _graph(mem)
    quoted = requests.utils.quote(fix_id.encode("utf-8", "surrogatepass"), safe="")
    for method, path in (
        ("GET", f"/api/fixes/{quoted}"),
        ("DELETE", f"/api/fixes/{quoted}"),
        ("POST", f"/api/fixes/{quoted}/feedback"),
        ("GET", f"/api/graph/{quoted}"),
    ):
        resp = _send(url, method, path, body={"success": True} if method == "POST" else None)
        assert resp.status_code < 500, (method, fix_id[:50], resp.text[:300])
    assert _graph(mem) == before  # no random id can name the anchor
