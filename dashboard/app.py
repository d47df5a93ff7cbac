"""The obsmem dashboard and JSON API: a Flask app factory (same layout as Flask's tutorial).

`create_app(memory=...)` wraps a Memory someone else owns (tests, dashboard.serve);
`create_app()` opens one from the environment and closes it with the app's
`close_memory()` (registered in app.extensions) when the caller is done.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, request

from obsmem.config import Settings

MAX_BODY_BYTES = 2 * 1024 * 1024

SECURITY_HEADERS = {
    # No inline script or style anywhere: every asset is a file under /static.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def _note_route(resp: Response) -> Response:
    """Tell the access log whether a route matched: an unmatched path is whatever a client
    typed (a token pasted into a URL included), so only its first segment is logged."""
    request.environ["obsmem.route_matched"] = request.url_rule is not None
    return resp


_SECURITY_HEADERS_LOWER = tuple((k.lower(), k, v) for k, v in SECURITY_HEADERS.items())


def _security_headers(resp: Response) -> Response:
    """Each header the response does not set already. (One look at the names it has:
    werkzeug's `setdefault` raised and caught a KeyError per header it added.)"""
    have = {k.lower() for k, _ in resp.headers}
    for low, k, v in _SECURITY_HEADERS_LOWER:
        if low not in have:
            resp.headers.add(k, v)
    if resp.mimetype == "application/json" and "cache-control" not in have:
        resp.headers.add("Cache-Control", "no-store")
    return resp


def create_app(memory: Any = None, settings: Settings | None = None) -> Flask:
    """Build the app over `memory`; open one from `settings` (or the env) when none is given."""
    if settings is None:
        settings = memory.settings if memory is not None else Settings.from_env()
    settings.check_auth()  # OBSMEM_AUTH_READS=1 without a token is a config error
    owns_memory = memory is None
    if memory is None:
        from obsmem import Memory

        memory = Memory.open(settings)

    app = Flask(__name__)
    app.config.update(
        MAX_CONTENT_LENGTH=MAX_BODY_BYTES,
        OBSMEM_SETTINGS=settings,
        JSON_SORT_KEYS=False,
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["obsmem.memory"] = memory
    app.extensions["obsmem.owns_memory"] = owns_memory

    from dashboard import api, errors, health, metrics, openapi, pages
    from dashboard.auth import init_auth
    from dashboard.guard import init_guard

    errors.register_error_handlers(app)
    from dashboard import degraded

    degraded.install(app)  # served_by / degraded on read answers, the banner on pages
    metrics.init_metrics(app, memory)
    init_auth(app)
    init_guard(app)  # runs first: Host, Origin and content type before the token
    app.register_blueprint(health.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    app.after_request(_security_headers)
    app.after_request(_note_route)
    return app


def close_app(app: Flask) -> None:
    """Close the Memory if this app opened it (idempotent)."""
    if app.extensions.pop("obsmem.owns_memory", False):
        app.extensions["obsmem.memory"].close()
