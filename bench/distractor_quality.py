"""recall-bench among distractors: quality, latency and Postgres CPU of recall variants, A/B in one run.

    python -m bench.distractor_quality --data /tmp/me-var100k --copy-from /work/var100k \\
        --variant base: --variant ef64:ef_search=64 [--rounds 1] [--stmt-cpu 200] [--drop]

recall-bench's 196 runbook fixes (/work/shared/data/recall-bench.jsonl, read in place)
are remembered into a filled data dir (the 100k varied distractors of `bench.recall_speed
--corpus varied`), and every query goes through `Memory.recall` k=5. Each variant is a
set of knobs (below) applied before its query; the variants alternate query by query
(rotated: each goes first equally often) so load on a shared machine falls on all alike, and
each gets its own trailing spaces so the embedder's cache never answers. Per variant:
hard R@1 / R@5 / MRR@10, paraphrase and easy R@1 / R@5, recall p50/p99 and stage p50s,
and the Postgres CPU per recall (the server tree's run time from /proc/<pid>/schedstat,
ns resolution). Queries whose relevant fix moves between variants are listed.

`--stmt-cpu N` also runs the two statements of a recall alone, N calls each per
variant, alternating: the kNN leg (k=50) and the keyword leg with its statistics, each
call's Postgres CPU measured around it, and how many of the kNN's 10 / 50 ids an
ef_search of 1000 also returns (knn_overlap@10/@50: what a smaller ef_search loses).
`--answers N` counts the varied corpus' queries (N of them) whose top 5 under each
variant differ from the first variant's.

The data dir is written to: `--data` must be a throwaway copy (`--copy-from SRC`
makes it when it does not exist; SRC is only read; `--prewarm` adds pg_prewarm to it). The 196 fixes are deleted again
at the end, so the copy is back to its distractors; `--drop` removes the copy.

Knobs: ef_search (pgvector.EF_SEARCH and `hnsw.ef_search` on every pooled
connection), per_term (pgvector.PER_TERM), max_terms (pgvector.MAX_TERMS), enrich
(recall.ENRICH), candidates (recall.CANDIDATES).
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from bench.corpus import open_memory
from bench.measure import emit, load, machine, summary
from bench.recall_quality import DATA, score, slices
from bench.recall_quality import load as load_bench
from bench.recall_speed import _queries
from bench.search_variants import keyword_with_stats
from obsmem import recall as rc
from obsmem.stores import pgvector as pv

OUT = Path(__file__).with_name("out") / "distractor_quality.json"
KNOBS: dict[str, tuple[Any, str]] = {
    "ef_search": (pv, "EF_SEARCH"),
    "per_term": (pv, "PER_TERM"),
    "max_terms": (pv, "MAX_TERMS"),
    "enrich": (rc, "ENRICH"),
    "candidates": (rc, "CANDIDATES"),
}
EXACT_EF = 1000  # the kNN reference for `--stmt-cpu`'s overlap figures (pgvector's maximum)
DEFAULTS = {k: getattr(mod, attr) for k, (mod, attr) in KNOBS.items()}


@dataclass
class Variant:
    name: str
    knobs: dict[str, int]
    ranked: dict[str, list[str]] = field(default_factory=dict)
    lat: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    pg_ms: list[float] = field(default_factory=list)
    py_ms: list[float] = field(default_factory=list)
    stmt: dict[str, list[float]] = field(default_factory=dict)


def parse_variant(spec: str) -> Variant:
    """`name:knob=value,knob=value` (an empty knob list is the code as it is)."""
    name, _, rest = spec.partition(":")
    knobs: dict[str, int] = {}
    for part in filter(None, rest.split(",")):
        key, _, value = part.partition("=")
        if key not in KNOBS:
            raise SystemExit(f"unknown knob {key!r}; known: {', '.join(KNOBS)}")
        knobs[key] = int(value)
    return Variant(name or "base", knobs)


def _pg_pids(data: Path) -> list[int]:
    root = psutil.Process(int((data / "postgres" / "postmaster.pid").read_text().split()[0]))
    return [root.pid, *(c.pid for c in root.children(recursive=True))]


def _pg_cpu_ns(data: Path) -> int:
    """Run time of the Postgres tree so far (ns); backends that ended are not counted."""
    total = 0
    for pid in _pg_pids(data):
        with contextlib.suppress(OSError):
            total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[0])
    return total


class Knobs:
    """Applies a variant's settings: module constants, and ef_search on each pooled connection."""

    def __init__(self, mem: Any):
        self.pool = mem.manager.vectors._pool  # bench only: the store's psycopg pool
        self.ef = DEFAULTS["ef_search"]

    def apply(self, v: Variant) -> None:
        want = {**DEFAULTS, **v.knobs}
        for key, (mod, attr) in KNOBS.items():
            setattr(mod, attr, want[key])  # new connections get EF_SEARCH from _configure
        if want["ef_search"] != self.ef:
            self._set_ef(want["ef_search"])
            self.ef = want["ef_search"]

    def _set_ef(self, ef: int) -> None:
        # Between recalls no connection is checked out: taking pool_size of them takes
        # every idle one, and each gets the setting its session keeps.
        n = self.pool.get_stats().get("pool_size", 0)
        with contextlib.ExitStack() as stack:
            conns = [stack.enter_context(self.pool.connection()) for _ in range(n)]
            for c in conns:
                c.execute("SELECT set_config('hnsw.ef_search', %s, false)", (str(ef),))


HOT = ("fixes_embedding_hnsw", "fix_terms_term_impact", "fixes", "term_df")  # what recall reads


def _prewarm(mem: Any) -> dict[str, int]:
    """Read recall's relations into shared_buffers (pg_prewarm): the steady state of a server
    that has answered many recalls, without waiting for it (what does not fit is evicted)."""
    with mem.manager.vectors._pool.connection() as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        return {
            rel: int(conn.execute("SELECT pg_prewarm(%s)", (rel,)).fetchone()[0]) for rel in HOT
        }


def _order(variants: list[Variant], i: int) -> list[Variant]:
    """Rotated: each variant goes first equally often. The first to run a query pays for
    reading its index pages into shared_buffers (kNN CPU 1.8 vs 1.2 ms for the same
    ef_search measured first or third), so a plain reversal biased the middle ones."""
    j = i % len(variants)
    return variants[j:] + variants[:j]


def _store_fixes(mem: Any, fixes: list[dict[str, Any]]) -> dict[str, str]:
    stored = mem.remember_many([{"issue": f["issue"], "solution": f["solution"]} for f in fixes])
    if not mem.drain(120):
        raise SystemExit("the recall-bench fixes did not reach both stores")
    return {r.id: f["id"] for r, f in zip(stored, fixes, strict=True)}


def _quality_pass(
    mem: Any,
    data: Path,
    knobs: Knobs,
    variants: list[Variant],
    queries: list[dict[str, Any]],
    to_bench: dict[str, str],
    r: int,
) -> None:
    for i, q in enumerate(queries):
        for v in _order(variants, i + r):
            knobs.apply(v)
            pad = " " * (1 + r * len(variants) + variants.index(v))  # never an embedder cache hit
            pg0, py0 = _pg_cpu_ns(data), time.process_time()
            t = time.perf_counter()
            res = mem.recall(q["query"] + pad, k=5)
            v.lat.append((time.perf_counter() - t) * 1000)
            v.py_ms.append((time.process_time() - py0) * 1000)
            v.pg_ms.append((_pg_cpu_ns(data) - pg0) / 1e6)
            for s, x in res.timings_ms.items():
                v.stages.setdefault(s, []).append(x)
            if r == 0:
                v.ranked[q["qid"]] = [to_bench.get(h.fix.id, h.fix.id) for h in res]


def _stmt_cpu(
    mem: Any, data: Path, knobs: Knobs, variants: list[Variant], texts: list[str], n: int
) -> None:
    """Postgres CPU of each leg alone: the kNN statement and the keyword leg with statistics."""
    store = mem.manager.vectors
    emb = mem.manager.embedder
    vecs = [emb.embed_query(t) for t in texts]
    legs: dict[str, Callable[[int], Any]] = {
        "knn": lambda i: store.knn(vecs[i], rc.CANDIDATES),
        "keyword": lambda i: keyword_with_stats(store, texts[i], rc.CANDIDATES),
    }
    exact: dict[int, list[str]] = {}
    knobs.apply(Variant("exact", {"ef_search": EXACT_EF}))
    for qi in range(min(n, len(texts))):
        exact[qi] = [fid for fid, _ in legs["knn"](qi)]
    for i in range(n):
        qi = i % len(texts)
        for v in _order(variants, i):
            knobs.apply(v)
            for leg, call in legs.items():
                pg0 = _pg_cpu_ns(data)
                got = call(qi)
                v.stmt.setdefault(leg, []).append((_pg_cpu_ns(data) - pg0) / 1e6)
                if leg == "knn" and i < len(texts):
                    ids = [fid for fid, _ in got]
                    for depth in (10, rc.CANDIDATES):
                        same = len(set(ids[:depth]) & set(exact[qi][:depth]))
                        v.stmt.setdefault(f"knn_overlap@{depth}", []).append(same / depth)


def _answers(mem: Any, knobs: Knobs, variants: list[Variant], texts: list[str]) -> dict[str, int]:
    """How many of these queries get other top-5 ids than under the first variant (no ground
    truth: the varied corpus' own queries, where the kNN leg's approximation shows)."""
    top: dict[str, list[list[str]]] = {v.name: [] for v in variants}
    for i, t in enumerate(texts):
        for v in _order(variants, i):
            knobs.apply(v)
            top[v.name].append([h.fix.id for h in mem.recall(t + " " * (7 + variants.index(v)))])
    first = top[variants[0].name]
    return {name: sum(a != b for a, b in zip(first, got, strict=True)) for name, got in top.items()}


def _moves(variants: list[Variant], queries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Queries whose relevant fix has a different rank (top 10, None = not there) across variants."""
    out = []
    for q in queries:
        ranks = {}
        for v in variants:
            top = v.ranked[q["qid"]][:10]
            ranks[v.name] = next((n + 1 for n, fid in enumerate(top) if fid in q["relevant"]), None)
        if len(set(ranks.values())) > 1:
            out.append({"qid": q["qid"], "variant": q["variant"], "rank": ranks})
    return out


def _copy(src: Path, dst: Path) -> None:
    print(f"copying {src} -> {dst}", flush=True)
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="a throwaway copy of a filled root")
    ap.add_argument("--copy-from", type=Path, help="make --data as a copy of this root first")
    ap.add_argument("--variant", action="append", default=[], help="name:knob=value,...")
    ap.add_argument("--rounds", type=int, default=1, help="passes over the queries (timing)")
    ap.add_argument("--stmt-cpu", type=int, default=0, help="calls per leg per variant")
    ap.add_argument(
        "--stmt-queries",
        choices=("bench", "varied"),
        default="bench",
        help="--stmt-cpu's queries: recall-bench's, or the varied corpus' (the distractors' own)",
    )
    ap.add_argument(
        "--answers", type=int, default=0, help="varied queries whose top 5 are compared"
    )
    ap.add_argument(
        "--prewarm", action="store_true", help="pg_prewarm recall's relations first (writes)"
    )
    ap.add_argument("--drop", action="store_true", help="remove --data at the end")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args(argv)
    variants = [parse_variant(s) for s in args.variant or ["base:"]]
    if len({v.name for v in variants}) != len(variants):
        raise SystemExit("variant names must differ")
    if not args.data.exists():
        if args.copy_from is None:
            raise SystemExit(f"{args.data} does not exist; pass --copy-from SRC to make it")
        _copy(args.copy_from, args.data)
    data = args.data / "data"
    fixes, queries = load_bench(DATA)
    info: dict[str, Any] = {
        "machine": machine(),
        "args": {k: str(x) for k, x in vars(args).items()},
    }
    mem = open_memory(args.data)
    to_bench: dict[str, str] = {}
    try:
        info["distractors"] = mem.count_fixes()
        to_bench = _store_fixes(mem, fixes)
        mem.manager.embedder.warm()
        if args.prewarm:
            info["prewarmed_blocks"] = _prewarm(mem)
        knobs = Knobs(mem)
        for q in queries[:20]:  # warm the caches and buffers every variant reads
            for v in variants:
                knobs.apply(v)
                mem.recall(q["query"], k=5)
        info["load_before"] = load()
        for r in range(args.rounds):
            _quality_pass(mem, data, knobs, variants, queries, to_bench, r)
        if args.stmt_cpu:
            texts = (
                [q["query"] for q in queries]
                if args.stmt_queries == "bench"
                else _queries("varied", args.stmt_cpu, 100_000, 0)
            )
            _stmt_cpu(mem, data, knobs, variants, texts, args.stmt_cpu)
        if args.answers:
            info["top5_differs_from_first"] = _answers(
                mem, knobs, variants, _queries("varied", args.answers, 100_000, 1)
            ) | {"of": args.answers}
        info["load_after"] = load()
        knobs.apply(Variant("reset", {}))
    finally:
        with contextlib.suppress(Exception):
            if to_bench:
                mem.delete_fixes(list(to_bench))
                mem.drain(60)
        mem.close()
        if args.drop:
            shutil.rmtree(args.data, ignore_errors=True)
    sl = slices(queries)
    info["variants"] = {
        v.name: {
            "knobs": {**DEFAULTS, **v.knobs},
            "quality": {name: score(v.ranked, sel) for name, sel in sl.items()},
            "recall_ms": summary(v.lat),
            "stage_p50": {s: summary(x)["p50"] for s, x in v.stages.items()},
            "pg_cpu_ms_per_recall": round(sum(v.pg_ms) / len(v.pg_ms), 3),
            "py_cpu_ms_per_recall": round(sum(v.py_ms) / len(v.py_ms), 3),
            "stmt_pg_cpu_ms": {
                leg: {"mean": round(sum(x) / len(x), 3), "p50": summary(x)["p50"]}
                for leg, x in v.stmt.items()
                if not leg.startswith("knn_overlap")
            },
            "knn_overlap": {
                leg: round(sum(x) / len(x), 4)
                for leg, x in v.stmt.items()
                if leg.startswith("knn_overlap")
            },
        }
        for v in variants
    }
    info["moved"] = _moves(variants, queries)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
