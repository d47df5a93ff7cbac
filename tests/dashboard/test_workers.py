"""`obsmem serve --workers 2` (dashboard.workers): a real parent, two forked workers, one port.

One run carries the whole life of such a server, because each start loads the model
and starts the stores: healthy on every connection, connections shared out evenly,
writes seen by every worker,
request metrics summed over the workers, a SIGKILLed worker replaced while the
other serves on, SIGTERM stopping every process and the embedded stores with them.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests

from obsmem.config import ConfigError, Settings
from tests.test_embedded import _servers_on

OBSMEM = str(Path(sys.executable).with_name("obsmem"))


def _workers(parent: psutil.Process) -> list[int]:
    return sorted(c.pid for c in parent.children() if "python" in c.name() or "obsmem" in c.name())


def _started(log: Path, slot: int) -> list[int]:
    """The pids the parent logged starting for `slot`, in order."""
    return [int(p) for p in re.findall(rf"worker {slot} started \(pid (\d+)\)", log.read_text())]


def _connections_to(port: int, pid: int) -> int:
    return sum(
        1
        for c in psutil.Process(pid).net_connections(kind="tcp")
        if c.status == psutil.CONN_ESTABLISHED and c.laddr and c.laddr.port == port
    )


def _healthy_on_fresh_connections(url: str, times: int, deadline: float) -> None:
    streak = 0
    while streak < times:
        assert time.monotonic() < deadline, "workers not all healthy in time"
        try:  # a connection waits in the backlog until a worker is warm
            ok = requests.get(f"{url}/health", timeout=30).status_code == 200
        except requests.RequestException:
            ok = False
        streak = streak + 1 if ok else 0
        if not ok:
            time.sleep(0.3)


def _recall_ids(url: str, query: str) -> list[str]:
    with requests.Session() as fresh:  # a new connection: any worker may take it
        resp = fresh.post(f"{url}/api/recall", json={"query": query, "k": 5}, timeout=30)
    assert resp.status_code == 200, resp.text
    return [h["fix"]["id"] for h in resp.json()["hits"]]


def _remember(url: str, issue: str, solution: str) -> str:
    resp = requests.post(
        f"{url}/api/remember",
        json={"issue": issue, "solution": solution, "success": True, "agent": "w"},
        timeout=30,
    )
    assert resp.status_code == 201 and resp.json()["pending"] == [], resp.text
    return str(resp.json()["id"])


def _recalls_counted(url: str) -> float:
    text = requests.get(f"{url}/metrics", timeout=10).text
    found = re.search(
        r'^obsmem_http_responses_total\{endpoint="/api/recall",method="POST",status="200"\} (\S+)$',
        text,
        re.M,
    )
    return float(found.group(1)) if found else 0.0


def test_two_workers_serve_one_port_replace_a_dead_one_and_stop_together(
    tmp_path: Path, embedder: object
) -> None:
    data = tmp_path / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "OBSMEM_DATA_DIR": str(data),
        "OBSMEM_DEMO": "1",  # seeded in a child process: the parent stays small all the same
        "OBSMEM_THREADS": "4",
        "OBSMEM_LOG_LEVEL": "INFO",  # "worker N started (pid P)"
        "HF_HUB_OFFLINE": "1",
    }
    log = (tmp_path / "serve.log").open("w+")
    proc = subprocess.Popen([OBSMEM, "serve", "--port", str(port), "--workers", "2"], env=env,
                            stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    parent = psutil.Process(proc.pid)
    try:
        _healthy_on_fresh_connections(url, 10, time.monotonic() + 180)
        deadline = time.monotonic() + 120  # one warm worker answers all: wait for both
        while (tmp_path / "serve.log").read_text().count("obsmem warm: ready") < 2:
            assert time.monotonic() < deadline, "the second worker never warmed up"
            time.sleep(0.2)
        first = _workers(parent)
        assert len(first) == 2, first
        # The parent only supervises: the model and the app were loaded by a template
        # process that forked the workers and exited, so no page of them is the parent's.
        assert not [m.path for m in parent.memory_maps() if "onnxruntime" in m.path]
        assert [m.path for m in psutil.Process(first[0]).memory_maps() if "onnxruntime" in m.path]

        # Connections are shared out: 8 clients land 4/4, where the kernel alone gave
        # 8/0, 7/1, 6/2 or 5/3 five times in six.
        for _ in range(3):
            sessions = [requests.Session() for _ in range(8)]
            try:
                for s in sessions:
                    assert s.get(f"{url}/health", timeout=10).status_code == 200
                held = [_connections_to(port, pid) for pid in first]
            finally:
                for s in sessions:
                    s.close()
            assert held == [4, 4], held

        # One store for both: what one worker remembers, every connection recalls.
        fix = _remember(url, "checkout pods crash looping after deploy", "roll back the deploy")
        for _ in range(12):
            assert fix in _recall_ids(url, "checkout crash looping after a deploy")
        assert _recalls_counted(url) == 12  # summed over the workers, whoever served them
        assert {p.name for p in (data / "run" / "metrics").iterdir()} <= {
            f"{kind}_{pid}.db" for kind in ("counter", "histogram") for pid in first
        }

        # A worker killed outright is replaced; the other serves meanwhile.
        os.kill(first[1], signal.SIGKILL)
        assert fix in _recall_ids(url, "checkout crash looping after a deploy")
        deadline = time.monotonic() + 120
        while len(started := _started(tmp_path / "serve.log", slot=1)) < 2:
            assert time.monotonic() < deadline, started
            time.sleep(0.2)
        assert _workers(parent) == sorted([first[0], started[1]])  # adopted: the parent's child
        _healthy_on_fresh_connections(url, 10, time.monotonic() + 120)
        second = _remember(url, "disk full on the orders database volume", "grow the volume")
        for _ in range(4):
            assert second in _recall_ids(url, "orders database disk full")
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            for child in parent.children(recursive=True):
                child.kill()
            proc.kill()
            raise AssertionError((tmp_path / "serve.log").read_text()[-3000:]) from None
        finally:
            log.close()
    text = (tmp_path / "serve.log").read_text()
    assert code == 0, text[-3000:]
    assert re.search(rf"worker 1 \(pid {first[1]}\) exited after .* killed by SIGKILL", text)
    assert "obsmem stopped" in text
    assert not re.search(r"GET /health 503", text)  # no connection ever met a cold worker
    assert _servers_on(data) == []  # the last worker out stopped the embedded stores
    assert not (data / "run" / "metrics").exists()


def test_a_template_that_cannot_load_the_model_is_one_clear_error(tmp_path: Path) -> None:
    """No worker can start: the parent says why, exits 1 and leaves nothing running."""
    data = tmp_path / "data"
    not_a_dir = tmp_path / "model-cache"
    not_a_dir.write_text("a file where the exported model's folder should be")
    env = {
        **os.environ,
        "OBSMEM_DATA_DIR": str(data),
        "OBSMEM_DEMO": "0",
        "OBSMEM_MODEL_CACHE": str(not_a_dir),
        "HF_HUB_OFFLINE": "1",
    }
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    done = subprocess.run([OBSMEM, "serve", "--port", str(port), "--workers", "2"], env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode == 1, out[-3000:]
    assert "the worker template failed" in out and "NotADirectoryError" in out, out[-3000:]
    assert "no worker could start" in out
    assert "serving on" not in out
    assert _servers_on(data) == []
    with socket.socket() as s:  # the port is free again
        s.bind(("127.0.0.1", port))


def test_workers_setting() -> None:
    assert Settings.from_env({"OBSMEM_WORKERS": "3"}).workers == 3
    assert Settings.from_env({}).workers == 1
    with pytest.raises(ConfigError, match="OBSMEM_WORKERS"):
        Settings.from_env({"OBSMEM_WORKERS": "0"})
    with pytest.raises(ConfigError, match="OBSMEM_WORKERS"):
        Settings.from_env({"OBSMEM_WORKERS": "17"})


class _Listener:
    """What LeastConnections reads of a waitress server: its open channels, its readable()."""

    def __init__(self, open_channels: int) -> None:
        self.active_channels = dict.fromkeys(range(open_channels))

    def readable(self) -> bool:
        return True


def test_only_a_worker_with_the_fewest_connections_accepts_and_a_silent_one_is_left_out() -> None:
    import copy

    from dashboard.workers import LeastConnections

    share = LeastConnections(2)
    busy, idle = _Listener(3), _Listener(1)
    views = []
    for slot, server in enumerate((busy, idle)):
        view = copy.copy(share)  # what each forked worker holds: its slot, the shared counts
        view.slot = slot
        view.attach(server)
        views.append(view)
    assert idle.readable() and not busy.readable()
    idle.active_channels = dict.fromkeys(range(5))  # now the other has fewer
    assert not idle.readable() and busy.readable()
    share.stamps[0] = time.monotonic() - 2 * LeastConnections.STALE_S  # worker 0 went silent
    assert idle.readable()
    views[1].leave()  # worker 1 stops: BUSY, and worker 0 accepts again
    assert busy.readable()
    share.vacate(0)
    assert share.counts[0] == LeastConnections.BUSY

    warming = threading.Event()  # a worker still warming up takes nothing, holds no one back
    views[1].accept_when(warming)
    assert not idle.readable() and share.counts[1] == LeastConnections.BUSY
    warming.set()
    assert idle.readable()
