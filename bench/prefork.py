"""A prototype multi-process `obsmem serve`: load once, fork workers that share one socket.

    OBSMEM_DATA_DIR=... OBSMEM_PORT=... python -m bench.prefork --workers 2

Not the product: it measures what a multi-worker server would cost and buy
(bench.serve_prefork; issue 13's 150 recalls/s with 8 clients, which one process
misses because of its one GIL). The parent imports the app and loads the int8
query model (one intra-op thread, so ONNX Runtime has started no thread), binds
the listening socket, freezes the GC and forks. Each worker opens its own Memory
(the embedded stores are shared: the first process starts them, the others
attach, as with any two obsmem processes on one data dir), warms up and runs
waitress on the inherited socket. The kernel gives each new connection to
whichever worker accepts first. Pages loaded before the fork (the imports, the
model's weights) stay shared until written, so PSS counts them once across the
tree. SIGTERM to the parent stops the workers.

What the product would still need, and this leaves out: a worker that dies is
not restarted, /metrics and the dashboard show one worker's counters, and /health
answers for whichever worker took the connection.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import socket
import sys
import threading
from types import FrameType


def _worker(sock: socket.socket, threads: int) -> None:
    from waitress import create_server

    from dashboard.access_log import AccessLog
    from dashboard.app import create_app
    from dashboard.serve import warm_up
    from obsmem.config import Settings
    from obsmem.memory import Memory

    settings = Settings.from_env()
    memory = Memory.open(settings)
    app = create_app(memory, settings)
    ready = app.extensions["obsmem.ready"] = threading.Event()
    warm_up(memory, ready)
    server = create_server(AccessLog(app), sockets=[sock], threads=threads, ident=None)

    def _stop(signum: int, frame: FrameType | None) -> None:
        server.close()
        memory.close()
        os._exit(0)

    signal.signal(signal.SIGTERM, _stop)
    server.run()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8, help="waitress threads per worker")
    args = ap.parse_args(argv)
    os.environ.setdefault("OBSMEM_EMBED_THREADS", "1")  # as `obsmem serve`
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # no Rust thread pool across the fork

    import dashboard.app  # noqa: F401 - imported before the fork, so its pages are shared
    from obsmem import embed
    from obsmem.config import Settings

    embed._load(embed.default_model_dir(), embed.INT8)
    settings = Settings.from_env()
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((settings.host, settings.port))
    sock.listen(128)
    gc.collect()
    gc.freeze()
    pids = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            try:
                _worker(sock, args.threads)
            finally:
                os._exit(1)
        pids.append(pid)
    print(f"prefork: {args.workers} workers {pids} on port {sock.getsockname()[1]}", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    alive = set(pids)
    while alive and not stop.wait(0.5):
        alive -= {p for p in alive if os.waitpid(p, os.WNOHANG)[0] == p}
    for pid in alive:
        os.kill(pid, signal.SIGTERM)
    for pid in alive:
        os.waitpid(pid, 0)
    sys.stdout.flush()
    return 0 if stop.is_set() else 1  # 1: every worker died on its own


if __name__ == "__main__":
    raise SystemExit(main())
