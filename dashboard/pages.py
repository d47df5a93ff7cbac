"""Server-rendered pages: overview, fixes, a fix, agents, charts.

Pages render their data on the server (they work without JavaScript); small
scripts in static/ refresh the overview, search live through /api/recall and
draw the graph and the chart. When reads need a token, a page cannot carry one
(navigation sends no Authorization header), so it renders without data and the
scripts fetch it with the token the user pasted.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request

from dashboard.auth import reads_protected
from dashboard.errors import ApiError
from dashboard.health import full_health
from dashboard.params import arg_bool, arg_limit, arg_name, arg_offset, arg_query, arg_sort
from obsmem.model import ValidationError, clean_fix_id
from obsmem.stores.graph.cypher import ACTIVE_MS, STALE_MS
from obsmem.stores.graph.explore import KINDS as EXPLORE_KINDS

bp = Blueprint("pages", __name__)

PAGE_SIZE = 25


def _memory() -> Any:
    return current_app.extensions["obsmem.memory"]


def _render(template: str, **ctx: Any) -> str:
    settings = current_app.config["OBSMEM_SETTINGS"]
    return render_template(
        template, locked=reads_protected(), token_configured=bool(settings.api_token), **ctx
    )


@bp.get("/")
def overview() -> str:
    if reads_protected():
        return _render("overview.html", state=None)
    m = _memory()
    health = full_health()
    state = {
        "status": health["status"],
        "stores": health.get("stores", {}),
        "outbox": health.get("outbox", {}),
        "disk": health["checks"]["disk"],
        "last_check": health.get("checked_at"),
        "counts": m.stats(),
        "agents": [a.to_dict() for a in m.get_all_agents()],
        "recent_fixes": [f.to_dict() for f in m.get_recent_fixes(limit=10)],
    }
    return _render("overview.html", state=state)


@bp.get("/fixes")
def fixes() -> str:
    filters: dict[str, Any] = {}
    error = None
    try:
        q = arg_query(required=False)
        limit, offset = arg_limit(default=PAGE_SIZE), arg_offset()
        filters = {
            "agent": arg_name("agent"),
            "service": arg_name("service"),
            "success": arg_bool("success"),
        }
        sort = arg_sort()
    except ValidationError as e:
        q, limit, offset, error = None, PAGE_SIZE, 0, f"{e.field}: {e.message}"
        sort = "created"
    rows: list[dict[str, Any]] = []
    total = 0
    no_match = False
    if not reads_protected() and error is None:
        m = _memory()
        if q:
            result = m.recall(
                q,
                k=min(offset + limit, 100),
                service=filters["service"],
                agent=filters["agent"],
                only_successful=filters["success"] is True,
            )
            hits = [
                h
                for h in result
                if filters["success"] is None or h.fix.success == filters["success"]
            ]
            total = len(hits)
            no_match = bool(hits) and all(h.below_bar for h in hits)
            rows = [
                {
                    **h.fix.to_dict(),
                    "score": h.score,
                    "why": h.why,
                    "relevance": h.relevance,
                    "below_bar": h.below_bar,
                }
                for h in hits[offset : offset + limit]
            ]
        else:
            rows = [
                f.to_dict()
                for f in m.get_recent_fixes(limit=limit, offset=offset, order=sort, **filters)
            ]
            total = m.count_fixes(**filters)
    success = filters.get("success")
    params = {
        "q": q or "",
        "agent": filters.get("agent") or "",
        "service": filters.get("service") or "",
        "success": "" if success is None else str(success).lower(),
        "sort": sort,
    }
    return _render(
        "fixes.html",
        fixes=rows,
        total=total,
        limit=limit,
        offset=offset,
        params=params,
        error=error,
        no_match=no_match,
        sort=sort,
    )


@bp.get("/fixes/<path:fix_id>")
def fix(fix_id: str) -> str:
    try:
        fid = clean_fix_id(fix_id, "fix_id")
    except ValidationError:
        raise ApiError(404, "no such fix") from None
    if reads_protected():
        return _render("fix.html", fix_id=fid, detail=None)
    detail = _memory().fix_detail(fid)
    if detail is None:
        raise ApiError(404, f"no fix with id {fid}")
    return _render("fix.html", fix_id=fid, detail=detail)


@bp.get("/agents")
def agents() -> str:
    found = [] if reads_protected() else [a.to_dict() for a in _memory().get_all_agents()]
    return _render(
        "agents.html", agents=found, active_min=ACTIVE_MS // 60_000, stale_min=STALE_MS // 60_000
    )


@bp.get("/graph")
def graph() -> str:
    """The explorer page: start from ?node=kind:key (or ?kind=&key=), else the newest fix."""
    node = request.args.get("node") or ""
    kind, _, key = node.partition(":")
    if not node:
        kind, key = request.args.get("kind") or "fix", (request.args.get("key") or "").strip()
    error = None
    if kind not in EXPLORE_KINDS:
        kind, key, error = "fix", "", "choose fix, agent, service or issue"
    if not key and not reads_protected():
        newest = _memory().get_recent_fixes(limit=1)
        key = newest[0].id if newest else ""
        kind = "fix"
    start = f"{kind}:{key}" if key else ""
    return _render("graph.html", start=start, kind=kind, key=key, error=error)


TOP_N = 10


def top_with_other(
    rows: list[dict[str, Any]], label_key: str, n: int = TOP_N
) -> list[dict[str, Any]]:
    """The n biggest groups by fixes, then one "other (k)" row summing the rest.

    A long tail of one-fix groups ("1 · 100%" fifty times) says nothing; its sum does.
    """

    def shaped(r: dict[str, Any]) -> dict[str, Any]:
        s, f = int(r.get("successes") or 0), int(r.get("failures") or 0)
        return {
            "label": r.get(label_key) or r.get("signature") or "—",
            "fixes": int(r.get("fixes") or 0),
            "successes": s,
            "failures": f,
            "outcomes": s + f,
            "success_rate": s / (s + f) if s + f else None,
        }

    ranked = sorted((shaped(r) for r in rows), key=lambda r: (-r["fixes"], str(r["label"])))
    head, tail = ranked[:n], ranked[n:]
    if tail:
        s, f = sum(r["successes"] for r in tail), sum(r["failures"] for r in tail)
        head.append(
            {
                "label": f"other ({len(tail)})",
                "fixes": sum(r["fixes"] for r in tail),
                "successes": s,
                "failures": f,
                "outcomes": s + f,
                "success_rate": s / (s + f) if s + f else None,
                "other": True,
            }
        )
    return head


@bp.get("/charts")
def charts() -> str:
    if reads_protected():
        return _render("charts.html", by_root_cause=[], by_signature=[], top_n=TOP_N)
    m = _memory()
    return _render(
        "charts.html",
        top_n=TOP_N,
        by_root_cause=top_with_other(m.success_rate_by_root_cause(), "root_cause"),
        by_signature=top_with_other(m.success_by_signature(limit=1000), "issue"),
    )


@bp.app_template_filter("pct")
def pct(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    return f"{value * 100:.0f}%"


@bp.app_template_filter("short")
def short(value: str | None, n: int = 140) -> str:
    if not value:
        return ""
    value = " ".join(value.split())
    return value if len(value) <= n else value[: n - 1] + "…"


@bp.app_context_processor
def _nav() -> dict[str, Any]:
    return {"current": request.endpoint or ""}
