"""Postgres + pgvector: one row per fix with its embedding, filters and a BM25 keyword index.

Every value travels as a query parameter; the only SQL assembled in Python is
a choice among fixed filter fragments. Outages (server down, statement or pool
timeout) surface as `VectorUnavailable`, so callers queue the write or degrade.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
import psycopg_pool
from psycopg.types.json import Jsonb
from psycopg_pool import ConnectionPool

from obsmem import text
from obsmem.errors import ModelMismatch as ModelMismatch  # re-exported: old import path
from obsmem.errors import VectorUnavailable as VectorUnavailable
from obsmem.model import RECENT_EVENTS, Fix, FixFilter, Outcome
from obsmem.stores import batching, deadline
from obsmem.stores.pg_deadline import DeadlineConnection
from obsmem.stores.pool_check import check_quiet_connection
from obsmem.stores.protocols import CandidateSearch
from obsmem.stores.protocols import VectorRow as VectorRow  # re-exported: old import path

log = logging.getLogger("obsmem.stores.pgvector")

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MIGRATE_LOCK = 0x6F62736D656D  # "obsmem": advisory lock key for migrate()

# BM25 (Lucene's IDF, never negative). k1/b as in rank-bm25 / Lucene.
BM25_K1 = 1.2
BM25_B = 0.75
# Each query term reads at most PER_TERM postings, best BM25 weight first
# (impact-ordered index), and only the MAX_TERMS rarest known terms count: a
# query at 100k rows then costs a bounded index range, whatever its words. On
# small collections (df < PER_TERM) this is exact BM25.
PER_TERM = 500
MAX_TERMS = 24
# Rows per write transaction: HNSW inserts cost ~1 ms/row on a small box, and one
# statement must finish well inside the statement timeout.
UPSERT_CHUNK = 250
EF_SEARCH = 100  # HNSW candidate list; raised per query when k is larger

_MIGRATION_FILE = re.compile(r"^(\d{3})_([a-z0-9_]+)\.sql$")


def _ts(ms: int | None) -> datetime | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC)


def _where(flt: FixFilter | None, alias: str = "f") -> tuple[str, dict[str, Any]]:
    """AND-ed conditions from a fixed set of fragments; values stay parameters."""
    if flt is None:
        return "TRUE", {}
    conds: list[str] = []
    params: dict[str, Any] = {}
    if flt.service is not None:
        conds.append(f"{alias}.service = %(f_service)s")
        params["f_service"] = flt.service
    if flt.agent is not None:
        conds.append(f"{alias}.agent = %(f_agent)s")
        params["f_agent"] = flt.agent
    if flt.success is not None:
        conds.append(f"{alias}.success = %(f_success)s")
        params["f_success"] = flt.success
    if flt.root_cause is not None:
        conds.append(f"{alias}.root_cause = %(f_root_cause)s")
        params["f_root_cause"] = flt.root_cause
    if flt.since_ms is not None:  # seen since: a fix applied again recently counts as recent
        conds.append(f"{alias}.last_seen >= %(f_since)s")
        params["f_since"] = _ts(flt.since_ms)
    if flt.until_ms is not None:
        conds.append(f"{alias}.created_at <= %(f_until)s")
        params["f_until"] = _ts(flt.until_ms)
    return (" AND ".join(conds) or "TRUE"), params


def _rate(successes: Any, failures: Any) -> float | None:
    s, f = int(successes or 0), int(failures or 0)
    return s / (s + f) if s + f else None


def _vec(embedding: Any) -> np.ndarray:
    arr = np.asarray(embedding, dtype=np.float32).reshape(-1)
    if not np.all(np.isfinite(arr)):
        raise ValueError("embedding has NaN or infinite values")
    return arr


# ---------------------------------------------------------------- SQL

# The LIMIT is written into the statement (k is an int): with it as a parameter the
# planner costs a generic plan as if 10% of the table came back, so every execution of
# the prepared statement was planned again (a custom plan, ~0.1 ms of Postgres CPU).
_KNN = """
v AS MATERIALIZED (
    SELECT f.id, f.embedding <=> %(emb)s AS dist
    FROM fixes f WHERE {where}
    ORDER BY f.embedding <=> %(emb)s LIMIT {k:d}
)"""

_KEYWORD = """
st AS MATERIALIZED (
    SELECT docs::float8 AS docs, total_len::float8 AS total_len,
           greatest(total_len / greatest(docs, 1), 1.0)::float8 AS avgdl FROM keyword_stats
),
qt AS (
    SELECT d.term, d.df, q.qtf, row_number() OVER (ORDER BY d.df, d.term) AS rn
    FROM unnest(%(terms)s::text[], %(qtf)s::int[]) AS q(term, qtf)
    JOIN term_df d ON d.term = q.term AND d.df > 0
),
qw AS MATERIALIZED (
    SELECT qt.term, qt.qtf * ln(1.0 + (st.docs - qt.df + 0.5) / (qt.df + 0.5))::float8 AS idf
    FROM qt, st WHERE qt.rn <= %(max_terms)s
),
ks AS (
    SELECT p.doc,
           sum(qw.idf * p.tf * (%(k1)s + 1)
               / (p.tf + %(k1)s * (1 - %(b)s + %(b)s * p.doc_len / st.avgdl))) AS score
    FROM qw CROSS JOIN st CROSS JOIN LATERAL (
        SELECT p.doc, p.tf, p.doc_len FROM fix_terms p {filter_join}
        WHERE p.term = qw.term ORDER BY p.impact DESC LIMIT %(per_term)s
    ) p
    GROUP BY p.doc ORDER BY score DESC LIMIT %(kk)s
),
kw AS (
    SELECT f.id, ks.score, ks.doc FROM ks JOIN fixes f ON f.doc = ks.doc
)"""

# The keyword leg of `search`: its hits' rows (`doc`) and scores, the df of every known
# query term and the collection's size and length (what `term_stats` answers), all in one
# round trip and one snapshot. The hits' rows are also left in a transaction-local
# setting for the kNN statement that follows in the same transaction (`_KNN_COSINES`):
# it reads each hit's fix once there, for its id and for its cosine to the query vector,
# where this statement used to join the fixes for the ids and send their 50 embeddings
# (~77 KB) to be scored in Python.
KEYWORD_DOCS = "obsmem.keyword_docs"
_KEYWORD_WITH_STATS = f"""
SELECT 'k', doc::text, score, NULL::float8 FROM ks
UNION ALL SELECT 't', term, df::float8, NULL FROM qt
UNION ALL SELECT 's', NULL, docs, total_len FROM st
UNION ALL SELECT 'd', set_config('{KEYWORD_DOCS}',
    (SELECT coalesce(string_agg(doc::text, ','), '') FROM ks), true), NULL, NULL"""

# The kNN leg of `search` ('v': id, similarity, rank by distance then id), and each keyword
# hit the keyword statement left in its setting ('c': id, similarity as pgvector computes
# the vector hits', row, rank of its id in the database's order, which `keyword` breaks
# score ties by); no 'c' rows when the setting is unset, so the statement also answers alone.
_KNN_COSINES = f""",
c AS (
    SELECT f.id, f.doc, f.embedding <=> %(emb)s AS dist FROM fixes f
    WHERE f.doc = ANY(string_to_array(current_setting('{KEYWORD_DOCS}', true), ',')::bigint[])
)
SELECT 'v', id, 1 - dist, row_number() OVER (ORDER BY dist, id), NULL::bigint FROM v
UNION ALL SELECT 'c', id, 1 - dist, doc, row_number() OVER (ORDER BY id) FROM c"""


def _knn_sql(where: str, k: int) -> str:
    sql = "WITH " + _KNN.format(where=where, k=int(k))
    return sql + " SELECT id, 1 - dist FROM v ORDER BY dist, id"


def _knn_with_cosines_sql(where: str, k: int) -> str:
    return "WITH " + _KNN.format(where=where, k=int(k)) + _KNN_COSINES


def _avgdl(docs: int, total_len: float) -> float:
    return max(float(total_len) / max(docs, 1), 1.0)


_UPSERT = """
WITH up AS (
    INSERT INTO fixes AS f (
        id, issue, solution, doc_len, embedding,
        success, successes, failures, occurrences, recent_events,
        agent, service, namespace, severity, root_cause, signature, confidence, tags,
        created_at, last_seen, metadata)
    SELECT id, issue, solution, doc_len, embedding,
           success, (success IS TRUE)::int, (success IS FALSE)::int, 1, ARRAY[event_id],
           agent, service, namespace, severity, root_cause, signature, confidence, tags,
           ts, ts, metadata
    FROM _obsmem_in ORDER BY id
    ON CONFLICT (id) DO UPDATE SET
        occurrences = f.occurrences + (NOT excluded.recent_events[1] = ANY(f.recent_events))::int,
        successes = f.successes + CASE WHEN excluded.recent_events[1] = ANY(f.recent_events)
                                       THEN 0 ELSE excluded.successes END,
        failures = f.failures + CASE WHEN excluded.recent_events[1] = ANY(f.recent_events)
                                     THEN 0 ELSE excluded.failures END,
        success = CASE WHEN excluded.recent_events[1] = ANY(f.recent_events)
                       THEN f.success ELSE coalesce(excluded.success, f.success) END,
        recent_events = CASE WHEN excluded.recent_events[1] = ANY(f.recent_events)
                             THEN f.recent_events
                             ELSE (f.recent_events || excluded.recent_events)[
                                  greatest(1, cardinality(f.recent_events) + 2 - %(keep)s):] END,
        agent = coalesce(excluded.agent, f.agent),
        service = coalesce(excluded.service, f.service),
        namespace = coalesce(excluded.namespace, f.namespace),
        severity = coalesce(excluded.severity, f.severity),
        root_cause = coalesce(excluded.root_cause, f.root_cause),
        signature = coalesce(excluded.signature, f.signature),
        confidence = coalesce(excluded.confidence, f.confidence),
        tags = ARRAY(SELECT DISTINCT unnest(f.tags || excluded.tags)),
        created_at = least(f.created_at, excluded.created_at),
        last_seen = greatest(f.last_seen, excluded.last_seen),
        metadata = f.metadata || excluded.metadata
    RETURNING f.id, f.doc, f.doc_len, (xmax = 0) AS inserted
),
new_terms AS (
    INSERT INTO fix_terms (doc, term, tf, doc_len)
    SELECT up.doc, t.term, t.tf, up.doc_len
    FROM _obsmem_terms t JOIN up ON up.id = t.id AND up.inserted
    RETURNING term
),
dfs AS (
    INSERT INTO term_df AS d (term, df)
    SELECT term, count(*) FROM new_terms GROUP BY term ORDER BY term
    ON CONFLICT (term) DO UPDATE SET df = d.df + excluded.df
    RETURNING 1
)
UPDATE keyword_stats SET
    docs = docs + (SELECT count(*) FROM up WHERE inserted),
    total_len = total_len + coalesce((SELECT sum(doc_len) FROM up WHERE inserted), 0)
RETURNING (SELECT count(*) FROM up WHERE inserted)
"""

_DELETE = """
WITH del AS (
    DELETE FROM fixes WHERE id = ANY(%(ids)s::text[]) RETURNING doc, doc_len
),
gone AS (
    DELETE FROM fix_terms p USING del WHERE p.doc = del.doc RETURNING p.term
),
dfs AS (
    UPDATE term_df d SET df = d.df - c.n
    FROM (SELECT term, count(*) AS n FROM gone GROUP BY term ORDER BY term) c
    WHERE d.term = c.term
    RETURNING 1
)
UPDATE keyword_stats SET
    docs = docs - (SELECT count(*) FROM del),
    total_len = total_len - coalesce((SELECT sum(doc_len) FROM del), 0)
RETURNING (SELECT count(*) FROM del)
"""

# Sets a row to the graph's figures and attributes (reconcile: the graph wins).
_SET_FIGURES = """
UPDATE fixes SET
    success = %(success)s, successes = %(successes)s, failures = %(failures)s,
    occurrences = %(occurrences)s,
    created_at = to_timestamp(%(first_seen)s / 1000.0),
    last_seen = to_timestamp(%(last_seen)s / 1000.0),
    agent = %(agent)s, service = %(service)s, namespace = %(namespace)s,
    severity = %(severity)s, root_cause = %(root_cause)s, signature = %(signature)s,
    confidence = %(confidence)s, tags = %(tags)s, metadata = %(metadata)s
WHERE id = %(id)s
"""

# One row (a single `remember`): the same statement with its input inline, so the
# write is one prepared round trip instead of temp tables + two COPYs + the upsert.
_ONE_IN = """(SELECT %(id)s::text AS id, %(event_id)s::text AS event_id, %(issue)s::text AS issue,
           %(solution)s::text AS solution, %(doc_len)s::real AS doc_len,
           %(embedding)s::vector(384) AS embedding, %(success)s::boolean AS success,
           %(agent)s::text AS agent, %(service)s::text AS service, %(namespace)s::text AS namespace,
           %(severity)s::text AS severity, %(root_cause)s::text AS root_cause,
           %(signature)s::text AS signature, %(confidence)s::real AS confidence,
           %(tags)s::text[] AS tags, %(ts)s::timestamptz AS ts, %(metadata)s::jsonb AS metadata
    ) AS i"""
_UPSERT_ONE = _UPSERT.replace("FROM _obsmem_in ORDER BY id", "FROM " + _ONE_IN).replace(
    "FROM _obsmem_terms t JOIN up ON up.id = t.id AND up.inserted",
    "FROM unnest(%(terms)s::text[], %(tfs)s::real[]) AS t(term, tf) JOIN up ON up.inserted",
)
assert _UPSERT_ONE.count("%(id)s") == 1 and "_obsmem" not in _UPSERT_ONE

_ROW_COLUMNS = """id, issue, solution, success, successes, failures, occurrences, agent,
    service, namespace, severity, root_cause, signature, confidence, tags,
    created_at, last_seen, metadata"""

_TEMP = """
CREATE TEMP TABLE IF NOT EXISTS _obsmem_in (
    id text, event_id text, issue text, solution text,
    doc_len real, embedding vector(384), success boolean, agent text, service text,
    namespace text, severity text, root_cause text, signature text, confidence real,
    tags text[], ts timestamptz, metadata jsonb
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS _obsmem_terms (id text, term text, tf real) ON COMMIT DELETE ROWS;
"""
_IN_COLUMNS = (
    "id", "event_id", "issue", "solution", "doc_len",
    "embedding", "success", "agent", "service", "namespace", "severity", "root_cause",
    "signature", "confidence", "tags", "ts", "metadata",
)  # fmt: skip


def migration_files(directory: Path | None = None) -> list[tuple[int, str, Path]]:
    """(version, name, path) of the numbered migrations, in version order; gaps are fine
    (each version is applied or not on its own, whatever came before it)."""
    found = []
    for path in (directory or MIGRATIONS_DIR).glob("*.sql"):
        m = _MIGRATION_FILE.match(path.name)
        if m:
            found.append((int(m.group(1)), path.stem, path))
    return sorted(found)


# (hits as (row, score), docs, avgdl, df)
KeywordAnswer = tuple[list[tuple[int, float]], int, float, dict[str, int]]


def _keyword_answer(rows: Sequence[Sequence[Any]]) -> KeywordAnswer:
    """(hits as (doc, score), docs, avgdl, df) from `_KEYWORD_WITH_STATS` rows."""
    scored = [(int(r[1]), float(r[2])) for r in rows if r[0] == "k"]
    df = {r[1]: int(r[2]) for r in rows if r[0] == "t"}
    st = next((r for r in rows if r[0] == "s"), None)
    docs = int(st[2]) if st else 0
    avgdl = _avgdl(docs, st[3] if st else 0)
    return scored, docs, avgdl, df


def keyword_hits(
    scored: Sequence[tuple[int, float]], ids: Mapping[int, tuple[str, int]]
) -> list[tuple[str, float]]:
    """(id, score) best first, as `keyword` orders them (score, then id in the database's
    order): `ids` maps a row to its id and the rank of that id. A row missing there (its
    fix deleted since the keyword statement) is left out."""
    ranked = sorted(
        (-score, ids[doc][1], ids[doc][0], score) for doc, score in scored if doc in ids
    )
    return [(fid, score) for _, _, fid, score in ranked]


def _search_answer(
    emb: np.ndarray, knn_rows: Sequence[Sequence[Any]], keyword: KeywordAnswer
) -> CandidateSearch:
    """The search's answer from `_KNN_COSINES` rows and the keyword statement's; `cosines`
    only for the keyword hits that are not vector hits."""
    scored, docs, avgdl, df = keyword
    vec = [(r[1], float(r[2])) for r in sorted((r for r in knn_rows if r[0] == "v"), key=_third)]
    found = [r for r in knn_rows if r[0] == "c"]
    in_vec = {fid for fid, _ in vec}
    cosines = {r[1]: float(r[2]) for r in found if r[1] not in in_vec}
    kw_hits = keyword_hits(scored, {int(r[3]): (r[1], int(r[4])) for r in found})
    return CandidateSearch(vec, kw_hits, docs, avgdl, df, cosines, emb)


def _third(row: Sequence[Any]) -> int:
    return int(row[3])


def _rounds(rows: Sequence[VectorRow]) -> list[list[VectorRow]]:
    """Split so that no id occurs twice in one INSERT ... ON CONFLICT (Postgres refuses that)."""
    return batching.rounds(rows, lambda r: r.id, lambda r: r.event_id)


class PgVectorStore:
    """The vector and keyword side of obsmem, over a psycopg connection pool."""

    # Reads keep their deadline in the driver (pg_deadline): the guard runs them inline.
    enforces_read_deadline = True
    # So do writes, per round trip (a write cut at its deadline may still be applied by a
    # resumed server; its queued copy then replays as a no-op: event ids, ON CONFLICT).
    enforces_write_deadline = True

    def __init__(
        self, url: str, *, pool_min: int = 1, pool_max: int = 10, timeout_s: float = 5.0
    ) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._pool = ConnectionPool(
            url,
            connection_class=DeadlineConnection,
            min_size=pool_min,
            max_size=max(pool_max, pool_min, 1),
            timeout=timeout_s,
            kwargs={
                "autocommit": True,
                "connect_timeout": max(1, round(timeout_s)),
                "application_name": "obsmem",
            },
            configure=self._configure,
            check=check_quiet_connection,  # no round trip per checkout (pool_check)
            name="obsmem-vectors",
            open=False,
        )
        self._pool.open(wait=False)

    # ------------------------------------------------------------ connections
    def _configure(self, conn: psycopg.Connection) -> None:
        ms = int(self.timeout_s * 1000)
        conn.execute(
            "SELECT set_config('statement_timeout', %s, false),"
            " set_config('lock_timeout', %s, false),"
            " set_config('hnsw.ef_search', %s, false),"
            " set_config('hnsw.iterative_scan', 'relaxed_order', false)",
            (str(ms), str(ms), str(EF_SEARCH)),
        )
        self._register(conn)

    @staticmethod
    def _register(conn: psycopg.Connection) -> bool:
        """pgvector's adapter, once the extension exists (it may not before migrate())."""
        from pgvector.psycopg import register_vector

        try:
            register_vector(conn)
            return True
        except psycopg.ProgrammingError:
            return False

    @contextlib.contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        left = deadline.remaining()  # a read with a deadline waits for a connection no longer
        try:
            with self._pool.connection(None if left is None else min(left, self.timeout_s)) as conn:
                if conn.adapters.types.get("vector") is None and not self._register(conn):
                    raise psycopg.errors.UndefinedObject(
                        "the vector extension is missing: run migrate() first"
                    )
                yield conn
        except psycopg.errors.TransactionRollback:
            raise  # deadlock / serialization failure: _retry() runs it again
        except psycopg_pool.PoolTimeout as exc:
            if deadline.active():
                raise deadline.exceeded("postgres: no pooled connection") from exc
            raise VectorUnavailable(f"postgres: {exc}".strip()) from exc
        except psycopg.OperationalError as exc:  # includes QueryCanceled
            raise VectorUnavailable(f"postgres: {exc}".strip()) from exc

    # ------------------------------------------------------------ schema
    def pending_migrations(self, directory: Path | None = None) -> list[str]:
        """Migration names not yet recorded in schema_migrations (all of them on a new database)."""
        try:
            with psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(1, round(self.timeout_s))
            ) as conn:
                got = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
                done: set[int] = set()
                if got and got[0]:
                    done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
        except psycopg.OperationalError as exc:
            raise VectorUnavailable(f"postgres: {exc}".strip()) from exc
        return [name for version, name, _ in migration_files(directory) if version not in done]

    def migrate(self, directory: Path | None = None) -> list[str]:
        """Apply pending numbered migrations, each in one transaction; returns the names applied."""
        files = [
            (version, name, path.read_text(encoding="utf-8"))
            for version, name, path in migration_files(directory)
        ]
        applied: list[str] = []
        try:
            # Its bookkeeping round trips keep the write deadline, if any (DeadlineConnection);
            # a migration's own SQL may build an index for minutes and runs without one.
            with DeadlineConnection.connect(
                self.url, autocommit=True, connect_timeout=max(1, round(self.timeout_s))
            ) as conn:
                # Two processes starting at once: the second waits here, then finds nothing to do.
                conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATE_LOCK,))
                try:
                    conn.execute(
                        "CREATE TABLE IF NOT EXISTS schema_migrations ("
                        " version integer PRIMARY KEY, name text NOT NULL,"
                        " applied_at timestamptz NOT NULL DEFAULT now())"
                    )
                    done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
                    for version, name, sql in files:
                        if version in done:
                            continue
                        with deadline.lifted(), conn.transaction():
                            conn.execute(sql.encode("utf-8"))  # no params: several statements
                            conn.execute(
                                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                                (version, name),
                            )
                        log.info("applied migration %s", name)
                        applied.append(name)
                finally:
                    with contextlib.suppress(psycopg.Error):
                        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATE_LOCK,))
        except psycopg.OperationalError as exc:
            raise VectorUnavailable(f"postgres: {exc}".strip()) from exc
        return applied

    def check_model(self, name: str, dim: int) -> None:
        """Remember the embedding model on first use; refuse a different one later."""
        with self._conn() as conn:
            conn.execute(
                "INSERT INTO obsmem_meta (key, value) VALUES"
                " ('embedding_model', %s), ('embedding_dim', %s) ON CONFLICT (key) DO NOTHING",
                (name, str(dim)),
            )
            meta = dict(
                conn.execute(
                    "SELECT key, value FROM obsmem_meta"
                    " WHERE key IN ('embedding_model', 'embedding_dim')"
                ).fetchall()
            )
            col_dim = conn.execute(
                "SELECT atttypmod FROM pg_attribute"
                " WHERE attrelid = 'fixes'::regclass AND attname = 'embedding'"
            ).fetchone()
        held = (meta.get("embedding_model"), meta.get("embedding_dim"))
        if held != (name, str(dim)) or (col_dim and col_dim[0] != dim):
            raise ModelMismatch(
                f"this database holds embeddings of model {held[0]!r} ({held[1]} dims, "
                f"column vector({col_dim[0] if col_dim else '?'})), but this process embeds "
                f"with {name!r} ({dim} dims). Use the same model, or a fresh database "
                "(DATABASE_URL) and re-import the fixes."
            )

    # ------------------------------------------------------------ writes
    def upsert(self, rows: Sequence[VectorRow]) -> int:
        """Idempotent on id and event id; returns how many fixes were new."""
        new = 0
        for batch in _rounds(rows):
            for i in range(0, len(batch), UPSERT_CHUNK):
                chunk = batch[i : i + UPSERT_CHUNK]
                new += self._retry(lambda c=chunk: self._upsert_round(c))
        return new

    def _retry(self, fn: Any, attempts: int = 3) -> Any:
        """Concurrent writers can deadlock on shared term rows; Postgres aborts one: retry it."""
        for i in range(attempts):
            try:
                return fn()
            except psycopg.errors.TransactionRollback as exc:
                if i == attempts - 1:
                    raise VectorUnavailable(f"postgres kept aborting the write: {exc}") from exc
                time.sleep(0.01 * (i + 1))
        return None

    def _upsert_one(self, r: VectorRow) -> int:
        tf, doc_len = text.doc_terms(r.issue, r.solution)
        params = {
            "id": r.id, "event_id": r.event_id, "issue": r.issue, "solution": r.solution,
            "doc_len": doc_len, "embedding": _vec(r.embedding), "success": r.success, "agent": r.agent,
            "service": r.service, "namespace": r.namespace, "severity": r.severity,
            "root_cause": r.root_cause, "signature": r.signature, "confidence": r.confidence,
            "tags": list(r.tags), "ts": _ts(r.ts), "metadata": Jsonb(r.metadata or {}),
            "terms": list(tf), "tfs": [float(n) for n in tf.values()], "keep": RECENT_EVENTS,
        }  # fmt: skip
        with self._conn() as conn:
            got = conn.execute(_UPSERT_ONE, params).fetchone()
        return int(got[0]) if got else 0

    def _upsert_round(self, rows: Sequence[VectorRow]) -> int:
        if len(rows) == 1:
            return self._upsert_one(rows[0])
        prepared = []
        for r in rows:
            emb = _vec(r.embedding)
            tf, doc_len = text.doc_terms(r.issue, r.solution)
            prepared.append((r, emb, tf, doc_len))
        with self._conn() as conn, conn.transaction():
            conn.execute(_TEMP.encode())
            cur = conn.cursor()
            with cur.copy(f"COPY _obsmem_in ({', '.join(_IN_COLUMNS)}) FROM STDIN") as cp:
                for r, emb, _tf, doc_len in prepared:
                    cp.write_row((
                        r.id, r.event_id, r.issue, r.solution, doc_len,
                        emb, r.success, r.agent, r.service, r.namespace, r.severity,
                        r.root_cause, r.signature, r.confidence, list(r.tags), _ts(r.ts),
                        Jsonb(r.metadata or {}),
                    ))  # fmt: skip
            with cur.copy("COPY _obsmem_terms (id, term, tf) FROM STDIN") as cp:
                for r, _emb, tf, _len in prepared:
                    for term, n in tf.items():
                        cp.write_row((r.id, term, n))
            got = cur.execute(_UPSERT, {"keep": RECENT_EVENTS}).fetchone()
        return int(got[0]) if got else 0

    def record_outcomes(self, outcomes: Sequence[Outcome]) -> int:
        """Feedback: moves success/successes/failures once per event id; returns rows changed."""
        if not outcomes:
            return 0
        params = [
            {"id": o.fix_id, "ev": o.event_id, "ok": bool(o.success), "keep": RECENT_EVENTS}
            for o in outcomes
        ]
        sql = """
            UPDATE fixes SET
                success = %(ok)s,
                successes = successes + %(ok)s::int,
                failures = failures + (NOT %(ok)s)::int,
                recent_events = (recent_events || ARRAY[%(ev)s::text])[
                    greatest(1, cardinality(recent_events) + 2 - %(keep)s):]
            WHERE id = %(id)s AND NOT (%(ev)s = ANY(recent_events))
        """
        # A changed vote (Outcome.replaces) moves one count from the other side.
        changed = [p for p, o in zip(params, outcomes, strict=True) if o.replaces]
        params = [p for p, o in zip(params, outcomes, strict=True) if not o.replaces]
        change_sql = """
            UPDATE fixes SET
                success = %(ok)s,
                successes = greatest(0, successes + CASE WHEN %(ok)s THEN 1 ELSE -1 END),
                failures = greatest(0, failures + CASE WHEN %(ok)s THEN -1 ELSE 1 END),
                recent_events = (recent_events || ARRAY[%(ev)s::text])[
                    greatest(1, cardinality(recent_events) + 2 - %(keep)s):]
            WHERE id = %(id)s AND NOT (%(ev)s = ANY(recent_events))
        """

        def run() -> int:
            with self._conn() as conn, conn.transaction():
                cur = conn.cursor()
                done = 0
                for query, rows in ((sql, params), (change_sql, changed)):
                    if rows:
                        cur.executemany(query, rows, returning=False)
                        done += max(cur.rowcount, 0)
                return done

        return int(self._retry(run))

    def set_figures(self, fixes: Sequence[Fix]) -> int:
        """Overwrite the figures and filter columns of existing rows with these fixes' values
        (reconcile's repair: the graph wins); returns rows changed. Text and embedding stay."""
        if not fixes:
            return 0
        params = [
            {"id": f.id, "success": f.success, "successes": f.successes, "failures": f.failures,
             "occurrences": f.occurrences, "first_seen": f.ts,
             "last_seen": f.last_seen if f.last_seen is not None else f.ts,
             "agent": f.agent, "service": f.service, "namespace": f.namespace,
             "severity": f.severity, "root_cause": f.root_cause, "signature": f.signature,
             "confidence": f.confidence, "tags": list(f.tags), "metadata": Jsonb(f.metadata or {})}
            for f in fixes
        ]  # fmt: skip

        def run() -> int:
            with self._conn() as conn, conn.transaction():
                cur = conn.cursor()
                cur.executemany(_SET_FIGURES, params)
                return max(cur.rowcount, 0)

        return int(self._retry(run))

    def delete(self, ids: Sequence[str]) -> int:
        if not ids:
            return 0

        def run() -> int:
            with self._conn() as conn, conn.transaction():
                got = conn.execute(_DELETE, {"ids": list(ids)}).fetchone()
                return int(got[0]) if got else 0

        return int(self._retry(run))

    # ------------------------------------------------------------ search
    def _knn_params(self, embedding: Any, k: int) -> dict[str, Any]:
        return {"emb": _vec(embedding)}  # k is written into the statement (_KNN)

    def _keyword_params(self, query: str, k: int) -> dict[str, Any] | None:
        counts: dict[str, int] = {}
        for tok in text.tokens(query[:100_000]):
            if tok in counts or len(counts) < 64:
                counts[tok] = counts.get(tok, 0) + 1
        if not counts:
            return None
        return {
            "terms": list(counts),
            "qtf": list(counts.values()),
            "per_term": PER_TERM,
            "max_terms": MAX_TERMS,
            "k1": BM25_K1,
            "b": BM25_B,
            "kk": int(k),
        }

    @staticmethod
    def _keyword_sql(flt: FixFilter | None) -> tuple[str, dict[str, Any]]:
        where, params = _where(flt, "ff")
        join = "" if where == "TRUE" else f"JOIN fixes ff ON ff.doc = p.doc AND {where}"
        sql = _KEYWORD.format(filter_join=join)
        return sql, params

    def _ef(self, conn: psycopg.Connection, k: int) -> None:
        if k > EF_SEARCH:
            conn.execute("SELECT set_config('hnsw.ef_search', %s, true)", (str(min(k, 1000)),))

    def knn(self, embedding: Any, k: int, flt: FixFilter | None = None) -> list[tuple[str, float]]:
        """(id, cosine similarity), best first; filtered queries still return k when k exist."""
        if k <= 0:
            return []
        where, params = _where(flt)
        sql = _knn_sql(where, k)
        args = {**self._knn_params(embedding, k), **params}
        with self._conn() as conn:
            if k > EF_SEARCH:  # a transaction (two more round trips) only to raise ef_search
                with conn.transaction():
                    self._ef(conn, k)
                    rows = conn.execute(sql, args).fetchall()
            else:
                rows = conn.execute(sql, args).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def keyword(self, query: str, k: int, flt: FixFilter | None = None) -> list[tuple[str, float]]:
        """BM25 over the fixes' tokens, (id, score) best first; any text is safe to pass."""
        kp = self._keyword_params(query, k)
        if kp is None or k <= 0:
            return []
        sql, params = self._keyword_sql(flt)
        sql = "WITH " + sql + " SELECT id, score FROM kw ORDER BY score DESC, id"
        with self._conn() as conn:
            rows = conn.execute(sql, {**kp, **params}).fetchall()
        return [(r[0], float(r[1])) for r in rows]

    def search(
        self, embedding: Any, query: str, k: int, flt: FixFilter | None = None
    ) -> CandidateSearch:
        """Both legs, the term statistics and the keyword-only cosines: two statements
        pipelined on one connection.

        The keyword statement (which also returns the statistics, and leaves its hits'
        rows in a transaction-local setting) is sent first, in pipeline mode, so Postgres
        runs it while `embedding` (a zero-argument callable, or a vector) is computed in
        this thread; then the kNN statement, which also reads the keyword hits' ids and
        scores them against the query vector, follows on the same connection and one
        sync reads both answers. Same answers as the two legs on two connections it replaced (now
        `bench.search_variants.search_two_legs`), without their thread hand-off, second
        pool checkout and second connection. Both statements share the pipeline's
        implicit transaction, so a raised `hnsw.ef_search` (k > EF_SEARCH) ends with it,
        and a failing statement aborts the other and ends the pipeline: the connection
        goes back to the pool idle.
        """
        kp = self._keyword_params(query, k)
        if not kp or k <= 0:
            emb = _vec(embedding() if callable(embedding) else embedding)
            return CandidateSearch(self.knn(emb, k, flt), [], 0, 1.0, {}, {}, emb)
        kw_sql, kw_params = self._keyword_sql(flt)
        where, params = _where(flt)
        with self._conn() as conn:
            with conn.pipeline():  # on leaving: sync, read both answers, raise the first error
                kw = conn.execute(
                    "WITH " + kw_sql + _KEYWORD_WITH_STATS, {**kp, **kw_params}, binary=True
                )  # sent now: Postgres scores the keywords while this thread embeds
                emb = _vec(embedding() if callable(embedding) else embedding)
                self._ef(conn, k)  # local to the pipeline's transaction
                knn = conn.execute(
                    _knn_with_cosines_sql(where, k), {**self._knn_params(emb, k), **params}
                )  # in the same transaction: reads the keyword hits' setting
            knn_rows = knn.fetchall()
            keyword = _keyword_answer(kw.fetchall())
        return _search_answer(emb, knn_rows, keyword)

    # ------------------------------------------------------------ reads
    def get_rows(self, ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Text and columns by id, for answers while the graph is down."""
        if not ids:
            return {}
        with self._conn() as conn:
            cur = conn.cursor(row_factory=psycopg.rows.dict_row)
            rows = cur.execute(
                f"SELECT {_ROW_COLUMNS} FROM fixes WHERE id = ANY(%s::text[])", (list(ids),)
            ).fetchall()
        return {r["id"]: r for r in rows}

    def get_embeddings(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        if not ids:
            return {}
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT id, embedding FROM fixes WHERE id = ANY(%s::text[])", (list(ids),)
            ).fetchall()
        return {r[0]: np.asarray(r[1].to_numpy(), dtype=np.float32) for r in rows}

    def term_stats(self, terms: Sequence[str]) -> tuple[int, float, dict[str, int]]:
        """(documents, average weighted length, df per known term): what absolute BM25 needs.

        Recall's relevance scores a fix against what the query could score at most,
        which needs the collection's statistics, not just the ranked scores.
        """
        with self._conn() as conn:
            st = conn.execute("SELECT docs, total_len FROM keyword_stats").fetchone()
            rows = (
                conn.execute(
                    "SELECT term, df FROM term_df WHERE term = ANY(%s::text[]) AND df > 0",
                    (list(terms),),
                ).fetchall()
                if terms
                else []
            )
        docs = int(st[0]) if st else 0
        avgdl = _avgdl(docs, st[1]) if st else 1.0
        return docs, avgdl, {r[0]: int(r[1]) for r in rows}

    def count(self, flt: FixFilter | None = None) -> int:
        where, params = _where(flt)
        with self._conn() as conn:
            got = conn.execute(f"SELECT count(*) FROM fixes f WHERE {where}", params).fetchone()
        return int(got[0]) if got else 0

    # The same answers as the graph's listing and chart reads, from the columns
    # Postgres keeps, so pages still answer while the graph is down.
    def recent_rows(
        self, limit: int, offset: int = 0, flt: FixFilter | None = None
    ) -> list[dict[str, Any]]:
        """Newest first (first seen), like GraphStore.recent_fixes."""
        where, params = _where(flt)
        with self._conn() as conn:
            cur = conn.cursor(row_factory=psycopg.rows.dict_row)
            return cur.execute(
                f"SELECT {_ROW_COLUMNS} FROM fixes f WHERE {where}"
                " ORDER BY f.created_at DESC, f.id LIMIT %(lim)s OFFSET %(off)s",
                {**params, "lim": int(limit), "off": max(0, int(offset))},
            ).fetchall()

    def success_by_root_cause(self) -> list[dict[str, Any]]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT root_cause, count(*), coalesce(sum(successes), 0), coalesce(sum(failures), 0)"
                " FROM fixes WHERE root_cause IS NOT NULL GROUP BY root_cause"
                " ORDER BY count(*) DESC, root_cause"
            ).fetchall()
        return [
            {"root_cause": r[0], "fixes": int(r[1]), "successes": int(r[2]), "failures": int(r[3]),
             "success_rate": _rate(r[2], r[3])}
            for r in rows
        ]  # fmt: skip

    def success_by_signature(self, limit: int = 20) -> list[dict[str, Any]]:
        with self._conn() as conn:
            rows = conn.execute(
                "SELECT signature, min(issue), count(*), coalesce(sum(occurrences), 0),"
                " coalesce(sum(successes), 0), coalesce(sum(failures), 0)"
                " FROM fixes GROUP BY signature ORDER BY 4 DESC, signature LIMIT %s",
                (int(limit),),
            ).fetchall()
        return [
            {"signature": r[0], "issue": r[1], "fixes": int(r[2]), "occurrences": int(r[3]),
             "successes": int(r[4]), "failures": int(r[5]), "success_rate": _rate(r[4], r[5])}
            for r in rows
        ]  # fmt: skip

    def fixes_over_time(self, bucket_ms: int, since_ms: int) -> list[dict[str, Any]]:
        """Buckets of epoch milliseconds, like GraphStore.fixes_over_time."""
        if bucket_ms <= 0:
            raise ValueError("bucket_ms must be positive")
        with self._conn() as conn:
            rows = conn.execute(
                "WITH t AS (SELECT (extract(epoch FROM created_at) * 1000)::bigint AS ms, success"
                " FROM fixes WHERE created_at >= %(since)s)"
                " SELECT ms - (ms %% %(bucket)s) AS bucket, count(*),"
                " count(*) FILTER (WHERE success IS TRUE), count(*) FILTER (WHERE success IS FALSE)"
                " FROM t GROUP BY 1 ORDER BY 1",
                {"since": _ts(since_ms), "bucket": int(bucket_ms)},
            ).fetchall()
        return [{"bucket": int(r[0]), "fixes": int(r[1]), "succeeded": int(r[2]), "failed": int(r[3])}
                for r in rows]  # fmt: skip

    def iter_ids(self, batch: int = 1000) -> Iterator[list[str]]:
        """All ids in batches (keyset pages, so a long walk holds no transaction open)."""
        last = ""
        while True:
            with self._conn() as conn:
                rows = conn.execute(
                    "SELECT id FROM fixes WHERE id > %s ORDER BY id LIMIT %s", (last, batch)
                ).fetchall()
            if not rows:
                return
            ids = [r[0] for r in rows]
            yield ids
            last = ids[-1]

    def ping(self) -> float:
        t0 = time.perf_counter()
        with self._conn() as conn:
            conn.execute("SELECT 1")
        return (time.perf_counter() - t0) * 1000

    def probe(self) -> float:
        """Ping over a fresh connection, not the pool's: the pool turns a refused connection into
        a wait for its timeout, so only a direct connect tells "down" (refused) from "hanging"."""
        t0 = time.perf_counter()
        try:
            with psycopg.connect(
                self.url, autocommit=True, connect_timeout=max(1, round(self.timeout_s))
            ) as conn:
                conn.execute("SELECT 1")
        except psycopg.OperationalError as exc:
            raise VectorUnavailable(f"postgres: {exc}".strip()) from exc
        return (time.perf_counter() - t0) * 1000

    def close(self) -> None:
        self._pool.close()

    def __enter__(self) -> PgVectorStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
