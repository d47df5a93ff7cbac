"""Recall quality on the shared recall-bench set: pure vector, pure keyword, obsmem's hybrid.

All three run through the real stores of one fresh Memory: the fixes go in with
`remember_many`; pure vector and pure keyword are the two candidate lists that
`bench.search_variants.candidates_two_legs` returns (the lists `vectors.search` gives
recall to fuse), hybrid is `Memory.recall` itself.
The data is read from ../shared/data next to the repo and never copied into it.
Scoring and slices (hard / easy / hard-paraphrase) come from bench.recall_quality,
which follows the data set's README.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.corpus import open_memory
from bench.recall_quality import DATA as QUALITY_DATA
from bench.recall_quality import load, score, slices
from bench.search_variants import candidates_two_legs

# OBSMEM_RECALL_BENCH or /work/shared/data; else ../shared/data beside the checkout
DATA = (
    QUALITY_DATA
    if QUALITY_DATA.exists()
    else Path(__file__).resolve().parents[2] / "shared" / "data" / QUALITY_DATA.name
)
DEPTH = 50  # the candidate depth Memory.recall asks for


def run(root: Path, embedder: Any = None, path: Path = DATA) -> dict[str, Any]:
    if not path.exists():
        return {"skipped": f"{path} not found"}
    t0 = time.perf_counter()
    fixes, queries = load(path)
    mem = open_memory(root, embedder)
    try:
        items = [
            {"issue": f["issue"], "solution": f["solution"], "metadata": {"bench_id": f["id"]}}
            for f in fixes
        ]
        stored = mem.remember_many(items)
        to_bench = {r.id: f["id"] for r, f in zip(stored, fixes, strict=True)}
        t_loaded = time.perf_counter()
        mgr = mem.manager
        ranked: dict[str, dict[str, list[str]]] = {"vector": {}, "keyword": {}, "hybrid": {}}
        for q in queries:
            emb = mgr.embedder.embed_query(q["query"])  # cached: recall below reuses it
            vec, kw = candidates_two_legs(mgr.vectors, emb, q["query"], DEPTH)
            ranked["vector"][q["qid"]] = [to_bench[i] for i, _ in vec[:10]]
            ranked["keyword"][q["qid"]] = [to_bench[i] for i, _ in kw[:10]]
            hits = mem.recall(q["query"], k=10)
            ranked["hybrid"][q["qid"]] = [to_bench.get(h.fix.id, h.fix.id) for h in hits]
    finally:
        mem.close()
    out: dict[str, Any] = {
        name: {method: score(r, sel) for method, r in ranked.items()}
        for name, sel in slices(queries).items()
    }
    out["_seconds"] = {"load": round(t_loaded - t0, 1), "total": round(time.perf_counter() - t0, 1)}
    out["_data"] = str(path)
    return out
