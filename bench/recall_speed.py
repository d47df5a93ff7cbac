"""Recall speed, stage by stage, on the repetitive or the varied corpus.

    python -m bench.recall_speed --corpus repetitive --size 10000 --queries 300

Loads `--size` fixes through the store APIs (graph.upsert_fixes + vectors.upsert)
with *real* embeddings of each distinct text template (repetitive corpus: the
text without its incident number; synthetic for the repetitive corpus: the
normalised sum of the real embeddings of its issue part and its solution part;
a little noise keeps vectors distinct; varied corpus above 10k: the first 10k texts'
real vectors reused with noise, see VARIED_REAL), then measures, each over the same distinct queries:
embedder alone (batch 1), the vector store's `knn`, `keyword`, `candidates`,
`search` (what recall uses), `Memory.recall` end to end with its `timings_ms`, single
`remember`, and the process PSS. Prints one JSON document (and `--out FILE`).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench import generate, repetitive
from bench.corpus import DAY_MS, open_memory, write_for
from bench.measure import emit, load, machine, rss_mb, summary
from obsmem import model as m

NOISE = 0.004  # per dimension: cosine ~0.997 to the template's real vector
# Varied corpus: every text is distinct, so a real vector each would take half an
# hour to embed at 100k on 2 cores. The first 10k get their own real vectors; the
# rest reuse those (+ NOISE): text, postings and graph stay real (labelled in output).
VARIED_REAL = 10_000


def _items(corpus: str, n: int, seed: int) -> list[dict[str, Any]]:
    gen = repetitive.fixes if corpus == "repetitive" else generate.fixes
    return list(gen(n, seed=seed))


def _queries(corpus: str, n: int, size: int, seed: int) -> list[str]:
    if corpus == "repetitive":
        return [repetitive.query(j, seed) for j in range(n)]
    return [q.text for q in generate.queries(n, size, seed=seed)]


def _key(corpus: str, item: dict[str, Any]) -> str:
    return (
        repetitive.template_key(item)
        if corpus == "repetitive"
        else item["issue"] + " | " + item["solution"]
    )


def fill(
    mem: Any, items: Sequence[dict[str, Any]], corpus: str, seed: int, batch: int = 2000
) -> dict[str, float]:
    """Both stores, real template embeddings + small noise; returns seconds per step."""
    from obsmem.ranking import embedding_text
    from obsmem.stores.pgvector import VectorRow

    mgr = mem.manager
    rng = np.random.default_rng(seed + 5)
    t0 = time.perf_counter()
    keys: dict[str, int] = {}
    texts: list[str] = []
    if (
        corpus == "repetitive"
    ):  # 160 + 144 real embeddings, combined: no need to embed 23k templates
        base = _repetitive_base(mgr.embedder)
        for it in items:
            sv, sy, ca, ac = repetitive.parts(
                int(it["issue"].rsplit("incident ", 1)[1].rstrip(")")), seed
            )
            keys[_key(corpus, it)] = (
                (sv * len(repetitive.SYMPTOMS) + sy) * len(repetitive.CAUSES) + ca
            ) * len(repetitive.ACTIONS) + ac
        texts = [""] * len(base)
    else:  # real embeddings of the first VARIED_REAL texts; beyond, theirs again (+ noise)
        for it in items:
            k = _key(corpus, it)
            if k not in keys:
                keys[k] = len(keys) % VARIED_REAL
                if len(texts) < VARIED_REAL:
                    texts.append(embedding_text(it["issue"], it["solution"]))
        base = mgr.embedder.embed_many(texts, batch_size=32)
    t1 = time.perf_counter()
    now = m.now_ms()
    spent = {"embed_templates": t1 - t0, "graph": 0.0, "vectors": 0.0, "templates": len(texts)}
    # A bulk load builds the HNSW index once at the end (as `CREATE INDEX` after COPY would)
    # instead of inserting into it row by row: same index, a fraction of the time.
    with mgr.vectors._conn() as conn:
        hnsw = conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'fixes_embedding_hnsw'"
        ).fetchone()
        if hnsw and len(items) >= 50_000:
            conn.execute("DROP INDEX fixes_embedding_hnsw")
        else:
            hnsw = None
    for lo in range(0, len(items), batch):
        chunk = items[lo : lo + batch]
        writes = [write_for(it, now - int(rng.random() * 180 * DAY_MS)) for it in chunk]
        embs = base[[keys[_key(corpus, it)] for it in chunk]].copy()
        embs += rng.normal(0.0, NOISE, size=embs.shape).astype(np.float32)
        embs /= np.linalg.norm(embs, axis=1, keepdims=True)
        rows = [VectorRow.from_write(w, e) for w, e in zip(writes, embs, strict=True)]
        ta = time.perf_counter()
        mgr.graph.upsert_fixes(writes)
        tb = time.perf_counter()
        mgr.vectors.upsert(rows)
        spent["graph"] += tb - ta
        spent["vectors"] += time.perf_counter() - tb
    with mgr.vectors._conn() as conn:  # bench only: what autovacuum would have done
        if hnsw:
            tb = time.perf_counter()
            _build_hnsw(conn)
            spent["hnsw_build"] = time.perf_counter() - tb
        conn.execute("VACUUM ANALYZE")
    return {k: round(v, 1) for k, v in spent.items()}


HNSW_DDL = (
    "CREATE INDEX IF NOT EXISTS fixes_embedding_hnsw ON fixes"
    " USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64)"
)  # = migration 001


def _build_hnsw(conn: Any) -> None:
    # The build is fast only while the whole graph fits in maintenance_work_mem
    # (about 3 KB per 384-d row with m=16): 1 GB for 100k, more at 1M.
    rows = conn.execute("SELECT count(*) FROM fixes").fetchone()[0]
    mb = min(max(1024, rows * 3 // 1024), 8192)
    conn.execute("SET statement_timeout = 0")
    conn.execute(f"SET maintenance_work_mem = '{mb}MB'")
    conn.execute("SET max_parallel_maintenance_workers = 1")
    conn.execute(HNSW_DDL)
    conn.execute("RESET statement_timeout")


def _repetitive_base(embedder: Any) -> np.ndarray:
    """One vector per combination: normalised sum of the real embeddings of its issue and solution parts."""
    r = repetitive
    issues = [f"{sv} service: {sy}" for sv in r.SERVICES for sy in r.SYMPTOMS]
    sols = [f"Root cause was {ca}. We {ac}." for ca in r.CAUSES for ac in r.ACTIONS]
    ei = embedder.embed_many(issues).reshape(len(r.SERVICES) * len(r.SYMPTOMS), 1, -1)
    es = embedder.embed_many(sols).reshape(1, len(r.CAUSES) * len(r.ACTIONS), -1)
    base = (ei + 0.6 * es).reshape(-1, ei.shape[-1])
    return (base / np.linalg.norm(base, axis=1, keepdims=True)).astype(np.float32)


def timed(fn: Callable[[Any], Any], args: Sequence[Any], warm: int = 5) -> dict[str, float]:
    for a in args[:warm]:
        fn(a)
    lat = []
    for a in args:
        t = time.perf_counter()
        fn(a)
        lat.append((time.perf_counter() - t) * 1000)
    return summary(lat)


def measure(mem: Any, queries: Sequence[str], depth: int = 40) -> dict[str, Any]:
    mgr = mem.manager
    emb = mgr.embedder
    model = emb.load(documents=False)
    from bench import search_variants as sv
    from obsmem.embed import _load

    raw = _load(model.model_dir, emb.query_precision)  # the model recall embeds queries with
    vecs = {q: raw.encode([q])[0] for q in queries}
    vs = mgr.vectors
    out: dict[str, Any] = {
        "embed_batch1": timed(lambda q: raw.encode([q]), queries),
        "knn": timed(lambda q: vs.knn(vecs[q], depth), queries),
        "keyword": timed(lambda q: vs.keyword(q, depth), queries),
        "candidates_one_statement": timed(
            lambda q: sv.candidates_one_statement(vs, vecs[q], q, depth), queries
        ),
        "candidates_two_legs": timed(
            lambda q: sv.candidates_two_legs(vs, vecs[q], q, depth), queries
        ),
        "embed_plus_candidates_one_statement": timed(
            lambda q: sv.candidates_one_statement(vs, raw.encode([q])[0], q, depth), queries
        ),
        "embed_plus_candidates_overlapped": timed(
            lambda q: sv.candidates_two_legs(vs, lambda: raw.encode([q])[0], q, depth), queries
        ),
        # what recall runs: both legs + term statistics + keyword-only cosines
        "embed_plus_search": timed(
            lambda q: vs.search(lambda: raw.encode([q])[0], q, depth), queries
        ),
    }
    for n in (15, 30):  # recall enriches 30
        ids = [h[0] for h in vs.knn(vecs[queries[0]], n)]
        out[f"graph_get_fixes_{n}"] = timed(lambda _q, i=ids: mgr.graph.get_fixes(i), queries[:100])
    stages: dict[str, list[float]] = {}
    lat: list[float] = []
    for i, q in enumerate(queries):
        t = time.perf_counter()
        res = mem.recall(q + " ", k=5)  # a new text: the embedder's LRU cache never answers
        if i >= 5:
            lat.append((time.perf_counter() - t) * 1000)
            for s, v in res.timings_ms.items():
                stages.setdefault(s, []).append(v)
    out["recall"] = summary(lat)
    out["recall_stage_p50"] = {s: summary(v)["p50"] for s, v in stages.items()}
    rem = []
    for j in range(min(100, len(queries))):
        t = time.perf_counter()
        mem.remember(f"bench remember {j}: {queries[j]}", f"restarted it ({j})", service="bench")
        rem.append((time.perf_counter() - t) * 1000)
    out["remember"] = summary(rem[5:])
    out["pss_mb"] = rss_mb([__import__("os").getpid()])
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", choices=("repetitive", "varied"), default="repetitive")
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tmp", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument(
        "--keep",
        type=Path,
        default=None,
        help="data dir to fill once and keep (re-runs skip the fill)",
    )
    ap.add_argument("--only-fill", action="store_true")
    args = ap.parse_args(argv)
    info = {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}}
    with tempfile.TemporaryDirectory(prefix="obsmem-speed-", dir=args.tmp) as tmp:
        mem = open_memory(args.keep or Path(tmp))
        try:
            t = time.perf_counter()
            have = mem.manager.vectors.count()
            if have < args.size:  # an interrupted fill resumes: rows go in in order
                items = _items(args.corpus, args.size, args.seed)[have - have % 2000 :]
                info["fill_s"] = fill(mem, items, args.corpus, args.seed)
            info["fill_total_s"] = round(time.perf_counter() - t, 1)
            info["fixes"] = mem.manager.vectors.count()
            with (
                mem.manager.vectors._conn() as conn
            ):  # an interrupted fill may have left it dropped
                if not conn.execute(
                    "SELECT 1 FROM pg_indexes WHERE indexname = 'fixes_embedding_hnsw'"
                ).fetchone():
                    t = time.perf_counter()
                    _build_hnsw(conn)
                    conn.execute("VACUUM ANALYZE")
                    info["hnsw_build_s"] = round(time.perf_counter() - t, 1)
            if args.only_fill:
                return 0
            info["load_before"] = load()
            info["results"] = measure(
                mem, _queries(args.corpus, args.queries, args.size, args.seed)
            )
            info["load_after"] = load()
        finally:
            mem.close()
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
