"""Deadlines for reading a request, so slow clients cannot hold waitress's connections.

Why: waitress's `channel_timeout` counts idle time, and a client that drips one
header byte every few seconds is never idle; a hundred of them fill the
connection limit and the service stops answering. Here every request gets a
deadline for its headers and one for its whole body, checked in waitress's own
maintenance pass; a channel past either is closed.
"""

from __future__ import annotations

import time
from typing import Any

from waitress.channel import HTTPChannel
from waitress.parser import HTTPRequestParser

CONNECTION_LIMIT = 100  # waitress's default, stated: the deadlines keep it from being exhausted
HEADER_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 60.0


class _TimedParser(HTTPRequestParser):
    """A request parser that remembers when its first byte arrived."""

    def __init__(self, adj: Any) -> None:
        super().__init__(adj)
        self.started = time.monotonic()


class _TimedChannel(HTTPChannel):
    parser_class = _TimedParser


def overdue(parser: Any, now: float, header_timeout: float, request_timeout: float) -> bool:
    """Is this request still being read past its deadline?"""
    started = getattr(parser, "started", None)
    if started is None or parser.completed:
        return False
    limit = request_timeout if parser.headers_finished else header_timeout
    return now - started > limit


def bound(
    server: Any,
    header_timeout: float = HEADER_TIMEOUT_S,
    request_timeout: float = REQUEST_TIMEOUT_S,
) -> Any:
    """Give `server` (from waitress.create_server) read deadlines; returns it."""
    server.channel_class = _TimedChannel
    base = server.maintenance

    def maintenance(now: float) -> None:
        base(now)
        mono = time.monotonic()
        for channel in list(server.active_channels.values()):
            if overdue(getattr(channel, "request", None), mono, header_timeout, request_timeout):
                channel.will_close = True  # waitress closes it on its next loop pass

    server.maintenance = maintenance
    return server
