"""Recall quality on /work/shared/data/recall-bench.jsonl: vector, keyword (BM25 in Postgres), RRF.

Loads the 196 runbook fixes into a fresh database through PgVectorStore, runs
the hard and easy queries, and prints R@1 / R@5 / MRR@10 per method next to
the README's rank-bm25 baseline. JSON goes to bench/out/recall_quality.json.

    .venv/bin/python -m bench.recall_quality [--pg-url URL] [--no-vector]

Without --pg-url (or DATABASE_URL) it starts an embedded Postgres in a temp dir.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

DATA = Path(os.environ.get("OBSMEM_RECALL_BENCH", "/work/shared/data/recall-bench.jsonl"))
OUT = Path(__file__).with_name("out") / "recall_quality.json"
BASELINE = {  # README, rank-bm25 BM25Okapi and MiniLM
    "hard": {"bm25": (0.816, 0.959, 0.883), "emb": (0.653, 0.980, 0.790)},
    "easy": {"bm25": (0.949, 1.000, 0.974), "emb": (0.827, 0.980, 0.891)},
    "hard-paraphrase": {"bm25": (0.600, 0.867, 0.716), "emb": (0.533, 0.933, 0.692)},
}


def load(path: Path = DATA) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [r for r in recs if "id" in r], [r for r in recs if "qid" in r]


def slices(queries: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    hard = [q for q in queries if q["variant"] == "hard"]
    return {
        "hard": hard,
        "easy": [q for q in queries if q["variant"] == "easy"],
        "hard-paraphrase": [
            q for q in hard if q["lexical_overlap"] < 0.5 and not q["shared_6gram"]
        ],
    }


def score(ranked: dict[str, list[str]], sel: list[dict[str, Any]]) -> dict[str, float]:
    r1 = r5 = mrr = 0.0
    for q in sel:
        top = ranked[q["qid"]][:10]
        hit = next((i for i, fid in enumerate(top) if fid in q["relevant"]), None)
        if hit is not None:
            r1 += hit < 1
            r5 += hit < 5
            mrr += 1 / (hit + 1)
    n = max(len(sel), 1)
    return {
        "R@1": round(r1 / n, 3),
        "R@5": round(r5 / n, 3),
        "MRR@10": round(mrr / n, 3),
        "n": len(sel),
    }


def rrf(*rankings: list[str], k: int = 60, weights: tuple[float, ...] = ()) -> list[str]:
    scores: dict[str, float] = {}
    for n, ranking in enumerate(rankings):
        w = weights[n] if n < len(weights) else 1.0
        for rank, fid in enumerate(ranking, 1):
            scores[fid] = scores.get(fid, 0.0) + w / (k + rank)
    return sorted(scores, key=lambda f: -scores[f])


@contextlib.contextmanager
def database(pg_url: str | None) -> Iterator[str]:
    """A fresh database on the given server, or on an embedded one in a temp dir."""
    import psycopg

    with contextlib.ExitStack() as stack:
        if pg_url is None:
            from obsmem.stores.embedded import EmbeddedServers

            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="obsmem-rq-"))
            servers = EmbeddedServers(Path(tmp), want_graph=False).start(supervise=False)
            stack.callback(servers.stop, force=True)
            pg_url = servers.postgres_url()
        name = "rq_" + uuid.uuid4().hex[:10]
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            yield (
                pg_url.replace("/postgres?", f"/{name}?")
                if "/postgres?" in pg_url
                else (pg_url.rsplit("/", 1)[0] + "/" + name)
            )
        finally:
            with psycopg.connect(pg_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run(pg_url: str | None, with_vector: bool = True) -> dict[str, Any]:
    import numpy as np

    from bench.search_variants import candidates_two_legs
    from obsmem.stores.pgvector import PgVectorStore, VectorRow

    fixes, queries = load()
    timings: dict[str, float] = {}
    embedder = None
    if with_vector:
        from obsmem.embed import Embedder

        embedder = Embedder()
        t = time.perf_counter()
        fix_vecs = embedder.embed_many(
            [f"{f['issue'].strip()}\n{f['solution'].strip()}" for f in fixes]
        )
        query_vecs = embedder.embed_many([q["query"] for q in queries])
        timings["embed_s"] = round(time.perf_counter() - t, 2)
    else:
        fix_vecs = np.zeros((len(fixes), 384), dtype=np.float32)
        fix_vecs[:, 0] = 1.0
        query_vecs = None

    with database(pg_url) as url:
        store = PgVectorStore(url)
        try:
            store.migrate()
            rows = [
                VectorRow(id=f["id"], event_id="load", issue=f["issue"], solution=f["solution"],
                          signature=None, ts=0, embedding=v)
                for f, v in zip(fixes, fix_vecs, strict=True)
            ]  # fmt: skip
            t = time.perf_counter()
            store.upsert(rows)
            timings["insert_s"] = round(time.perf_counter() - t, 3)
            kw: dict[str, list[str]] = {}
            vec: dict[str, list[str]] = {}
            t = time.perf_counter()
            for i, q in enumerate(queries):
                if query_vecs is not None:
                    v_hits, k_hits = candidates_two_legs(store, query_vecs[i], q["query"], 50)
                    vec[q["qid"]] = [fid for fid, _ in v_hits]
                else:
                    k_hits = store.keyword(q["query"], 50)
                kw[q["qid"]] = [fid for fid, _ in k_hits]
            timings["search_ms_per_query"] = round(
                (time.perf_counter() - t) * 1000 / len(queries), 2
            )
        finally:
            store.close()

    ranked = {"keyword": kw}
    if vec:
        ranked["vector"] = vec
        ranked["rrf"] = {qid: rrf(vec[qid], kw[qid]) for qid in kw}
        # keyword weighted up: the README shows BM25 alone beats equal-weight RRF at rank 1
        ranked["rrf_kw2"] = {qid: rrf(vec[qid], kw[qid], weights=(1.0, 2.0)) for qid in kw}
    results = {
        name: {method: score(r, sel) for method, r in ranked.items()}
        for name, sel in slices(queries).items()
    }
    return {"results": results, "timings": timings, "baseline_readme": BASELINE}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pg-url", default=os.environ.get("DATABASE_URL"))
    ap.add_argument("--no-vector", action="store_true", help="keyword only (no model load)")
    args = ap.parse_args(argv)
    out = run(args.pg_url, with_vector=not args.no_vector)
    for slice_name, by_method in out["results"].items():
        base = BASELINE[slice_name]
        print(f"\n{slice_name} (n={next(iter(by_method.values()))['n']})")
        print(f"  {'method':10} {'R@1':>6} {'R@5':>6} {'MRR@10':>7}")
        for method, s in by_method.items():
            print(f"  {method:10} {s['R@1']:6.3f} {s['R@5']:6.3f} {s['MRR@10']:7.3f}")
        for label, (r1, r5, mrr) in base.items():
            print(f"  {'readme:' + label:10} {r1:6.3f} {r5:6.3f} {mrr:7.3f}")
    print("\ntimings:", out["timings"])
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
