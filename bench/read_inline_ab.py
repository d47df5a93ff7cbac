"""In-process recall with store reads inline (B) or on the deadline worker threads (A).

    python -m bench.read_inline_ab --keep /tmp/copy-of-rep100k --corpus repetitive
    python -m bench.read_inline_ab --keep /tmp/copy-of-var100k --corpus varied

One process, one filled data dir (`--keep`, as `bench.recall_speed` leaves it; use a
copy), the two modes alternating query by query (which mode goes first flips
every round), so both see the same load, caches and data. A switches the stores'
`enforces_read_deadline` off, which sends their reads through the guard's worker
threads exactly as before round 5; B is the shipped path (the driver keeps the
read deadline, the read runs in the caller's thread). Each query is asked once
(a fresh text, so the embedder's cache never answers). Prints one JSON document
(and `--out FILE`): recall p50/p95/p99 per mode and the stage p50s.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench import generate, repetitive
from bench.corpus import open_memory
from bench.measure import emit, load, run_info, summary
from obsmem.stores.graph.falkor import FalkorGraph
from obsmem.stores.pgvector import PgVectorStore

WARM = 20


def _inline(on: bool) -> None:
    PgVectorStore.enforces_read_deadline = on
    FalkorGraph.enforces_read_deadline = on


def _queries(corpus: str, start: int, n: int, size: int) -> list[str]:
    if corpus == "repetitive":
        return [repetitive.query(j) for j in range(start, start + n)]
    return [q.text for q in generate.queries(n, size, seed=17 + start)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, required=True, help="a filled data dir (a copy)")
    ap.add_argument("--corpus", choices=("repetitive", "varied"), default="repetitive")
    ap.add_argument("--size", type=int, default=100_000, help="for the varied corpus' queries")
    ap.add_argument("--queries", type=int, default=300, help="per round, both modes together")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    info: dict[str, Any] = run_info(args)
    mem = open_memory(args.keep)
    lat: dict[str, list[float]] = {"A": [], "B": []}
    stages: dict[str, dict[str, list[float]]] = {"A": {}, "B": {}}
    loads = [load()[0]]
    try:
        for q in _queries(args.corpus, 10**6, WARM, args.size):
            mem.recall(q + " ", k=5)
        for r in range(args.rounds):
            for i, q in enumerate(_queries(args.corpus, r * args.queries, args.queries, args.size)):
                mode = "AB"[(i + r) % 2]
                _inline(mode == "B")
                t = time.perf_counter()
                res = mem.recall(q + " ", k=5)
                lat[mode].append((time.perf_counter() - t) * 1000)
                for s, v in res.timings_ms.items():
                    stages[mode].setdefault(s, []).append(v)
            loads.append(load()[0])
    finally:
        _inline(True)
        mem.close()
    info["load1"] = loads
    for mode, name in (("A", "worker threads"), ("B", "inline")):
        info[mode] = {
            "reads": name,
            "recall_ms": summary(lat[mode]),
            "stage_p50_ms": {s: summary(v)["p50"] for s, v in stages[mode].items()},
        }
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
