"""The JSON API under /api: the same verbs as the Python Memory API, over HTTP.

Views only translate: parse and validate input (dashboard.params), call Memory,
shape the answer. Errors are raised and turned into JSON by dashboard.errors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from dashboard.errors import ApiError
from dashboard.health import full_health
from dashboard.params import (
    arg_bool,
    arg_int,
    arg_k,
    arg_limit,
    arg_name,
    arg_offset,
    arg_query,
    arg_since,
    arg_sort,
    json_body,
    unknown_keys,
)
from obsmem.model import clean_fix_id, clean_name, ms_to_iso

bp = Blueprint("api", __name__, url_prefix="/api")

REMEMBER_KEYS = {"issue", "solution", "success", "agent", "service", "namespace", "severity",
                 "root_cause", "confidence", "tags", "metadata", "id"}
RECALL_KEYS = {"q", "query", "k", "service", "agent", "only_successful", "since"}


def memory() -> Any:
    return current_app.extensions["obsmem.memory"]


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def _fix_id(fix_id: str) -> str:
    return clean_fix_id(fix_id, "fix_id")


# ---------------------------------------------------------------- overview


@bp.get("/state")
def state() -> Response:
    """Everything the overview page shows, in one round trip."""
    m = memory()
    health = full_health()
    agents = m.get_all_agents()
    recent = m.get_recent_fixes(limit=arg_limit(default=10))
    return jsonify({
        "status": health["status"],
        "stores": health.get("stores", {}),
        "outbox": health.get("outbox", {}),
        "checks": health.get("checks", {}),
        "disk": health.get("checks", {}).get("disk"),
        "last_check": health.get("checked_at"),
        "counts": m.stats(),
        "agents": [a.to_dict() for a in agents],
        "recent_fixes": [f.to_dict() for f in recent],
        "generated_at": _now_iso(),
    })


@bp.get("/stats")
def stats() -> Response:
    days = arg_int("days", default=30, lo=1, hi=366)
    m = memory()
    return jsonify({
        "totals": m.stats(),
        "by_signature": m.success_by_signature(limit=arg_limit(default=20)),
        "by_root_cause": m.success_rate_by_root_cause(),
        "over_time": [_time_row(r) for r in m.fixes_over_time(days=days)],
        "days": days,
    })


def _time_row(r: dict[str, Any]) -> dict[str, Any]:
    """One day of the series in the documented shape {t, fixes, successes, failures}.

    The graph layer names them bucket/succeeded/failed; accept both spellings.
    """
    t = r.get("t") or (ms_to_iso(r["bucket"]) if r.get("bucket") is not None else None)
    return {"t": t, "fixes": int(r.get("fixes") or 0),
            "successes": int(r.get("successes", r.get("succeeded")) or 0),
            "failures": int(r.get("failures", r.get("failed")) or 0)}


# ---------------------------------------------------------------- agents


@bp.get("/agents")
def agents() -> Response:
    found = [a.to_dict() for a in memory().get_all_agents()]
    return jsonify({"agents": found, "total": len(found)})


@bp.post("/register-agent")
def register_agent() -> tuple[Response, int]:
    body = json_body()
    unknown_keys(body, {"name", "server"})
    name = clean_name(body.get("name"), "name", required=True)
    server = clean_name(body.get("server"), "server")
    agent = memory().register_agent(name, server=server)
    return jsonify({"agent": agent.to_dict()}), 201


@bp.post("/agents/<path:name>/heartbeat")
def heartbeat(name: str) -> Response:
    json_body(required=False)
    clean = clean_name(name, "name", required=True)
    return jsonify({"agent": memory().heartbeat(clean).to_dict()})


# ---------------------------------------------------------------- fixes


@bp.get("/fixes")
def fixes() -> Response:
    limit, offset = arg_limit(), arg_offset()
    filters = {"agent": arg_name("agent"), "service": arg_name("service"),
               "success": arg_bool("success"), "since_ms": arg_since()}
    q = arg_query(required=False)
    m = memory()
    if q:
        # A search: ranked by recall, so the total is the number of ranked hits.
        result = m.recall(q, k=min(offset + limit, 100), service=filters["service"],
                          agent=filters["agent"], only_successful=filters["success"] is True,
                          since_ms=filters["since_ms"])
        hits = [h for h in result
                if filters["success"] is None or h.fix.success == filters["success"]]
        page = hits[offset:offset + limit]
        return jsonify({
            "fixes": [{**h.fix.to_dict(), "score": h.score, "why": h.why} for h in page],
            "total": len(hits), "limit": limit, "offset": offset, "q": q,
            "served_by": list(result.served_by), "degraded": result.degraded,
        })
    sort = arg_sort()
    found = m.get_recent_fixes(limit=limit, offset=offset, order=sort, **filters)
    return jsonify({"fixes": [f.to_dict() for f in found], "total": m.count_fixes(**filters),
                    "limit": limit, "offset": offset, "sort": sort})


@bp.get("/fixes/<path:fix_id>")
def fix_detail(fix_id: str) -> Response:
    detail = memory().fix_detail(_fix_id(fix_id))
    if detail is None:
        raise ApiError(404, f"no fix with id {fix_id!r}")
    return jsonify(detail)


@bp.delete("/fixes/<path:fix_id>")
def delete_fix(fix_id: str) -> Response:
    fid = _fix_id(fix_id)
    if not memory().delete_fix(fid):
        raise ApiError(404, f"no fix with id {fix_id!r}")
    return jsonify({"deleted": True, "id": fid})


@bp.post("/fixes/<path:fix_id>/feedback")
def feedback(fix_id: str) -> Response:
    fid = _fix_id(fix_id)
    body = json_body()
    unknown_keys(body, {"success", "agent", "vote"})
    success = arg_bool("success", body.get("success"))
    if success is None:
        raise ApiError(400, "success (true or false) is required", code="invalid",
                       field="success")
    agent = clean_name(body.get("agent"), "agent")
    vote = clean_name(body.get("vote"), "vote")
    if vote is None:
        return jsonify(memory().feedback(fid, success, agent=agent))
    return jsonify(memory().feedback(fid, success, agent=agent, vote=vote))


@bp.get("/graph/<path:fix_id>")
def graph(fix_id: str) -> Response:
    fid = _fix_id(fix_id)
    hood = memory().neighbourhood(fid)
    if not hood or not hood.get("nodes"):
        raise ApiError(404, f"no fix with id {fix_id!r}")
    return jsonify(hood)


@bp.get("/explore")
def explore() -> Response:
    """The explorer's neighbourhood of any node ("fix:ID", "agent:NAME", "service:...",
    "issue:SIGNATURE"): depth 1-3 hops, at most `limit` (1-300) nodes."""
    node = request.args.get("node")
    if not node:
        raise ApiError(400, "node (kind:key) is required", code="invalid", field="node")
    hood = memory().explore(node, depth=arg_int("depth", default=1, lo=1, hi=3),
                            limit=arg_int("limit", default=60, lo=1, hi=300))
    if hood is None:
        raise ApiError(404, f"no node {node!r} in the graph")
    return jsonify(hood)


# ---------------------------------------------------------------- remember / recall


@bp.post("/remember")
def remember() -> tuple[Response, int]:
    body = json_body()
    unknown_keys(body, REMEMBER_KEYS)
    args = {k: body.get(k) for k in REMEMBER_KEYS - {"issue", "solution"}}
    result = memory().remember(body.get("issue"), body.get("solution"), **args)
    return jsonify(result.to_dict()), (200 if result.duplicate_of else 201)


@bp.route("/recall", methods=["GET", "POST"])
def recall() -> Response:
    if request.method == "POST":
        body = json_body()
        unknown_keys(body, RECALL_KEYS)
    else:
        body = {k: request.args.get(k) for k in RECALL_KEYS}
    q = arg_query("q", body.get("q") if body.get("q") is not None else body.get("query"))
    result = memory().recall(
        q, k=arg_k(body.get("k")),
        service=arg_name("service", body.get("service")),
        agent=arg_name("agent", body.get("agent")),
        only_successful=bool(arg_bool("only_successful", body.get("only_successful"))),
        since_ms=arg_since("since", body.get("since")),
    )
    return jsonify({**result.to_dict(), "query": q})


@bp.get("/similar")
def similar() -> Response:
    q = arg_query()
    groups = memory().find_similar_issues(q, limit=arg_limit(default=5))
    return jsonify({"groups": [g.to_dict() for g in groups], "query": q})
