"""`dashboard.serve.serve` in a real subprocess: it serves, and SIGTERM stops it cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path


def test_serve_answers_then_stops_on_sigterm(dash_settings, seeded, tmp_path):
    env = {
        **os.environ,
        "OBSMEM_DATA_DIR": str(tmp_path / "srv"),
        "OBSMEM_PORT": "0",
        "OBSMEM_HOST": "127.0.0.1",
        "FALKORDB_URL": dash_settings.falkordb_url,
        "OBSMEM_GRAPH": dash_settings.falkordb_graph,
        "DATABASE_URL": dash_settings.database_url,
        "OBSMEM_DEMO": "0",
        "OBSMEM_THREADS": "2",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        url = None
        for line in proc.stdout:
            m = re.search(r"serving on (http://\S+)", line)
            if m:
                url = m.group(1)
                break
        assert url, "the server never said where it listens"
        with urllib.request.urlopen(url + "/api/agents", timeout=30) as resp:
            names = {a["name"] for a in json.loads(resp.read())["agents"]}
        assert "k8s-watcher" in names
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
        assert proc.returncode == 0, out
        assert "obsmem stopped" in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_the_server_runs_one_intra_op_thread_per_inference_unless_told():
    from dashboard.serve import server_embed_threads

    env: dict[str, str] = {}
    server_embed_threads(env)
    assert env == {"OBSMEM_EMBED_THREADS": "1"}
    for stated in ({"OBSMEM_EMBED_THREADS": "2"}, {"OBSMEM_TORCH_THREADS": "3"}):
        env = dict(stated)
        server_embed_threads(env)
        assert env == stated


def test_the_url_of_a_server_listening_on_several_addresses() -> None:
    """A host name that resolves to several addresses (localhost: 127.0.0.1 and ::1) gives
    waitress a socket on each."""
    import threading

    from waitress import create_server

    from dashboard.serve import RunningServer

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = create_server(app, listen="127.0.0.1:0 127.0.0.2:0")  # both loopback on Linux
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    running = RunningServer(server, thread)
    try:
        url = running.url
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", url), url
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.read() == b"ok"
    finally:
        assert running.stop()


def test_a_port_in_use_is_one_clear_error_and_leaves_nothing_running(tmp_path, embedder) -> None:
    """The stores started for nothing are stopped again, and the warm-up does not go on
    recalling into closed pools (it logged a page of "pool already closed")."""
    import socket

    from tests.test_embedded import _servers_on

    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "OBSMEM_DATA_DIR": str(data), "OBSMEM_DEMO": "0",
               "OBSMEM_PORT": str(port), "HF_HUB_OFFLINE": "1"}  # fmt: skip
        done = subprocess.run(
            [str(Path(sys.executable).with_name("obsmem")), "serve"],
            env=env, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    out = done.stdout + done.stderr
    assert done.returncode != 0 and "Address already in use" in out, out[-2000:]
    assert "already closed" not in out, out[-2000:]
    assert _servers_on(data) == []


def test_a_stop_while_the_stores_start_still_stops_them(tmp_path, embedder) -> None:
    """SIGTERM lands while the process starts the stores: it finishes opening them, then
    leaves as from any stop, stores included (it used to die there and leave them up)."""
    import socket

    from tests.test_embedded import _servers_on

    data = tmp_path / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OBSMEM_DATA_DIR": str(data), "OBSMEM_DEMO": "0",
           "OBSMEM_PORT": str(port), "HF_HUB_OFFLINE": "1"}  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.serve"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:  # an empty data dir: the stores take seconds to start
            lines.append(line)
            if "starting the stores" in line:
                proc.send_signal(signal.SIGTERM)
                break
        out = "".join(lines) + proc.communicate(timeout=120)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, out[-2000:]
    assert "obsmem stopped" in out, out[-2000:]
    assert _servers_on(data) == []
