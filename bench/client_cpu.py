"""CPU the agent's side spends per recall: obsmem.client.Client now, before, and the floor.

    python -m bench.client_cpu --data /tmp/serve-rep10k/data --a /tmp/obsmem-main --rounds 4

Starts one real `obsmem serve` (bench.api.Server) and sends distinct recalls, one
at a time, through each client in turn (alternating order per round), measuring
this thread's CPU (time.thread_time) per recall:

- `client`: obsmem.client.Client of this checkout;
- `client_a` (with `--a DIR`): obsmem.client.Client of another checkout, e.g. main;
- `requests`: a bare keep-alive requests.Session (what bench.api used before round 4);
- `http.client`: the standard library on one kept connection, no retries: a floor.

Each answer is decoded from JSON in every variant, as an agent would.
"""

from __future__ import annotations

import argparse
import http.client
import importlib.util
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from bench import repetitive
from bench.api import Server
from bench.measure import emit, load, run_info, summary
from obsmem.client import Client


def _client_class_from(code: Path) -> Any:
    """obsmem.client.Client as another checkout has it (loaded under another module name)."""
    spec = importlib.util.spec_from_file_location("obsmem_client_a", code / "obsmem" / "client.py")
    if spec is None or spec.loader is None:
        raise SystemExit(f"no obsmem/client.py under {code}")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["obsmem_client_a"] = mod
    spec.loader.exec_module(mod)
    return mod.Client


def _variants(url: str, port: int, a: Path | None) -> dict[str, Callable[[str], Any]]:
    client = Client(url, retries=0)
    session = requests.Session()
    conn = http.client.HTTPConnection("127.0.0.1", port)

    def via_requests(q: str) -> Any:
        return session.post(url + "/api/recall", json={"q": q, "k": 5}, timeout=60).json()

    def via_http_client(q: str) -> Any:
        body = json.dumps({"q": q, "k": 5}).encode()
        conn.request("POST", "/api/recall", body, {"Content-Type": "application/json"})
        return json.loads(conn.getresponse().read())

    out: dict[str, Callable[[str], Any]] = {"client": lambda q: client.recall(q, k=5)}
    if a is not None:
        client_a = _client_class_from(a)(url, retries=0)
        out["client_a"] = lambda q: client_a.recall(q, k=5)
    out["requests"] = via_requests
    out["http.client"] = via_http_client
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--a", type=Path, default=None, help="checkout whose Client to compare")
    ap.add_argument("--queries", type=int, default=150, help="per client and round")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    info: dict[str, Any] = run_info(args)
    cpu: dict[str, list[float]] = {}
    wall: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="obsmem-client-cpu-") as tmp:
        srv = Server(args.data, Path(tmp) / "serve.log")
        try:
            srv.wait_ready(600)
            ways = _variants(srv.url, srv.port, args.a)
            for f in ways.values():
                f("warm the connection")
            info["load_before"] = load()
            start = 7_000_000
            for r in range(args.rounds):
                names = list(ways) if r % 2 == 0 else list(reversed(ways))
                for name in names:
                    qs = [repetitive.query(start + j) for j in range(args.queries)]
                    start += args.queries
                    c0, t0 = time.thread_time(), time.perf_counter()
                    for q in qs:
                        ways[name](q)
                    n = len(qs)
                    cpu.setdefault(name, []).append((time.thread_time() - c0) * 1000 / n)
                    wall.setdefault(name, []).append((time.perf_counter() - t0) * 1000 / n)
            info["load_after"] = load()
        finally:
            srv.stop()
    info["cpu_ms_per_recall"] = {k: summary(v) for k, v in cpu.items()}
    info["wall_ms_per_recall"] = {k: summary(v) for k, v in wall.items()}
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
