"""The embedder under concurrent single-text callers: coalesced runs vs one run per caller.

    python -m bench.embed_concurrency --threads 8 --rounds 10 [--precision int8 --intra 1,2]

Eight threads (the server's waitress workers) each embed distinct repetitive-corpus
queries, with no LRU cache in front. Modes, interleaved round by round in one
process so a busy box's load hits them alike: `coalesced` (`_Model.embed_one`,
what `Embedder.embed` uses) and `per_call` (`_Model.encode([text])`, one session
run per caller), for each intra-op thread count in --intra. Also batch-1 serial
latency per mode (a lone caller must not pay for coalescing). With `--precision
int8` (the query model) `embed_one` does not queue: each caller runs its own text at
once, so the modes differ only by the call path. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from bench import repetitive
from bench.measure import load, machine, summary
from obsmem import embed


def _model(intra: int, precision: str) -> Any:
    var = "OBSMEM_QUERY_THREADS" if precision == embed.INT8 else "OBSMEM_EMBED_THREADS"
    old = os.environ.get(var)
    os.environ[var] = str(intra)
    try:
        return embed._Model(embed.default_model_dir(), precision)
    finally:
        if old is None:
            os.environ.pop(var, None)
        else:
            os.environ[var] = old


def _concurrent(fn: Callable[[str], Any], texts: list[str], threads: int) -> tuple[float, float]:
    """(texts per second, process CPU ms per text) with `threads` callers sharing the list.

    CPU per text is the figure a busy box distorts least: wall-clock rates there
    depend on how much of the cores the other jobs leave, which favours whichever
    mode keeps more threads runnable.
    """
    it = iter(texts)
    lock = threading.Lock()

    def worker() -> None:
        while True:
            with lock:
                t = next(it, None)
            if t is None:
                return
            fn(t)

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    t0, c0 = time.perf_counter(), time.process_time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return len(texts) / wall, cpu * 1000 / len(texts)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--per-round", type=int, default=48)
    ap.add_argument("--intra", default="2", help="comma-separated intra-op thread counts")
    ap.add_argument("--precision", choices=embed.PRECISIONS, default=embed.FP32)
    args = ap.parse_args(argv)
    models = {n: _model(n, args.precision) for n in (int(x) for x in args.intra.split(","))}
    modes: dict[str, Callable[[Any, str], Any]] = {
        "coalesced": lambda mdl, t: mdl.embed_one(t),
        "per_call": lambda mdl, t: mdl.encode([t]),
    }
    texts = [repetitive.query(50_000 + j) for j in range(args.rounds * args.per_round)]
    for mdl in models.values():
        for _ in range(5):
            mdl.encode([texts[0]])
    rates: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    serial: dict[str, list[float]] = {}
    info: dict[str, Any] = {"machine": machine(), "args": vars(args)}
    for r in range(args.rounds):
        part = texts[r * args.per_round : (r + 1) * args.per_round]
        for n, mdl in models.items():
            for name, fn in modes.items():
                key = f"{name}_intra{n}"
                rate, cpu_ms = _concurrent(lambda t, f=fn, m=mdl: f(m, t), part, args.threads)
                rates.setdefault(key, []).append(rate)
                cpu.setdefault(key, []).append(cpu_ms)
                for t in part[:8]:
                    t0 = time.perf_counter()
                    fn(mdl, t)
                    serial.setdefault(key, []).append((time.perf_counter() - t0) * 1000)
    info["load_after"] = load()
    info["per_s"] = {k: summary(v) for k, v in rates.items()}
    info["cpu_ms_per_text"] = {k: summary(v) for k, v in cpu.items()}
    info["batch1_serial_ms"] = {k: summary(v) for k, v in serial.items()}
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
