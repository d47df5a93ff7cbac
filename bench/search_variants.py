"""Earlier shapes of the vector store's search, kept only so benchmarks can time them.

Production recall runs `PgVectorStore.search`: the keyword statement and the kNN
statement pipelined on one connection. These are the shapes it was measured against
(bench/RESULTS.md), moved out of the store in round 6 so the package carries no code
only benchmarks call:

- `candidates_two_legs`: (vector hits, keyword hits), the keyword leg on a thread and
  its own pooled connection while this thread embeds (the old `PgVectorStore.candidates`);
- `candidates_one_statement`: both legs in one SQL statement (the first `candidates`);
- `search_two_legs`: `search`'s answer from two legs on two connections (the old
  `PgVectorStore.search_two_legs`, the A side of bench.search_ab);
- `keyword_with_stats`: the keyword statement of `search` alone (bench.distractor_quality).

Each takes the store (a `PgVectorStore`, or the manager's guarded view of one) and
builds its SQL with the store's own builders and answer helpers, the ones `search` uses.
A keyword leg on a thread runs in a copy of the caller's context, so a read deadline
set by the store guard goes along (it is a context variable).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

import numpy as np

from obsmem.model import FixFilter
from obsmem.stores import deadline
from obsmem.stores import pgvector as pv
from obsmem.stores.protocols import CandidateSearch

T = TypeVar("T")
Hits = list[tuple[str, float]]

_LEGS = ThreadPoolExecutor(max_workers=8, thread_name_prefix="bench-keyword")


def _vector(embedding: Any) -> np.ndarray:
    """`embedding`, or what it returns when it is a zero-argument callable."""
    return pv._vec(embedding() if callable(embedding) else embedding)


def _leg(fn: Callable[..., T], *args: Any) -> Future[T]:
    """Start `fn(*args)` on a keyword thread, under the caller's read deadline if any."""
    return _LEGS.submit(contextvars.copy_context().run, fn, *args)


def _leg_result(leg: Future[T]) -> T:
    """The keyword leg's answer, waited for no longer than the caller's read deadline."""
    try:
        return leg.result(timeout=deadline.remaining())
    except FutureTimeout:
        raise deadline.ReadDeadlineExceeded(
            "postgres: the keyword leg did not answer within the read deadline"
        ) from None


def keyword_with_stats(
    store: Any, query: str, k: int, flt: FixFilter | None = None
) -> tuple[Hits, int, float, dict[str, int]] | None:
    """`search`'s keyword statement alone, its rows' ids read after it in the same
    transaction: (hits, docs, avgdl, df); None for a query without a keyword."""
    kp = store._keyword_params(query, k)
    if kp is None:
        return None
    sql, params = store._keyword_sql(flt)
    with store._conn() as conn, conn.transaction():
        rows = conn.execute(
            "WITH " + sql + pv._KEYWORD_WITH_STATS, {**kp, **params}, binary=True
        ).fetchall()
        scored, docs, avgdl, df = pv._keyword_answer(rows)
        ids = conn.execute(
            "SELECT doc, id, row_number() OVER (ORDER BY id) FROM fixes WHERE doc = ANY(%s)",
            ([doc for doc, _ in scored],),
        ).fetchall()
    return pv.keyword_hits(scored, {doc: (fid, rank) for doc, fid, rank in ids}), docs, avgdl, df


def candidates_two_legs(
    store: Any, embedding: Any, query: str, k: int, flt: FixFilter | None = None
) -> tuple[Hits, Hits]:
    """(vector hits, keyword hits): `keyword` on a thread while this thread embeds
    (`embedding` may be a zero-argument callable), then `knn`."""
    if store._keyword_params(query, k) is None:
        return store.knn(_vector(embedding), k, flt), []
    kw = _leg(store.keyword, query, k, flt)
    try:
        vec = store.knn(_vector(embedding), k, flt)
    except BaseException:
        kw.cancel()
        raise
    return vec, _leg_result(kw)


def search_two_legs(
    store: Any, embedding: Any, query: str, k: int, flt: FixFilter | None = None
) -> CandidateSearch:
    """`PgVectorStore.search`'s answer from two legs: the keyword statement on a thread and
    its own pooled connection while this thread embeds, then the kNN statement on a second.
    Its signature is `search`'s, so bench.search_ab can put it in the class's place."""
    kp = store._keyword_params(query, k)
    kw = _leg(keyword_with_stats, store, query, k, flt) if kp and k > 0 else None
    try:
        emb = _vector(embedding)
        vec = store.knn(emb, k, flt)
    except BaseException:
        if kw is not None:
            kw.cancel()
        raise
    if kw is None:
        return CandidateSearch(vec, [], 0, 1.0, {}, {}, emb)
    keyword = _leg_result(kw)
    assert keyword is not None  # kp was not None
    kw_hits, docs, avgdl, df = keyword
    # The kNN leg ran on another connection, outside the keyword statement's transaction:
    # the keyword-only hits' cosines as pgvector computes them, from a third read.
    in_vec = {fid for fid, _ in vec}
    only_kw = [fid for fid, _ in kw_hits if fid not in in_vec]
    cosines: dict[str, float] = {}
    if only_kw:
        with store._conn() as conn:
            cosines = dict(
                conn.execute(
                    "SELECT id, 1 - (embedding <=> %s) FROM fixes WHERE id = ANY(%s::text[])",
                    (emb, only_kw),
                ).fetchall()
            )
    return CandidateSearch(vec, kw_hits, docs, avgdl, df, cosines, emb)


def candidates_one_statement(
    store: Any, embedding: Any, query: str, k: int, flt: FixFilter | None = None
) -> tuple[Hits, Hits]:
    """(vector hits, keyword hits) from one statement, one round trip (the first `candidates`)."""
    emb = _vector(embedding)
    kp = store._keyword_params(query, k)
    if kp is None:
        return store.knn(emb, k, flt), []
    where, params = pv._where(flt)
    kw_sql, kw_params = store._keyword_sql(flt)
    sql = (
        "WITH " + pv._KNN.format(where=where, k=int(k)) + ", " + kw_sql
        + " SELECT 'v', id, 1 - dist FROM v"
        + " UNION ALL SELECT 'k', id, score FROM kw"
    )  # fmt: skip
    args = {**store._knn_params(emb, k), **kp, **params, **kw_params}
    with store._conn() as conn:
        if k > pv.EF_SEARCH:  # a transaction (two more round trips) only to raise ef_search
            with conn.transaction():
                store._ef(conn, k)
                rows = conn.execute(sql, args).fetchall()
        else:
            rows = conn.execute(sql, args).fetchall()

    def best_first(kind: str) -> Hits:
        hits = [(r[1], float(r[2])) for r in rows if r[0] == kind]
        return sorted(hits, key=lambda t: (-t[1], t[0]))

    return best_first("v"), best_first("k")
