"""The outbox on real SQLite files: durability, concurrency, full/read-only disks, corruption."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from obsmem.stores.outbox import Outbox, OutboxError

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Outbox]:
    ob = Outbox(tmp_path / "outbox.sqlite3")
    yield ob
    ob.close()


def _child(code: str) -> list[str]:
    return [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}"]


def test_roundtrip_order_ack_fail(box: Outbox) -> None:
    a = box.append("graph", "fix", {"id": "f1", "text": "disk full on node-3 ✓"})
    b, c = box.append_many(
        "graph", "outcome", [{"id": "f1", "ok": True}, {"id": "f1", "ok": False}]
    )
    v = box.append("vectors", "fix", {"id": "f1"})
    assert a < b < c < v
    entries = box.peek("graph", 10)
    assert [e.seq for e in entries] == [a, b, c]
    assert entries[0].payload == {"id": "f1", "text": "disk full on node-3 ✓"}
    assert [e.kind for e in entries] == ["fix", "outcome", "outcome"]
    assert box.depth() == 4 and box.depth("graph") == 3 and box.depth("vectors") == 1
    assert box.has_pending("vectors") and not box.has_pending("nope")
    assert box.oldest_age_s("graph") is not None and box.oldest_age_s("nope") is None

    box.fail([b], "boom")
    box.fail([b], "boom again")
    e = {x.seq: x for x in box.peek("graph", 10)}[b]
    assert (e.attempts, e.last_error) == (2, "boom again")

    box.ack([a, 999_999])
    assert [e.seq for e in box.peek("graph", 10)] == [b, c]
    assert box.peek("graph", 1)[0].seq == b


def test_dead_letter_and_requeue(box: Outbox) -> None:
    a, b = box.append_many("graph", "fix", [{"n": 1}, {"n": 2}])
    box.fail([a], "first")
    box.dead_letter([a], "Cypher syntax error")
    assert [e.seq for e in box.peek("graph", 10)] == [b]
    (dead,) = box.dead_letters()
    assert (dead.seq, dead.payload, dead.attempts, dead.last_error) == (
        a,
        {"n": 1},
        1,
        "Cypher syntax error",
    )
    stats = box.stats()
    assert stats["depth"]["graph"] == 1 and stats["dead_letters"]["graph"] == 1
    (new,) = box.requeue_dead([a])
    assert new > b  # back at the tail, fresh attempts
    assert [(e.seq, e.attempts, e.payload) for e in box.peek("graph", 10)] == [
        (b, 0, {"n": 2}),
        (new, 0, {"n": 1}),
    ]
    assert box.dead_letters() == []


def test_bad_payload_is_refused_and_nothing_is_queued(box: Outbox) -> None:
    with pytest.raises(OutboxError, match="JSON"):
        box.append_many("graph", "fix", [{"ok": 1}, {"bad": object()}])
    with pytest.raises(OutboxError, match="JSON"):
        box.append("graph", "fix", {"nan": float("nan")})
    assert box.depth() == 0


def test_threads_append_concurrently_nothing_lost(box: Outbox) -> None:
    seqs: dict[int, list[int]] = {}

    def work(t: int) -> None:
        seqs[t] = [box.append("graph", "fix", {"t": t, "i": i}) for i in range(100)]

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    entries = box.peek("graph", 10_000)
    assert len(entries) == 800
    assert len({e.seq for e in entries}) == 800
    for t in range(8):
        mine = [e.payload["i"] for e in entries if e.payload["t"] == t]
        assert mine == list(range(100))  # each writer's order is the seq order
        assert seqs[t] == sorted(seqs[t])


def test_two_processes_append_at_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    Outbox(path).close()  # create it first; both children then race on appends only
    code = (
        "from obsmem.stores.outbox import Outbox\n"
        f"ob = Outbox({str(path)!r})\n"
        "p = sys.argv[1]\n"
        "for i in range(150):\n"
        "    ob.append('vectors', 'fix', {'p': p, 'i': i})\n"
        "ob.append_many('graph', 'agent', [{'p': p, 'i': i} for i in range(50)])\n"
    )
    procs = [subprocess.Popen([*_child(code), p]) for p in ("a", "b")]
    assert [pr.wait(60) for pr in procs] == [0, 0]
    with Outbox(path) as ob:
        vec = ob.peek("vectors", 1000)
        assert len(vec) == 300
        for p in ("a", "b"):
            assert [e.payload["i"] for e in vec if e.payload["p"] == p] == list(range(150))
            graph = [e.payload["i"] for e in ob.peek("graph", 1000) if e.payload["p"] == p]
            assert graph == list(range(50))


def test_sigkill_right_after_append_keeps_the_entry(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    code = (
        "from obsmem.stores.outbox import Outbox\n"
        f"ob = Outbox({str(path)!r})\n"
        "i = 0\n"
        "while True:\n"
        "    s = ob.append('graph', 'fix', {'i': i})\n"
        "    print(s, i, flush=True)\n"
        "    i += 1\n"
    )
    proc = subprocess.Popen(_child(code), stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked = [proc.stdout.readline().split() for _ in range(40)]
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    with Outbox(path) as ob:
        stored = {e.seq: e.payload["i"] for e in ob.peek("graph", 100_000)}
    for seq, i in acked:
        assert stored[int(seq)] == int(i)


def _fill_until_full(ob: Outbox, size: int) -> list[tuple[int, dict]]:
    acked: list[tuple[int, dict]] = []
    for i in range(100_000):
        payload = {"i": i, "blob": uuid.uuid4().hex * (size // 32)}
        try:
            acked.append((ob.append("graph", "fix", payload), payload))
        except OutboxError as e:
            assert str(ob.path) in str(e)
            assert "disk is full" in str(e) or "may be full" in str(e)
            return acked
    raise AssertionError("the outbox never filled up")


def _assert_intact(path: Path, acked: list[tuple[int, dict]]) -> None:
    with Outbox(path) as ob:  # reopening runs the integrity check
        stored = {e.seq: e.payload for e in ob.peek("graph", 100_000)}
        assert stored == dict(acked)


def test_disk_full_via_size_cap_loses_nothing(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    ob = Outbox(path, max_bytes=256 * 1024)
    acked = _fill_until_full(ob, 2000)
    assert len(acked) > 10
    with pytest.raises(OutboxError, match="capped"):
        ob.append("graph", "fix", {"blob": "x" * 50_000})
    ob.ack([acked[0][0]])  # the queue still works while full: draining frees room
    ob.close()
    _assert_intact(path, acked[1:])
    with Outbox(path) as ob2:
        ob2.append("graph", "fix", {"after": True})


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)])
    return r.returncode == 0


@pytest.fixture
def small_fs(tmp_path: Path) -> Iterator[Path]:
    """A real 512 KiB filesystem (tmpfs), when this machine lets us mount one."""
    mnt = tmp_path / "mnt"
    if os.geteuid() != 0 or not _mount_tmpfs(mnt, "512k"):
        pytest.skip("needs root and mount to make a small filesystem")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_on_a_real_full_filesystem(small_fs: Path) -> None:
    path = small_fs / "outbox.sqlite3"
    ob = Outbox(path)
    acked = _fill_until_full(ob, 4000)
    assert len(acked) > 10
    ob.close()
    # Make room the way an operator would, then check nothing acknowledged was lost.
    (small_fs / "room").write_bytes(b"")
    _assert_intact(path, acked)


def test_read_only_data_dir(tmp_path: Path) -> None:
    """A read-only bind mount of a data dir that holds a queued entry."""
    src, ro = tmp_path / "src", tmp_path / "ro"
    src.mkdir()
    ro.mkdir()
    with Outbox(src / "outbox.sqlite3") as ob:
        seq = ob.append("graph", "fix", {"before": True})
    if os.geteuid() != 0 or subprocess.run(["mount", "--bind", str(src), str(ro)]).returncode:
        pytest.skip("needs root and mount")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(ro)], check=True)
        with pytest.raises(OutboxError) as info:
            Outbox(ro / "outbox.sqlite3").append("graph", "fix", {"during": True})
        assert str(ro / "outbox.sqlite3") in str(info.value)
        assert "read-only" in str(info.value)
    finally:
        subprocess.run(["umount", "-l", str(ro)], check=False)
    _assert_intact(src / "outbox.sqlite3", [(seq, {"before": True})])


def test_corrupt_file_is_refused_with_recovery_steps(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 200)
    before = path.read_bytes()
    with pytest.raises(OutboxError) as info:
        Outbox(path)
    msg = str(info.value)
    assert "corrupt" in msg and ".recover" in msg and str(path) in msg
    assert path.read_bytes() == before  # never silently reset


def test_damaged_pages_are_detected_at_open(tmp_path: Path) -> None:
    path = tmp_path / "outbox.sqlite3"
    with Outbox(path) as ob:
        ob.append_many("graph", "fix", [{"i": i, "pad": "p" * 500} for i in range(200)])
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = conn.execute("PRAGMA page_size").fetchone()[0]
    conn.close()
    with path.open("r+b") as f:  # scribble over the middle of the table's pages
        f.seek(page * 3)
        f.write(os.urandom(page * 4))
    with pytest.raises(OutboxError, match="recover"):
        Outbox(path)


def test_store_lease_is_exclusive_and_expires(box: Outbox) -> None:
    assert box.acquire_lease("graph", "p1", ttl_s=30)
    assert not box.acquire_lease("graph", "p2", ttl_s=30)
    assert box.acquire_lease("vectors", "p2", ttl_s=30)  # stores are independent
    assert box.acquire_lease("graph", "p1", ttl_s=0.05)  # renew, now short
    time.sleep(0.1)
    assert box.acquire_lease("graph", "p2", ttl_s=30)  # a dead holder's lease is retaken
    box.release_lease("graph", "p2")
    assert box.acquire_lease("graph", "p3", ttl_s=30)


def test_closed_outbox_raises(tmp_path: Path) -> None:
    ob = Outbox(tmp_path / "o.sqlite3")
    ob.close()
    with pytest.raises(OutboxError, match="closed"):
        ob.append("graph", "fix", {})
