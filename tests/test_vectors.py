"""PgVectorStore against the session's real embedded Postgres (a fresh database per test)."""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path

import numpy as np
import psycopg
import pytest

from obsmem import text
from obsmem.model import FixFilter, Outcome
from obsmem.stores.pgvector import ModelMismatch, PgVectorStore, VectorRow, VectorUnavailable

DIM = 384
ALL_MIGRATIONS = ["001_fixes", "002_keyword_impact", "004_drop_tsv"]


@pytest.fixture
def store(pg_db_url):
    s = PgVectorStore(pg_db_url, pool_max=4)
    s.migrate()
    yield s
    s.close()


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    x = rng.standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def row(i: int | str, emb: np.ndarray, **kw) -> VectorRow:
    base = dict(id=f"f{i}", event_id=f"e{i}", issue=f"issue {i}", solution=f"solution {i}",
                signature=None, ts=1_700_000_000_000, embedding=emb)  # fmt: skip
    return VectorRow(**{**base, **kw})


# ---------------------------------------------------------------- migrations


def test_migrate_fresh_then_noop(pg_db_url):
    s = PgVectorStore(pg_db_url)
    try:
        assert s.migrate() == ALL_MIGRATIONS
        assert s.migrate() == []
        with psycopg.connect(pg_db_url) as conn:
            got = conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()
        assert got == [(int(n[:3]), n) for n in ALL_MIGRATIONS]
    finally:
        s.close()


def test_failing_migration_leaves_db_unchanged(pg_db_url, tmp_path: Path):
    (tmp_path / "001_ok.sql").write_text("CREATE TABLE ok_t (x int);")
    (tmp_path / "002_bad.sql").write_text("CREATE TABLE half_t (x int);\nSELECT 1/0;")
    s = PgVectorStore(pg_db_url)
    try:
        with pytest.raises(psycopg.errors.DivisionByZero):
            s.migrate(tmp_path)
        with psycopg.connect(pg_db_url) as conn:
            assert conn.execute("SELECT to_regclass('ok_t') IS NOT NULL").fetchone()[0]
            assert conn.execute("SELECT to_regclass('half_t') IS NULL").fetchone()[0]
            versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations")]
        assert versions == [1]
        (tmp_path / "002_bad.sql").write_text("CREATE TABLE half_t (x int);")
        assert s.migrate(tmp_path) == ["002_bad"]
    finally:
        s.close()


def test_migrations_apply_in_version_order_across_a_gap(pg_db_url, tmp_path: Path):
    """Files apply by number (not by listing order), and a missing number is no obstacle:
    a later 003 still applies on a database that already has 004."""
    (tmp_path / "010_last.sql").write_text("INSERT INTO seq_t VALUES (10);")
    (tmp_path / "001_first.sql").write_text("CREATE TABLE seq_t (x int, at serial);")
    (tmp_path / "004_after_gap.sql").write_text("INSERT INTO seq_t VALUES (4);")
    (tmp_path / "notes.sql").write_text("SELECT 1/0;")  # not a migration: ignored
    s = PgVectorStore(pg_db_url)
    try:
        assert s.pending_migrations(tmp_path) == ["001_first", "004_after_gap", "010_last"]
        assert s.migrate(tmp_path) == ["001_first", "004_after_gap", "010_last"]
        (tmp_path / "003_late.sql").write_text("INSERT INTO seq_t VALUES (3);")
        assert s.pending_migrations(tmp_path) == ["003_late"]
        assert s.migrate(tmp_path) == ["003_late"]
        assert s.pending_migrations(tmp_path) == []
        with psycopg.connect(pg_db_url) as conn:
            order = [r[0] for r in conn.execute("SELECT x FROM seq_t ORDER BY at")]
        assert order == [4, 10, 3]
    finally:
        s.close()


def test_no_tsvector_is_kept(store):
    """The tsv column and its GIN index were written on every upsert and read by nothing."""
    rng = np.random.default_rng(7)
    store.upsert([row(1, unit(rng, 1)[0])])
    with psycopg.connect(store.url) as conn:
        cols = {
            r[0]
            for r in conn.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = 'fixes'"
            )
        }
        idx = {
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'fixes'")
        }
    assert {"tsv", "issue_terms", "search_text"}.isdisjoint(cols)
    assert "fixes_tsv_gin" not in idx
    assert {"issue", "solution", "doc_len", "embedding"} <= cols
    assert store.keyword("issue 1", 5) and store.keyword("issue 1", 5)[0][0] == "f1"


def test_concurrent_migrations_apply_once(pg_db_url):
    stores = [PgVectorStore(pg_db_url) for _ in range(3)]
    results: list[list[str]] = []
    errors: list[BaseException] = []

    def go(s: PgVectorStore) -> None:
        try:
            results.append(s.migrate())
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert errors == []
    assert sorted(results) == [[], [], ALL_MIGRATIONS]


def test_model_guard(store):
    store.check_model("all-MiniLM-L6-v2", 384)
    store.check_model("all-MiniLM-L6-v2", 384)
    with pytest.raises(ModelMismatch, match=r"all-MiniLM-L6-v2.*other-model"):
        store.check_model("other-model", 384)
    with pytest.raises(ModelMismatch, match="768"):
        store.check_model("all-MiniLM-L6-v2", 768)


def test_unreachable_server_raises_vector_unavailable(tmp_path):
    s = PgVectorStore(f"postgresql://nobody@/x?host={tmp_path}&port=1", timeout_s=0.5)
    try:
        with pytest.raises(VectorUnavailable):
            s.ping()
        with pytest.raises(VectorUnavailable):
            s.migrate()
    finally:
        s.close()


# ---------------------------------------------------------------- writes


def test_upsert_is_idempotent_per_event(store):
    rng = np.random.default_rng(1)
    e = unit(rng, 1)[0]
    r = row(1, e, success=True, service="api")
    assert store.upsert([r]) == 1
    store.upsert([r])
    store.upsert([r, r])
    got = store.get_rows(["f1"])["f1"]
    assert (got["occurrences"], got["successes"], got["failures"]) == (1, 1, 0)
    store.upsert([dataclasses.replace(r, event_id="e1b", success=False, ts=r.ts + 1000)])
    store.upsert([dataclasses.replace(r, event_id="e1b", success=False, ts=r.ts + 1000)])
    got = store.get_rows(["f1"])["f1"]
    assert (got["occurrences"], got["successes"], got["failures"], got["success"]) == (
        2,
        1,
        1,
        False,
    )
    assert got["last_seen"] > got["created_at"]
    assert store.count() == 1


def test_single_row_upsert_writes_what_the_batch_path_writes(store, pg_url):
    """A lone row takes the one-statement path; the state it leaves equals the COPY path's."""
    import uuid

    import psycopg

    rng = np.random.default_rng(11)
    vecs = unit(rng, 3)
    rows = [row(i, vecs[i], issue=f"Kafka consumer lag on topic-{i}", solution=f"scale consumers x{i} kafka",
                success=bool(i % 2), tags=("kafka", f"t{i}"), metadata={"n": i}, confidence=0.5, service="q")
            for i in range(3)]  # fmt: skip
    for r in rows:
        assert store.upsert([r]) == 1
    assert store.upsert([rows[0]]) == 0  # a replayed event: counted once
    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    other = PgVectorStore(pg_url.replace("/postgres?", f"/{name}?"), pool_max=2)
    try:
        other.migrate()
        assert other.upsert(rows) == 3

        def state(s: PgVectorStore) -> tuple:
            with s._conn() as conn:
                return tuple(conn.execute(q).fetchall() for q in (
                    "SELECT id, issue, solution, doc_len, embedding::text, success,"
                    " successes, failures, occurrences, recent_events, service, confidence, tags,"
                    " created_at, metadata FROM fixes ORDER BY id",
                    "SELECT f.id, p.term, p.tf, p.doc_len FROM fix_terms p JOIN fixes f ON f.doc = p.doc"
                    " ORDER BY 1, 2",
                    "SELECT term, df FROM term_df ORDER BY term",
                    "SELECT docs, total_len FROM keyword_stats",
                ))  # fmt: skip

        assert state(store) == state(other)
        assert store.keyword("kafka consumer lag", 3) == other.keyword("kafka consumer lag", 3)
    finally:
        other.close()
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_record_outcomes_count_once_per_event(store):
    store.upsert([row(1, unit(np.random.default_rng(2), 1)[0])])
    outs = [
        Outcome("o1", "f1", True, 1),
        Outcome("o1", "f1", True, 1),
        Outcome("o2", "f1", False, 2),
    ]
    store.record_outcomes(outs)
    store.record_outcomes(outs)
    got = store.get_rows(["f1"])["f1"]
    assert (got["successes"], got["failures"], got["success"]) == (1, 1, False)


def test_delete_removes_from_both_searches(store):
    rng = np.random.default_rng(3)
    vecs = unit(rng, 3)
    store.upsert([
        row("a", vecs[0], issue="kafka consumer lag", solution="scale consumers"),
        row("b", vecs[1], issue="kafka broker disk full", solution="expand volume"),
        row("c", vecs[2], issue="redis evictions", solution="raise maxmemory"),
    ])  # fmt: skip
    assert store.delete(["fa", "missing"]) == 1
    assert store.count() == 2
    assert [i for i, _ in store.keyword("kafka lag", 5)] == ["fb"]
    assert "fa" not in [i for i, _ in store.knn(vecs[0], 5)]
    assert sorted(i for page in store.iter_ids(1) for i in page) == ["fb", "fc"]


# ---------------------------------------------------------------- kNN


def test_knn_matches_brute_force(store):
    # Clustered like real embeddings (uniform random 384-d points are all equidistant).
    rng = np.random.default_rng(4)
    centers = unit(rng, 60)

    def around(n: int) -> np.ndarray:
        x = centers[rng.integers(0, len(centers), n)] + 0.06 * rng.standard_normal((n, DIM))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    vecs = around(3000)
    store.upsert([row(i, vecs[i]) for i in range(len(vecs))])
    queries = around(30)
    recall = []
    for q in queries:
        truth = {f"f{i}" for i in np.argsort(-(vecs @ q))[:10]}
        got = store.knn(q, 10)
        assert len(got) == 10
        recall.append(len(truth & {i for i, _ in got}) / 10)
        sims = [s for _, s in got]
        assert sims == sorted(sims, reverse=True)
        for fid, sim in got:
            assert abs(sim - float(vecs[int(fid[1:])] @ q)) < 1e-4
    assert np.mean(recall) >= 0.95


def test_filtered_knn_returns_k_when_k_exist(store):
    rng = np.random.default_rng(5)
    vecs = unit(rng, 2000)
    store.upsert(
        [row(i, vecs[i], service="rare" if i % 100 == 0 else "common") for i in range(2000)]
    )
    flt = FixFilter(service="rare")
    got = store.knn(unit(rng, 1)[0], 10, flt)
    assert len(got) == 10
    assert store.get_rows([i for i, _ in got]).keys() == {i for i, _ in got}
    assert all(r["service"] == "rare" for r in store.get_rows([i for i, _ in got]).values())
    assert store.count(flt) == 20
    assert len(store.knn(unit(rng, 1)[0], 30, flt)) == 20


# ---------------------------------------------------------------- keyword

RUNBOOKS = [
    ("cortex:IngesterRestarts", "CortexIngesterRestarts\nCortex ingester restarts",
     "Check kubectl get pods for restarts; a cloud node restart reschedules the ingester."),
    ("cortex:IngesterMemory", "CortexProvisioningTooMuchMemory\nIngester using too much memory",
     "Scale out ingesters or raise the memory limit; check active series growth."),
    ("cnpg:ReplicationLag", "CNPGClusterPhysicalReplicationLag\nReplica lags behind the primary",
     "Check network between instances and WAL generation; inspect pg_stat_replication."),
    ("cnpg:HighConnections", "CNPGClusterHighConnectionsWarning\nConnections near max_connections",
     "Raise max_connections or add a connection pooler such as PgBouncer."),
    ("tempo:CompactorsTooManyOutstandingBlocks", "TempoCompactorsTooManyOutstandingBlocks",
     "Compactors cannot keep up: scale compactors and check the blocklist length."),
]  # fmt: skip


@pytest.fixture
def runbooks(store):
    rng = np.random.default_rng(6)
    vecs = unit(rng, len(RUNBOOKS))
    store.upsert([
        VectorRow(id=i, event_id="e", issue=iss, solution=sol, signature=None, ts=0, embedding=v, service=i.split(":")[0])
        for (i, iss, sol), v in zip(RUNBOOKS, vecs, strict=True)
    ])  # fmt: skip
    return store


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (
            "Ingester <pod> in <cluster>/<namespace> is using too much memory",
            "cortex:IngesterMemory",
        ),
        ("ingester has restarted 3 times in the last 30m", "cortex:IngesterRestarts"),
        ("CloudNativePG Cluster replica is lagging behind the primary", "cnpg:ReplicationLag"),
        ("too many connections, close to max_connections", "cnpg:HighConnections"),
        ("CompactorsTooManyOutstandingBlocks", "tempo:CompactorsTooManyOutstandingBlocks"),
    ],
)
def test_keyword_ranks_the_right_runbook_first(runbooks, query, expected):
    assert runbooks.keyword(query, 3)[0][0] == expected


def test_keyword_idf_prefers_rare_words(runbooks):
    # "check" is in 4 of 5 runbooks, "blocklist" in one: the rare word decides.
    assert runbooks.keyword("check check check blocklist", 5)[0][0].startswith("tempo:")


def test_keyword_with_filter(runbooks):
    got = runbooks.keyword("ingester memory replica", 5, FixFilter(service="cnpg"))
    assert [i for i, _ in got] == ["cnpg:ReplicationLag"]


@pytest.mark.parametrize(
    "query",
    ["'", "\"", "a & | ! ( ) <-> :* :A", "''); DROP TABLE fixes; --", "\\x00 \\", "   ", "日本語 ✓ 🙂",
     "memory:* & !ingester", "x" * 5000, "word " * 200_000],
)  # fmt: skip
def test_keyword_survives_hostile_text(runbooks, query):
    got = runbooks.keyword(query, 5)
    assert isinstance(got, list)
    assert runbooks.count() == len(RUNBOOKS)


def _search_expected(store, e, query, k, flt=None):
    """What `search` answers, from the store's separate reads: knn, keyword, term_stats,
    and the keyword-only hits' embeddings times the query vector."""
    vec, kw = store.knn(e, k, flt), store.keyword(query, k, flt)
    in_vec = {fid for fid, _ in vec}
    embs = store.get_embeddings([fid for fid, _ in kw if fid not in in_vec])
    cos = {fid: float(np.dot(v, e)) for fid, v in embs.items()}
    return vec, kw, store.term_stats(text.query_terms(query)), cos


def _same_cosines(got: dict[str, float], want: dict[str, float]) -> None:
    """Postgres scores the keyword-only hits (pgvector's cosine, float8) where numpy's float32
    dot product of the unit vectors did: the same ids, the same values to float32 precision."""
    assert got.keys() == want.keys()
    for fid, sim in want.items():
        assert got[fid] == pytest.approx(sim, abs=1e-6), fid


def _two_statements(store, e, query, k, flt=None):
    """`search`'s two statements run one after the other on one connection, no pipeline."""
    from obsmem.stores import pgvector as pv

    kp = store._keyword_params(query, k)
    assert kp and k > 0, "only for a search that runs both statements"
    kw_sql, kw_params = store._keyword_sql(flt)
    where, params = pv._where(flt)
    with store._conn() as conn, conn.transaction():
        kw_rows = conn.execute(
            "WITH " + kw_sql + pv._KEYWORD_WITH_STATS, {**kp, **kw_params}, binary=True
        ).fetchall()
        store._ef(conn, k)
        knn_rows = conn.execute(
            pv._knn_with_cosines_sql(where, k), {**store._knn_params(e, k), **params}
        ).fetchall()
    return pv._search_answer(e, knn_rows, pv._keyword_answer(kw_rows))


def _same_search(a, b) -> None:
    assert (a.vector, a.keyword) == (b.vector, b.keyword)
    assert (a.docs, a.avgdl, a.df) == (b.docs, b.avgdl, b.df)
    assert a.cosines == b.cosines
    assert np.array_equal(a.embedding, b.embedding)


SCALE_OUT = "max_connections: scale out ingesters and compactors"


@pytest.mark.parametrize(
    ("query", "k", "flt"),
    [
        (SCALE_OUT, 2, None),
        (SCALE_OUT, 5, None),
        ("ingester memory replica", 5, FixFilter(service="cnpg")),
        ("ingester memory replica", 5, FixFilter(service="nothing-here")),
        ("''); DROP TABLE fixes; -- check check blocklist", 3, None),
        ("max_connections pooler", 0, None),
    ],
)
def test_pipelined_search_answers_as_the_separate_reads(runbooks, query, k, flt):
    """Same hits, scores, df, docs/avgdl and keyword-only cosines as the store's separate
    reads, and as its own two statements run one after the other, on the same data."""
    e = runbooks.get_embeddings(["cnpg:HighConnections"])["cnpg:HighConnections"]
    got = runbooks.search(lambda: e, query, k, flt)
    assert np.array_equal(got.embedding, e)
    if not k:  # nothing to rank: no keyword statement, no statistics
        assert (got.vector, got.keyword, got.docs, got.df, got.cosines) == ([], [], 0, {}, {})
        return
    vec, kw, (docs, avgdl, df), cos = _search_expected(runbooks, e, query, k, flt)
    assert (got.vector, got.keyword, got.docs, got.avgdl, got.df) == (vec, kw, docs, avgdl, df)
    _same_cosines(got.cosines, cos)
    _same_search(got, _two_statements(runbooks, e, query, k, flt))
    if (query, k, flt) == (SCALE_OUT, 2, None):
        assert cos, "this query should have keyword-only hits"


def test_pipelined_search_with_k_above_ef_search(pg_db_url):
    """k > EF_SEARCH raises hnsw.ef_search for this search only: the answers match knn()'s
    (which raises it in a transaction) and the pooled connection is back at the default."""
    from obsmem.stores import pgvector as pv

    s = PgVectorStore(pg_db_url, pool_max=1)  # one connection: the next read reuses it
    try:
        s.migrate()
        rng = np.random.default_rng(11)
        vecs = unit(rng, 400)
        words = ["kafka", "redis", "disk", "memory", "latency", "dns", "tls", "oom"]
        s.upsert([
            row(i, vecs[i], issue=f"{words[i % 8]} {words[(i * 3) % 8]} alert {i}",
                solution=f"fix {words[(i * 5) % 8]} step {i % 7}")
            for i in range(400)
        ])  # fmt: skip
        k = pv.EF_SEARCH + 50
        q = unit(rng, 1)[0]
        got = s.search(lambda: q, "kafka disk latency alert", k)
        assert len(got.vector) == k and len(got.keyword) == k
        assert got.vector == s.knn(q, k)
        vec, kw, (docs, avgdl, df), cos = _search_expected(s, q, "kafka disk latency alert", k)
        assert (got.vector, got.keyword, got.docs, got.avgdl, got.df) == (vec, kw, docs, avgdl, df)
        _same_cosines(got.cosines, cos)
        _same_search(got, _two_statements(s, q, "kafka disk latency alert", k))
        with s._conn() as conn:
            ef = conn.execute("SELECT current_setting('hnsw.ef_search')").fetchone()
        assert ef == (str(pv.EF_SEARCH),)
    finally:
        s.close()


@pytest.mark.parametrize(("k", "flt"), [(2, None), (5, FixFilter(service="cnpg"))])
def test_the_bench_search_variants_answer_as_search(runbooks, k, flt):
    """bench.search_variants (the shapes `search` replaced, timed by the benches) still
    answer what `search` answers, so their timings compare like with like."""
    from bench import search_variants as sv

    e = runbooks.get_embeddings(["cnpg:HighConnections"])["cnpg:HighConnections"]
    got = runbooks.search(lambda: e, SCALE_OUT, k, flt)
    _same_search(sv.search_two_legs(runbooks, lambda: e, SCALE_OUT, k, flt), got)
    pair = (got.vector, got.keyword)
    assert sv.candidates_two_legs(runbooks, lambda: e, SCALE_OUT, k, flt) == pair
    assert sv.candidates_one_statement(runbooks, e, SCALE_OUT, k, flt) == pair
    kw_hits, docs, avgdl, df = sv.keyword_with_stats(runbooks, SCALE_OUT, k, flt)
    assert (kw_hits, docs, avgdl, df) == (got.keyword, got.docs, got.avgdl, got.df)
    assert sv.candidates_two_legs(runbooks, e, "!!!", k) == (runbooks.knn(e, k), [])


def test_pipelined_search_runs_the_keyword_statement_while_embedding(runbooks, monkeypatch):
    """The keyword statement is already executing in Postgres when the embedder is called."""
    from obsmem.stores import pgvector as pv

    e = runbooks.get_embeddings(["cnpg:HighConnections"])["cnpg:HighConnections"]
    query = "max_connections pooler"
    want = runbooks.search(lambda: e, query, 3)
    # A real statement that stays busy a while (the extra row kind is ignored).
    monkeypatch.setattr(
        pv, "_KEYWORD_WITH_STATS",
        pv._KEYWORD_WITH_STATS + " UNION ALL SELECT 'z', NULL, NULL, NULL FROM pg_sleep(2)",
    )  # fmt: skip
    seen: list[str] = []

    def embed():
        with psycopg.connect(runbooks.url, autocommit=True) as watcher:
            for _ in range(100):
                got = watcher.execute(
                    "SELECT state, query FROM pg_stat_activity"
                    " WHERE application_name = 'obsmem' AND wait_event = 'PgSleep'"
                ).fetchall()
                if got:
                    seen.extend(state for state, _ in got)
                    assert "keyword_stats" in got[0][1]
                    break
                threading.Event().wait(0.02)
        return e

    _same_search(runbooks.search(embed, query, 3), want)
    assert seen == ["active"]


def test_a_failing_search_statement_leaves_the_connection_clean(pg_db_url, monkeypatch):
    """A statement that fails aborts the pipeline's other one; the error is the real one and
    the same pooled connection serves the next search, idle and out of pipeline mode."""
    from obsmem.stores import pgvector as pv

    s = PgVectorStore(pg_db_url, pool_max=1, timeout_s=0.3)  # statement_timeout 300 ms
    try:
        s.migrate()
        rng = np.random.default_rng(5)
        vecs = unit(rng, 20)
        s.upsert([row(i, vecs[i], issue=f"disk full {i}") for i in range(20)])
        q = vecs[3]
        want = s.search(lambda: q, "disk full", 5)
        with s._conn() as conn:
            pid = conn.info.backend_pid
        original = pv._KEYWORD_WITH_STATS
        for extra, error in [
            (" UNION ALL SELECT 'z', NULL, 1 / 0, NULL", psycopg.errors.DivisionByZero),
            (" UNION ALL SELECT 'z', NULL, NULL, NULL FROM pg_sleep(5)", VectorUnavailable),
        ]:
            monkeypatch.setattr(pv, "_KEYWORD_WITH_STATS", original + extra)
            with pytest.raises(error) as got:
                s.search(lambda: q, "disk full", 5)
            if error is VectorUnavailable:
                assert "statement timeout" in str(got.value)
            monkeypatch.setattr(pv, "_KEYWORD_WITH_STATS", original)
            _same_search(s.search(lambda: q, "disk full", 5), want)

        def broken_embedder():
            raise RuntimeError("embedder failed")

        with pytest.raises(RuntimeError, match="embedder failed"):
            s.search(broken_embedder, "disk full", 5)
        _same_search(s.search(lambda: q, "disk full", 5), want)
        with s._conn() as conn:
            assert conn.info.backend_pid == pid  # never replaced
            assert conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
            assert conn.pgconn.pipeline_status == psycopg.pq.PipelineStatus.OFF
        assert s._pool.get_stats().get("returns_bad", 0) == 0
    finally:
        s.close()


def test_keyword_hits_order_as_keyword_and_leave_out_rows_gone_since():
    """Score first, then the id's rank in the database's order (what `keyword` sorts ties
    by, passed in, not Python's string order); a row with no id (deleted between the two
    statements) is left out."""
    from obsmem.stores import pgvector as pv

    scored = [(7, 1.5), (3, 2.0), (9, 1.5), (4, 1.5), (5, 0.5)]
    ids = {7: ("b-fix", 2), 3: ("z-fix", 3), 9: ("B-fix", 1), 4: ("c-fix", 4)}  # 5 is gone
    assert pv.keyword_hits(scored, ids) == [
        ("z-fix", 2.0), ("B-fix", 1.5), ("b-fix", 1.5), ("c-fix", 1.5),
    ]  # fmt: skip
    assert pv.keyword_hits([], ids) == []


def test_search_without_words_is_knn(runbooks):
    e = runbooks.get_embeddings(["cnpg:HighConnections"])["cnpg:HighConnections"]
    got = runbooks.search(lambda: e, "!!!", 2)
    assert (got.vector, got.keyword, got.df, got.cosines) == (runbooks.knn(e, 2), [], {}, {})


def test_concurrent_upserts_keep_keyword_stats_consistent(store, pg_db_url):
    rng = np.random.default_rng(7)
    vecs = unit(rng, 300)
    words = ["kafka", "redis", "disk", "memory", "latency", "dns", "tls", "oom"]
    rows = [
        row(i, vecs[i], issue=f"{words[i % 8]} {words[(i * 3) % 8]} alert {i}",
            solution=f"fix {words[(i * 5) % 8]} step {i % 7}")
        for i in range(300)
    ]  # fmt: skip
    errors: list[BaseException] = []

    def go(batch: list[VectorRow]) -> None:
        try:
            store.upsert(batch)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=go, args=(rows[::-1],)),
        threading.Thread(target=go, args=(rows,)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with psycopg.connect(pg_db_url) as conn:
        fixes = conn.execute("SELECT count(*) FROM fixes").fetchone()[0]
        docs = conn.execute("SELECT docs FROM keyword_stats").fetchone()[0]
        postings = conn.execute("SELECT count(*) FROM fix_terms").fetchone()[0]
        df_sum = conn.execute("SELECT sum(df) FROM term_df").fetchone()[0]
        occ = conn.execute("SELECT max(occurrences) FROM fixes").fetchone()[0]
    assert fixes == docs == 300
    assert postings == df_sum
    assert occ == 1
