"""`served_by` / `degraded` on every read answer, and the degraded banner on every page.

Each request opens a read trace (obsmem.served); Memory's reads note which store
answered and what only the missing store knows. JSON read answers get the trace
added beside their own fields (existing fields are never overwritten), and pages
get it as `degraded` / `degraded_reason` for the banner in base.html.
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, g, jsonify, request

from obsmem import served

# Read routes that are POSTs (a query in a body); every GET under /api is a read.
_POST_READS = frozenset({"/api/recall"})


def _open_trace() -> None:
    g.obsmem_trace, g.obsmem_trace_token = served.start()


def _close_trace(_exc: BaseException | None = None) -> None:
    token = g.pop("obsmem_trace_token", None)
    if token is not None:
        served.stop(token)


def _with_open_breakers(trace: served.ReadTrace) -> served.ReadTrace:
    """A store known to be out (its breaker is open) makes the answer degraded even when this
    request's reads did not need it: the service as a whole is running on one store."""
    try:
        states = current_app.extensions["obsmem.memory"].manager.breaker_state()
    except Exception:  # a Memory without a manager (or one being closed): nothing to add
        return trace
    for store, state in states.items():
        if state.get("open"):
            kind = state.get("kind") or "down"
            trace.missing.setdefault(store, f"{kind}: {state.get('last_error')}")
    return trace


def _is_read() -> bool:
    if not request.path.startswith("/api/"):
        return False
    return request.method == "GET" or (request.method == "POST" and request.path in _POST_READS)


def _with_trace(body: dict[str, Any], trace: served.ReadTrace | None) -> dict[str, Any]:
    """`body` plus the trace's fields it does not have already (none when no store was asked)."""
    if trace is None:
        return body
    _with_open_breakers(trace)
    if not trace.served and not trace.missing:
        return body  # no store was asked (e.g. the OpenAPI document)
    extra = {k: v for k, v in trace.to_dict().items() if k not in body}
    return {**body, **extra} if extra else body


def read_answer(body: dict[str, Any]) -> Response:
    """A 200 JSON read answer with the trace merged in before it is encoded.

    The after-request hook would otherwise parse the encoded answer back and, when
    something is missing, encode it again; for the hot read (recall) the view knows
    the body, so it is encoded once.
    """
    g.obsmem_annotated = True
    return jsonify(_with_trace(body, g.get("obsmem_trace")))


def _annotate(resp: Response) -> Response:
    """Add the trace to a successful JSON read answer (a 404 or 400 stays as it is)."""
    if g.get("obsmem_annotated"):
        return resp  # read_answer did it
    trace = g.get("obsmem_trace")
    if trace is None or resp.status_code != 200 or not resp.is_json or not _is_read():
        return resp
    _with_open_breakers(trace)
    if not trace.served and not trace.missing:
        return resp  # no store was asked (e.g. the OpenAPI document)
    body = resp.get_json(silent=True)
    if not isinstance(body, dict):
        return resp
    extra = {k: v for k, v in trace.to_dict().items() if k not in body}
    if extra:
        resp.set_data(_dumps({**body, **extra}))
    return resp


def _dumps(body: dict[str, Any]) -> str:
    return current_app.json.dumps(body)


def _page_context() -> dict[str, Any]:
    trace = g.get("obsmem_trace")
    if trace is not None:
        _with_open_breakers(trace)
    return {
        "degraded": bool(trace and trace.degraded),
        "degraded_reason": trace.reason if trace else None,
    }


def install(app: Flask) -> None:
    app.before_request(_open_trace)
    app.after_request(_annotate)
    app.teardown_request(_close_trace)
    app.context_processor(_page_context)
