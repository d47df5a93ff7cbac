"""Browser safety that holds without a token: DNS rebinding and cross-site writes.

With no token (the loopback default) the only thing between a hostile web page
and the memory is the browser's same-origin policy, and two gaps get around it:

- DNS rebinding: the page's own host name is re-pointed at 127.0.0.1, so its
  requests are same-origin to the browser but carry `Host: evil.example`. Only
  expected `Host` values are served: loopback names by default, more with
  `OBSMEM_ALLOWED_HOSTS` (comma-separated; `*` turns the check off). With a token
  the check runs only when that variable is set (a token already stops the page).
- Cross-site "simple" requests: a form can POST `x-www-form-urlencoded` or
  `text/plain`, even with an empty body, without a CORS preflight. Every
  POST/PUT/PATCH must say `Content-Type: application/json` (which a form cannot),
  and a write that carries an `Origin` (browsers send it) must come from this
  very origin.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app, request

from dashboard.errors import ApiError
from obsmem.config import Settings

LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "localhost.localdomain"})
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def allowed_hosts(settings: Settings) -> frozenset[str] | None:
    """Host names from OBSMEM_ALLOWED_HOSTS (Settings.allowed_hosts), None when unset."""
    return frozenset(settings.allowed_hosts) or None


def host_name(host_header: str) -> str:
    """`Host` without its port, lower-cased: `[::1]:8000` -> `[::1]`, `a.b:80` -> `a.b`."""
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _expected_hosts() -> frozenset[str] | None:
    """The hosts to accept, or None for no check (a token is set and nothing configured)."""
    configured = current_app.config.get("OBSMEM_ALLOWED_HOSTS")
    if configured is not None:
        return None if "*" in configured else configured | LOOPBACK_HOSTS
    settings = current_app.config["OBSMEM_SETTINGS"]
    if settings.api_token:
        return None
    return LOOPBACK_HOSTS | {settings.host.lower()}


def _check() -> None:
    hosts = _expected_hosts()
    if hosts is not None and host_name(request.host) not in hosts:
        raise ApiError(
            403,
            "unexpected Host header; add the name this server is reached by to "
            "OBSMEM_ALLOWED_HOSTS",
            code="forbidden",
        )
    if request.method in READ_METHODS:
        return
    origin = request.headers.get("Origin")
    if origin is not None and not _same_origin(origin):
        raise ApiError(403, "cross-origin writes are refused", code="forbidden")
    if request.method in BODY_METHODS and request.mimetype != "application/json":
        raise ApiError(415, "send writes as application/json (an empty body too)")


def _same_origin(origin: str) -> bool:
    # host:port only: behind a TLS proxy the page is https while this request is http.
    return urlsplit(origin).netloc.lower() == request.host.lower()


def init_guard(app: Flask) -> None:
    """Check Host, Origin and content type before anything else runs (auth included)."""
    app.config.setdefault("OBSMEM_ALLOWED_HOSTS", allowed_hosts(app.config["OBSMEM_SETTINGS"]))
    app.before_request_funcs.setdefault(None, []).insert(0, _check)
