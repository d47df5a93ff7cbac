"""Latency of /api/state and /api/fixes at N fixes (default 10k), over real HTTP.

    .venv/bin/python -m bench.api_state            # 10k fixes, embedded stores in a temp dir
    .venv/bin/python -m bench.api_state --fixes 2000 --requests 100

Bulk-loads N fixes with Memory.remember_many (skipped when the data dir already
holds them), serves the app with waitress on 127.0.0.1 in a thread, then times
sequential requests with one keep-alive session. Writes bench/out/api_state.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

OUT = Path(__file__).resolve().parent / "out"
SERVICES = [
    "payments-api",
    "orders-db",
    "ingress",
    "logging",
    "coredns",
    "search",
    "auth",
    "checkout",
    "kafka",
    "redis-cache",
]
AGENTS = [f"agent-{i}" for i in range(12)]
PROBLEMS = [
    "OOMKilled after deploy",
    "connection pool exhausted",
    "TLS certificate expired",
    "disk full on /var/log",
    "DNS resolution timeouts",
    "p99 latency spike",
    "CrashLoopBackOff on start",
    "replication lag above 30s",
    "5xx rate above 2%",
    "consumer lag growing",
]
FIXES = [
    "raise the memory limit",
    "add pgbouncer",
    "renew the certificate",
    "rotate logs",
    "scale replicas",
    "roll back the release",
    "increase the timeout",
    "restart the leader",
    "add an index",
    "clear the stuck lock",
]


def items(n: int, seed: int = 7) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        svc = rnd.choice(SERVICES)
        out.append(
            {
                "issue": f"{rnd.choice(PROBLEMS)} in {svc} (incident {i}, node {rnd.randint(1, 64)})",
                "solution": f"{rnd.choice(FIXES)} for {svc}; ticket OPS-{10000 + i}",
                "service": svc,
                "agent": rnd.choice(AGENTS),
                "success": rnd.choice([True, True, False, None]),
                "root_cause": rnd.choice(["capacity", "config", "bug", "expiry", None]),
            }
        )
    return out


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def timed(session: Any, url: str, n: int) -> dict[str, float]:
    session.get(url).raise_for_status()  # warm
    ms = []
    for _ in range(n):
        t0 = time.perf_counter()
        resp = session.get(url)
        ms.append((time.perf_counter() - t0) * 1000)
        resp.raise_for_status()
    return {
        "n": n,
        "p50_ms": round(statistics.median(ms), 2),
        "p99_ms": round(pct(ms, 0.99), 2),
        "max_ms": round(max(ms), 2),
        "mean_ms": round(statistics.fmean(ms), 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fixes", type=int, default=10_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="reuse a data dir (kept); default: a temp dir, removed afterwards",
    )
    ap.add_argument(
        "--start-timeout",
        type=float,
        default=180.0,
        help="seconds the embedded FalkorDB may take to replay its AOF on a reused "
        "data dir (obsmem's default of 20 s is too short at 10k fixes)",
    )
    args = ap.parse_args()

    import obsmem.stores.embedded

    obsmem.stores.embedded.START_TIMEOUT_S = max(
        obsmem.stores.embedded.START_TIMEOUT_S, args.start_timeout
    )

    import requests

    from dashboard.app import create_app
    from dashboard.serve import start_in_thread
    from obsmem.config import Settings
    from obsmem.memory import Memory

    tmp = None
    data_dir = args.data_dir
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="obsmem-bench-")
        data_dir = Path(tmp.name)
    memory = Memory.open(Settings(data_dir=data_dir, demo=False))
    try:
        have = memory.count_fixes()
        load_s = 0.0
        if have < args.fixes:
            t0 = time.perf_counter()
            todo = items(args.fixes)[have:]
            for start in range(0, len(todo), 1000):
                memory.remember_many(todo[start : start + 1000], batch_size=256)
                log(
                    f"loaded {have + start + len(todo[start : start + 1000])}/{args.fixes} "
                    f"({time.perf_counter() - t0:.0f} s)"
                )
            memory.drain(120)
            load_s = time.perf_counter() - t0
        for a in AGENTS:
            memory.register_agent(a, server="bench")
        total = memory.count_fixes()
        running = start_in_thread(create_app(memory), "127.0.0.1", 0, threads=4)
        try:
            log(f"{total} fixes; timing requests against {running.url}")
            with requests.Session() as s:
                base = running.url
                results = {
                    "/api/state": timed(s, base + "/api/state", args.requests),
                    "/api/fixes": timed(s, base + "/api/fixes", args.requests),
                    "/api/fixes?limit=100&offset=5000&service=search": timed(
                        s, base + "/api/fixes?limit=100&offset=5000&service=search", args.requests
                    ),
                    "/api/fixes?q=...": timed(
                        s,
                        base + "/api/fixes?q=pool+exhausted+in+orders-db",
                        max(20, args.requests // 4),
                    ),
                    "/health": timed(s, base + "/health", args.requests),
                }
        finally:
            running.stop()
    finally:
        memory.close()
        if tmp is not None:
            tmp.cleanup()
    report = {
        "bench": "api_state",
        "fixes": total,
        "load_seconds": round(load_s, 1),
        "load_rate_per_s": round((args.fixes / load_s) if load_s else 0, 1),
        "server": "waitress, 4 threads, sequential keep-alive client",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "results": results,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    OUT.mkdir(exist_ok=True)
    (OUT / "api_state.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
