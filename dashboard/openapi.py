"""GET /openapi.json: the API described as OpenAPI 3.1, built in Python so it stays close to the code.

tests/dashboard/test_openapi.py checks that every Flask route is here and that
everything here is a route; schemathesis fuzzes the API from this document.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

import obsmem
from obsmem.model import MAX_K, MAX_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS, remember_schema

bp = Blueprint("openapi", __name__)

OBJ: dict[str, Any] = {"type": "object"}
ERROR = {"$ref": "#/components/responses/Error"}
WRITE_SECURITY = [{"bearerAuth": []}]


def _q(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "schema": schema,
        "description": description,
    }


def _path(name: str, description: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    }


LIMIT = _q("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}, "page size")
OFFSET = _q("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}, "rows to skip")
K = _q("k", {"type": "integer", "minimum": 1, "maximum": MAX_K}, "number of hits")
SINCE = _q("since", {"type": "string"}, "ISO-8601 time or epoch milliseconds")
TEXT = {"type": "string", "maxLength": MAX_QUERY_CHARS}
NAME = {"type": "string", "maxLength": 200}
FIX_ID = _path("fix_id", "a fix id, e.g. fix_0123abcd...")


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _html(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


def _op(
    summary: str,
    responses: dict[str, Any],
    *,
    tag: str = "api",
    params: list[dict] | None = None,
    body: dict[str, Any] | None = None,
    write: bool = False,
) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if write:
        op["security"] = WRITE_SECURITY
        responses.setdefault("401", ERROR)
        responses.setdefault("403", ERROR)  # foreign Host or Origin (dashboard/guard.py)
        responses.setdefault("415", ERROR)  # writes must be application/json, empty ones too
    if params or body is not None:
        responses.setdefault("400", ERROR)
    if body is not None:
        responses.setdefault("413", ERROR)
        responses.setdefault("415", ERROR)
    if tag == "api":
        responses.setdefault("503", ERROR)
    return op


REMEMBER_BODY = remember_schema()  # derived from the one fix record in obsmem.model
MIN_RELEVANCE = {"type": "number", "minimum": 0, "maximum": 1}
RECALL_BODY = {
    "type": "object",
    "required": ["q"],
    "additionalProperties": False,
    "properties": {
        "q": TEXT,
        "k": {"type": "integer", "minimum": 1, "maximum": MAX_K},
        "service": NAME,
        "agent": NAME,
        "only_successful": {"type": "boolean"},
        "since": {"type": ["string", "integer"]},
        "min_relevance": MIN_RELEVANCE,
    },
}


# Response shapes that agents written against the original ops guide rely on. The guide's
# names (timestamp, count, status/name/server, issues, checks.database) sit beside obsmem's
# own; other fields may be present (additionalProperties stays open).
def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


NULLABLE_STR = {"type": ["string", "null"]}
SCHEMAS: dict[str, Any] = {
    "Fix": {
        "type": "object",
        "required": ["id", "issue", "solution", "ts", "timestamp", "success"],
        "properties": {
            "id": {"type": "string"},
            "issue": {"type": "string"},
            "solution": {"type": "string"},
            "ts": {"type": "integer", "description": "first seen, epoch ms"},
            "timestamp": {
                "type": "integer",
                "description": "the ops guide's name for ts (epoch ms)",
            },
            "success": {"type": ["boolean", "null"]},
        },
    },
    "FixPage": {
        "type": "object",
        "required": ["fixes", "total", "count", "limit", "offset"],
        "properties": {
            "fixes": {"type": "array", "items": _ref("Fix")},
            "total": {"type": "integer", "description": "all matching fixes"},
            "count": {"type": "integer", "description": "fixes on this page"},
            "limit": {"type": "integer"},
            "offset": {"type": "integer"},
        },
    },
    "Agent": {
        "type": "object",
        "required": ["name", "server", "status", "last_seen"],
        "properties": {
            "name": {"type": "string"},
            "server": NULLABLE_STR,
            "status": {"type": "string"},
            "last_seen": {"type": ["integer", "null"], "description": "epoch ms"},
            "last_seen_at": NULLABLE_STR,
        },
    },
    "Registered": {
        "type": "object",
        "required": ["agent", "status", "name", "server"],
        "properties": {
            "agent": _ref("Agent"),
            "status": {"type": "string", "const": "registered"},
            "name": {"type": "string"},
            "server": NULLABLE_STR,
        },
    },
    "IssueGroup": {
        "type": "object",
        "required": ["signature", "issue", "occurrence_count"],
        "properties": {
            "signature": {"type": "string"},
            "issue": {"type": "string"},
            "occurrence_count": {"type": "integer"},
            "fixes": {"type": "integer"},
            "fix_ids": {"type": "array", "items": {"type": "string"}},
        },
    },
    "SimilarIssue": {
        "allOf": [
            _ref("IssueGroup"),
            {
                "type": "object",
                "required": ["solution"],
                "properties": {
                    "solution": {
                        "type": "string",
                        "description": "solution of the group's most applied fix",
                    }
                },
            },
        ]
    },
    "Similar": {
        "type": "object",
        "required": ["groups", "issues", "query"],
        "properties": {
            "groups": {"type": "array", "items": _ref("IssueGroup")},
            "issues": {"type": "array", "items": _ref("SimilarIssue")},
            "query": {"type": "string"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["healthy", "degraded", "unhealthy"]},
            "timestamp": {"type": "string", "description": "ISO-8601 UTC (the ops guide's name)"},
            "checked_at": {"type": "string"},
            "checks": {
                "type": "object",
                "required": ["disk", "memory", "database"],
                "properties": {
                    "disk": {
                        "type": "object",
                        "required": ["status", "usage_percent"],
                        "properties": {
                            "status": {"type": "string"},
                            "usage_percent": {"type": "number"},
                        },
                    },
                    "memory": {
                        "type": "object",
                        "required": ["status", "usage_percent"],
                        "properties": {
                            "status": {"type": "string"},
                            "usage_percent": {"type": "number"},
                        },
                    },
                    "database": {
                        "type": "object",
                        "required": ["status", "connected"],
                        "properties": {
                            "status": {"type": "string", "enum": ["ok", "degraded", "error"]},
                            "connected": {"type": "boolean"},
                            "stores": {
                                "type": "object",
                                "additionalProperties": {"type": "boolean"},
                            },
                        },
                    },
                },
            },
        },
        "description": "with protected reads and no token, only status",
    },
}

RECALL_PARAMS = [
    _q("q", TEXT, "what went wrong", True),
    K,
    _q("service", NAME, "filter"),
    _q("agent", NAME, "filter"),
    _q("only_successful", {"type": "boolean"}, "only fixes that worked"),
    SINCE,
    _q(
        "min_relevance",
        MIN_RELEVANCE,
        "bar for no_match (default OBSMEM_MIN_RELEVANCE); hits under it are marked below_bar",
    ),
]


IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
    "description": "one per logical write; resend it on a retry and the write counts once",
}  # fmt: skip
IDEMPOTENT_WRITES = ("/api/remember", "/api/fixes/{fix_id}/feedback", "/api/register-agent",
                     "/api/agents/{name}/heartbeat")  # fmt: skip


SORT = {
    "name": "sort",
    "in": "query",
    "required": False,
    "description": "newest first by when first seen (created) or last seen",
    "schema": {"type": "string", "enum": ["created", "last_seen"]},
}


def spec() -> dict[str, Any]:
    ok = "200"
    paths: dict[str, Any] = {
        "/health": {
            "get": _op(
                "Overall status with disk, memory, graph, vectors and outbox checks",
                {
                    ok: _json(_ref("Health"), "healthy or degraded"),
                    "503": _json(_ref("Health"), "unhealthy"),
                },
                tag="ops",
            )
        },
        "/metrics": {
            "get": _op(
                "Prometheus metrics",
                {
                    ok: {
                        "description": "text exposition format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
                tag="ops",
            )
        },
        "/openapi.json": {"get": _op("This document", {ok: _json(OBJ, "OpenAPI 3.1")}, tag="ops")},
        "/api/state": {
            "get": _op(
                "Agents, recent fixes, counts, disk usage, last check",
                {ok: _json(OBJ, "state")},
                params=[LIMIT],
            )
        },
        "/api/stats": {
            "get": _op(
                "Success by issue signature and root cause, fixes over time",
                {ok: _json(OBJ, "stats")},
                params=[
                    LIMIT,
                    _q("days", {"type": "integer", "minimum": 1, "maximum": 366}, "window"),
                ],
            )
        },
        "/api/agents": {
            "get": _op(
                "All agents",
                {
                    ok: _json(
                        {
                            "type": "object",
                            "required": ["agents", "total"],
                            "properties": {
                                "agents": {"type": "array", "items": _ref("Agent")},
                                "total": {"type": "integer"},
                            },
                        },
                        "agents and total",
                    )
                },
            )
        },
        "/api/register-agent": {
            "post": _op(
                "Register (or re-register) an agent",
                {
                    "201": _json(
                        _ref("Registered"), "the agent, and the ops guide's status/name/server"
                    )
                },
                body={
                    "type": "object",
                    "required": ["name"],
                    "additionalProperties": False,
                    "properties": {"name": NAME, "server": NAME},
                },
                write=True,
            )
        },
        "/api/agents/{name}/heartbeat": {
            "post": _op(
                "Mark an agent as alive now",
                {ok: _json(OBJ, "the agent"), "404": ERROR},
                params=[_path("name", "agent name")],
                write=True,
            )
        },
        "/api/fixes": {
            "get": _op(
                "Fixes, newest first, filtered; with q ranked by recall",
                {ok: _json(_ref("FixPage"), "page")},
                params=[
                    LIMIT,
                    OFFSET,
                    _q("agent", NAME, "filter"),
                    _q("service", NAME, "filter"),
                    _q("success", {"type": "boolean"}, "filter"),
                    _q("q", TEXT, "search"),
                    SINCE,
                    SORT,
                ],
            )
        },
        "/api/fixes/{fix_id}": {
            "get": _op(
                "A fix with its agents and outcomes",
                {ok: _json(OBJ, "detail"), "404": ERROR},
                params=[FIX_ID],
            ),
            "delete": _op(
                "Delete a fix from both stores",
                {ok: _json(OBJ, "deleted"), "404": ERROR},
                params=[FIX_ID],
                write=True,
            ),
        },
        "/api/fixes/{fix_id}/feedback": {
            "post": _op(
                "Report whether a fix worked",
                {ok: _json(OBJ, "where it was stored"), "404": ERROR},
                params=[FIX_ID],
                write=True,
                body={
                    "type": "object",
                    "required": ["success"],
                    "additionalProperties": False,
                    "properties": {
                        "success": {"type": "boolean"},
                        "agent": NAME,
                        "vote": {
                            **NAME,
                            "description": "a voter key (e.g. a browser "
                            "session): one vote per fix, agent and key; "
                            "the opposite answer changes it",
                        },
                    },
                },
            )
        },
        "/api/graph/{fix_id}": {
            "get": _op(
                "Agents, services and fixes around a fix",
                {ok: _json(OBJ, "nodes and edges"), "404": ERROR},
                params=[FIX_ID],
            )
        },
        "/api/explore": {
            "get": _op(
                "The graph around any node, for the explorer: nodes, outcome-coloured edges",
                {ok: _json(OBJ, "nodes, edges, truncated"), "404": ERROR},
                params=[
                    _q(
                        "node",
                        {"type": "string", "minLength": 3, "maxLength": 260},
                        "kind:key with kind fix, agent, service or issue",
                        True,
                    ),
                    _q("depth", {"type": "integer", "minimum": 1, "maximum": 3}, "hops"),
                    _q(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 300},
                        "most nodes returned",
                    ),
                ],
            )
        },
        "/api/remember": {
            "post": _op(
                "Remember an issue and its solution",
                {"201": _json(OBJ, "stored"), ok: _json(OBJ, "merged into an existing fix")},
                body=REMEMBER_BODY,
                write=True,
            )
        },
        "/api/recall": {
            "get": _op(
                "Fixes for a problem, best first, each with relevance and why; no_match when none reaches the bar",
                {ok: _json(OBJ, "hits")},
                params=RECALL_PARAMS,
            ),
            "post": _op(
                "Same as GET, parameters in a JSON body (a read: the token is needed "
                "only when reads are protected)",
                {ok: _json(OBJ, "hits")},
                body=RECALL_BODY,
            ),
        },
        "/api/similar": {
            "get": _op(
                "Issue groups like the text; `issues` adds each group's solution",
                {ok: _json(_ref("Similar"), "groups and issues")},
                params=[_q("q", TEXT, "issue text", True), LIMIT],
            )
        },
        "/": {"get": _op("Overview page", {ok: _html("page")}, tag="pages")},
        "/fixes": {
            "get": _op(
                "Fixes page",
                {ok: _html("page")},
                tag="pages",
                params=[
                    LIMIT,
                    OFFSET,
                    _q("q", TEXT, "search"),
                    _q("agent", NAME, "filter"),
                    _q("service", NAME, "filter"),
                    _q("success", {"type": "string", "enum": ["", "true", "false"]}, "filter"),
                    SORT,
                ],
            )
        },
        "/fixes/{fix_id}": {
            "get": _op(
                "A fix's page",
                {ok: _html("page"), "404": _html("no fix")},
                tag="pages",
                params=[FIX_ID],
            )
        },
        "/agents": {"get": _op("Agents page", {ok: _html("page")}, tag="pages")},
        "/graph": {
            "get": _op(
                "Graph explorer from a fix, agent, service or issue",
                {ok: _html("page")},
                tag="pages",
                params=[_q("node", {"type": "string"}, "start node, kind:key")],
            )
        },
        "/charts": {
            "get": _op("Fixes and success rate over time", {ok: _html("page")}, tag="pages")
        },
    }
    for path in IDEMPOTENT_WRITES:  # retried writes count once (the event id derives from the key)
        paths[path]["post"].setdefault("parameters", []).append(IDEMPOTENCY_KEY)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "obsmem",
            "version": obsmem.__version__,
            "description": "Graph-plus-vector memory for observability agents. "
            'Errors are {"error": {"code", "message", "field"?}}.',
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                **SCHEMAS,
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message"],
                            "properties": {
                                "code": {"type": "string"},
                                "message": {"type": "string"},
                                "field": {"type": "string"},
                            },
                        }
                    },
                },
            },
            "responses": {"Error": _json({"$ref": "#/components/schemas/Error"}, "an error")},
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(spec())
