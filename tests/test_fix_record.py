"""One fix record in obsmem.model: the API keys, the OpenAPI body, export fields and the agent
helper derive from it; one Fix constructor for both stores; the shared small helpers."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime

import jsonschema
import pytest

from obsmem import model as m
from obsmem.memory import Memory
from obsmem.stores.batching import rounds
from obsmem.stores.graph.cypher import search_terms


def prepare(item: dict) -> m.FixWrite:
    return Memory._prepare(None, item)[0]  # type: ignore[arg-type]  # no store needed


def test_api_openapi_and_memory_accept_the_same_keys() -> None:
    from dashboard.api import REMEMBER_KEYS
    from dashboard.openapi import spec

    body = spec()["paths"]["/api/remember"]["post"]["requestBody"]["content"]["application/json"]
    assert REMEMBER_KEYS == set(m.REMEMBER_FIELDS) == set(body["schema"]["properties"])
    for key in m.REMEMBER_FIELDS:  # every documented key is a field `remember` takes
        prepare(
            {"issue": "i", "solution": "s", key: None}
            if key not in m.REMEMBER_REQUIRED
            else {"issue": "i", "solution": "s"}
        )
    with pytest.raises(m.ValidationError, match="not a field"):
        prepare({"issue": "i", "solution": "s", "colour": "red"})


def test_openapi_root_cause_limit_is_the_code_limit() -> None:
    """It said 200 characters while the code allowed 2,000."""
    from dashboard.openapi import REMEMBER_BODY

    ok = {"issue": "i", "solution": "s", "root_cause": "x" * m.MAX_ROOT_CAUSE_CHARS}
    too_long = {**ok, "root_cause": "x" * (m.MAX_ROOT_CAUSE_CHARS + 1)}
    jsonschema.validate(ok, REMEMBER_BODY)
    assert prepare(ok).root_cause == ok["root_cause"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(too_long, REMEMBER_BODY)
    with pytest.raises(m.ValidationError, match="root_cause"):
        prepare(too_long)


def test_export_fields_and_agent_helper_fields_derive_from_the_record() -> None:
    import scripts.agent_memory as agent_memory
    from obsmem import transfer

    stored = {f.name for f in dataclasses.fields(m.Fix)} - {"agents_count"}
    assert set(transfer.FIX_FIELDS) == stored
    assert agent_memory._FIELDS == m.FIX_ATTRIBUTES
    assert set(m.FIX_ATTRIBUTES) == {"success", "agent", "service", "namespace", "severity",
                                     "root_cause", "confidence", "tags"}  # fmt: skip


def test_one_fix_constructor_for_graph_props_and_postgres_rows() -> None:
    ts, seen = 1_700_000_000_000, 1_700_000_500_000
    common = dict(id="fix_1", issue="disk full", solution="rotate logs", success=True,
                  agent="a", service="logging", namespace="ops", severity="high",
                  root_cause="disk_full", confidence=0.5, tags=["disk"], signature="sig_1",
                  occurrences=3, successes=2, failures=1)  # fmt: skip
    props = {**common, "ts": ts, "last_seen": seen, "metadata": '{"k": 1}',
             "recent_events": ["e1"], "success_ts": seen}  # fmt: skip
    row = {**common, "created_at": datetime.fromtimestamp(ts / 1000, UTC),
           "last_seen": datetime.fromtimestamp(seen / 1000, UTC), "metadata": {"k": 1}}  # fmt: skip
    from_graph, from_pg = m.Fix.from_record(props, agents_count=2), m.Fix.from_record(row)
    assert from_graph == dataclasses.replace(from_pg, agents_count=2)
    assert (from_pg.ts, from_pg.last_seen, from_pg.tags, from_pg.metadata) == (
        ts,
        seen,
        ("disk",),
        {"k": 1},
    )
    bare = m.Fix.from_record({"id": "fix_2", "metadata": "not json"})
    assert (bare.issue, bare.ts, bare.metadata, bare.confidence) == ("", 0, {}, None)


@pytest.mark.parametrize(
    ("ok", "outbox", "status"),
    [
        ([True, True], {"depth": {}, "dead_letters": {}}, "healthy"),
        ([True, True], {"depth": {"graph": 2}, "dead_letters": {}}, "degraded"),
        ([True, True], {"depth": {}, "dead_letters": {"vectors": 1}}, "degraded"),
        ([True, False], {}, "degraded"),
        ([False, False], {}, "unhealthy"),
        ([], {}, "unhealthy"),
    ],
)
def test_health_status_is_decided_once(ok, outbox, status) -> None:
    from dashboard.health import store_status

    assert m.health_status(ok, outbox) == status
    stores = {str(i): {"ok": v} for i, v in enumerate(ok)}
    assert store_status({"stores": stores, "outbox": outbox}) == status


def test_rounds_keep_keys_unique_per_round_and_drop_replayed_events() -> None:
    rows = [("a", "e1"), ("b", "e2"), ("a", "e3"), ("a", "e1"), ("a", "e4")]
    got = rounds(rows, key=lambda r: r[0], event=lambda r: r[1])
    assert got == [[("a", "e1"), ("b", "e2")], [("a", "e3")], [("a", "e4")]]


@pytest.mark.parametrize(
    "text", ['a AND "b" OR c~ NOT (d:e)', "KubePodCrashLooping", "\\*?[]{}^|", ""]
)
def test_graph_search_terms_use_the_one_tokeniser(text: str) -> None:
    from obsmem.text import query_terms

    terms = search_terms(text)
    assert terms == query_terms(text, 64)
    assert all(re.fullmatch(r"[^\W_]+(_[^\W_]+)*", t) and t == t.casefold() for t in terms)
    assert not {"AND", "OR", "NOT"} & set(terms)  # lower case: never Lucene operators


def test_now_helpers_agree() -> None:
    before = m.now_ms()
    iso = m.now_iso()
    assert iso.endswith("Z") and abs(m.iso_to_ms(iso) - before) < 5_000
    assert m.RECENT_EVENTS == 32


def test_fix_to_dict_is_asdict_plus_derived_fields() -> None:
    """to_dict is written field by field for speed; it must stay what asdict gave."""
    fix = m.Fix.from_record(
        {
            "id": "fix_1", "issue": "disk full", "solution": "grew the volume",
            "ts": 1_700_000_000_000, "last_seen": 1_700_000_100_000, "tags": ["disk", "pg"],
            "metadata": {"runbook": ["a", {"b": (1, 2)}], "n": None},
            "successes": 2, "failures": 1, "confidence": 0.5,
        }
    )  # fmt: skip
    expected = dataclasses.asdict(fix)
    expected |= {
        "tags": ["disk", "pg"],
        "created_at": m.ms_to_iso(fix.ts),
        "last_seen_at": m.ms_to_iso(fix.last_seen),
        "success_rate": 2 / 3,
    }
    got = fix.to_dict()
    assert got == expected and list(got) == list(expected)
    got["metadata"]["runbook"][1]["b"] = "changed"  # a copy: the frozen record is untouched
    assert fix.metadata["runbook"][1]["b"] == (1, 2)
