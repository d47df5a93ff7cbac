"""`obsmem serve`: the dashboard and JSON API under waitress.

Waitress rather than gunicorn: one process with a thread pool shares one loaded
embedding model and one connection pool per store, which is what a 2-core box
can afford. One process has one GIL, though: with OBSMEM_WORKERS > 1 several
such processes, forked from one that loaded the model, share the socket
(dashboard.workers). Past one machine, run more behind a load balancer.
SIGTERM and Ctrl-C stop accepting, let in-flight requests finish and answer
(dashboard.graceful), then close Memory, which stops the embedded servers if this
process was their last user.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from obsmem.config import Settings

log = logging.getLogger("dashboard.serve")


@dataclass
class RunningServer:
    """A waitress server on a background thread (tests, benchmarks, embedding)."""

    server: Any
    thread: threading.Thread

    @property
    def url(self) -> str:
        """Where it listens; the first address of several (a host name such as `localhost`
        that resolves to both 127.0.0.1 and ::1 gets a socket on each)."""
        if hasattr(self.server, "effective_listen"):  # waitress's MultiSocketServer
            host, port = self.server.effective_listen[0][:2]
        else:
            host, port = self.server.effective_host, self.server.effective_port
        return f"http://[{host}]:{port}" if ":" in str(host) else f"http://{host}:{port}"

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop accepting, let running requests finish and answer, end the loop thread.

        Returns whether the loop thread ended (dashboard.graceful says how).
        """
        from dashboard import graceful

        return graceful.stop(self.server, self.thread, timeout=timeout)


def _make_server(
    app: Any, host: str, port: int, threads: int, sock: socket.socket | None = None
) -> Any:
    from waitress import create_server

    from dashboard import slow_clients

    # Where to listen: host and port, or a socket already listening (dashboard.workers).
    where: dict[str, Any] = (
        {"sockets": [sock]} if sock is not None else {"host": host, "port": port}
    )
    # ident=None: no "Server: waitress" banner; clear_untrusted_proxy_headers by default.
    # A connection limit, and read deadlines (slow_clients) so dripping clients cannot hold it.
    server = create_server(
        app,
        **where,
        threads=threads,
        ident=None,
        channel_timeout=30,
        cleanup_interval=2,
        connection_limit=slow_clients.CONNECTION_LIMIT,
    )
    return slow_clients.bound(server)


class AcceptShare(Protocol):
    """How a worker takes its share of a socket other workers accept from too."""

    def accept_when(self, ready: threading.Event) -> None: ...

    def attach(self, server: Any) -> None: ...

    def leave(self) -> None: ...


def start_in_thread(
    app: Any,
    host: str = "127.0.0.1",
    port: int = 0,
    threads: int = 4,
    sock: socket.socket | None = None,
    share: AcceptShare | None = None,
) -> RunningServer:
    server = _make_server(app, host, port, threads, sock)
    if share is not None:
        share.attach(server)  # before the loop's first pass
    thread = threading.Thread(target=server.run, name="obsmem-waitress", daemon=True)
    thread.start()
    return RunningServer(server, thread)


# Alert-like text of 1-14 words, as agents send: ONNX Runtime sizes its buffers per
# input shape, and each query reaches other HNSW pages and postings in Postgres' cache.
# (No longer ones: the allocator would keep their peak, and the PSS target is near.)
WARM_QUERIES = (
    "warm-up: pod crash looping after deploy",
    "disk full on the database volume",
    "oom",
    "checkout service p99 latency above 2s since the last release",
    "kafka consumer lag growing on the orders topic, consumers rebalancing every few minutes",
    "TLS handshake failures at the ingress gateway after certificate rotation",
    "node not ready: kubelet stopped posting status, container runtime unresponsive",
    "redis evicting keys maxmemory reached",
    "5xx spike",
    "DNS resolution timeouts from pods in the payments namespace after the CoreDNS change",
    "postgres replication lag on the read replica exceeds 30 seconds during nightly batch jobs",
    "certificate expired",
    "elasticsearch cluster yellow: unassigned replica shards after a data node restart",
    "memory leak in the recommendation worker, RSS grows until the container is OOMKilled",
    "high error rate on login endpoint",
    "cron job failed to start: image pull backoff on the new tag",
)
WARM_ROUNDS = 2  # every query twice: a cold Postgres needs more than one pass over its pages


def warm_up(
    memory: Any,
    ready: threading.Event,
    stop: threading.Event | None = None,
    then: Callable[[], None] | None = None,
) -> None:
    """Load and run the embedder, then real recalls, before `ready` is set.

    /health says `starting` until then, so no load balancer (or `make run` user)
    sends the first recall into a cold model, empty pools or a Postgres that
    has just started with nothing of the index in its buffers (the first
    kNN probes after a start took 10-50 ms instead of 1-3). Recall only reads,
    so warming with it leaves no trace. A store that is down does not hold
    readiness back: health reports that on its own. A server stopped while it
    warms (`stop`) ends the warm-up before it closes its stores. `then` runs last,
    before `ready` is set (the server: `freeze_heap`).
    """
    try:
        memory.manager.embedder.warm()
        for _ in range(WARM_ROUNDS):
            for q in WARM_QUERIES:
                if stop is not None and stop.is_set():
                    return
                memory.recall(q, k=5)
    except Exception:
        log.warning("warm-up incomplete", exc_info=True)
    finally:
        if then is not None:
            then()
        ready.set()
        print("obsmem warm: ready", flush=True)


def freeze_heap() -> None:
    """Collect once, then leave every object alive now (modules, the app, the model's
    Python side, pools, warm caches) out of all later garbage collections.

    A full collection walks every tracked object; in a warm server most of them live
    as long as the process, and the walks were 2.5-3.7 % of the time the request
    threads held the GIL under 8 clients (py-spy, `gc_collect_main`). Objects made
    later are collected as before."""
    gc.collect()
    gc.freeze()


def server_embed_threads(environ: MutableMapping[str, str]) -> None:
    """One ONNX Runtime intra-op thread per inference in the server, unless configured.

    With 8 request threads the inferences already run side by side (documents
    coalesce, obsmem.embed), and each recall's keyword leg runs on the other core meanwhile:
    a second intra-op thread per inference only adds hand-offs. Interleaved A/B under
    8 HTTP clients (bench.serve_ab, three runs at 10k and 100k): server CPU per recall
    -0.9 ms (16.9 -> 16.0, 16.6 -> 15.8, 17.7 -> 16.8), 8-client rate +3-7 %, p99 lower;
    single-client p50 within noise (-1.5 to +1.7 ms). Library use keeps min(4, cores).
    """
    if not any(
        environ.get(v, "").strip() for v in ("OBSMEM_EMBED_THREADS", "OBSMEM_TORCH_THREADS")
    ):
        environ["OBSMEM_EMBED_THREADS"] = "1"


def serve(settings: Settings | None = None) -> int:
    """Run until SIGTERM/SIGINT; returns the process exit code."""
    settings = settings or Settings.from_env()
    settings.check_serve()
    # The server log is one line per request: no model-loading progress bars in it.
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    server_embed_threads(os.environ)
    if settings.workers > 1:
        from dashboard.workers import serve_workers

        return serve_workers(settings)
    return serve_process(settings)


def serve_process(
    settings: Settings, sock: socket.socket | None = None, share: AcceptShare | None = None
) -> int:
    """One server process until SIGTERM/SIGINT: its own Memory, waitress on its threads.

    `sock`: a socket already listening (a worker of dashboard.workers), else it binds
    settings.host and settings.port; `share`: how this worker shares that socket.
    """
    from dashboard.access_log import AccessLog
    from dashboard.app import create_app
    from obsmem.memory import Memory

    # The signal handler only sets an event: an exception raised into waitress's
    # loop can land inside a channel handler, which swallows it and serves on. It is
    # in place before the stores open: a stop that lands while they open (a worker
    # forked again, stopped at once) still leaves through memory.close(), which
    # stops the stores if this process is the last one using them.
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping on %s", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    warming: threading.Thread | None = None
    memory: Memory | None = None
    try:
        if sock is None:
            print("==> starting the stores and loading the model", flush=True)
        memory = Memory.open(settings)
        flask_app = create_app(memory, settings)
        ready = flask_app.extensions["obsmem.ready"] = threading.Event()
        warming = threading.Thread(
            target=warm_up,
            args=(memory, ready, stop, freeze_heap),
            name="obsmem-warm-up",
            daemon=True,
        )
        warming.start()
        app = AccessLog(flask_app)
        if share is not None:
            share.accept_when(ready)  # the other workers serve while this one warms up
        running = start_in_thread(app, settings.host, settings.port, settings.threads, sock, share)
        log.info("obsmem serving on %s (%d threads)", running.url, settings.threads)
        if sock is None:
            print(
                f"obsmem serving on {running.url}  (open it in a browser; Ctrl-C stops)", flush=True
            )
        try:
            while not stop.wait(1.0) and running.thread.is_alive():
                pass
        finally:
            stop.set()
            if share is not None:
                share.leave()
            running.stop()
    finally:
        # Also when the server never started (its port in use): a warm-up still
        # running ends after its current recall, before the stores close under it.
        stop.set()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if warming is not None:
            warming.join(10)
        if memory is not None:
            memory.close()
    if sock is None:
        print("obsmem stopped", flush=True)
    return 0


def main() -> None:  # `python -m dashboard.serve`
    logging.basicConfig(level=Settings.from_env().log_level)
    raise SystemExit(serve())


if __name__ == "__main__":
    main()
