"""CPU per recall at each layer of the served path, one request at a time, in one process.

    python -m bench.serve_layers --data /tmp/serve-rep10k/data --queries 150 --rounds 3

The layers, each with its own distinct queries (no embedding-cache hits), measured
in alternation for `--rounds` rounds (a busy box shifts them all alike):

- `embed`: the embedder alone (`embedder.embed`);
- `recall`: `Memory.recall`;
- `wsgi`: the app `obsmem serve` runs (AccessLog around create_app) called as WSGI
  with a ready-made environ: Flask, the app's hooks, validation, JSON, no server;
- `served` (with `--served`): a real `obsmem serve` subprocess and one keep-alive
  client; its process CPU, so waitress and the socket are in it.

CPU is user+system of the process doing the work (all its threads: the keyword leg
and read threads included) per request, plus Postgres' and FalkorDB's processes
(bench.serve_cpu). Differences between layers are the cost of each layer.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("OBSMEM_EMBED_THREADS", "1")  # what `obsmem serve` runs with

import psutil
import requests

from bench import repetitive
from bench.measure import emit, load, run_info
from bench.serve_cpu import _group_cpu, _groups


def _environ(query: str) -> dict[str, Any]:
    body = json.dumps({"query": query, "k": 5}).encode()
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": "/api/recall",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_ACCEPT": "*/*",
        "HTTP_CONNECTION": "keep-alive",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def _wsgi_call(app: Any, environ: dict[str, Any]) -> None:
    status: list[str] = []
    body = app(environ, lambda s, h, *e: status.append(s))
    b"".join(body)
    if not status or not status[0].startswith("200"):
        raise RuntimeError(f"recall answered {status}")


def _measure(data: Path, server_pid: int, n: int, call: Callable[[int], None]) -> dict[str, float]:
    """CPU ms per call for each process group; `server_pid` is the process doing the work."""
    groups = _groups(data, server_pid)
    groups.pop("client")
    before = {g: _group_cpu(p) for g, p in groups.items()}
    for i in range(n):
        call(i)
    after = {g: _group_cpu(p) for g, p in groups.items()}
    out = {
        g: round(sum(v - before[g].get(pid, 0.0) for pid, v in after[g].items()) * 1000 / n, 3)
        for g in after
    }
    out["total"] = round(sum(out.values()), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=150)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--served", action="store_true", help="also a real server, one client")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    os.environ["OBSMEM_DATA_DIR"] = str(args.data)
    os.environ.setdefault("OBSMEM_DEMO", "0")
    from bench.api import Server
    from dashboard.access_log import AccessLog
    from dashboard.app import create_app
    from obsmem.memory import Memory

    info: dict[str, Any] = run_info(args)
    me = psutil.Process().pid
    rows: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="obsmem-layers-") as tmp, Memory.open() as mem:
        app = AccessLog(create_app(mem))
        srv = Server(args.data, Path(tmp) / "serve.log") if args.served else None
        session = requests.Session()
        try:
            if srv is not None:
                srv.wait_ready(600)
            for i in range(20):  # warm every layer
                mem.recall(repetitive.query(700_000 + i))
                _wsgi_call(app, _environ(repetitive.query(710_000 + i)))
                if srv is not None:
                    session.post(srv.url + "/api/recall", json={"query": f"warm {i}"}, timeout=60)
            info["load_before"] = load()
            n = args.queries
            for r in range(args.rounds):
                base = 1_000_000 + r * 10 * n
                layers: dict[str, tuple[int, Callable[[int], None]]] = {
                    "embed": (me, lambda i, b=base: mem.manager.embedder.embed_query(repetitive.query(b + i))),
                    "recall": (me, lambda i, b=base + n: mem.recall(repetitive.query(b + i))),
                    "wsgi": (me, lambda i, b=base + 2 * n: _wsgi_call(app, _environ(repetitive.query(b + i)))),
                }  # fmt: skip
                if srv is not None:

                    def served(i: int, b: int = base + 3 * n) -> None:
                        session.post(
                            srv.url + "/api/recall",
                            json={"query": repetitive.query(b + i), "k": 5},
                            timeout=60,
                        ).raise_for_status()

                    layers["served"] = (srv.proc.pid, served)
                order = list(layers) if r % 2 == 0 else list(reversed(layers))
                for name in order:
                    pid, call = layers[name]
                    t0 = time.perf_counter()
                    row = _measure(args.data, pid, n, call)
                    row["wall_ms"] = round((time.perf_counter() - t0) * 1000 / n, 3)
                    row["load1"] = load()[0]
                    rows.setdefault(name, []).append(row)
            info["load_after"] = load()
        finally:
            session.close()
            if srv is not None:
                srv.stop()
    info["per_round"] = rows
    info["median"] = {
        name: {k: sorted(r[k] for r in rs)[len(rs) // 2] for k in rs[0]}
        for name, rs in rows.items()
    }
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
