"""The embedded servers' lifecycle: real processes, real kills, real data."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import psycopg
import pytest
from falkordb import FalkorDB

from obsmem.stores.embedded import EmbeddedServers, shared_buffers_mb


def _wait_gone(pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} still alive")


def _write_marker(servers: EmbeddedServers, value: str) -> None:
    g = FalkorDB.from_url(servers.falkordb_url()).select_graph("lifecycle")
    g.query("MERGE (m:Marker {v: $v})", {"v": value})
    with psycopg.connect(servers.postgres_url(), autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS marker (v text primary key)")
        conn.execute("INSERT INTO marker VALUES (%s) ON CONFLICT DO NOTHING", (value,))


def _read_markers(servers: EmbeddedServers) -> tuple[set[str], set[str]]:
    g = FalkorDB.from_url(servers.falkordb_url()).select_graph("lifecycle")
    graph = {r[0] for r in g.query("MATCH (m:Marker) RETURN m.v").result_set}
    with psycopg.connect(servers.postgres_url()) as conn:
        rows = {r[0] for r in conn.execute("SELECT v FROM marker").fetchall()}
    return graph, rows


@pytest.fixture
def data_dir(tmp_path: Path):
    d = tmp_path / "data"
    yield d
    EmbeddedServers(d).stop(force=True)  # never leave servers behind, whatever the test did


def test_data_survives_a_clean_restart(data_dir: Path) -> None:
    with EmbeddedServers(data_dir) as servers:
        _write_marker(servers, "before")
    assert not servers.falkor.running() and not servers.postgres.running()
    with EmbeddedServers(data_dir) as servers:
        assert _read_markers(servers) == ({"before"}, {"before"})


@pytest.mark.parametrize("victim", ["falkordb", "postgres"])
def test_sigkill_then_next_start_recovers(data_dir: Path, victim: str) -> None:
    servers = EmbeddedServers(data_dir).start(supervise=False)
    _write_marker(servers, "kept")
    time.sleep(1.2)  # FalkorDB fsyncs its AOF every second
    server = servers.falkor if victim == "falkordb" else servers.postgres
    pid = server.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    _wait_gone(pid)
    # simulate the whole obsmem process dying too: its client registration goes stale
    (data_dir / "run" / "clients.json").write_text(json.dumps([999999]))

    fresh = EmbeddedServers(data_dir)
    deadline = time.monotonic() + 30
    while True:  # a killed postmaster may linger as a zombie for a moment
        try:
            fresh.start(supervise=False)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    new_pid = (fresh.falkor if victim == "falkordb" else fresh.postgres).pid()
    assert new_pid is not None and new_pid != pid
    assert _read_markers(fresh) == ({"kept"}, {"kept"})
    fresh.stop(force=True)


def test_supervisor_restarts_a_dead_child(data_dir: Path) -> None:
    servers = EmbeddedServers(data_dir).start()
    try:
        pid = servers.falkor.pid()
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while not (servers.falkor.running() and servers.state["falkordb"].restarts >= 1):
            assert time.monotonic() < deadline, "supervisor did not restart FalkorDB"
            time.sleep(0.1)
        assert servers.describe()["falkordb"]["restarts"] == 1
    finally:
        servers.stop(force=True)


def test_paused_supervision_keeps_a_dead_server_down(data_dir: Path) -> None:
    servers = EmbeddedServers(data_dir).start()
    try:
        with servers.supervision_paused():
            pid = servers.falkor.pid()
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid)
            time.sleep(2.5)
            assert not servers.falkor.running()
        deadline = time.monotonic() + 20
        while not servers.falkor.running():
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        servers.stop(force=True)


_CHILD = textwrap.dedent(
    """
    import sys, time
    from obsmem.stores.embedded import EmbeddedServers
    s = EmbeddedServers(sys.argv[1]).start(supervise=False)
    print(s.falkor.pid(), s.postgres.pid(), flush=True)
    sys.stdin.readline()
    s.stop()
    """
)


def _servers_on(data_dir: Path) -> list[psutil.Process]:
    """Server processes working in this data dir (redis rewrites its title, so ask for its cwd)."""
    root = str(data_dir.resolve())
    found = []
    for proc in psutil.process_iter(["name"]):
        try:
            if proc.info["name"] in ("redis-server", "postgres") and proc.cwd().startswith(root):
                found.append(proc)
        except psutil.Error:
            continue
    return found


def test_two_processes_share_one_pair_of_servers(data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _CHILD, str(data_dir)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        for _ in range(2)
    ]  # fmt: skip
    try:
        pids = [tuple(p.stdout.readline().split()) for p in procs]
        assert pids[0] == pids[1], "the second process started twins"
        postmasters = [p for p in _servers_on(data_dir) if "-D" in p.cmdline()]
        assert len(postmasters) == 1
        assert len([p for p in _servers_on(data_dir) if "redis-server" in p.name()]) == 1
        # the first to leave keeps them up for the second
        procs[0].communicate("\n", timeout=30)
        assert EmbeddedServers(data_dir).falkor.running()
        procs[1].communicate("\n", timeout=30)
        assert _servers_on(data_dir) == [] or all(not p.is_running() for p in _servers_on(data_dir))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def test_stale_falkordb_pidfile_is_cleaned(data_dir: Path) -> None:
    (data_dir / "run").mkdir(parents=True)
    (data_dir / "run" / "falkordb.pid").write_text("999999")
    with EmbeddedServers(data_dir, want_vectors=False) as servers:
        assert servers.falkor.pid() != 999999
        assert servers.falkor.running()


def test_a_busy_falkordb_is_not_killed_for_one_missed_ping(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that misses pings (SIGSTOP stands in for a long query or a snapshot fork)
    keeps its pid until it has been silent for HUNG_AFTER_S; then it is replaced."""
    from obsmem.stores import embedded

    monkeypatch.setattr(embedded, "HUNG_AFTER_S", 8.0)  # pings time out after 1 s
    with EmbeddedServers(data_dir, want_vectors=False) as servers, servers.supervision_paused():
        graph = FalkorDB.from_url(servers.falkordb_url()).select_graph("lifecycle")
        graph.query("MERGE (m:Marker {v: 'kept'})")
        pid = servers.falkor.pid()
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            assert servers.check_and_restart() == {"falkordb": True}
            time.sleep(0.5)
            servers.check_and_restart()
            assert servers.falkor.pid() == pid and psutil.pid_exists(pid)  # busy, not hung
        finally:
            os.kill(pid, signal.SIGCONT)
        servers.check_and_restart()
        assert servers.falkor.pid() == pid  # it answered again: nothing was restarted
        os.kill(pid, signal.SIGSTOP)
        try:
            deadline = time.monotonic() + 40
            while servers.falkor.pid() == pid and time.monotonic() < deadline:
                servers.check_and_restart()
            assert servers.falkor.pid() != pid  # silent past the grace: replaced
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
        assert servers.falkor.running()
        graph = FalkorDB.from_url(servers.falkordb_url()).select_graph("lifecycle")
        assert [r[0] for r in graph.query("MATCH (m:Marker) RETURN m.v").result_set] == ["kept"]


def _shared_buffers_mb(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT setting::bigint * 8192 / 1048576 FROM pg_settings WHERE name = 'shared_buffers'"
        ).fetchone()
    assert row is not None
    return int(row[0])


def test_shared_buffers_are_a_quarter_of_ram_within_bounds() -> None:
    gib = 2**30
    assert shared_buffers_mb(24 * gib) == 1024
    assert shared_buffers_mb(2 * gib) == 512
    assert shared_buffers_mb(256 * 2**20) == 128


def test_embedded_postgres_gets_sized_buffers_unless_an_operator_set_them(
    data_dir: Path,
) -> None:
    servers = EmbeddedServers(data_dir, want_graph=False).start(supervise=False)
    assert _shared_buffers_mb(servers.postgres_url()) == shared_buffers_mb()
    with psycopg.connect(servers.postgres_url(), autocommit=True) as conn:
        conn.execute("ALTER SYSTEM SET shared_buffers = '136MB'")
    servers.stop()
    servers = EmbeddedServers(data_dir, want_graph=False).start(supervise=False)
    assert _shared_buffers_mb(servers.postgres_url()) == 136
    servers.stop()


def test_a_pause_waits_for_a_supervision_pass_under_way(tmp_path: Path) -> None:
    """Entering supervision_paused() while a pass runs waits for that pass to end: the
    pass saw no pause, and would restart a server killed right after (it did, once,
    in test_fallback). Inside the pause no pass runs."""
    import threading

    servers = EmbeddedServers(tmp_path / "data")
    in_pass, release, passes = threading.Event(), threading.Event(), []

    def a_slow_pass() -> dict[str, bool]:
        passes.append(time.monotonic())
        in_pass.set()
        assert release.wait(30)
        return {}

    servers.check_and_restart = a_slow_pass  # type: ignore[method-assign]
    supervisor = threading.Thread(target=servers._supervise, daemon=True)
    supervisor.start()
    try:
        assert in_pass.wait(10)
        paused, seen = threading.Event(), []

        def pause_for_a_while() -> None:
            with servers.supervision_paused():
                paused.set()
                seen.append(len(passes))
                time.sleep(2.5)  # two supervision periods
                seen.append(len(passes))

        pauser = threading.Thread(target=pause_for_a_while)
        pauser.start()
        assert not paused.wait(0.5)  # the pass under way holds the pause back
        release.set()
        assert paused.wait(10)
        pauser.join(10)
        assert seen[0] == seen[1] == 1  # no pass while paused
    finally:
        release.set()
        servers._stop.set()
        supervisor.join(10)
