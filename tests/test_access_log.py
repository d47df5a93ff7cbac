"""The access log: one line per request, errors and static files included, no query string."""

from __future__ import annotations

import logging
import re

import requests

from dashboard.access_log import AccessLog
from dashboard.serve import start_in_thread


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_one_line_per_request(fresh_memory) -> None:
    from dashboard.app import create_app

    running = start_in_thread(AccessLog(create_app(fresh_memory)), "127.0.0.1", 0, threads=2)
    lines = _Lines()
    logging.getLogger("obsmem.access").addHandler(lines)
    try:
        requests.get(running.url + "/api/fixes?q=secret+search+text", timeout=30)
        requests.get(running.url + "/static/style.css", timeout=10)
        requests.get(running.url + "/api/nothing-here-s3cr3t", timeout=10)
        requests.post(
            running.url + "/api/remember",
            data="nope",
            timeout=10,
            headers={"Content-Type": "application/json"},
        )
    finally:
        running.stop()  # the line is written after the answer is sent: stop before looking
        logging.getLogger("obsmem.access").removeHandler(lines)
    assert len(lines.lines) == 4, lines.lines
    shape = re.compile(r"^127\.0\.0\.1 (GET|POST) (/\S*) (\d{3}) \d+\.\d ms$")
    parsed = [shape.match(line).groups() for line in lines.lines]  # type: ignore[union-attr]
    assert parsed == [
        ("GET", "/api/fixes", "200"),
        ("GET", "/static/style.css", "200"),
        ("GET", "/api/…", "404"),  # a path no route knows: only its first segment
        ("POST", "/api/remember", "400"),
    ]
    assert not any("secret" in line or "s3cr3t" in line for line in lines.lines)
