"""The JSON API under /api: the same verbs as the Python Memory API, over HTTP.

Views only translate: parse and validate input (dashboard.params), call Memory,
shape the answer. Errors are raised and turned into JSON by dashboard.errors.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from dashboard.degraded import read_answer
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
from obsmem import compat
from obsmem.model import (
    REMEMBER_FIELDS,
    clean_fix_id,
    clean_idempotency_key,
    clean_name,
    ms_to_iso,
    now_iso,
)

bp = Blueprint("api", __name__, url_prefix="/api")

REMEMBER_KEYS = set(REMEMBER_FIELDS)  # the one fix record in obsmem.model
RECALL_KEYS = {"q", "query", "k", "service", "agent", "only_successful", "since", "min_relevance"}


def memory() -> Any:
    return current_app.extensions["obsmem.memory"]


_now_iso = now_iso


def _fix_id(fix_id: str) -> str:
    return clean_fix_id(fix_id, "fix_id")


def _idempotency_key() -> str | None:
    """The `Idempotency-Key` header: a client's retry of the same write counts once."""
    return clean_idempotency_key(request.headers.get("Idempotency-Key"), "Idempotency-Key")


# ---------------------------------------------------------------- overview


@bp.get("/state")
def state() -> Response:
    """Everything the overview page shows, in one round trip."""
    m = memory()
    health = full_health()
    agents = m.get_all_agents()
    recent = m.get_recent_fixes(limit=arg_limit(default=10))
    return jsonify(
        {
            "status": health["status"],
            "stores": health.get("stores", {}),
            "outbox": health.get("outbox", {}),
            "checks": health.get("checks", {}),
            "disk": health.get("checks", {}).get("disk"),
            "disk_usage": _disk_usage(health.get("checks", {}).get("disk")),  # the ops guide's name
            "last_check": health.get("checked_at"),
            "counts": m.stats(),
            "agents": [a.to_dict() for a in agents],
            "recent_fixes": [f.to_dict() for f in recent],
            "generated_at": _now_iso(),
        }
    )


def _disk_usage(disk: dict[str, Any] | None) -> str | None:
    """The ops guide's one-line `disk_usage`, e.g. "45.2% used"."""
    if not disk or disk.get("usage_percent") is None:
        return None
    return f"{disk['usage_percent']}% used"


@bp.get("/stats")
def stats() -> Response:
    days = arg_int("days", default=30, lo=1, hi=366)
    m = memory()
    return jsonify(
        {
            "totals": m.stats(),
            "by_signature": m.success_by_signature(limit=arg_limit(default=20)),
            "by_root_cause": m.success_rate_by_root_cause(),
            "over_time": [_time_row(r) for r in m.fixes_over_time(days=days)],
            "days": days,
        }
    )


def _time_row(r: dict[str, Any]) -> dict[str, Any]:
    """One day of the series in the documented shape {t, fixes, successes, failures}.

    The graph layer names them bucket/succeeded/failed; accept both spellings.
    """
    t = r.get("t") or (ms_to_iso(r["bucket"]) if r.get("bucket") is not None else None)
    return {
        "t": t,
        "fixes": int(r.get("fixes") or 0),
        "successes": int(r.get("successes", r.get("succeeded")) or 0),
        "failures": int(r.get("failures", r.get("failed")) or 0),
    }


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
    agent = memory().register_agent(name, server=server, idempotency_key=_idempotency_key())
    # The guide's {"status": "registered", "name", "server"} beside obsmem's {"agent"}.
    return jsonify(compat.registered(agent.to_dict())), 201


@bp.post("/agents/<path:name>/heartbeat")
def heartbeat(name: str) -> Response:
    json_body(required=False)
    clean = clean_name(name, "name", required=True)
    return jsonify(
        {"agent": memory().heartbeat(clean, idempotency_key=_idempotency_key()).to_dict()}
    )


# ---------------------------------------------------------------- fixes


@bp.get("/fixes")
def fixes() -> Response:
    limit, offset = arg_limit(), arg_offset()
    filters = {
        "agent": arg_name("agent"),
        "service": arg_name("service"),
        "success": arg_bool("success"),
        "since_ms": arg_since(),
    }
    q = arg_query(required=False)
    m = memory()
    if q:
        # A search: ranked by recall, so the total is the number of ranked hits.
        result = m.recall(
            q,
            k=min(offset + limit, 100),
            service=filters["service"],
            agent=filters["agent"],
            only_successful=filters["success"] is True,
            since_ms=filters["since_ms"],
        )
        hits = [
            h for h in result if filters["success"] is None or h.fix.success == filters["success"]
        ]
        page = hits[offset : offset + limit]
        return jsonify(
            {
                "fixes": compat.fix_items(
                    {
                        **h.fix.to_dict(),
                        "score": h.score,
                        "why": h.why,
                        "relevance": h.relevance,
                        "below_bar": h.below_bar,
                    }
                    for h in page
                ),
                "total": len(hits),
                "count": len(page),
                "limit": limit,
                "offset": offset,
                "q": q,
                "served_by": list(result.served_by),
                "degraded": result.degraded,
                "no_match": result.no_match,
                "min_relevance": result.min_relevance,
            }
        )
    sort = arg_sort()
    found = m.get_recent_fixes(limit=limit, offset=offset, order=sort, **filters)
    # `count` (this page) and items' `timestamp` are the guide's names, beside `total` and `ts`.
    return jsonify(
        {
            "fixes": compat.fix_items(f.to_dict() for f in found),
            "total": m.count_fixes(**filters),
            "count": len(found),
            "limit": limit,
            "offset": offset,
            "sort": sort,
        }
    )


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
        raise ApiError(400, "success (true or false) is required", code="invalid", field="success")
    agent = clean_name(body.get("agent"), "agent")
    vote = clean_name(body.get("vote"), "vote")
    return jsonify(
        memory().feedback(fid, success, agent=agent, vote=vote, idempotency_key=_idempotency_key())
    )


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
    hood = memory().explore(
        node,
        depth=arg_int("depth", default=1, lo=1, hi=3),
        limit=arg_int("limit", default=60, lo=1, hi=300),
    )
    if hood is None:
        raise ApiError(404, f"no node {node!r} in the graph")
    return jsonify(hood)


# ---------------------------------------------------------------- remember / recall


@bp.post("/remember")
def remember() -> tuple[Response, int]:
    body = json_body()
    unknown_keys(body, REMEMBER_KEYS)
    args = {k: body.get(k) for k in REMEMBER_KEYS - {"issue", "solution"}}
    result = memory().remember(
        body.get("issue"), body.get("solution"), **args, idempotency_key=_idempotency_key()
    )
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
        q,
        k=arg_k(body.get("k")),
        service=arg_name("service", body.get("service")),
        agent=arg_name("agent", body.get("agent")),
        only_successful=bool(arg_bool("only_successful", body.get("only_successful"))),
        since_ms=arg_since("since", body.get("since")),
        min_relevance=body.get("min_relevance") if body.get("min_relevance") != "" else None,
    )
    return read_answer({**result.to_dict(), "query": q})


@bp.get("/similar")
def similar() -> Response:
    q = arg_query()
    limit = arg_limit(default=5)
    # `issues` (groups with the guide's `solution`) is what the Python client reads.
    issues = compat.similar_issue_items(memory(), q, limit=limit)
    groups = [{k: v for k, v in i.items() if k != "solution"} for i in issues]
    return jsonify({"groups": groups, "issues": issues, "query": q})
