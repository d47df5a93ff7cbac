"""Every error the app can answer with, in one place and one JSON shape.

API clients always get `{"error": {"code", "message", "field"?}}`; browsers on
pages get a small HTML page. Nothing ever answers with a traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from obsmem.model import ValidationError

log = logging.getLogger("obsmem.dashboard")

_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """Raised by views to answer with a given status and message."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code or _CODES.get(status, "error")
        self.field = field
        self.headers = headers or {}


def _wants_json() -> bool:
    path = request.path
    if path.startswith(("/api/", "/health", "/metrics", "/openapi")):
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def error_response(
    status: int,
    message: str,
    *,
    code: str | None = None,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {"code": code or _CODES.get(status, "error"), "message": message}
    if field:
        body["field"] = field
    if _wants_json():
        resp = jsonify({"error": body})
    else:
        resp = Response(
            render_template("error.html", status=status, error=body), mimetype="text/html"
        )
    resp.status_code = status
    for k, v in (headers or {}).items():
        resp.headers[k] = v
    return resp


def register_error_handlers(app: Flask) -> None:
    from obsmem.memory import NotFound, Unavailable
    from obsmem.stores.outbox import OutboxError

    @app.errorhandler(ApiError)
    def _api_error(e: ApiError) -> Response:
        return error_response(e.status, e.message, code=e.code, field=e.field, headers=e.headers)

    @app.errorhandler(ValidationError)
    def _validation(e: ValidationError) -> Response:
        return error_response(400, e.message, code="invalid", field=e.field)

    @app.errorhandler(NotFound)
    def _not_found(e: Exception) -> Response:
        return error_response(404, str(e) or "not found")

    @app.errorhandler(Unavailable)
    def _unavailable(e: Exception) -> Response:
        log.warning("no store could answer %s %s: %s", request.method, request.path, e)
        return error_response(
            503, "no store can serve this request right now", headers={"Retry-After": "5"}
        )

    @app.errorhandler(OutboxError)
    def _outbox(e: Exception) -> Response:
        # A store is down and the durable queue cannot take the write: retryable, never "ok".
        log.error("write refused on %s %s: %s", request.method, request.path, e)
        return error_response(503, str(e), code="outbox_unavailable", headers={"Retry-After": "30"})

    @app.errorhandler(HTTPException)
    def _http(e: HTTPException) -> Response:
        status = e.code or 500
        message = {
            404: "no such resource",
            405: f"method {request.method} is not allowed here",
            413: "request body is too large",
        }.get(status, e.description or e.name)
        headers = {}
        if status == 405:
            headers = {k: v for k, v in e.get_headers() if k.lower() == "allow"}
        return error_response(status, message, headers=headers)

    @app.errorhandler(Exception)
    def _unexpected(e: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal error; the server log has the details")
