"""The server's PSS with the int8 query model: after recalls, and after remembers.

    python -m bench.int8_pss --data COPY_OF_A_DATA_DIR/data [--recalls 200]

For OBSMEM_QUERY_EMBEDDER=fp32 and =int8 in turn, one `obsmem serve` on the data
dir: PSS after `--recalls` distinct recalls, then after 8 concurrent clients (what
bench.serve_speed records; with int8 the fp32 model is not loaded yet), then after
20 HTTP remembers (both models loaded) and another 8-client burst; and the first
remember's latency (it loads the fp32 model) against the median of the others. The remembers stay in the data dir: use a copy.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from bench import repetitive
from bench.api import Server, recall_concurrent, recall_single
from bench.generate import Query
from bench.measure import emit, load, machine


def one(data: Path, precision: str, recalls: int, log: Path) -> dict[str, Any]:
    srv = Server(data, log, extra_env={"OBSMEM_QUERY_EMBEDDER": precision})
    try:
        srv.wait_ready(600)
        qs = [Query(repetitive.query(j, 7) + f" {precision}", 0) for j in range(recalls)]
        out: dict[str, Any] = {"http_single_p50_ms": recall_single(srv.url, qs)["ms"]["p50"]}
        out["pss_mb_after_recalls"] = srv.rss_mb()
        burst = [Query(q.text + " c", 0) for q in qs] + [Query(q.text + " d", 0) for q in qs]
        out["clients8_per_s"] = recall_concurrent(srv.url, burst, clients=8)["throughput_per_s"]
        out["pss_mb_after_8_clients"] = srv.rss_mb()
        ms = []
        with requests.Session() as s:
            for i in range(20):
                t = time.perf_counter()
                r = s.post(srv.url + "/api/remember", timeout=60,
                           json={"issue": f"pss bench issue {precision} {i} {time.time()}",
                                 "solution": f"pss bench fix {i}"})  # fmt: skip
                r.raise_for_status()
                ms.append((time.perf_counter() - t) * 1000)
        out["pss_mb_after_remembers"] = srv.rss_mb()
        again = [Query(q.text + " e", 0) for q in qs] + [Query(q.text + " f", 0) for q in qs]
        recall_concurrent(srv.url, again, clients=8)
        out["pss_mb_after_remembers_and_8_clients"] = srv.rss_mb()
        out["first_remember_ms"] = round(ms[0], 1)
        out["remember_p50_ms_after_first"] = round(statistics.median(ms[1:]), 1)
        return out
    finally:
        srv.stop()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--recalls", type=int, default=200)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    info: dict[str, Any] = {"machine": machine(), "load_before": load()}
    with tempfile.TemporaryDirectory(prefix="obsmem-pss-") as tmp:
        for precision in ("fp32", "int8"):
            info[precision] = one(
                args.data, precision, args.recalls, Path(tmp) / f"{precision}.log"
            )
    info["load_after"] = load()
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
