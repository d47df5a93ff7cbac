"""Crash suite (CI short mode) and the outbox when the disk is full or read-only.

The crash suite itself lives in bench/crash.py (long mode: `python -m bench.crash`);
here it runs once with two Memory threads, one Memory process and two HTTP
clients through one kill of each target.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.crash import Plan, run, table
from obsmem.config import Settings
from obsmem.memory import Memory
from obsmem.stores.outbox import Outbox, OutboxError
from tests.dashboard.tcpproxy import TcpProxy


@pytest.mark.timeout(600)
def test_crash_suite_short_mode(tmp_path: Path, embedder) -> None:
    report = run(Plan(), tmp_path / "crash", embedder=embedder)
    print(table(report))  # shown with -s and in the failure output
    assert [p["phase"] for p in report.phases] == ["falkordb", "postgres", "both", "server"]
    assert (
        report.by_writer["memory"]["attempted"] > 0 and report.by_writer["http"]["acknowledged"] > 0
    )
    assert report.memory_errors == [], "Memory.remember raised during an outage"
    assert report.duplicated == 0
    assert report.missing == [] and report.wrong == []
    assert report.present == report.acknowledged
    assert report.stray == 0
    assert report.outbox_depth == 0 and report.dead_letters == 0
    assert all(p["drained_s"] is not None for p in report.phases), report.phases
    assert report.recall_ok


# ---------------------------------------------------------------- disk full / read-only


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MiB tmpfs: a real filesystem that really fills up (needs mount rights)."""
    mnt = tmp_path / "tmpfs"
    mnt.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (CAP_SYS_ADMIN)")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mnt)], capture_output=True, text=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(path: Path) -> Path:
    """Write until ENOSPC; returns the filler file (delete it to free the space)."""
    filler = path / "filler"
    with open(filler, "wb", buffering=0) as f, contextlib.suppress(OSError):
        for _ in range(10_000):  # bounded: 4 MiB disk, 64 KiB blocks
            f.write(b"\0" * 65536)
        f.write(b"\0" * 512)  # the last partial blocks
        os.fsync(f.fileno())
    return filler


def _settings(embedded, data_dir: Path, graph_url: str, graph: str, db: str) -> Settings:
    return Settings(
        data_dir=data_dir,
        falkordb_url=graph_url,
        falkordb_graph=graph,
        database_url=db,
        store_timeout_s=1.0,
        demo=False,
    )


ITEMS = [
    {"issue": f"queue consumer {i} stuck on poison message", "solution": f"skip offset {i}"}
    for i in range(5)
]


def _queue_with_graph_down(embedded, embedder, data_dir: Path):
    """A Memory whose graph is cut off after opening, with ITEMS queued for the graph."""
    from tests.conftest import _fresh_db

    proxy, url = TcpProxy.for_url(embedded.falkordb_url())
    graph, db = "disk_" + uuid.uuid4().hex[:6], _fresh_db(embedded.postgres_url(), "disk_")
    mem = Memory.open(
        _settings(embedded, data_dir, url, graph, db), embedder=embedder, replay=False
    )
    proxy.cut()
    results = [mem.remember(**it) for it in ITEMS]
    assert all(r.pending == ("graph",) for r in results)
    return mem, (graph, db), [r.id for r in results]


def _recover(embedded, embedder, data_dir: Path, graph: str, db: str, ids: list[str]) -> None:
    """A new Memory on the same data dir with the graph reachable drains what was queued, once."""
    settings = _settings(embedded, data_dir, embedded.falkordb_url(), graph, db)
    with Memory.open(settings, embedder=embedder) as mem:
        assert mem.drain(60), mem.manager.outbox.stats()
        fixes = mem.manager.graph.get_fixes(ids)
        assert set(fixes) == set(ids) and all(f.occurrences == 1 for f in fixes.values())
        assert mem.manager.graph.count_fixes(None) == len(ids)
        assert mem.manager.outbox.stats()["dead_letters_total"] == 0


def test_disk_full_is_a_clear_error_and_keeps_what_was_queued(
    small_disk: Path, embedded, embedder
) -> None:
    mem, (graph, db), ids = _queue_with_graph_down(embedded, embedder, small_disk)
    filler = _fill(small_disk)
    try:
        with pytest.raises(OutboxError) as err:
            mem.remember("one write too many", "cannot be queued")
        msg = str(err.value)
        assert "outbox" in msg and ("full" in msg or "I/O error" in msg), msg
        assert "graph" in msg  # says which store's copy is not safe
        # The refused write reached no store either: nothing half-applied to retry around.
        from obsmem.model import fix_id_for

        assert (
            mem.manager.vectors.get_rows([fix_id_for("one write too many", "cannot be queued")])
            == {}
        )
        # The API says 503 with that message, not a bare 500.
        from dashboard.app import create_app

        resp = (
            create_app(mem)
            .test_client()
            .post("/api/remember", json={"issue": "x2", "solution": "y2"})
        )
        assert resp.status_code == 503, resp.get_data(as_text=True)
        assert "outbox" in resp.get_json()["error"]["message"]
    finally:
        mem.close()
        filler.unlink()
    with Outbox(small_disk / "outbox.sqlite3") as box:  # opens only if quick_check passes
        queued = [e.payload["id"] for e in box.peek("graph")]
    assert queued == ids
    _recover(embedded, embedder, small_disk, graph, db, ids)


def test_read_only_data_dir_is_a_clear_error_and_keeps_what_was_queued(
    small_disk: Path, embedded, embedder
) -> None:
    mem, (graph, db), ids = _queue_with_graph_down(embedded, embedder, small_disk)
    mem.close()
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    try:
        with pytest.raises(OutboxError, match="read-only"):
            Memory.open(
                _settings(embedded, small_disk, embedded.falkordb_url(), graph, db),
                embedder=embedder,
            )
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(small_disk)], check=True)
    _recover(embedded, embedder, small_disk, graph, db, ids)


def test_outbox_error_names_stored_and_unsafe_stores(small_disk: Path, embedded, embedder) -> None:
    """Graph up, vectors down, disk full: the graph took it, the error says the vectors copy is lost."""
    from tests.conftest import _fresh_db

    proxy, pg_url = TcpProxy.for_pg_socket_url(
        _fresh_db(embedded.postgres_url(), "disk_"), small_disk.parent / "pgsock"
    )
    settings = _settings(
        embedded, small_disk, embedded.falkordb_url(), "disk_" + uuid.uuid4().hex[:6], pg_url
    )
    with Memory.open(settings, embedder=embedder, replay=False) as mem:
        proxy.cut()
        filler = _fill(small_disk)
        try:
            with pytest.raises(OutboxError) as err:
                mem.remember("vectors down and disk full", "graph has it, vectors do not")
        finally:
            filler.unlink()
        msg = str(err.value)
        assert "stored in graph" in msg and "vectors" in msg, msg
        assert json.dumps(mem.manager.outbox.stats())  # the outbox still answers


@pytest.mark.slow
def test_crash_suite_long_mode(tmp_path: Path, embedder) -> None:
    """The bench/crash.py long mode in miniature: more writers, two rounds of every phase."""
    plan = Plan(threads=4, procs=2, http=4, settle_s=8, down_s=6, rounds=2, drain_timeout_s=180)
    report = run(plan, tmp_path / "crash", embedder=embedder)
    print(table(report))
    assert report.memory_errors == [] and report.duplicated == 0 and report.stray == 0
    assert report.missing == [] and report.wrong == [] and report.present == report.acknowledged
    assert report.outbox_depth == 0 and report.dead_letters == 0 and report.recall_ok
