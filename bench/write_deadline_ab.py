"""Postgres writes with the driver-kept write deadline (B, shipped) or without it (A).

    python -m bench.write_deadline_ab --keep /tmp/copy-of-rep10k --writes 300 --rounds 2

One process, one filled data dir (`--keep`, as `bench.recall_speed` leaves it; use a
copy: it gets new fixes), the two modes alternating write by write (which goes
first flips every round). A sets the vector store guard's write timeout to None,
which is the write path before the deadline (no deadline: psycopg waits as long
as the server takes); B gives each round trip 5 s (the `OBSMEM_STORE_TIMEOUT`
default) through `deadline.write_deadline` and `DeadlineConnection.wait`. Timed:
the vector write alone (`vectors.upsert` of one new, already embedded row: the
one-statement path) and a whole `remember` of another new fix (embedding, graph,
Postgres). Prints one JSON document (and `--out FILE`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from bench import repetitive
from bench.corpus import open_memory, write_for
from bench.measure import emit, load, run_info, summary

WARM = 20
FIRST_NEW = 10**7  # item numbers far past any fill, so every write is a new fix


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, required=True, help="a filled data dir (a copy)")
    ap.add_argument("--writes", type=int, default=300, help="per round, both modes together")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    info: dict[str, Any] = run_info(args)
    mem = open_memory(args.keep)
    mgr = mem.manager
    guard: Any = mgr.vectors
    timeouts = {"A": lambda: None, "B": lambda: 5.0}
    upsert: dict[str, list[float]] = {"A": [], "B": []}
    remember: dict[str, list[float]] = {"A": [], "B": []}
    loads = [load()[0]]
    try:
        n = FIRST_NEW
        for item in repetitive.fixes(WARM, seed=7, start=n):
            mem.remember_many([item])
        n += WARM
        for r in range(args.rounds):
            items = list(repetitive.fixes(2 * args.writes, seed=11 + r, start=n))
            n += len(items)
            rows = mgr.vector_rows([write_for(it) for it in items[: args.writes]])
            for i in range(args.writes):
                mode = "AB"[(i + r) % 2]
                guard._write_timeout = timeouts[mode]
                t = time.perf_counter()
                mgr.vectors.upsert([rows[i]])
                upsert[mode].append((time.perf_counter() - t) * 1000)
                t = time.perf_counter()
                got = mem.remember_many([items[args.writes + i]])
                remember[mode].append((time.perf_counter() - t) * 1000)
                assert got[0].pending == (), got  # applied now, not queued
            loads.append(load()[0])
    finally:
        guard._write_timeout = lambda: mgr.settings.store_timeout_s
        mem.close()
    info["load1"] = loads
    for mode, name in (
        ("A", "no write deadline (before)"),
        ("B", "write deadline 5 s per round trip"),
    ):
        info[mode] = {
            "writes": name,
            "vectors_upsert_one_ms": summary(upsert[mode]),
            "remember_ms": summary(remember[mode]),
        }
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
