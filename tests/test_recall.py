"""Recall's calibrated relevance and `no_match`, on the real stores with the real embedder."""

from __future__ import annotations

import pytest

from obsmem import recall as rc
from obsmem.config import ConfigError, Settings
from obsmem.memory import Memory
from obsmem.model import Fix, RecallHit, RecallResult, ValidationError
from tests.test_memory import FIXES

OFF_TOPIC = [
    "banana smoothie recipe with oat milk",
    "how long to bake chocolate chip cookies at 180 degrees",
    "who won the champions league final last season",
    "best marathon training plan for beginners",
    "how do I reverse a list in python",
    "javascript array map vs forEach difference",
]

ON_TOPIC = [
    ("PostgreSQL replica lagging behind primary, replay lag growing", 1),
    ("TLS handshake failures because the certificate expired", 2),
    ("kafka broker disk full, producers failing with NotEnoughReplicas", 4),
    ("HikariPool connection is not available, request timed out", 5),
]


@pytest.fixture
def seeded(fresh_memory: Memory) -> tuple[Memory, list[str]]:
    ids = [
        fresh_memory.remember(issue, solution, service=svc, success=True).id
        for issue, solution, svc in FIXES
    ]
    return fresh_memory, ids


def _fix(fid: str) -> Fix:
    return Fix(id=fid, issue="i", solution="s", ts=0)


def test_recall_result_compares_and_shows_its_hits() -> None:
    a = RecallResult([RecallHit(_fix("a"), 0.9, {})], served_by=("vectors",))
    b = RecallResult([RecallHit(_fix("b"), 0.9, {})], served_by=("vectors",))
    assert a != b  # a dataclass __eq__ compared only served_by/degraded/timings
    assert a == RecallResult([RecallHit(_fix("a"), 0.9, {})], served_by=("vectors",))
    assert "'a'" in repr(a) and "no_match" in repr(a)
    assert a == [RecallHit(_fix("a"), 0.9, {})]  # still a list for old callers


def test_no_match_and_below_bar_marking() -> None:
    hits = [
        RecallHit(_fix("a"), 0.5, {}, relevance=0.4),
        RecallHit(_fix("b"), 0.4, {}, relevance=0.05),
    ]
    res = RecallResult([h.marked(0.3) for h in hits], min_relevance=0.3)
    assert not res.no_match and [h.below_bar for h in res] == [False, True]
    assert [h.fix.id for h in res.matches] == ["a"]
    res = RecallResult([h.marked(0.6) for h in hits], min_relevance=0.6)
    assert res.no_match and len(res) == 2  # the closest are still there
    d = res.to_dict()
    assert d["no_match"] is True and d["min_relevance"] == 0.6
    assert {"relevance", "below_bar"} <= set(d["hits"][0])
    assert RecallResult([]).no_match


def test_numbers_are_their_own_stem() -> None:
    """The shortcut for numbers gives what the Snowball stemmer gives."""
    words = [str(n) for n in (0, 7, 42, 443, 5781, 8080, 10**12)] + ["0042", "1" * 48]
    assert [rc.stem(w) for w in words] == [rc._stemmer().stemWord(w) for w in words] == words
    assert rc.stem("connections") == rc.stem("connection") == "connect"
    assert rc.stem("٣٤") == rc._stemmer().stemWord("٣٤")  # not ASCII: through the stemmer


def test_features_are_absolute() -> None:
    q = rc.query_terms("ingester memory usage too high", docs=100, avgdl=50.0, df={"ingester": 3})
    fix = Fix(id="x", issue="Ingester memory usage too high", solution="Scale the ingesters.", ts=0)
    full = rc.features(q, fix, 0.8)
    assert full["coverage"] == pytest.approx(1.0) and full["issue_coverage"] == pytest.approx(1.0)
    assert 0 < full["bm25"] < 1
    other = Fix(id="y", issue="Disk full", solution="Delete old logs.", ts=0)
    none = rc.features(q, other, 0.1)
    assert none["coverage"] == 0 and none["bm25"] == 0
    assert rc.relevance(full) > 0.5 > rc.relevance(none)
    assert full["title_coverage"] == pytest.approx(1.0) and none["title_coverage"] == 0


def test_features_add_the_fit_only_three_to_what_the_model_uses() -> None:
    """Recall scores with `model_features`; bench.relevance_fit also weighs plain BM25 and
    coverage over the whole text and BM25 over the issue alone."""
    q = rc.query_terms("disk full on the orders volume", docs=1000, avgdl=12.0, df={"disk": 30})
    everywhere = Fix(id="a", issue="Disk full on the orders volume", solution="Grow it.", ts=0)
    in_solution = Fix(id="b", issue="Database writes fail", ts=0,
                      solution="The orders volume was full: the disk grew.")  # fmt: skip
    elsewhere = Fix(id="c", issue="TLS certificate expired", solution="Renew it.", ts=0)
    full = {fix.id: rc.features(q, fix, 0.5) for fix in (everywhere, in_solution, elsewhere)}
    for fix_id, feats in full.items():
        assert set(feats) == set(rc.FEATURES) | {"bm25", "coverage", "issue_bm25"}
        fix = {"a": everywhere, "b": in_solution, "c": elsewhere}[fix_id]
        assert {f: feats[f] for f in rc.FEATURES} == rc.model_features(q, fix, 0.5)
    assert full["a"]["coverage"] == pytest.approx(1.0) and full["a"]["issue_bm25"] > 0
    assert full["b"]["bm25"] > 0 and full["b"]["coverage"] > 0.5 and full["b"]["issue_bm25"] == 0
    assert full["c"]["bm25"] == full["c"]["coverage"] == full["c"]["issue_bm25"] == 0


def test_title_coverage_tells_sibling_runbooks_apart() -> None:
    """Two runbooks with nearly the same text: the title word the query doesn't say decides."""
    q = rc.query_terms("disk usage warning on node <node>: 80% full", docs=100, avgdl=50.0, df={})
    body = "Disk usage on the node is high. Delete old logs, expand the volume."
    warn = Fix(id="w", issue="NodeDiskUsageWarning\n" + body, solution="Expand the volume.", ts=0)
    crit = Fix(id="c", issue="NodeDiskUsageCritical\n" + body, solution="Expand the volume.", ts=0)
    fw, fc = rc.features(q, warn, 0.7), rc.features(q, crit, 0.7)
    assert fw["title_coverage"] == pytest.approx(1.0)
    assert fc["title_coverage"] == pytest.approx(0.75)  # "critical" is not in the query
    assert rc.relevance(fw) > rc.relevance(fc)
    fc_same = {**fw, "title_coverage": fc["title_coverage"]}  # the title alone makes a difference
    assert rc.relevance(fw) > rc.relevance(fc_same)


def test_min_relevance_setting() -> None:
    assert Settings.from_env({}).min_relevance is None
    assert Settings.from_env({"OBSMEM_MIN_RELEVANCE": "0.4"}).min_relevance == 0.4
    for bad in ("1.5", "-0.1", "high"):
        with pytest.raises(ConfigError, match="OBSMEM_MIN_RELEVANCE"):
            Settings.from_env({"OBSMEM_MIN_RELEVANCE": bad})


def test_empty_recall_is_not_degraded(fresh_memory: Memory) -> None:
    res = fresh_memory.recall("anything at all", k=3)
    assert len(res) == 0 and res.no_match
    assert not res.degraded  # both stores are up; the graph simply had nothing to enrich


def test_off_topic_queries_are_no_match(seeded: tuple[Memory, list[str]]) -> None:
    mem, _ = seeded
    for q in OFF_TOPIC:
        res = mem.recall(q, k=3)
        assert res, q  # the closest are still returned ...
        assert res.no_match, (q, [(h.fix.issue[:30], h.relevance) for h in res])
        assert all(h.below_bar for h in res)  # ... marked
        assert res[0].relevance is not None and res[0].relevance < 0.05, q


def test_on_topic_queries_match_with_the_right_fix(seeded: tuple[Memory, list[str]]) -> None:
    mem, ids = seeded
    for q, expected in ON_TOPIC:
        res = mem.recall(q, k=3)
        assert not res.no_match, (q, [(h.fix.issue[:30], h.relevance) for h in res])
        assert res[0].fix.id == ids[expected] and not res[0].below_bar
        assert res[0].why["relevance"] == res[0].relevance
        # absolute: the runner-up is not scaled up to look like a match
        assert res[1].relevance < res[0].relevance and res[1].below_bar


def test_min_relevance_argument_and_default(seeded: tuple[Memory, list[str]]) -> None:
    mem, _ = seeded
    q = ON_TOPIC[0][0]
    assert mem.recall(q, k=3).min_relevance == rc.DEFAULT_MIN_RELEVANCE
    strict = mem.recall(q, k=3, min_relevance=1.0)
    assert strict.no_match and all(h.below_bar for h in strict)
    lax = mem.recall(q, k=3, min_relevance=0)
    assert not lax.no_match and not any(h.below_bar for h in lax)
    with pytest.raises(ValidationError) as err:
        mem.recall(q, min_relevance=2)
    assert err.value.field == "min_relevance"
    configured = Memory(mem.manager)  # same stores; settings as OBSMEM_MIN_RELEVANCE=0.999 gives
    configured.settings = mem.settings.with_(min_relevance=0.999)
    assert configured.recall(q, k=3).no_match  # OBSMEM_MIN_RELEVANCE is the default bar


def test_stems_are_right_under_concurrent_threads() -> None:
    """The server stems on 8 threads at once; every thread must get the stems one thread gets."""
    import sys
    import threading

    import snowballstemmer

    roots = ["connect", "replicat", "fail", "restart", "compact", "throttl", "generat", "schedul"]
    suffixes = ["ion", "ions", "ing", "ed", "es", "ively", "ational", "fulness", "ization"]
    words = [f"{r}{s}{n}x{s}" for r in roots for s in suffixes for n in "abcdefghijklmnopqrst"]
    reference = snowballstemmer.stemmer("english")
    want = {w: reference.stemWord(w) for w in words}
    rc._stem.cache_clear()
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads mid-word as often as the interpreter can
    wrong: list[tuple[str, str]] = []
    errors: list[BaseException] = []

    def work(offset: int) -> None:
        try:
            for w in words[offset:] + words[:offset]:
                got = rc._stemmer().stemWord(w)
                if got != want[w]:
                    wrong.append((w, got))
        except BaseException as exc:  # IndexError from a shared stemmer's cursor
            errors.append(exc)

    try:
        threads = [threading.Thread(target=work, args=(i * 97,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
        rc._stem.cache_clear()
    assert not errors and not wrong, (errors[:3], wrong[:5])


def test_recall_answers_as_with_the_cosines_numpy_computed(
    fresh_memory: Memory, monkeypatch
) -> None:
    """The keyword-only candidates' cosines come from the kNN statement (pgvector, float8)
    since round 7; numpy's float32 dot product of their embeddings read back computed
    them before. Same hits in the same order, the same scores and `why` to float
    tolerance, on a collection large enough (130 fixes, 50 candidates a leg) that the
    repetitive queries all have keyword-only candidates."""
    import dataclasses

    import numpy as np

    from bench import repetitive

    items = [
        {k: repetitive.fix(i)[k] for k in ("issue", "solution", "service", "success")}
        for i in range(120)
    ]
    fresh_memory.remember_many(items)
    for issue, solution, svc in FIXES:
        fresh_memory.remember(issue, solution, service=svc, success=True)
    store = fresh_memory.manager._vectors
    search = type(store).search
    seen_keyword_only: list[int] = []

    def numpy_cosines(self, embedding, query, k, flt=None):  # the cosines as before
        got = search(self, embedding, query, k, flt)
        seen_keyword_only.append(len(got.cosines))
        embs = self.get_embeddings(list(got.cosines))
        cos = {fid: float(np.dot(v, got.embedding)) for fid, v in embs.items()}
        return dataclasses.replace(got, cosines=cos)

    queries = [repetitive.query(j) for j in range(12)] + [q for q, _ in ON_TOPIC]
    now = [fresh_memory.recall(q, k=8) for q in queries]
    monkeypatch.setattr(type(store), "search", numpy_cosines)
    before = [fresh_memory.recall(q, k=8) for q in queries]
    assert len(seen_keyword_only) == len(queries) and min(seen_keyword_only[:12]) > 0
    for got, want in zip(now, before, strict=True):
        assert [h.fix.id for h in got] == [h.fix.id for h in want]
        assert got.no_match == want.no_match
        for g, w in zip(got, want, strict=True):
            assert g.score == pytest.approx(w.score, abs=2e-6)
            assert g.relevance == pytest.approx(w.relevance, abs=2e-4)
            assert g.why.keys() == w.why.keys()
            assert g.why == pytest.approx(w.why, abs=2e-4)  # 4 decimals, rounded
            assert g.to_dict().keys() == w.to_dict().keys()
