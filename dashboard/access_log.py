"""One access-log line per HTTP request: client, method, path, status, milliseconds.

A WSGI wrapper rather than a Flask hook, so requests Flask never sees as a view
(404s, static files, errors) are logged too. The query string is left out: it
carries search text, which may be sensitive, and so may a path no route knows
(only its first segment is logged). Lines go to the `obsmem.access`
logger, which writes to stdout by itself so the log shows requests whatever the
CLI's log level.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

log = logging.getLogger("obsmem.access")

StartResponse = Callable[..., Any]


def _configure() -> None:
    if log.handlers:
        return
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    log.propagate = False


class AccessLog:
    """Wrap a WSGI app; log when the response body is finished (or the client left)."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self.app = app
        _configure()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        t0 = time.perf_counter()
        status: list[str] = ["-"]

        def recording_start(code: str, headers: Any, *exc: Any) -> Any:
            status[0] = code.split(" ", 1)[0]
            return start_response(code, headers, *exc)

        body = self.app(environ, recording_start)
        try:
            yield from body
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
            ms = (time.perf_counter() - t0) * 1000
            log.info("%s %s %s %s %.1f ms", environ.get("REMOTE_ADDR", "-"),
                     environ.get("REQUEST_METHOD", "-"), _path(environ), status[0], ms)  # fmt: skip


def _path(environ: dict[str, Any]) -> str:
    """The request path; for a path no route matched, only its first segment."""
    path = str(environ.get("PATH_INFO", "") or "/")
    if environ.get("obsmem.route_matched", True):
        return path
    first = path.lstrip("/").split("/", 1)[0][:40]
    return f"/{first}/…" if first else "/"
