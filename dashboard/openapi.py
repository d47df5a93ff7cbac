"""GET /openapi.json: the API described as OpenAPI 3.1, built in Python so it stays close to the code.

tests/dashboard/test_openapi.py checks that every Flask route is here and that
everything here is a route; schemathesis fuzzes the API from this document.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

import obsmem
from obsmem.model import MAX_K, MAX_LIMIT, MAX_OFFSET, MAX_QUERY_CHARS

bp = Blueprint("openapi", __name__)

OBJ: dict[str, Any] = {"type": "object"}
ERROR = {"$ref": "#/components/responses/Error"}
WRITE_SECURITY = [{"bearerAuth": []}]


def _q(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


def _path(name: str, description: str) -> dict:
    return {"name": name, "in": "path", "required": True, "description": description,
            "schema": {"type": "string", "minLength": 1, "maxLength": 200}}


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


def _op(summary: str, responses: dict[str, Any], *, tag: str = "api",
        params: list[dict] | None = None, body: dict[str, Any] | None = None,
        write: bool = False) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": body}}}
    if write:
        op["security"] = WRITE_SECURITY
        responses.setdefault("401", ERROR)
    if params or body is not None:
        responses.setdefault("400", ERROR)
    if body is not None:
        responses.setdefault("413", ERROR)
        responses.setdefault("415", ERROR)
    if tag == "api":
        responses.setdefault("503", ERROR)
    return op


REMEMBER_BODY = {
    "type": "object",
    "required": ["issue", "solution"],
    "additionalProperties": False,
    "properties": {
        "issue": {"type": "string", "maxLength": 20_000},
        "solution": {"type": "string", "maxLength": 100_000},
        "success": {"type": ["boolean", "null"]},
        "agent": NAME, "service": NAME, "namespace": NAME, "severity": NAME,
        "root_cause": NAME,
        "confidence": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
        "tags": {"type": "array", "items": NAME, "maxItems": 32},
        "metadata": OBJ,
        "id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,199}$"},
    },
}
RECALL_BODY = {
    "type": "object",
    "required": ["q"],
    "additionalProperties": False,
    "properties": {
        "q": TEXT, "k": {"type": "integer", "minimum": 1, "maximum": MAX_K},
        "service": NAME, "agent": NAME, "only_successful": {"type": "boolean"},
        "since": {"type": ["string", "integer"]},
    },
}
RECALL_PARAMS = [_q("q", TEXT, "what went wrong", True), K, _q("service", NAME, "filter"),
                 _q("agent", NAME, "filter"),
                 _q("only_successful", {"type": "boolean"}, "only fixes that worked"), SINCE]


SORT = {"name": "sort", "in": "query", "required": False,
        "description": "newest first by when first seen (created) or last seen",
        "schema": {"type": "string", "enum": ["created", "last_seen"]}}


def spec() -> dict[str, Any]:
    ok = "200"
    paths: dict[str, Any] = {
        "/health": {"get": _op("Overall status with disk, memory, graph, vectors and outbox checks",
                               {ok: _json(OBJ, "healthy or degraded"),
                                "503": _json(OBJ, "unhealthy")}, tag="ops")},
        "/metrics": {"get": _op("Prometheus metrics", {ok: {
            "description": "text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}}}}, tag="ops")},
        "/openapi.json": {"get": _op("This document", {ok: _json(OBJ, "OpenAPI 3.1")},
                                     tag="ops")},
        "/api/state": {"get": _op("Agents, recent fixes, counts, disk usage, last check",
                                  {ok: _json(OBJ, "state")}, params=[LIMIT])},
        "/api/stats": {"get": _op("Success by issue signature and root cause, fixes over time",
                                  {ok: _json(OBJ, "stats")},
                                  params=[LIMIT, _q("days", {"type": "integer", "minimum": 1,
                                                             "maximum": 366}, "window")])},
        "/api/agents": {"get": _op("All agents", {ok: _json(OBJ, "agents and total")})},
        "/api/register-agent": {"post": _op(
            "Register (or re-register) an agent", {"201": _json(OBJ, "the agent")},
            body={"type": "object", "required": ["name"], "additionalProperties": False,
                  "properties": {"name": NAME, "server": NAME}}, write=True)},
        "/api/agents/{name}/heartbeat": {"post": _op(
            "Mark an agent as alive now", {ok: _json(OBJ, "the agent"), "404": ERROR},
            params=[_path("name", "agent name")], write=True)},
        "/api/fixes": {"get": _op(
            "Fixes, newest first, filtered; with q ranked by recall", {ok: _json(OBJ, "page")},
            params=[LIMIT, OFFSET, _q("agent", NAME, "filter"), _q("service", NAME, "filter"),
                    _q("success", {"type": "boolean"}, "filter"), _q("q", TEXT, "search"),
                    SINCE, SORT])},
        "/api/fixes/{fix_id}": {
            "get": _op("A fix with its agents and outcomes",
                       {ok: _json(OBJ, "detail"), "404": ERROR}, params=[FIX_ID]),
            "delete": _op("Delete a fix from both stores",
                          {ok: _json(OBJ, "deleted"), "404": ERROR}, params=[FIX_ID],
                          write=True),
        },
        "/api/fixes/{fix_id}/feedback": {"post": _op(
            "Report whether a fix worked", {ok: _json(OBJ, "where it was stored"),
                                            "404": ERROR},
            params=[FIX_ID], write=True,
            body={"type": "object", "required": ["success"], "additionalProperties": False,
                  "properties": {"success": {"type": "boolean"}, "agent": NAME,
                                 "vote": {**NAME, "description": "a voter key (e.g. a browser "
                                          "session): one vote per fix, agent and key; "
                                          "the opposite answer changes it"}}})},
        "/api/graph/{fix_id}": {"get": _op(
            "Agents, services and fixes around a fix", {ok: _json(OBJ, "nodes and edges"),
                                                        "404": ERROR}, params=[FIX_ID])},
        "/api/explore": {"get": _op(
            "The graph around any node, for the explorer: nodes, outcome-coloured edges",
            {ok: _json(OBJ, "nodes, edges, truncated"), "404": ERROR},
            params=[_q("node", {"type": "string", "minLength": 3, "maxLength": 260},
                       "kind:key with kind fix, agent, service or issue", True),
                    _q("depth", {"type": "integer", "minimum": 1, "maximum": 3}, "hops"),
                    _q("limit", {"type": "integer", "minimum": 1, "maximum": 300},
                       "most nodes returned")])},
        "/api/remember": {"post": _op(
            "Remember an issue and its solution",
            {"201": _json(OBJ, "stored"), ok: _json(OBJ, "merged into an existing fix")},
            body=REMEMBER_BODY, write=True)},
        "/api/recall": {
            "get": _op("Fixes for a problem, best first, each with why",
                       {ok: _json(OBJ, "hits")}, params=RECALL_PARAMS),
            "post": _op("Same as GET, parameters in a JSON body", {ok: _json(OBJ, "hits")},
                        body=RECALL_BODY),
        },
        "/api/similar": {"get": _op("Issue groups like the text",
                                    {ok: _json(OBJ, "groups")},
                                    params=[_q("q", TEXT, "issue text", True), LIMIT])},
        "/": {"get": _op("Overview page", {ok: _html("page")}, tag="pages")},
        "/fixes": {"get": _op("Fixes page", {ok: _html("page")}, tag="pages",
                              params=[LIMIT, OFFSET, _q("q", TEXT, "search"),
                                      _q("agent", NAME, "filter"),
                                      _q("service", NAME, "filter"),
                                      _q("success", {"type": "string",
                                                     "enum": ["", "true", "false"]},
                                         "filter"), SORT])},
        "/fixes/{fix_id}": {"get": _op("A fix's page", {ok: _html("page"), "404": _html("no fix")},
                                       tag="pages", params=[FIX_ID])},
        "/agents": {"get": _op("Agents page", {ok: _html("page")}, tag="pages")},
        "/graph": {"get": _op("Graph explorer from a fix, agent, service or issue",
                              {ok: _html("page")}, tag="pages",
                              params=[_q("node", {"type": "string"}, "start node, kind:key")])},
        "/charts": {"get": _op("Fixes and success rate over time", {ok: _html("page")},
                               tag="pages")},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "obsmem", "version": obsmem.__version__,
                 "description": "Graph-plus-vector memory for observability agents. "
                                "Errors are {\"error\": {\"code\", \"message\", \"field\"?}}."},
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {"Error": {
                "type": "object", "required": ["error"],
                "properties": {"error": {
                    "type": "object", "required": ["code", "message"],
                    "properties": {"code": {"type": "string"}, "message": {"type": "string"},
                                   "field": {"type": "string"}}}}}},
            "responses": {"Error": _json({"$ref": "#/components/schemas/Error"}, "an error")},
        },
    }


@bp.get("/openapi.json")
def openapi() -> Response:
    return jsonify(spec())
