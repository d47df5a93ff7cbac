"""What a second server process would buy: 8 clients on one `obsmem serve`, then 4 + 4 on two.

    python -m bench.serve_two --data /tmp/obsmem-rep100k/data --rounds 6

Both servers attach to the same embedded stores (as in bench.serve_ab). Each round
sends `--queries` distinct recalls as `--clients` concurrent clients to server A
alone, then the same number of other distinct recalls split in halves, half the
clients on each server at once. One process is GIL-bound before the two cores are
full (bench/RESULTS.md, round 5); two processes have two GILs. Each server's PSS is
reported at the end: a multi-worker server would count both.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from bench.api import Server, recall_concurrent
from bench.measure import emit, load, run_info, served_ab_args
from bench.serve_ab import _queries


def _rate(url_parts: list[tuple[str, list[Any]]], clients_each: int) -> float:
    """Recalls/s of all parts sent at once, each to its own server."""
    n = sum(len(part) for _, part in url_parts)
    threads = [
        threading.Thread(
            target=recall_concurrent, args=(url, part), kwargs={"clients": clients_each}
        )
        for url, part in url_parts
    ]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return n / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    served_ab_args(ap, queries=800, queries_help="per round and side")
    args = ap.parse_args(argv)
    info: dict[str, Any] = run_info(args)
    rates: dict[str, list[float]] = {"one_process": [], "two_processes": []}
    with tempfile.TemporaryDirectory(prefix="obsmem-two-") as tmp:
        a = Server(args.data, Path(tmp) / "a.log")
        b = None
        try:
            a.wait_ready(600)
            b = Server(args.data, Path(tmp) / "b.log")
            b.wait_ready(600)
            info["load_before"] = load()
            for r in range(args.rounds):
                one = _queries(args.queries, 300_000 + r * 10_000)
                two = _queries(args.queries, 400_000 + r * 10_000)
                rates["one_process"].append(round(_rate([(a.url, one)], args.clients), 1))
                half = max(1, args.clients // 2)
                rates["two_processes"].append(
                    round(_rate([(a.url, two[0::2]), (b.url, two[1::2])], half), 1)
                )
                print(r, rates["one_process"][-1], rates["two_processes"][-1], flush=True)
            info["pss_mb"] = [
                round(psutil.Process(s.proc.pid).memory_full_info().pss / 2**20, 1) for s in (a, b)
            ]
            info["load_after"] = load()
        finally:
            for s in (b, a):
                if s is not None:
                    s.stop()
    info["recalls_per_s"] = rates
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
