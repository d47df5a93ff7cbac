"""Store outages: real SIGKILLs of the embedded servers, no write lost, none doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from obsmem.config import Settings
from obsmem.memory import Memory, Unavailable

N = 200


def _kill(pid: int | None) -> None:
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.05)


@pytest.fixture(scope="module")
def owned(tmp_path_factory: pytest.TempPathFactory, embedder) -> Iterator[Memory]:
    """A Memory that owns its embedded servers (so the tests may kill them)."""
    mem = Memory.open(
        Settings(data_dir=tmp_path_factory.mktemp("owned"), demo=False), embedder=embedder
    )
    yield mem
    mem.close()
    assert mem.manager.embedded is not None
    mem.manager.embedded.stop(force=True)


def _items(tag: str) -> list[dict]:
    return [
        {"issue": f"{tag}: service shard {i} returns HTTP 503 after deploy {i % 7}",
         "solution": f"Rolled back shard {i} and drained connections on node {i % 13}", "agent": f"{tag}-agent"}
        for i in range(N)
    ]  # fmt: skip


def _wait_drained(mem: Memory, timeout: float = 60) -> None:
    assert mem.drain(timeout), f"outbox did not drain: {mem.manager.outbox.stats()}"


def test_graph_down_writes_queue_and_drain(owned: Memory) -> None:
    emb = owned.manager.embedded
    before = owned.manager.graph.count_fixes(None)
    with emb.supervision_paused():
        _kill(emb.falkor.pid())
        results = [owned.remember(**item) for item in _items("graphdown")]
        assert all(r.pending == ("graph",) and r.stored_in == ("vectors",) for r in results)
        hits = owned.recall("shard returns 503 after deploy", k=3)
        assert hits and hits.degraded and hits.served_by == ("vectors",)
        assert owned.health()["status"] == "degraded"
    _wait_drained(owned)
    assert owned.manager.graph.count_fixes(None) == before + N
    assert owned.manager.outbox.depth() == 0
    ids = {r.id for r in results}
    assert len(ids) == N
    fixes = owned.manager.graph.get_fixes(sorted(ids))
    assert len(fixes) == N and all(f.occurrences == 1 for f in fixes.values())


def test_postgres_down_writes_queue_and_drain(owned: Memory) -> None:
    emb = owned.manager.embedded
    before = owned.manager.vectors.count(None)
    with emb.supervision_paused():
        _kill(emb.postgres.pid())
        results = [owned.remember(**item) for item in _items("pgdown")]
        assert all(r.pending == ("vectors",) for r in results)
        hits = owned.recall("pgdown shard returns HTTP 503", k=3)
        assert hits and hits.degraded and hits.served_by == ("graph",)
    _wait_drained(owned)
    assert owned.manager.vectors.count(None) == before + N
    rows = owned.manager.vectors.get_rows(sorted({r.id for r in results}))
    assert len(rows) == N and all(r["occurrences"] == 1 for r in rows.values())


def test_both_down_remember_still_accepts(owned: Memory) -> None:
    emb = owned.manager.embedded
    g0, v0 = owned.manager.graph.count_fixes(None), owned.manager.vectors.count(None)
    with emb.supervision_paused():
        _kill(emb.falkor.pid())
        _kill(emb.postgres.pid())
        results = [owned.remember(**item) for item in _items("bothdown")]
        assert all(set(r.pending) == {"graph", "vectors"} for r in results)
        with pytest.raises(Unavailable):
            owned.recall("bothdown shard", k=3)
        assert owned.health()["status"] == "unhealthy"
    _wait_drained(owned, 90)
    assert owned.manager.graph.count_fixes(None) == g0 + N
    assert owned.manager.vectors.count(None) == v0 + N
    assert owned.health()["status"] == "healthy"


_WRITER = textwrap.dedent(
    """
    import sys, os, signal
    from obsmem.config import Settings
    from obsmem.memory import Memory
    mem = Memory.open(Settings(data_dir=sys.argv[1], demo=False), replay=False)
    emb = mem.manager.embedded
    with emb.supervision_paused():
        os.kill(emb.falkor.pid(), signal.SIGKILL)
        for i in range(int(sys.argv[2])):
            mem.remember(f"crashtest: queue consumer {i} stuck on poison message",
                         f"skip offset for partition {i}; add a dead-letter topic")
        print("queued", mem.manager.outbox.depth("graph"), flush=True)
        sys.stdin.readline()
    # replay starts now that supervision resumes; the parent SIGKILLs us mid-way
    mem.manager.embedded.check_and_restart()
    mem.manager.replayer.start()
    print("replaying", flush=True)
    sys.stdin.readline()
    """
)


def test_process_killed_mid_replay_loses_nothing(tmp_path: Path, embedder) -> None:
    data_dir = tmp_path / "crash"
    child = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(data_dir), str(N)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    try:
        line = child.stdout.readline()
        assert line.startswith("queued"), line
        assert int(line.split()[1]) >= N
        child.stdin.write("\n")
        child.stdin.flush()
        assert child.stdout.readline().startswith("replaying")
        time.sleep(0.05)
        child.kill()
        child.wait(10)
        mem = Memory.open(Settings(data_dir=data_dir, demo=False), embedder=embedder)
        try:
            _wait_drained(mem)
            fixes = list(mem.manager.graph.iter_fixes())
            crash = [f for f in fixes if f.issue.startswith("crashtest:")]
            assert len(crash) == N
            assert all(f.occurrences == 1 for f in crash)
            assert mem.manager.vectors.count(None) == N
        finally:
            mem.close()
            mem.manager.embedded.stop(force=True)
    finally:
        if child.poll() is None:
            child.kill()
