"""Vector layer speed: embedder throughput, bulk insert rate, kNN / keyword / candidates latency.

    .venv/bin/python -m bench.vector_bench [--rows 100000] [--pg-url URL] [--skip-embed]

Rows are generated fixes (bench.generate) with clustered random unit vectors
(kNN cost does not depend on what the vectors mean). JSON to bench/out/vector_bench.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np

from bench.recall_quality import database

OUT = Path(__file__).with_name("out") / "vector_bench.json"


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(np.asarray(values), q)), 3)


def timed(fn: Any, n: int) -> dict[str, float]:
    ms = []
    for i in range(n):
        t = time.perf_counter()
        fn(i)
        ms.append((time.perf_counter() - t) * 1000)
    return {"p50_ms": pct(ms, 50), "p99_ms": pct(ms, 99), "n": n}


def bench_embedder() -> dict[str, Any]:
    from bench import generate
    from obsmem.embed import Embedder

    emb = Embedder().load()
    texts = [f["issue"] + "\n" + f["solution"] for f in generate.fixes(256, seed=7)]
    queries = [generate.query_for(i, seed=7) for i in range(200)]
    emb.embed_many(texts[:8])
    t = time.perf_counter()
    for q in queries:
        emb._encode([q], 1)  # uncached: the model's own cost
    b1 = len(queries) / (time.perf_counter() - t)
    t = time.perf_counter()
    emb.embed_many(texts, batch_size=64)
    b64 = len(texts) / (time.perf_counter() - t)
    lat = timed(lambda i: emb._encode([queries[i % len(queries)]], 1), 100)
    return {"batch1_texts_per_s": round(b1, 1), "batch64_texts_per_s": round(b64, 1),
            "query_latency": lat}  # fmt: skip


def bench_store(url: str, rows: int, seed: int = 0) -> dict[str, Any]:
    from bench import generate
    from bench.search_variants import candidates_two_legs
    from obsmem.model import FixFilter
    from obsmem.stores.pgvector import PgVectorStore, VectorRow

    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((200, 384)).astype(np.float32)

    def vectors(n: int) -> np.ndarray:
        x = centers[rng.integers(0, len(centers), n)] + 0.5 * rng.standard_normal((n, 384))
        return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)

    store = PgVectorStore(url, timeout_s=30.0)
    out: dict[str, Any] = {"rows": rows}
    try:
        store.migrate()
        batch = 1000
        t0 = time.perf_counter()
        for start in range(0, rows, batch):
            fx = list(generate.fixes(min(batch, rows - start), seed=seed, start=start))
            vecs = vectors(len(fx))
            store.upsert([
                VectorRow(id=f"g{start + j}", event_id="load", issue=f["issue"],
                          solution=f["solution"], signature=None, ts=1_700_000_000_000 + start + j,
                          embedding=vecs[j], service=f.get("service") or f"svc{(start + j) % 50}")
                for j, f in enumerate(fx)
            ])  # fmt: skip
        secs = time.perf_counter() - t0
        out["insert_rows_per_s"] = round(rows / secs, 1)
        out["insert_s"] = round(secs, 1)
        with store._conn() as conn:
            conn.execute("VACUUM ANALYZE fixes")
            conn.execute("VACUUM ANALYZE fix_terms")
        qv = vectors(300)
        qt = [generate.query_for(int(rng.integers(0, rows)), seed=seed) for _ in range(300)]
        svc = store.get_rows(["g0"])["g0"]["service"]
        flt = FixFilter(service=svc)
        out["filter_rows"] = store.count(flt)
        store.knn(qv[0], 10)
        out["knn_k40"] = timed(lambda i: store.knn(qv[i], 40), 300)
        out["knn_k40_filtered"] = timed(lambda i: store.knn(qv[i], 40, flt), 300)
        out["keyword_k40"] = timed(lambda i: store.keyword(qt[i], 40), 300)
        out["candidates_k40"] = timed(lambda i: candidates_two_legs(store, qv[i], qt[i], 40), 300)
        out["candidates_k40_filtered"] = timed(
            lambda i: candidates_two_legs(store, qv[i], qt[i], 40, flt), 300
        )
        # HNSW recall@10 against exact search (index off) on 30 queries.
        hits = 0
        for q in qv[:30]:
            approx = {i for i, _ in store.knn(q, 10)}
            with store._conn() as conn, conn.transaction():
                conn.execute("SET LOCAL enable_indexscan = off")
                exact = {
                    r[0]
                    for r in conn.execute(
                        "SELECT id FROM fixes ORDER BY embedding <=> %s LIMIT 10", (q,)
                    ).fetchall()
                }
            hits += len(approx & exact)
        out["hnsw_recall_at_10"] = round(hits / 300, 3)
    finally:
        store.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--pg-url", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("--skip-embed", action="store_true")
    args = ap.parse_args(argv)
    result: dict[str, Any] = {"cpus": os.cpu_count()}
    if not args.skip_embed:
        result["embedder"] = bench_embedder()
        print("embedder:", json.dumps(result["embedder"]), flush=True)
    with database(args.pg_url) as url:
        result["store"] = bench_store(url, args.rows)
    print("store:", json.dumps(result["store"], indent=1))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
