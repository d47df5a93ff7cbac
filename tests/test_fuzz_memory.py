"""Property tests for the Memory API: any input ends in ValidationError (nothing written) or is stored unchanged.

Runs on its own graph and database (module fixture) so counting is exact.
Small max_examples and no deadline: this is CI, on a shared 2-core box.
"""

from __future__ import annotations

import contextlib
import math
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from obsmem.memory import Memory, NotFound
from obsmem.model import MAX_K, MAX_OFFSET, ValidationError

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

# Any unicode, including control characters, NUL, unpaired surrogates, RTL marks, emoji.
any_char = st.characters(codec=None, categories=None)
weird_text = st.one_of(
    st.text(any_char, max_size=60),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "\ud800",
            "\x1b[31mred",
            "\u202e\u200b",
            "🧨" * 50,
            "x" * 1_000_000,
            "é" * 20_001,
            "\n\t\r",
            "'}) DETACH DELETE n //",
            "'; DROP TABLE fixes; --",
            '*:* OR a~2^3 "',
            "a & !b | c:*",
        ]
    ),
)
wrong_type = st.one_of(
    st.integers(),
    st.floats(allow_nan=True),
    st.booleans(),
    st.binary(max_size=10),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
text_or_junk = st.one_of(weird_text, weird_text, wrong_type, st.none())
json_leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(any_char, max_size=20),
)
json_tree = st.recursive(
    json_leaf,
    lambda kids: st.one_of(
        st.lists(kids, max_size=3), st.dictionaries(st.text(any_char, max_size=8), kids, max_size=3)
    ),
    max_leaves=12,
)


def _deep(depth: int) -> Any:
    node: Any = "bottom"
    for i in range(depth):
        node = {f"k{i}": node} if i % 2 else [node]
    return node


metadata = st.one_of(
    st.none(),
    json_tree,
    st.integers(1, 5000).map(lambda d: {"deep": _deep(d)}),
    st.just({"big": "x" * 70_000}),
    wrong_type,
)
confidence = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 5),
    st.booleans(),
    st.text(max_size=4),
)
counts = st.one_of(
    st.integers(-(2**70), 2**70),
    st.integers(-3, 120),
    st.sampled_from([0, -1, MAX_OFFSET + 1, 10**30]),
    st.text(max_size=5),
    st.floats(allow_nan=True),
    st.none(),
    st.booleans(),
)


@pytest.fixture(scope="module")
def mem(embedded, embedder, tmp_path_factory):
    from obsmem.config import Settings
    from tests.conftest import _fresh_db

    settings_ = Settings(
        data_dir=tmp_path_factory.mktemp("fuzzmem"),
        falkordb_url=embedded.falkordb_url(),
        falkordb_graph="fuzzmem_" + uuid.uuid4().hex[:8],
        database_url=_fresh_db(embedded.postgres_url(), "fuzzmem_"),
        demo=False,
    )
    m = Memory.open(settings_, embedder=embedder)
    m.remember("anchor: disk full on node-1", "rotate logs", agent="anchor", service="svc")
    yield m
    m.close()


def _fixes(m: Memory) -> tuple[int, int]:
    return m.manager.graph.count_fixes(None), m.manager.vectors.count(None)


@FUZZ
@given(
    issue=text_or_junk,
    solution=text_or_junk,
    root_cause=text_or_junk,
    agent=text_or_junk,
    service=text_or_junk,
    tags=st.one_of(st.none(), st.lists(text_or_junk, max_size=40), wrong_type),
    metadata=metadata,
    confidence=confidence,
    success=st.one_of(st.none(), st.booleans(), wrong_type),
)
def test_remember_refuses_cleanly_or_stores_unchanged(
    mem: Memory, issue, solution, root_cause, agent, service, tags, metadata, confidence, success
) -> None:
    before = _fixes(mem)
    try:
        r = mem.remember(
            issue,
            solution,
            root_cause=root_cause,
            agent=agent,
            service=service,
            tags=tags,
            metadata=metadata,
            confidence=confidence,
            success=success,
        )
    except ValidationError as exc:
        assert exc.field and exc.message
        assert _fixes(mem) == before, "a refused write changed a store"
        return
    fix = mem.get_fix(r.id)
    assert fix is not None and r.pending == ()
    if not r.redacted:
        assert (fix.issue, fix.solution) == (issue, solution)
        if metadata:
            assert fix.metadata == metadata
    assert (isinstance(confidence, int | float) and math.isfinite(confidence)) or confidence is None
    row = mem.manager.vectors.get_rows([r.id])[r.id]
    assert (row["issue"], row["solution"]) == (fix.issue, fix.solution)
    after = _fixes(mem)
    assert after[0] == after[1] and after[0] - before[0] in (0, 1)


@FUZZ
@given(
    query=text_or_junk, k=counts, service=text_or_junk, only=st.one_of(st.booleans(), wrong_type)
)
def test_recall_refuses_cleanly_or_answers_at_most_k(mem: Memory, query, k, service, only) -> None:
    before = _fixes(mem)
    try:
        hits = mem.recall(query, k=k, service=service, only_successful=only)
    except ValidationError:
        pass
    else:
        assert isinstance(k, int) and 1 <= k <= MAX_K and len(hits) <= k
        assert all(math.isfinite(h.score) for h in hits)
    assert _fixes(mem) == before


@FUZZ
@given(limit=counts, offset=counts, agent=text_or_junk, since=st.one_of(st.none(), counts))
def test_listing_refuses_cleanly_or_pages(mem: Memory, limit, offset, agent, since) -> None:
    try:
        page = mem.get_recent_fixes(limit=limit, offset=offset, agent=agent, since_ms=since)
    except ValidationError:
        return
    assert len(page) <= limit


@FUZZ
@given(
    fix_id=text_or_junk, success=st.one_of(st.booleans(), wrong_type, st.none()), agent=text_or_junk
)
def test_feedback_and_delete_with_junk_change_nothing(mem: Memory, fix_id, success, agent) -> None:
    before = _fixes(mem)
    outcomes_before = mem.manager.graph.stats().outcomes
    for call in (
        lambda: mem.feedback(fix_id, success, agent=agent),
        lambda: mem.delete_fix(fix_id),
    ):
        with contextlib.suppress(ValidationError, NotFound):
            call()
    assert _fixes(mem) == before  # random ids never match a real fix
    assert mem.manager.graph.stats().outcomes == outcomes_before
