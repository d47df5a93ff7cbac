"""`obsmem serve` as several worker processes on one socket (OBSMEM_WORKERS > 1).

Why: one server process answers every request under one GIL. Under 8 concurrent
recall clients on 2 cores the GIL, not the cores, sets the pace: the cores stay
~20 % idle while request threads wait to take it back (bench/RESULTS.md). Worker
processes have a GIL each.

How: the parent stays small: it binds the listening socket and supervises, and
never loads the app or the model. A short-lived template process, forked from it,
imports the app, loads the query model and forks the workers, so they share those
pages (PSS counts them once) and the socket; the template then exits and the
parent adopts the workers (Linux's child subreaper). A parent that held the
preloaded pages itself kept ~38 MB of originals no worker used any more, once
each had written its own copy (bench/RESULTS.md). The template starts no thread
before forking: one intra-op thread keeps ONNX Runtime from starting a pool.
Each worker is what a single `obsmem serve` is (dashboard.serve.serve_process):
its own Memory, warm-up, waitress threads, graceful stop. The embedded stores,
the outbox and its replay lease were already shared by every obsmem process on
one data dir. A new connection goes to a worker with the fewest open
(LeastConnections). A worker that dies is forked again from a new template (with
a growing pause if it keeps dying young); that one shares no pages with the
others (the tree grows by ~65 MB at 100k until the next restart: the price of a
parent that holds none in steady state). SIGTERM or Ctrl-C stops every worker and
waits for them.

A worker takes connections only once it has warmed up: at start, connections
wait (in the socket's backlog) for the first warm worker instead of being
answered `starting`, and a worker forked again after a crash takes none until
it is warm. Request metrics are summed over the workers (prometheus_client's
multiprocess mode, files under the data dir's `run/metrics`).
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, NoReturn

from obsmem.config import ConfigError, Settings
from obsmem.private_files import private_dir

log = logging.getLogger("dashboard.serve")

PR_SET_CHILD_SUBREAPER = 36  # prctl(2)
METRICS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client reads it when first imported
YOUNG_S = 10.0  # a worker that dies sooner than this counts towards giving up
GIVE_UP_AFTER = 5  # workers dying young in a row: something is wrong with every start
STOP_WAIT_S = 30.0  # graceful stop of a worker: up to ~15 s of requests, then its Memory


class LeastConnections:
    """Each new connection goes to a worker with the fewest open: they take turns accepting.

    Every worker waits on the shared socket, and the kernel wakes whichever it likes:
    8 clients connecting at once landed 8/0, 7/1 or 6/2 as often as 4/4, and a worker
    with 6 keep-alive clients is back to one GIL for most of the load. So a worker
    says it can accept (waitress asks its listening socket's `readable()` on every
    pass of its loop) only while it has no more connections open than any other;
    the counts sit in shared memory made before the fork, one slot per worker. A
    slot whose worker is starting, stopping or dead reads BUSY, and one its worker has
    not written for STALE_S (a loop passes at least once a second: that worker is
    stopped or stuck) is left out, so neither holds the others back. A worker accepts
    nothing until it has warmed up (`accept_when`): a worker forked again after a crash
    takes no connection while the others can answer at full speed.
    """

    BUSY = 2**31 - 1
    STALE_S = 3.0

    def __init__(self, workers: int) -> None:
        self.counts = multiprocessing.RawArray(ctypes.c_int, [self.BUSY] * workers)
        self.stamps = multiprocessing.RawArray(ctypes.c_double, workers)  # time.monotonic()
        self.slot = -1
        self.ready: threading.Event | None = None

    def accept_when(self, ready: threading.Event) -> None:
        self.ready = ready

    def attach(self, server: Any) -> None:
        """Make `server` (waitress's, on the shared socket) accept only its share."""
        counts, stamps, slot, base = self.counts, self.stamps, self.slot, server.readable

        def readable() -> bool:
            now, open_now = time.monotonic(), len(server.active_channels)
            stamps[slot] = now
            if self.ready is not None and not self.ready.is_set():
                counts[slot] = self.BUSY
                base()  # waitress's own bookkeeping (maintenance) runs meanwhile
                return False
            counts[slot] = open_now
            fresh = now - self.STALE_S
            fewest = min(c for c, t in zip(counts, stamps, strict=True) if t >= fresh)
            return bool(base()) and open_now <= fewest

        server.readable = readable
        if self.ready is not None:  # take a share as soon as warm, not at the loop's next pass
            threading.Thread(
                target=self._wake_when_ready, args=(server,), name="obsmem-warm-wake", daemon=True
            ).start()

    def _wake_when_ready(self, server: Any) -> None:
        """Wake waitress's loop once warm: it sits in select() for up to a second with the
        listener left out, while the other workers, reading BUSY here, take every connection."""
        assert self.ready is not None
        self.ready.wait()
        server.pull_trigger()

    def leave(self) -> None:
        self.counts[self.slot] = self.BUSY

    def vacate(self, slot: int) -> None:
        self.counts[slot] = self.BUSY


@dataclass
class _Workers:
    """The forked workers: pid -> slot, and the supervision figures."""

    settings: Settings
    sock: socket.socket
    share: LeastConnections
    pids: dict[int, int] = field(default_factory=dict)
    started: dict[int, float] = field(default_factory=dict)
    young_deaths: int = 0
    stopping: bool = False

    def spawn(self, slots: list[int]) -> list[int]:
        """Fork workers for `slots` (from one template); the slots left empty."""
        now = time.monotonic()
        for pid, slot in _fork_workers(self.settings, slots, self._run).items():
            self.pids[pid] = slot
            self.started[pid] = now
            log.info("worker %d started (pid %d)", slot, pid)
        return sorted(set(slots) - set(self.pids.values()))

    def _run(self, slot: int) -> int:  # in the worker
        from dashboard.serve import serve_process

        self.share.slot = slot
        return serve_process(self.settings, self.sock, self.share)

    def reap(self) -> list[int]:
        """The slots of workers that have exited since the last call."""
        freed = []
        for pid in list(self.pids):  # only ours: never reap a store this process started
            try:
                done, status = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:  # reaped elsewhere: gone all the same
                done, status = pid, 0
            if done == 0:
                continue
            slot = self.pids.pop(pid)
            lived = time.monotonic() - self.started.pop(pid)
            self.young_deaths = self.young_deaths + 1 if lived < YOUNG_S else 0
            log.log(
                logging.INFO if self.stopping else logging.WARNING,
                "worker %d (pid %d) exited after %.1f s: %s",
                slot, pid, lived, _describe(status),
            )  # fmt: skip
            self.share.vacate(slot)
            _mark_dead(pid)
            freed.append(slot)
        return freed

    def stop(self) -> None:
        self.stopping = True
        for pid in list(self.pids):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        ends_by = time.monotonic() + STOP_WAIT_S
        while self.pids and time.monotonic() < ends_by:
            self.reap()
            time.sleep(0.1)
        for pid in list(self.pids):
            log.warning("worker pid %d did not stop within %.0f s: killed", pid, STOP_WAIT_S)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)
            self.pids.pop(pid, None)


def serve_workers(settings: Settings) -> int:
    """Fork `settings.workers` server processes on one socket; supervise until stopped."""
    metrics_dir = Path(settings.data_dir) / "run" / "metrics"
    _fresh_metrics_dir(metrics_dir)
    os.environ[METRICS_ENV] = str(metrics_dir)
    os.environ["TOKENIZERS_PARALLELISM"] = "false"  # no Rust thread pool to lose in a fork
    if not _adopt_orphans(False):
        raise ConfigError("OBSMEM_WORKERS > 1 needs Linux (a child subreaper); use 1 here")
    print(f"==> loading the model; then {settings.workers} worker processes", flush=True)
    sock = _listen(settings.host, settings.port)
    host, port = sock.getsockname()[:2]
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("stopping on %s", signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    workers = _Workers(settings, sock, LeastConnections(settings.workers))
    code = 0
    try:
        empty = workers.spawn(list(range(settings.workers)))
        if not workers.pids:  # the template failed (its error is logged) or was stopped
            if not stop.is_set():
                log.error("no worker could start (the error is above): stopping")
                code = 1
            stop.set()
        else:
            shown = "localhost" if host in ("127.0.0.1", "::1") else host
            print(
                f"obsmem serving on http://{shown}:{port} with {settings.workers} workers"
                "  (open it in a browser; Ctrl-C stops)",
                flush=True,
            )
        pause = 0.5
        while not stop.wait(0.5):
            empty += workers.reap()
            if workers.young_deaths >= GIVE_UP_AFTER:
                log.error(
                    "%d workers in a row died within %.0f s: stopping", GIVE_UP_AFTER, YOUNG_S
                )
                code = 1
                break
            if not empty:
                pause = 0.5
                continue
            if stop.wait(pause if workers.young_deaths else 0.0):
                break
            pause = min(pause * 2, 30.0) if workers.young_deaths else 0.5
            left = workers.spawn(empty)
            workers.young_deaths += len(left)  # a template that failed counts as dying young
            empty = left
    finally:
        workers.stop()
        sock.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        shutil.rmtree(metrics_dir, ignore_errors=True)
    print("obsmem stopped", flush=True)
    return code


def _fork_workers(
    settings: Settings, slots: list[int], run: Callable[[int], int]
) -> dict[int, int]:
    """pid -> slot of new workers, each running `run(slot)`, forked by a template process.

    The template preloads what every worker runs, forks them and exits; they are
    this process's children from then on (it adopts orphans meanwhile), and they
    start only once adopted, so none can start an embedded store that would be
    adopted too. If the template fails, its error is logged and no pid comes back.
    """
    pids_r, pids_w = os.pipe()  # template -> parent: "pid slot" lines
    hold_r, hold_w = os.pipe()  # EOF tells the workers they are adopted
    _adopt_orphans(True)
    try:
        template = os.fork()
        if template == 0:
            os.close(pids_r)
            os.close(hold_w)
            _in_template(settings, slots, run, pids_w, hold_r)  # never returns
        os.close(pids_w)
        os.close(hold_r)
        with os.fdopen(pids_r, encoding="ascii") as reply:
            lines = reply.read().split()
        os.waitpid(template, 0)
    finally:
        _adopt_orphans(False)
        os.close(hold_w)
    return {int(pid): int(slot) for pid, slot in zip(lines[::2], lines[1::2], strict=True)}


def _in_template(
    settings: Settings, slots: list[int], run: Callable[[int], int], pids_w: int, hold_r: int
) -> NoReturn:
    code = 1
    try:
        for sig in (signal.SIGTERM, signal.SIGINT):  # the parent's handlers are not ours
            signal.signal(sig, signal.SIG_DFL)
        _preload(settings)
        gc.collect()
        gc.freeze()  # objects loaded so far are never scanned again: their pages stay shared
        if threading.active_count() > 1:
            log.warning("forking with %d threads alive", threading.active_count())
        for slot in slots:
            pid = os.fork()
            if pid == 0:
                _in_worker(slot, run, pids_w, hold_r)
            os.write(pids_w, f"{pid} {slot}\n".encode())
        code = 0
    except BaseException:
        log.exception("the worker template failed")
    finally:
        os._exit(code)


def _in_worker(slot: int, run: Callable[[int], int], pids_w: int, hold_r: int) -> NoReturn:
    code = 1
    try:
        os.close(pids_w)
        os.read(hold_r, 1)  # blocks until the parent has adopted this process
        os.close(hold_r)
        code = run(slot)
    except BaseException:
        log.exception("worker %d failed", slot)
    finally:
        os._exit(code)


def _adopt_orphans(on: bool) -> bool:
    """Make this process the reaper of its orphaned descendants (Linux); False if it cannot."""
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    return bool(prctl(PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0) == 0)


def _preload(settings: Settings) -> None:
    """Import what every worker runs and load the query model, before the fork."""
    import dashboard.app  # noqa: F401 - its pages are then shared by the workers
    import obsmem.memory  # noqa: F401
    from obsmem.embed import Embedder

    Embedder(query_precision=settings.query_embedder).load(documents=False)


def _listen(host: str, port: int) -> socket.socket:
    """The listening socket the workers share (waitress takes it as it is)."""
    family, _, _, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(1024)  # waitress's default backlog
    except OSError:
        sock.close()
        raise
    return sock


def _fresh_metrics_dir(path: Path) -> None:
    """Counters of an earlier run would otherwise be summed into this one's."""
    shutil.rmtree(path, ignore_errors=True)
    private_dir(path.parent)
    private_dir(path)


def _mark_dead(pid: int) -> None:
    """A dead worker's live gauges leave the sums; its counters stay (they are history)."""
    from prometheus_client import multiprocess

    with contextlib.suppress(Exception):
        multiprocess.mark_process_dead(pid)


def _describe(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exit code {os.waitstatus_to_exitcode(status)}"
