"""Two `obsmem serve` processes side by side on one data dir, measured in alternation.

    python -m bench.serve_ab --data /work/h2-rep10k/data --a /tmp/obsmem-main --rounds 6

On a box shared with other jobs, figures from separate runs minutes apart say
more about the neighbours than about the code. Here server A (the checkout in
`--a`, e.g. `git archive main | tar -x -C /tmp/obsmem-main`; or this checkout with
`--a-env`) and server B (this checkout, with `--b-env`) both attach to the same
embedded stores, and each round measures A then B (B then A on odd rounds) with
the same queries: one client one request at a time (latency, and the overhead
above the server's own recall time), then `--clients` concurrent clients
(throughput), and the server's CPU per recall (user+sys of its process and its worker
processes, from /proc: the figure a busy box distorts least) and the embedded stores'
(Postgres, FalkorDB: shared by both servers, but only one side runs at a time, so the
delta over its run is its own), its context switches per recall (the server process's
threads alive at both ends of the run) and its threads.
Also each server's first recall after /health said healthy, and its PSS at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil
import requests

from bench import repetitive
from bench.api import Server, recall_concurrent, recall_single
from bench.generate import Query
from bench.measure import emit, load, run_info, served_ab_args, summary
from bench.serve_cpu import _falkordb_pids, _group_cpu, _postgres_pids


def _env(pairs: list[str]) -> dict[str, str]:
    return dict(p.split("=", 1) for p in pairs)


def _server_cpu(pid: int, data: Path) -> dict[int, float]:
    """CPU seconds of the server process and its worker processes (OBSMEM_WORKERS), by pid;
    the embedded stores, children of whichever server started them, are not in it."""
    try:
        tree = [pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))]
    except psutil.Error:
        tree = [pid]
    stores = set(_postgres_pids(data)) | set(_falkordb_pids(data))
    return _group_cpu([p for p in tree if p not in stores])


def _cpu_ms(before: dict[int, float], after: dict[int, float], n: int) -> float:
    """CPU ms per recall between two `_server_cpu` readings (a worker forked meanwhile counts
    whole)."""
    return sum(v - before.get(p, 0.0) for p, v in after.items()) * 1000 / n


def _store_cpu(data: Path) -> dict[str, dict[int, float]]:
    """CPU seconds of each process of the two embedded stores, by pid."""
    return {
        "postgres": _group_cpu(_postgres_pids(data)),
        "falkordb": _group_cpu(_falkordb_pids(data)),
    }


def _store_cpu_ms(data: Path, before: dict[str, dict[int, float]], n: int) -> dict[str, float]:
    """Each store's CPU ms per recall since `before`: both servers share the stores, and
    only one side runs at a time, so the delta over a side's run is that side's."""
    after = _store_cpu(data)
    return {
        store: sum(v - before[store].get(pid, 0.0) for pid, v in after[store].items()) * 1000 / n
        for store in after
    }


def _switches(pid: int) -> int:
    """Context switches (voluntary + not) of the process's live threads: hand-offs show here."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        with contextlib.suppress(OSError):
            for line in status.read_text().splitlines():
                if "ctxt_switches:" in line:
                    total += int(line.split()[1])
    return total


def _queries(n: int, start: int) -> list[Query]:
    return [Query(repetitive.query(start + j), -1) for j in range(n)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    served_ab_args(ap, queries=60, queries_help="per round, single client")
    ap.add_argument("--a", type=Path, default=None, help="code dir of server A (default: this)")
    ap.add_argument("--a-env", action="append", default=[], metavar="VAR=VALUE")
    ap.add_argument("--b-env", action="append", default=[], metavar="VAR=VALUE")
    args = ap.parse_args(argv)
    info: dict[str, Any] = run_info(args)
    sides = {"A": (args.a, _env(args.a_env)), "B": (None, _env(args.b_env))}
    raw: dict[str, dict[str, list[float]]] = {s: {} for s in sides}
    with tempfile.TemporaryDirectory(prefix="obsmem-ab-") as tmp:
        servers: dict[str, Server] = {}
        try:
            for name, (code, env) in sides.items():
                srv = servers[name] = Server(
                    args.data, Path(tmp) / f"{name}.log", code_dir=code, extra_env=env
                )
                srv.wait_ready(600)
                with requests.Session() as s:
                    t = time.perf_counter()
                    s.post(
                        srv.url + "/api/recall", json={"query": "first: gateway TLS"}, timeout=60
                    )
                    raw[name]["first_recall_ms"] = [(time.perf_counter() - t) * 1000]
            info["load_before"] = load()
            for r in range(args.rounds):
                single = _queries(args.queries, 100_000 + r * 1000)
                many = _queries(args.queries * 4, 200_000 + r * 1000)
                for name in ("A", "B") if r % 2 == 0 else ("B", "A"):
                    srv, acc = servers[name], raw[name]
                    one = recall_single(srv.url, single)
                    acc.setdefault("single_p50_ms", []).append(one["ms"]["p50"])
                    acc.setdefault("overhead_p50_ms", []).append(one["overhead_ms"]["p50"])
                    c0, s0 = _server_cpu(srv.proc.pid, args.data), _switches(srv.proc.pid)
                    stores0 = _store_cpu(args.data)
                    conc = recall_concurrent(srv.url, many, clients=args.clients)
                    acc.setdefault("cpu_ms_per_recall", []).append(
                        _cpu_ms(c0, _server_cpu(srv.proc.pid, args.data), len(many))
                    )
                    for store, ms in _store_cpu_ms(args.data, stores0, len(many)).items():
                        acc.setdefault(f"{store}_cpu_ms_per_recall", []).append(ms)
                    acc.setdefault("switches_per_recall", []).append(
                        (_switches(srv.proc.pid) - s0) / len(many)
                    )
                    acc.setdefault("threads", []).append(psutil.Process(srv.proc.pid).num_threads())
                    acc.setdefault("conc_per_s", []).append(conc["throughput_per_s"])
                    acc.setdefault("conc_p50_ms", []).append(conc["ms"]["p50"])
                    acc.setdefault("conc_p99_ms", []).append(conc["ms"]["p99"])
                    acc.setdefault("load1", []).append(load()[0])
                    acc.setdefault("server_errors", []).append(conc.get("server_errors", 0))
            for name, srv in servers.items():
                raw[name]["pss_mb"] = [srv.rss_mb()]
            info["load_after"] = load()
        finally:
            for srv in servers.values():
                srv.stop()
    info["per_round"] = raw
    info["median_of_rounds"] = {
        name: {k: summary(v)["p50"] for k, v in acc.items()} for name, acc in raw.items()
    }
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
