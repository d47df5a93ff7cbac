"""In-process recall with the vector search pipelined on one connection (B) or in two legs (A).

    python -m bench.search_ab --keep /tmp/copy-of-rep100k --corpus repetitive
    python -m bench.search_ab --keep /tmp/copy-of-var100k --corpus varied --size 100000

One process, one filled data dir (`--keep`, as `bench.recall_speed` leaves it; use a
copy). A is `bench.search_variants.search_two_legs` (the keyword leg on its own thread
and pooled connection while this thread embeds, then the kNN statement), B the shipped
`PgVectorStore.search` (both statements in one pipeline on one connection). Every
query runs in both modes, ABBA order (which goes first flips query by query), each
with its own trailing spaces so the embedder's cache never answers; the answers
must be the same hits with the same relevance (`queries_with_different_hits`).
Prints one JSON document (and `--out FILE`): recall p50/p95/p99 per mode, the
stage p50s and the process CPU per recall.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench.corpus import open_memory
from bench.measure import emit, load, run_info, summary
from bench.recall_ab import _same
from bench.recall_speed import _queries
from bench.search_variants import search_two_legs
from obsmem.stores.pgvector import PgVectorStore

WARM = 20
MODES = {"A": search_two_legs, "B": PgVectorStore.search}


def _mode(name: str) -> None:
    PgVectorStore.search = MODES[name]  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, required=True, help="a filled data dir (a copy)")
    ap.add_argument("--corpus", choices=("repetitive", "varied"), default="repetitive")
    ap.add_argument("--size", type=int, default=100_000, help="for the varied corpus' queries")
    ap.add_argument("--queries", type=int, default=300, help="per round, each in both modes")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    info: dict[str, Any] = run_info(args)
    queries = _queries(args.corpus, args.queries, args.size, args.seed)
    mem = open_memory(args.keep)
    lat: dict[str, list[float]] = {"A": [], "B": []}
    cpu: dict[str, float] = {"A": 0.0, "B": 0.0}
    stages: dict[str, dict[str, list[float]]] = {"A": {}, "B": {}}
    loads = [load()[0]]
    differ = n = 0
    try:
        mem.manager.embedder.warm()
        for q in queries[:WARM]:
            for m in MODES:
                _mode(m)
                mem.recall(q + "    ", k=args.k)
        for r in range(args.rounds):
            for i, q in enumerate(queries):
                got = {}
                for m in "AB" if (i + r) % 2 == 0 else "BA":
                    _mode(m)
                    text = q + " " * (1 + 2 * r + (m == "B"))  # never an embedder cache hit
                    c, t = time.process_time(), time.perf_counter()
                    got[m] = mem.recall(text, k=args.k)
                    lat[m].append((time.perf_counter() - t) * 1000)
                    cpu[m] += time.process_time() - c
                    for s, v in got[m].timings_ms.items():
                        stages[m].setdefault(s, []).append(v)
                differ += not _same(got["A"], got["B"])
                n += 1
            loads.append(load()[0])
    finally:
        _mode("B")
        mem.close()
    info["load1"] = loads
    info["queries_with_different_hits"] = f"{differ}/{n}"
    for m, name in (("A", "two legs (keyword thread)"), ("B", "pipelined, one connection")):
        info[m] = {
            "search": name,
            "recall_ms": summary(lat[m]),
            "cpu_ms_per_recall": round(cpu[m] * 1000 / max(len(lat[m]), 1), 3),
            "stage_p50_ms": {s: summary(v)["p50"] for s, v in stages[m].items()},
        }
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
