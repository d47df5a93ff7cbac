"""The API as agents and the dashboard meet it: a real `python -m dashboard.serve` subprocess.

The server shares the benchmark's data dir, so it attaches to the embedded stores
the benchmark already filled (obsmem.stores.embedded shares servers between processes).
Recalls go through obsmem.client.Client (keep-alive), what agents use; before
round 4 they went through a bare requests.Session.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from bench.generate import Query
from bench.measure import rss_mb, summary
from obsmem.client import Client, ServiceError

TIMEOUT = 300  # seconds; the server's first recall loads the model, slow on a busy box


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """dashboard.serve on 127.0.0.1 in a child process; always stopped by `stop`."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        threads: int = 8,
        code_dir: Path | None = None,
        extra_env: dict[str, str] | None = None,
    ):
        """`code_dir`: run the obsmem checkout there instead of this one; `extra_env` on top (A/B runs)."""
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "OBSMEM_DATA_DIR": str(data_dir),
            "OBSMEM_HOST": "127.0.0.1",
            "OBSMEM_PORT": str(self.port),
            "OBSMEM_DEMO": "0",
            "OBSMEM_THREADS": str(threads),
            "OBSMEM_LOG_LEVEL": "WARNING",
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            **(extra_env or {}),
        }
        if code_dir is not None:
            env["PYTHONPATH"] = str(code_dir)
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard.serve"],
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            cwd=code_dir,
        )

    def wait_ready(self, timeout: float = 300.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"dashboard.serve exited with {self.proc.returncode}; see {self._log.name}"
                )
            try:
                if requests.get(self.url + "/health", timeout=10).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.3)
        raise TimeoutError(f"dashboard.serve not ready after {timeout}s; see {self._log.name}")

    def rss_mb(self) -> float:
        return rss_mb([self.proc.pid])

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


def _client(url: str) -> Client:
    """The client agents use (obsmem.client), so its cost is in every HTTP figure; no retries."""
    return Client(url, timeout=TIMEOUT, retries=0)


def _recall(client: Client, text: str, k: int) -> tuple[float, float]:
    t0 = time.perf_counter()
    answer = client.recall(text, k=k)
    ms = (time.perf_counter() - t0) * 1000
    return ms, float(answer.get("timings_ms", {}).get("total", 0.0))


def recall_single(url: str, queries: Sequence[Query], k: int = 5) -> dict[str, Any]:
    """One client, one request at a time; overhead = client time - server-side recall time."""
    with _client(url) as c:
        _recall(c, "warm up the connection", k)
        pairs = [_recall(c, q.text, k) for q in queries]
    lat = [a for a, _ in pairs]
    return {"ms": summary(lat), "overhead_ms": summary([a - b for a, b in pairs])}


def recall_concurrent(
    url: str, queries: Sequence[Query], clients: int = 8, k: int = 5
) -> dict[str, Any]:
    """`clients` threads, each its own keep-alive session, sharing the query list."""
    lat: list[float] = []
    lock = threading.Lock()
    errors: list[BaseException] = []
    failed: list[str] = []  # 5xx answers: counted and shown, so one does not void the run

    def worker(part: Sequence[Query]) -> None:
        try:
            with _client(url) as c:
                for q in part:
                    try:
                        ms, _ = _recall(c, q.text, k)
                    except ServiceError as exc:
                        if exc.status < 500:
                            raise
                        with lock:
                            failed.append(q.text)
                        continue
                    with lock:
                        lat.append(ms)
        except BaseException as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(queries[i::clients],)) for i in range(clients)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    out = {"ms": summary(lat), "throughput_per_s": round(len(lat) / wall, 1), "clients": clients}
    if failed:
        out["server_errors"] = len(failed)
    return out


def get_latency(url: str, path: str, n: int, budget_s: float = 60.0) -> dict[str, Any]:
    """`n` GETs, or fewer when they take longer than `budget_s` together (n is in the result)."""
    with requests.Session() as s:
        s.get(url + path, timeout=TIMEOUT).raise_for_status()
        lat: list[float] = []
        start = time.perf_counter()
        while len(lat) < n and time.perf_counter() - start < budget_s:
            t0 = time.perf_counter()
            s.get(url + path, timeout=TIMEOUT).raise_for_status()
            lat.append((time.perf_counter() - t0) * 1000)
    return summary(lat)
