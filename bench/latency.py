"""`recall` latency in-process, with where the time goes (RecallResult.timings_ms).

Queries paraphrase known fixes (bench.generate.query_for) and are all distinct,
so the embedder's LRU cache never answers: every figure includes embedding.
`search` is what remains of vector + keyword after the embedding: the keyword leg runs while the query is embedded.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from bench.corpus import fix_id
from bench.generate import Query, fix
from bench.measure import summary
from obsmem.memory import Memory

STAGES = ("embed", "search", "graph", "rank")


def recall_in_process(
    mem: Memory, queries: Sequence[Query], seed: int, k: int = 5
) -> dict[str, Any]:
    lat: list[float] = []
    stages: dict[str, list[float]] = {s: [] for s in STAGES}
    hits = 0
    for q in queries:
        t0 = time.perf_counter()
        res = mem.recall(q.text, k=k)
        lat.append((time.perf_counter() - t0) * 1000)
        for s in STAGES:
            stages[s].append(res.timings_ms.get(s, 0.0))
        target = fix_id(fix(q.target, seed))
        hits += any(h.fix.id == target for h in res)
    total = sum(lat)
    return {
        "ms": summary(lat),
        "stage_p50_ms": {s: summary(v)["p50"] for s, v in stages.items()},
        "stage_share": {s: round(sum(v) / total, 3) for s, v in stages.items()},
        "target_in_top5": round(hits / len(queries), 3),
    }
