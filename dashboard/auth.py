"""Bearer-token access control, when OBSMEM_API_TOKEN is set.

Writes always need the token; reads (GETs, and POST /api/recall, which only reads)
need it too when OBSMEM_AUTH_READS=1.
Tokens travel only in the Authorization header (pages keep a pasted token in
sessionStorage), so no cookie carries authority and there is no CSRF surface.
The token is compared in constant time and never logged.
"""

from __future__ import annotations

import hmac

from flask import Flask, current_app, request

from dashboard.errors import ApiError
from obsmem.config import Settings

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# POSTs that only read (a query too large or structured for a URL): they follow the read rule.
READ_POSTS = frozenset({"/api/recall"})
# Always open: load balancers probe /health (it reveals only the status when
# reads are protected), static assets and the API description hold no data.
OPEN_PREFIXES = ("/health", "/static/", "/openapi.json")


def _settings() -> Settings:
    return current_app.config["OBSMEM_SETTINGS"]


def token_ok() -> bool:
    """True when no token is configured or the request carries the right one."""
    expected = _settings().api_token
    if not expected:
        return True
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        return False
    return hmac.compare_digest(given.strip().encode("utf-8"), expected.encode("utf-8"))


def reads_protected() -> bool:
    s = _settings()
    return bool(s.api_token and s.auth_reads)


def is_read(method: str, path: str) -> bool:
    """Whether a request only reads: GET-like methods, and the POSTs listed in READ_POSTS."""
    return method in READ_METHODS or (method == "POST" and path in READ_POSTS)


def _is_page(path: str) -> bool:
    return not path.startswith(("/api/", "/metrics"))


def _check() -> None:
    s = _settings()
    if not s.api_token:
        return
    path = request.path
    open_read = path.startswith(OPEN_PREFIXES) or _is_page(path) or not s.auth_reads
    if is_read(request.method, path) and open_read:
        return  # pages render a locked shell themselves when reads are protected
    if not token_ok():
        raise ApiError(
            401,
            "this request needs 'Authorization: Bearer <OBSMEM_API_TOKEN>'",
            headers={"WWW-Authenticate": 'Bearer realm="obsmem"'},
        )


def init_auth(app: Flask) -> None:
    app.before_request(_check)
