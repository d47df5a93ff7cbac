"""The original control-plane guide's field names, added beside obsmem's own.

Agents written against the old guide read `fix["timestamp"]`, `issue["solution"]`,
`agent["last_seen"]` (epoch ms) and so on. These helpers add those names to
obsmem's plain dicts without removing anything, so the same dict serves old and
new callers; the HTTP API and `scripts/` use them so both speak the same shapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

REGISTERED = "registered"


def _ms(value: Any) -> int:
    """Epoch milliseconds as an int; 0 (the guide's default) when unknown."""
    if isinstance(value, bool) or value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def fix_item(fix: Mapping[str, Any]) -> dict[str, Any]:
    """A fix dict with the guide's `timestamp` (epoch ms, first seen) and `success` beside `ts`."""
    out = dict(fix)
    out["timestamp"] = _ms(out.get("ts"))
    out.setdefault("success", None)
    return out


def agent_item(agent: Mapping[str, Any]) -> dict[str, Any]:
    """An agent dict whose `last_seen` is always epoch ms (the guide subtracts it from now)."""
    out = dict(agent)
    out["last_seen"] = _ms(out.get("last_seen"))
    return out


def issue_item(group: Mapping[str, Any], solution: str | None) -> dict[str, Any]:
    """A similar-issue group with the guide's `solution` (that of its most applied fix)."""
    out = dict(group)
    out["solution"] = solution or ""
    out["occurrence_count"] = int(out.get("occurrence_count") or 0)
    out.setdefault("issue", "")
    return out


def similar_issue_items(memory: Any, text: str, limit: int = 5) -> list[dict[str, Any]]:
    """`Memory.find_similar_issues` in the guide's shape: each group names a solution.

    A group's fix ids are ordered most applied first, so the first one is the
    solution worth showing; it is read with `Memory.get_fix` (which falls back to
    the vector store), one small lookup per group.
    """
    items = []
    for group in memory.find_similar_issues(text, limit=limit):
        g = group.to_dict() if hasattr(group, "to_dict") else dict(group)
        ids = g.get("fix_ids") or []
        fix = memory.get_fix(ids[0]) if ids else None
        items.append(issue_item(g, fix.solution if fix is not None else None))
    return items


def registered(agent: Mapping[str, Any]) -> dict[str, Any]:
    """The guide's register-agent answer, `{"status", "name", "server"}`, beside obsmem's `agent`."""
    return {
        "agent": dict(agent),
        "status": REGISTERED,
        "name": agent.get("name"),
        "server": agent.get("server"),
    }


def fix_items(fixes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [fix_item(f) for f in fixes]
