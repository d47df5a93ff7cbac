"""8 clients on `obsmem serve` with one worker process vs with OBSMEM_WORKERS=2.

    python -m bench.serve_workers --data /tmp/obsmem-rep100k/data --rounds 6 [--workers 2]

Both attach to the same embedded stores (the single server starts them, so its
process tree holds them; the other's tree holds only its Python processes). Each
round sends `--queries` distinct recalls from `--clients` keep-alive clients to
one side, then other distinct recalls to the other (the order alternates), so a
busy box's load hits both alike. Unlike bench.serve_two, the clients do not pick
a server: all connect to one port and the kernel hands each connection to a
worker, as it would in production. Per round, also how busy the two cores were
(/proc/stat). At the end, the PSS of each side: the single
server's process, and the other's parent plus its workers (pages
shared across the fork count once in PSS).
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from bench.api import Server, recall_concurrent
from bench.measure import emit, load, run_info, served_ab_args
from bench.serve_ab import _queries


def _cpu_ticks() -> tuple[int, int]:
    """(all, idle + iowait) jiffies of the machine, from /proc/stat."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return sum(values), values[3] + values[4]


def _pss_mb(procs: list[psutil.Process]) -> float:
    return round(sum(p.memory_full_info().pss for p in procs) / 2**20, 1)


def _python_tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *(c for c in root.children(recursive=True) if "python" in c.name())]


def _all_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 600.0) -> None:
    """Healthy on 20 fresh connections in a row: every worker has warmed up."""
    deadline, streak = time.monotonic() + timeout, 0
    while streak < 20:
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"workers not ready (exit code {proc.poll()})")
        try:
            ok = requests.get(url + "/health", timeout=10).status_code == 200
        except requests.RequestException:
            ok = False
        streak = streak + 1 if ok else 0
        if not ok:
            time.sleep(0.3)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    served_ab_args(ap, queries=800, queries_help="per round and side")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    info: dict[str, Any] = run_info(args)
    many = f"workers_{args.workers}"
    rates: dict[str, list[float]] = {"one_process": [], many: []}
    busy: dict[str, list[float]] = {"one_process": [], many: []}  # share of both cores in use
    with tempfile.TemporaryDirectory(prefix="obsmem-workers-") as tmp:
        single = Server(args.data, Path(tmp) / "single.log")
        multi = None
        try:
            single.wait_ready(600)
            multi = Server(
                args.data,
                Path(tmp) / "workers.log",
                extra_env={"OBSMEM_WORKERS": str(args.workers)},
            )
            _all_ready(multi.url, multi.proc)
            sides = [("one_process", single.url), (many, multi.url)]
            for _name, side_url in sides:  # warm both sides' connections and caches
                recall_concurrent(side_url, _queries(200, 900_000), clients=args.clients)
            info["load_before"] = load()
            for r in range(args.rounds):
                for i, (name, side_url) in enumerate(sides if r % 2 == 0 else sides[::-1]):
                    queries = _queries(args.queries, 300_000 + r * 10_000 + i * 5_000)
                    total0, idle0 = _cpu_ticks()
                    out = recall_concurrent(side_url, queries, clients=args.clients)
                    total1, idle1 = _cpu_ticks()
                    rates[name].append(out["throughput_per_s"])
                    busy[name].append(round(1 - (idle1 - idle0) / max(1, total1 - total0), 3))
                print(r, {k: v[-1] for k, v in rates.items()}, flush=True)
            info["pss_mb"] = {
                "one_process": _pss_mb([psutil.Process(single.proc.pid)]),
                many: _pss_mb(_python_tree(multi.proc.pid)),
            }
            info["load_after"] = load()
        finally:
            if multi is not None:
                multi.stop()
            single.stop()
    info["recalls_per_s"] = rates
    info["cores_busy"] = busy
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
