"""Bounded soak: 16 concurrent clients mix recall/remember/feedback against a real `obsmem serve`.

    .venv/bin/python -m bench.soak                 # 5 minutes (the default)
    .venv/bin/python -m bench.soak --seconds 20    # short check

Starts `obsmem serve` as a subprocess on 127.0.0.1 with a fresh data dir
(embedded stores), warms it, runs the clients for --seconds, then reports
throughput, p50/p99 per endpoint, errors (must be 0) and the server's RSS
growth (its whole process tree: obsmem plus the embedded servers it started).
Writes JSON to bench/out/soak-<time>.json. Loopback only, bounded in time.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from bench.crash import free_port

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
MIX = (("recall", 0.6), ("remember", 0.3), ("feedback", 0.1))
TOPICS = [
    "OOMKilled pods in payments",
    "postgres replica lag",
    "TLS certificate expired on ingress",
    "kafka consumer lag after rebalance",
    "DNS timeouts in cluster",
    "disk full on logging node",
    "connection pool exhausted",
    "502 from upstream nginx",
    "redis evictions spike",
    "cron job stuck",
]


def _rss_mb(pid: int) -> float:
    """RSS of the server process (the embedded stores are separate sessions, measured apart)."""
    try:
        return psutil.Process(pid).memory_info().rss / 2**20
    except psutil.Error:
        return 0.0


def _pct(xs: list[float], q: float) -> float | None:
    if not xs:
        return None
    s = sorted(xs)
    return round(s[min(len(s) - 1, int(q * len(s)))], 2)


def _client(
    url: str,
    seed: int,
    stop: threading.Event,
    out: dict[str, list[float]],
    errors: list[str],
    ids: list[str],
    lock: threading.Lock,
    max_requests: int,
) -> None:
    rnd = random.Random(seed)
    s = requests.Session()
    for n in range(max_requests):
        if stop.is_set():
            return
        op = rnd.choices([m for m, _ in MIX], [w for _, w in MIX])[0]
        topic = rnd.choice(TOPICS)
        with lock:
            fid = rnd.choice(ids) if ids else None
        if op == "feedback" and fid is None:
            op = "remember"
        t0 = time.perf_counter()
        try:
            if op == "recall":
                r = s.post(url + "/api/recall", json={"q": f"{topic} again", "k": 5}, timeout=60)
            elif op == "remember":
                r = s.post(
                    url + "/api/remember",
                    timeout=60,
                    json={
                        "issue": f"{topic}: soak client {seed} event {n}",
                        "solution": f"applied runbook step {rnd.randint(1, 40)} for {topic}",
                        "agent": f"soak-{seed}",
                        "service": topic.split()[0],
                    },
                )
            else:
                r = s.post(
                    url + f"/api/fixes/{fid}/feedback",
                    json={"success": rnd.random() < 0.7},
                    timeout=60,
                )
            ms = (time.perf_counter() - t0) * 1000
            if r.status_code >= 400:
                errors.append(f"{op} {r.status_code} {r.text[:150]}")
                continue
            if op == "remember":
                with lock:
                    ids.append(r.json()["id"])
        except requests.RequestException as exc:
            errors.append(f"{op} {type(exc).__name__}: {exc}"[:200])
            continue
        with lock:
            out[op].append(ms)


def soak(seconds: float, clients: int = 16, data_dir: Path | None = None) -> dict[str, Any]:
    tmp = tempfile.TemporaryDirectory(prefix="obsmem-soak-")
    data = data_dir or Path(tmp.name) / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "OBSMEM_DATA_DIR": str(data),
        "OBSMEM_HOST": "127.0.0.1",
        "OBSMEM_PORT": str(port),
        "OBSMEM_DEMO": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    env.pop("OBSMEM_API_TOKEN", None)
    log = open(Path(tmp.name) / "serve.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "obsmem"), "serve"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                if requests.get(url + "/health", timeout=2).ok:
                    break
            except requests.RequestException:
                if proc.poll() is not None:
                    raise RuntimeError("obsmem serve exited during start-up") from None
            time.sleep(0.2)
        seed_ids = [
            requests.post(
                url + "/api/remember",
                timeout=120,
                json={"issue": f"{t}: seeded", "solution": f"the usual fix for {t}"},
            ).json()["id"]
            for t in TOPICS
        ]
        for t in TOPICS[:3]:  # warm: model, pools, caches
            requests.post(url + "/api/recall", json={"q": t, "k": 5}, timeout=120)
        rss0 = _rss_mb(proc.pid)
        stop, lock = threading.Event(), threading.Lock()
        lat: dict[str, list[float]] = {m: [] for m, _ in MIX}
        errors: list[str] = []
        ids = list(seed_ids)
        threads = [
            threading.Thread(
                target=_client, args=(url, i, stop, lat, errors, ids, lock, 1_000_000), daemon=True
            )
            for i in range(clients)
        ]
        t0 = time.monotonic()
        rss_peak = rss0
        for th in threads:
            th.start()
        while time.monotonic() - t0 < seconds:
            time.sleep(min(1.0, seconds))
            rss_peak = max(rss_peak, _rss_mb(proc.pid))
        stop.set()
        for th in threads:
            th.join(120)
        elapsed = time.monotonic() - t0
        rss1 = _rss_mb(proc.pid)
        health = requests.get(url + "/health", timeout=30).json()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()
    total = sum(len(v) for v in lat.values())
    report = {
        "seconds": round(elapsed, 1),
        "clients": clients,
        "requests": total,
        "throughput_rps": round(total / elapsed, 1),
        "endpoints": {
            m: {
                "n": len(v),
                "p50_ms": _pct(v, 0.5),
                "p99_ms": _pct(v, 0.99),
                "rps": round(len(v) / elapsed, 2),
            }
            for m, v in lat.items()
        },
        "errors": len(errors),
        "error_samples": sorted(set(errors))[:10],
        "rss_mb": {
            "start": round(rss0, 1),
            "end": round(rss1, 1),
            "peak": round(rss_peak, 1),
            "growth": round(rss1 - rss0, 1),
        },
        "final_health": health.get("status"),
        "outbox": health.get("outbox", {}).get("total"),
        "load_avg": os.getloadavg(),
        "cpus": os.cpu_count(),
    }
    tmp.cleanup()
    return report


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--clients", type=int, default=16)
    a = ap.parse_args(argv)
    report = soak(a.seconds, a.clients)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"soak-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    print(f"report: {path}")
    return 0 if report["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
