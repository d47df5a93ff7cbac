"""`obsmem serve` as a user meets it: time to healthy, first recall, HTTP recall, PSS, CLI wall time.

    python -m bench.serve_speed --data /tmp/obsmem-speed/data --queries 200

Runs against a data dir that `bench.recall_speed --keep DIR` filled (its `data/`).
Starts a real server subprocess (bench.api.Server), waits for /health 200 (the
server warms the embedder before it says so), then measures the first recall,
single-client recall (client time and overhead above the server's own recall
time), 8 concurrent clients, the server's PSS after all that, and the wall time
of `obsmem recall` / `obsmem remember` processes while the server runs (they
attach to its embedded stores). Prints one JSON document.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from bench import repetitive
from bench.api import Server, recall_concurrent, recall_single
from bench.measure import emit, load, run_info, summary


@dataclass(frozen=True)
class _Q:
    text: str


def _cli(data: Path, *args: str) -> float:
    env = {**os.environ, "OBSMEM_DATA_DIR": str(data), "OBSMEM_DEMO": "0"}
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "obsmem.cli", *args], env=env, check=True, capture_output=True
    )
    return (time.perf_counter() - t) * 1000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--cli-runs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    qs = [_Q(repetitive.query(10_000 + j)) for j in range(args.queries)]
    info: dict[str, Any] = run_info(args)
    with tempfile.TemporaryDirectory(prefix="obsmem-serve-") as tmp:
        t0 = time.perf_counter()
        srv = Server(args.data, Path(tmp) / "serve.log")
        try:
            srv.wait_ready(600)
            info["start_to_healthy_s"] = round(time.perf_counter() - t0, 2)
            with requests.Session() as s:
                t = time.perf_counter()
                s.post(
                    srv.url + "/api/recall",
                    json={"query": "first: gateway TLS handshake failures"},
                    timeout=60,
                )
                info["first_recall_ms"] = round((time.perf_counter() - t) * 1000, 2)
            info["load_before"] = load()
            info["http_single"] = recall_single(srv.url, qs)
            info["http_8_clients"] = recall_concurrent(
                srv.url,
                [_Q(f"{q.text} c{r}") for r in range(2) for q in qs],  # all distinct: no cache hits
                clients=8,
            )
            info["server_pss_mb"] = srv.rss_mb()
            info["cli_recall_ms"] = summary(
                [
                    _cli(args.data, "recall", f"checkout p99 latency spike {i}")
                    for i in range(args.cli_runs)
                ]
            )
            info["cli_remember_ms"] = summary(
                [
                    _cli(args.data, "remember", f"cli bench issue {i}", f"cli bench fix {i}")
                    for i in range(args.cli_runs)
                ]
            )
            info["load_after"] = load()
        finally:
            srv.stop()
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
