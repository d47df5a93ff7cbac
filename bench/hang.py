"""Latency while a store hangs (SIGSTOP): /api/state, /api/fixes, the overview page and a remember.

    .venv/bin/python -m bench.hang                      # 1000 fixes, 200 requests per endpoint
    .venv/bin/python -m bench.hang --fixes 500 --requests 100

Embedded stores in a temp dir, the app served by waitress on 127.0.0.1 in a thread.
For each store: time the endpoints healthy, then SIGSTOP the store's processes
(Postgres: postmaster and every backend), time the first request (the one that
meets the hang and opens the breaker) and then `--requests` more, then SIGCONT.
Target (issue 15): p99 of /api/state and /api/fixes <= 300 ms after the first request.
Writes bench/out/hang.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench.api_state import items, pct

OUT = Path(__file__).resolve().parent / "out"
ENDPOINTS = ("/api/state", "/api/fixes", "/")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def summary(ms: list[float]) -> dict[str, float]:
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 2), "p99_ms": round(pct(ms, 0.99), 2),
            "max_ms": round(max(ms), 2)}  # fmt: skip


def timed(call: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()
        out.append((time.perf_counter() - t0) * 1000)
    return out


@contextlib.contextmanager
def process_tree_stopped(pid: int | None) -> Iterator[None]:
    """A server (and, for Postgres, every backend) SIGSTOPped, SIGCONT afterwards."""
    import psutil

    assert pid is not None
    main = psutil.Process(pid)
    procs = [main, *main.children(recursive=True)]
    for p in procs:
        os.kill(p.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGCONT)


@contextlib.contextmanager
def stopped(memory: Any, store: str) -> Iterator[None]:
    emb = memory.manager.embedded
    pid = emb.falkor.pid() if store == "graph" else emb.postgres.pid()
    with emb.supervision_paused(), process_tree_stopped(pid):
        yield
    deadline = time.monotonic() + 60
    while memory.manager.is_down(store) and time.monotonic() < deadline:
        time.sleep(0.2)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixes", type=int, default=1000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--writes", type=int, default=30)
    args = ap.parse_args()

    import requests

    from dashboard.app import create_app
    from dashboard.serve import start_in_thread
    from obsmem.config import Settings
    from obsmem.memory import Memory

    tmp = tempfile.TemporaryDirectory(prefix="obsmem-hang-")
    memory = Memory.open(Settings(data_dir=Path(tmp.name), demo=False))
    results: dict[str, Any] = {}
    try:
        memory.remember_many(items(args.fixes), batch_size=256)
        memory.drain(120)
        for i in range(6):
            memory.register_agent(f"agent-{i}", server="bench")
        running = start_in_thread(create_app(memory), "127.0.0.1", 0, threads=4)
        n = 0

        def remember() -> None:
            nonlocal n
            n += 1
            memory.remember(
                f"hang bench write {n}: queue lag on topic {n}", f"scale consumers to {n % 9 + 2}"
            )

        try:
            with requests.Session() as s:
                base = running.url

                def get(path: str) -> Any:
                    return lambda: s.get(base + path).raise_for_status()

                for path in ENDPOINTS:
                    get(path)()
                results["healthy"] = {p: summary(timed(get(p), args.requests)) for p in ENDPOINTS}
                results["healthy"]["remember"] = summary(timed(remember, args.writes))
                log(f"healthy: {json.dumps(results['healthy'])}")
                for store in ("graph", "vectors"):
                    with stopped(memory, store):
                        first = timed(get("/api/state"), 1)[0]
                        after = {p: summary(timed(get(p), args.requests)) for p in ENDPOINTS}
                        after["remember (queued)"] = summary(timed(remember, args.writes))
                        health = s.get(base + "/health").json()["stores"][store]
                    results[f"{store} SIGSTOP"] = {"first_request_ms": round(first, 1), **after,
                                                   "health_state": health["state"]}  # fmt: skip
                    log(f"{store} SIGSTOP: {json.dumps(results[f'{store} SIGSTOP'])}")
                    memory.drain(60)
        finally:
            running.stop()
    finally:
        memory.close()
        if memory.manager.embedded is not None:
            memory.manager.embedded.stop(force=True)
        tmp.cleanup()
    report = {
        "bench": "hang", "fixes": args.fixes, "requests": args.requests,
        "read_timeout_s": Settings().read_timeout_s,
        "server": "waitress, 4 threads, sequential keep-alive client",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "load_at_end": os.getloadavg(), "results": results,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    OUT.mkdir(exist_ok=True)
    (OUT / "hang.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
