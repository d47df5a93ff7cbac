"""Interleaved A/B of in-process recall: queries embedded by the fp32 model vs the int8 one.

    python -m bench.int8_recall_ab --keep DIR --corpus varied --size 10000 --queries 300

One Memory on a filled data dir (copy a shared one first: recall writes nothing,
but the stores do open it read-write); two Embedders that differ only in
`query_precision` are swapped in query by query (ABBA order), so load on a shared
box falls on both alike. Each variant gets its own query text (trailing spaces) so
no embedder cache answers. Reports recall wall p50/p99, the stages' p50, this
process's CPU per recall (`time.process_time`: Python + ONNX Runtime, not the
database servers), and how many queries' top-k ids (and top hit) differ.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.corpus import open_memory
from bench.measure import load, run_info, summary
from bench.recall_speed import _queries
from obsmem.embed import FP32, INT8, Embedder


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, required=True, help="a filled data dir (a copy)")
    ap.add_argument("--corpus", choices=("repetitive", "varied"), default="repetitive")
    ap.add_argument("--size", type=int, default=10_000, help="for the varied corpus' queries")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=5)
    args = ap.parse_args(argv)
    queries = _queries(args.corpus, args.queries, args.size, 0)
    embedders = {p: Embedder(query_precision=p).load() for p in (FP32, INT8)}
    info: dict[str, Any] = run_info(args)
    mem = open_memory(args.keep)
    try:
        for e in embedders.values():
            mem.manager._embedder = e
            for q in queries[:10]:
                mem.recall(q + "  ", k=args.k)
        info["load_before"] = load()
        lat: dict[str, list[float]] = {p: [] for p in embedders}
        cpu: dict[str, list[float]] = {p: [] for p in embedders}
        stages: dict[str, dict[str, list[float]]] = {p: {} for p in embedders}
        differ = differ1 = 0
        for i, q in enumerate(queries):
            order = [FP32, INT8] if i % 2 == 0 else [INT8, FP32]
            top = {}
            for p in order:
                mem.manager._embedder = embedders[p]
                text = q + " " * (1 + (p == INT8))
                c, t = time.process_time(), time.perf_counter()
                res = mem.recall(text, k=args.k)
                lat[p].append((time.perf_counter() - t) * 1000)
                cpu[p].append((time.process_time() - c) * 1000)
                top[p] = [h.fix.id for h in res]
                for s, v in res.timings_ms.items():
                    stages[p].setdefault(s, []).append(v)
            differ += top[FP32] != top[INT8]
            differ1 += top[FP32][:1] != top[INT8][:1]
        info["load_after"] = load()
        info["recall_ms"] = {p: summary(x) for p, x in lat.items()}
        info["cpu_ms_mean"] = {p: round(sum(x) / len(x), 2) for p, x in cpu.items()}
        info["stage_p50"] = {
            p: {s: summary(x)["p50"] for s, x in st.items()} for p, st in stages.items()
        }
        info["queries_with_different_top_k"] = f"{differ}/{len(queries)}"
        info["queries_with_a_different_top_hit"] = f"{differ1}/{len(queries)}"
    finally:
        mem.close()
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
