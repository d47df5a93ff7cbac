"""Stopping the real waitress server (dashboard.graceful) while clients are connected.

The server runs on a thread as in the tests and benchmarks; `obsmem serve` stops it
the same way on SIGTERM. No stores: a plain WSGI app is enough to drive waitress.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import time
from collections.abc import Iterable
from typing import Any

import pytest

from dashboard.graceful import stop
from dashboard.serve import start_in_thread

BIG = b"x" * (1 << 20)  # more than one socket buffer: the loop thread has to send the rest


def _app(entered: threading.Event, release: threading.Event) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/slow":
            entered.set()
            release.wait(10)
            body = BIG
        else:
            body = b"ok"
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]

    return app


def _address(running: Any) -> tuple[str, int]:
    return running.server.effective_host, int(running.server.effective_port)


def _get(address: tuple[str, int], path: str = "/") -> http.client.HTTPConnection:
    """A keep-alive connection that has had one answer."""
    conn = http.client.HTTPConnection(*address, timeout=10)
    conn.request("GET", path)
    assert conn.getresponse().read() == b"ok"
    return conn


def _hammer(address: tuple[str, int], done: threading.Event) -> None:
    """New connections as fast as they go: keeps the loop busy while it is stopped."""
    while not done.is_set():
        try:
            _get(address).close()
        except (OSError, http.client.HTTPException):
            time.sleep(0.001)  # refused or cut off by the stop: expected


@pytest.fixture
def thread_errors(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Exceptions that end any thread during the test (waitress's loop thread among them)."""
    seen: list[str] = []

    def hook(args: threading.ExceptHookArgs) -> None:
        seen.append(
            f"{args.thread.name if args.thread else '?'}: {args.exc_type.__name__}: {args.exc_value}"
        )

    monkeypatch.setattr(threading, "excepthook", hook)
    return seen


def test_stopping_under_traffic_ends_the_loop_without_an_exception(
    thread_errors: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The old stop closed the sockets from the stopping thread while the loop ran:
    its `select` hit the closed descriptors (EBADF) in about 2 of 5 such stops."""
    caplog.set_level(logging.ERROR, logger="waitress")
    never = threading.Event()
    for _ in range(20):
        running = start_in_thread(_app(never, never), threads=2)
        address = _address(running)
        idle = [_get(address) for _ in range(4)]
        done = threading.Event()
        hammers = [threading.Thread(target=_hammer, args=(address, done)) for _ in range(2)]
        for h in hammers:
            h.start()
        time.sleep(0.03)
        try:
            running.stop()
        finally:
            done.set()
            for h in hammers:
                h.join(10)
        assert not running.thread.is_alive()
        assert not running.server._map  # every socket of the loop closed
        for conn in idle:
            conn.close()
    assert thread_errors == []
    assert [r.getMessage() for r in caplog.records if r.name.startswith("waitress")] == []


def test_a_running_request_finishes_and_its_answer_arrives(thread_errors: list[str]) -> None:
    entered, release = threading.Event(), threading.Event()
    running = start_in_thread(_app(entered, release), threads=2)
    address = _address(running)
    idle = _get(address)
    answer: dict[str, Any] = {}

    def slow() -> None:
        conn = http.client.HTTPConnection(*address, timeout=30)
        conn.request("GET", "/slow")
        resp = conn.getresponse()
        answer["status"], answer["body"] = resp.status, resp.read()
        conn.close()

    client = threading.Thread(target=slow)
    client.start()
    assert entered.wait(10)
    threading.Timer(0.3, release.set).start()  # the request is still running when stop begins
    running.stop()
    assert not running.thread.is_alive()
    client.join(10)
    assert answer == {"status": 200, "body": BIG}
    with pytest.raises(ConnectionRefusedError):  # no longer listening
        socket.create_connection(address, timeout=5).close()
    idle.sock.settimeout(5)
    assert idle.sock.recv(1) == b""  # the idle keep-alive connection was closed, not left open
    idle.close()
    assert thread_errors == []


def test_a_request_past_the_grace_time_does_not_hold_the_stop(thread_errors: list[str]) -> None:
    entered, release = threading.Event(), threading.Event()
    running = start_in_thread(_app(entered, release), threads=2)
    address = _address(running)
    conn = http.client.HTTPConnection(*address, timeout=30)
    conn.request("GET", "/slow")
    assert entered.wait(10)
    started = time.monotonic()
    assert stop(running.server, running.thread, grace=0.3, timeout=3.0) is True
    assert time.monotonic() - started < 3.0
    with pytest.raises((OSError, http.client.HTTPException)):  # cut off: it outlived the grace
        conn.getresponse().read()
    release.set()  # the request thread now ends and writes to a closed connection
    time.sleep(0.3)
    conn.close()
    assert thread_errors == []
