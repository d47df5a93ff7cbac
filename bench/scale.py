"""One corpus size end to end: fill a fresh Memory, then measure ingest, recall and the API.

Order matters and is fixed: embedder ceiling (its vectors seed the synthetic rows),
synthetic base load, VACUUM ANALYZE (what autovacuum would have done by then),
real bulk ingest and single remembers into the store at its full size, then reads.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import api, ingest, latency
from bench.corpus import Pool, load_synthetic, open_memory
from bench.generate import fixes, queries
from bench.measure import load, rss_mb


@dataclass(frozen=True)
class Plan:
    bulk: int = 2000  # real-embedding ingest per size (the rest is synthetic)
    single: int = 50  # single remember calls
    queries: int = 300  # per latency run
    warm: int = 20
    api_n: int = 100  # requests per /api/state and /api/fixes
    clients: int = 8
    http: bool = True


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} load {load()[0]:.2f}] {msg}", file=sys.stderr, flush=True)


def _settle(mem: Any) -> None:
    import psycopg

    url = mem.manager.embedded.postgres_url() if mem.manager.embedded else mem.settings.database_url
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def _store_rss(mem: Any) -> dict[str, float]:
    emb = mem.manager.embedded
    if emb is None:
        return {}
    pids = {name: info.get("pid") for name, info in emb.describe().items()}
    return {name: rss_mb([pid], children=True) for name, pid in pids.items()}


def run_size(size: int, seed: int, root: Path, plan: Plan, embedder: Any = None) -> dict[str, Any]:
    out: dict[str, Any] = {"size": size, "load_at_start": load()}
    bulk_n = min(plan.bulk, size // 2)
    base = size - bulk_n - plan.single
    bulk_items = list(fixes(bulk_n, seed=seed, start=base))
    single_items = list(fixes(plan.single, seed=seed, start=base + bulk_n))
    qs = queries(plan.warm + 2 * plan.queries, corpus_size=size, seed=seed)
    warm, set_a, set_b = (
        qs[: plan.warm],
        qs[plan.warm : plan.warm + plan.queries],
        qs[plan.warm + plan.queries :],
    )

    t0 = time.perf_counter()
    mem = open_memory(root, embedder)
    server: api.Server | None = None
    try:
        out["open_s"] = round(time.perf_counter() - t0, 1)
        log(f"n={size:,}: embedder-only ceiling on {bulk_n:,} texts")
        ceiling, vecs = ingest.embed_ceiling(mem, bulk_items)
        log(f"n={size:,}: synthetic base load of {base:,} rows")
        t1 = time.perf_counter()
        spent = load_synthetic(mem, 0, base, seed, Pool(bulk_items, vecs), log=log)
        out["synthetic_load"] = {
            "rows": base,
            "seconds": round(time.perf_counter() - t1, 1),
            **spent,
        }
        _settle(mem)
        log(
            f"n={size:,}: bulk ingest of {bulk_n:,} (real embedding), alternating with embedder-only"
        )
        paired_ceiling, rate = ingest.paired(mem, bulk_items)
        single = ingest.single_calls(mem, single_items)
        out["remember"] = {
            "bulk_n": bulk_n,
            "embedder_only_first_pass_per_s": round(ceiling, 1),
            "embedder_only_per_s": round(paired_ceiling, 1),
            "bulk_ingest_per_s": round(rate, 1),
            "ratio": round(rate / paired_ceiling, 3),
            "single_ms": single,
        }
        out["count"] = mem.count_fixes()
        log(f"n={size:,}: recall in-process ({len(set_a)} queries)")
        for q in warm:
            mem.recall(q.text)
        out["recall_in_process"] = latency.recall_in_process(mem, set_a, seed)
        out["rss_mb"] = {"bench_process": rss_mb([__import__("os").getpid()]), **_store_rss(mem)}
        if plan.http:
            log(f"n={size:,}: HTTP (server subprocess)")
            server = api.Server(mem.manager.data_dir, root / "server.log")
            server.wait_ready()
            api.recall_single(server.url, warm)  # the server's model and pools warm up
            phases = {
                "recall_http": lambda s: api.recall_single(s.url, set_a),
                "recall_http_concurrent": lambda s: api.recall_concurrent(
                    s.url, set_b, plan.clients
                ),
                "api_state_ms": lambda s: api.get_latency(s.url, "/api/state", plan.api_n),
                "api_fixes_ms": lambda s: api.get_latency(s.url, "/api/fixes", plan.api_n),
            }
            for name, phase in phases.items():
                try:  # one failed phase (a timeout on a busy box) must not lose the others
                    out[name] = phase(server)
                except Exception as exc:
                    out[name] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
                    log(f"n={size:,}: {name} failed: {exc}")
            out["rss_mb"]["server"] = server.rss_mb()
    finally:
        if server is not None:
            server.stop()
        mem.close()
    out["load_at_end"] = load()
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out
