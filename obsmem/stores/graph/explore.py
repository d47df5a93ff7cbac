"""Walk the graph from any node for the dashboard's explorer, with depth and size limits.

Node ids are "kind:key" (fix:ID, agent:NAME, service:NAME, issue:SIGNATURE) so the
four kinds never collide and a browser can ask to expand any node it was given.
Each hop is one shared Cypher statement per kind (see `cypher.EXPLORE_*`), so the
walk is the same on FalkorDB and Neo4j; the breadth-first loop lives here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from obsmem.stores.graph import cypher as C

KINDS = ("fix", "agent", "service", "issue")
MAX_DEPTH = 3
MAX_NODES = 300
LABEL_CHARS = 80

Read = Callable[[str, dict[str, Any]], list[dict[str, Any]]]


def parse_node_id(node_id: str) -> tuple[str, str]:
    """ "service:checkout" -> ("service", "checkout"); ValueError for anything else."""
    kind, sep, key = (node_id or "").partition(":")
    if not sep or kind not in KINDS or not key:
        raise ValueError(f"node must look like kind:key with kind one of {', '.join(KINDS)}")
    return kind, key


def _outcome(worked: int, failed: int) -> str:
    if worked and failed:
        return "mixed"
    return "worked" if worked else "failed" if failed else "unknown"


def _fix_outcome(success: Any) -> str:
    return "worked" if success is True else "failed" if success is False else "unknown"


def _fix_node(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": "fix:" + row["id"], "kind": "fix", "key": row["id"],
            "label": (row.get("issue") or "")[:LABEL_CHARS], "success": row.get("success"),
            "occurrences": int(row.get("occurrences") or 0)}  # fmt: skip


def _edge(source: str, target: str, rel: str, outcome: str, **extra: Any) -> dict[str, Any]:
    return {"id": f"{source}|{rel}|{target}", "source": source, "target": target, "type": rel,
            "outcome": outcome, **extra}  # fmt: skip


def _applied(agent: str, row: dict[str, Any]) -> dict[str, Any]:
    worked, failed = int(row.get("worked") or 0), int(row.get("failed") or 0)
    return _edge(
        "agent:" + agent,
        "fix:" + row["id"],
        "APPLIED",
        _outcome(worked, failed),
        times=int(row.get("times") or 0),
        worked=worked,
        failed=failed,
    )


def hop(
    read: Read, node_id: str, limit: int
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]], bool]:
    """One node and its neighbours: (node or None when absent, nodes, edges, more_exist)."""
    kind, key = parse_node_id(node_id)
    p = {"key": key, "limit": int(limit) + 1}
    nodes: list[dict[str, Any]] = []
    edges: list[dict[str, Any]] = []
    if kind == "fix":
        rows = read(C.EXPLORE_FIX, {"key": key})
        if not rows:
            return None, [], [], False
        me = _fix_node(rows[0])
        outcome = _fix_outcome(me["success"])
        for sig, text in zip(rows[0]["signatures"], rows[0]["issues"], strict=False):
            if sig is None:
                continue
            nodes.append({"id": "issue:" + sig, "kind": "issue", "key": sig,
                          "label": (text or sig)[:LABEL_CHARS]})  # fmt: skip
            edges.append(_edge(me["id"], "issue:" + sig, "RESOLVES", outcome))
        for svc in rows[0]["services"]:
            if svc is None:
                continue
            nodes.append({"id": "service:" + svc, "kind": "service", "key": svc, "label": svc})
            edges.append(_edge(me["id"], "service:" + svc, "AFFECTS", outcome))
        agents = read(C.EXPLORE_FIX_AGENTS, p)
        more = len(agents) > limit
        for a in agents[:limit]:
            nodes.append({"id": "agent:" + a["name"], "kind": "agent", "key": a["name"],
                          "label": a["name"]})  # fmt: skip
            edges.append(_applied(a["name"], {**a, "id": key}))
        return me, nodes, edges, more
    query = {"agent": C.EXPLORE_AGENT, "service": C.EXPLORE_SERVICE, "issue": C.EXPLORE_ISSUE}[kind]
    rows = read(query, p)
    if not rows:
        return None, [], [], False
    label = rows[0].get("label") or key
    me = {"id": node_id, "kind": kind, "key": key, "label": str(label)[:LABEL_CHARS]}
    fixes = [r for r in rows if r.get("id") is not None]
    more = len(fixes) > limit
    for r in fixes[:limit]:
        fix = _fix_node(r)
        nodes.append(fix)
        if kind == "agent":
            edges.append(_applied(key, r))
        else:
            rel = "AFFECTS" if kind == "service" else "RESOLVES"
            edges.append(_edge(fix["id"], node_id, rel, _fix_outcome(fix["success"])))
    return me, nodes, edges, more


def explore(read: Read, start: str, depth: int = 1, limit: int = 60) -> dict[str, Any] | None:
    """Breadth-first from `start` to `depth` hops, at most `limit` nodes; None if start is absent.

    `truncated` says a limit cut the answer (more neighbours exist than shown).
    """
    depth = max(1, min(int(depth), MAX_DEPTH))
    limit = max(1, min(int(limit), MAX_NODES))
    me, nodes, edges, more = hop(read, start, limit)
    if me is None:
        return None
    found: dict[str, dict[str, Any]] = {me["id"]: {**me, "depth": 0}}
    links: dict[str, dict[str, Any]] = {}
    truncated = more
    frontier: list[str] = []

    def take(
        batch_nodes: list[dict[str, Any]], batch_edges: list[dict[str, Any]], level: int
    ) -> None:
        nonlocal truncated
        for n in batch_nodes:
            if n["id"] in found:
                continue
            if len(found) >= limit:
                truncated = True
                continue
            found[n["id"]] = {**n, "depth": level}
            frontier.append(n["id"])
        for e in batch_edges:
            if e["source"] in found and e["target"] in found:
                links.setdefault(e["id"], e)

    take(nodes, edges, 1)
    for level in range(2, depth + 1):
        current, frontier[:] = list(frontier), []
        for node_id in current:
            if len(found) >= limit:
                truncated = True
                break
            _, nodes, edges, more = hop(read, node_id, limit)
            truncated = truncated or more
            take(nodes, edges, level)
    return {"start": me["id"], "depth": depth, "limit": limit, "truncated": truncated,
            "nodes": list(found.values()), "edges": list(links.values())}  # fmt: skip
