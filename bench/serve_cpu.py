"""Where the CPU goes while `obsmem serve` answers 8 concurrent recall clients.

    python -m bench.serve_cpu --data /tmp/serve-rep100k/data --queries 400 [--py-spy 15]

On 2 cores the recall rate is bounded by CPU per request, summed over every
process that works for it. This starts a real server (bench.api.Server) on a
filled data dir, sends `--queries` distinct recalls from `--clients` keep-alive
clients, and divides each process group's user+system CPU delta (psutil reads
/proc/<pid>/stat) by the requests served: the server's Python, the Postgres
backends (postmaster and all its children), FalkorDB's redis-server, and this
process (the benchmark's clients). With `--py-spy SECONDS` a second load phase
runs under `py-spy record --native --idle` and the server's samples are split
into coarse buckets (bench.serve_profile) — sampling slows the server, so its
rate is not the one to quote; the CPU split comes from the unprofiled phase.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench import repetitive
from bench.api import Server, recall_concurrent
from bench.generate import Query
from bench.measure import emit, load, run_info

RATE = 100  # py-spy samples per second and thread


def _group_cpu(pids: list[int]) -> dict[int, float]:
    out: dict[int, float] = {}
    for pid in pids:
        try:
            t = psutil.Process(pid).cpu_times()
        except psutil.Error:
            continue
        out[pid] = float(t.user + t.system)
    return out


def _postgres_pids(data: Path) -> list[int]:
    lines = (data / "postgres" / "postmaster.pid").read_text().splitlines()
    root = psutil.Process(int(lines[0]))
    return [root.pid, *(c.pid for c in root.children(recursive=True))]


def _falkordb_pids(data: Path) -> list[int]:
    return [int((data / "run" / "falkordb.pid").read_text().split()[0])]


def _groups(data: Path, server_pid: int) -> dict[str, list[int]]:
    return {
        "server": [server_pid],
        "postgres": _postgres_pids(data),
        "falkordb": _falkordb_pids(data),
        "client": [psutil.Process().pid],
    }


def _queries(n: int, start: int) -> list[Query]:
    return [Query(repetitive.query(start + j), -1) for j in range(n)]


def cpu_split(
    url: str, data: Path, server_pid: int, queries: list[Query], clients: int
) -> dict[str, Any]:
    """Run the load once; CPU ms per request for each process group, and the rate."""
    before = {g: _group_cpu(p) for g, p in _groups(data, server_pid).items()}
    t0 = time.perf_counter()
    conc = recall_concurrent(url, queries, clients=clients)
    wall = time.perf_counter() - t0
    after = {g: _group_cpu(p) for g, p in _groups(data, server_pid).items()}
    n = conc["ms"]["n"]
    per_req = {
        g: round(sum(v - before[g].get(pid, 0.0) for pid, v in after[g].items()) * 1000 / n, 2)
        for g in after
    }
    per_req["total"] = round(sum(per_req.values()), 2)
    return {
        "cpu_ms_per_recall": per_req,
        "cpu_busy_share": round(per_req["total"] * n / 1000 / wall / (psutil.cpu_count() or 1), 3),
        "throughput_per_s": conc["throughput_per_s"],
        "ms": conc["ms"],
        "load1": load()[0],
    }


def _profile(url: str, pid: int, seconds: float, raw: Path, clients: int, gil: bool) -> int:
    """Keep the load on while py-spy samples the server; returns the recalls served meanwhile.

    `gil`: only the thread holding the GIL is sampled (what the interpreter's one lock
    is busy with); else every thread, idle ones too (who waits for what).
    """
    spy_bin = Path(__file__).resolve().parents[1] / ".venv" / "bin" / "py-spy"
    mode = ["--gil"] if gil else ["--idle"]
    stop = threading.Event()
    served = [0]

    def load_loop() -> None:
        start = 300_000 + (50_000 if gil else 0)
        while not stop.is_set():
            out = recall_concurrent(url, _queries(clients * 10, start), clients=clients)
            served[0] += out["ms"]["n"]
            start += clients * 10

    th = threading.Thread(target=load_loop, daemon=True)
    th.start()
    time.sleep(1.0)
    before = served[0]
    subprocess.run(
        [
            str(spy_bin),
            "record",
            "--native",
            *mode,
            "--threads",
            "-r",
            str(RATE),
            "-d",
            str(int(seconds)),
            "-f",
            "raw",
            "-o",
            str(raw),
            "-p",
            str(pid),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        timeout=seconds + 120,
        check=True,
    )
    n = served[0] - before
    stop.set()
    th.join(120)
    return n


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=400)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--py-spy", type=float, default=0.0, metavar="SECONDS")
    ap.add_argument("--keep-profile", type=Path, default=None)
    ap.add_argument("--code", type=Path, default=None, help="run the server from this checkout")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    info: dict[str, Any] = run_info(args)
    with tempfile.TemporaryDirectory(prefix="obsmem-cpu-") as tmp:
        srv = Server(args.data, Path(tmp) / "serve.log", code_dir=args.code)
        try:
            srv.wait_ready(600)
            recall_concurrent(srv.url, _queries(args.clients * 4, 900_000), clients=args.clients)
            info["load_before"] = load()
            info["rounds"] = [
                cpu_split(
                    srv.url,
                    args.data,
                    srv.proc.pid,
                    _queries(args.queries, 10_000 + r * args.queries),
                    args.clients,
                )
                for r in range(args.rounds)
            ]
            if args.py_spy:
                from bench.serve_profile import buckets

                where = args.keep_profile or Path(tmp)
                where.mkdir(parents=True, exist_ok=True)
                for gil in (True, False):
                    raw = where / ("gil.collapsed" if gil else "all.collapsed")
                    n = _profile(srv.url, srv.proc.pid, args.py_spy, raw, args.clients, gil)
                    prof = buckets(raw.read_text(), gil=gil)
                    prof["recalls_meanwhile"] = n
                    prof["seconds"] = args.py_spy
                    prof["sample_hz"] = RATE
                    info["server_profile_gil" if gil else "server_profile_all"] = prof
            info["load_after"] = load()
        finally:
            srv.stop()
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
