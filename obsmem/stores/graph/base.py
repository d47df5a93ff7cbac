"""CypherGraph: every `GraphStore` operation written once over the shared Cypher.

The protocol itself (and GraphStats, SchemaItem) lives in `obsmem.stores.protocols`.
Backends: `falkor.FalkorGraph` (embedded default, RESP) and `neo4j.Neo4jGraph`.
Every write is idempotent on obsmem's own ids (fix id, event id, agent name), so
the outbox may replay any write any number of times.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from typing import Any

from obsmem.errors import GraphAuthError as GraphAuthError  # re-exported: old import path
from obsmem.errors import GraphUnavailable as GraphUnavailable
from obsmem.model import Agent, AgentWrite, Fix, FixFilter, FixWrite, IssueGroup, Outcome
from obsmem.model import now_ms as _now_ms
from obsmem.stores.graph import cypher as C
from obsmem.stores.graph.explore import explore as explore_graph
from obsmem.stores.protocols import GraphStats as GraphStats
from obsmem.stores.protocols import GraphStore as GraphStore
from obsmem.stores.protocols import SchemaItem as SchemaItem

# Only these relationship types ever appear in Cypher; nothing is built from input.
RELATIONSHIP_TYPES = ("APPLIED", "RESOLVES", "AFFECTS")


class CypherGraph(ABC):
    """Every GraphStore operation written once over the shared statements in `cypher`.

    A backend supplies `_read`/`_write` (rows as dicts; errors mapped to
    GraphUnavailable), its DDL and its full-text CALL clause.
    """

    backend: str = "?"
    ft_call: str = ""
    enforces_read_deadline: bool = False  # see GraphStore; True in backends whose driver can

    def __init__(self) -> None:
        self._text = C.text_statements(self.ft_call)

    # --- what a backend provides
    @abstractmethod
    def _read(self, query: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]: ...

    @abstractmethod
    def _write(self, steps: Sequence[tuple[str, dict[str, Any]]]) -> list[list[dict[str, Any]]]:
        """Run write statements in order (one transaction where the backend has them)."""

    @abstractmethod
    def schema(self) -> list[SchemaItem]:
        """Wanted indexes/constraints, each marked with whether it exists now."""

    @abstractmethod
    def ensure_schema(self) -> list[str]: ...

    @abstractmethod
    def close(self) -> None: ...

    def schema_statements(self) -> list[str]:
        return [item.statement for item in self.schema()]

    # --- lifecycle
    def ping(self) -> float:
        t0 = time.perf_counter()
        self._read(C.PING)
        return (time.perf_counter() - t0) * 1000.0

    def __enter__(self) -> CypherGraph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writes
    def upsert_agents(self, agents: Sequence[AgentWrite]) -> None:
        rows = C.agent_rows(agents)
        if rows:
            self._write([(C.UPSERT_AGENTS, {"rows": rows})])

    def restore_fixes(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._write([(C.RESTORE_FIXES, {"rows": list(rows)})])

    def restore_outcomes(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._write([(C.RESTORE_APPLIED, {"rows": list(rows)})])

    def set_recent_events(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            self._write([(C.SET_RECENT_EVENTS, {"rows": list(rows)})])

    def upsert_fixes(self, writes: Sequence[FixWrite]) -> None:
        if not writes:
            return
        steps: list[tuple[str, dict[str, Any]]] = []
        agents = C.agents_of_fixes(writes)
        if agents:
            steps.append((C.UPSERT_AGENTS, {"rows": agents}))
        rows = [C.fix_row(w) for w in writes]
        known = self._known_events(rows, "id")
        for batch in C.rounds(rows, "id"):
            counted = [r for r in batch if r["event_id"] not in known]
            if counted:
                steps.append((C.UPSERT_FIXES, {"rows": counted}))
            steps.append((C.LINK_FIXES, {"rows": batch}))
        self._write(steps)

    def record_outcomes(self, outcomes: Sequence[Outcome]) -> None:
        if not outcomes:
            return
        steps: list[tuple[str, dict[str, Any]]] = []
        agents = C.agents_of_outcomes(outcomes)
        if agents:
            steps.append((C.UPSERT_AGENTS, {"rows": agents}))
        rows = [C.outcome_row(o) for o in outcomes]
        known = self._known_events(rows, "fix_id")
        for batch in C.rounds(rows, "fix_id"):
            counted = [r for r in batch if r["event_id"] not in known and not r["replaces"]]
            if counted:
                steps.append((C.RECORD_OUTCOMES, {"rows": counted}))
            changed = [r for r in batch if r["event_id"] not in known and r["replaces"]]
            if changed:
                steps.append((C.CHANGE_VOTES, {"rows": changed}))
                steps.append((C.DROP_REPLACED_VOTES, {"rows": changed}))
            linked = [r for r in batch if r["agent"]]
            if linked:
                steps.append((C.LINK_OUTCOMES, {"rows": linked}))
        self._write(steps)

    def _known_events(self, rows: list[dict[str, Any]], key: str) -> set[str]:
        """Event ids already recorded as APPLIED edges: a replay must not count them again."""
        probe = [{"fix": r[key], "event_id": r["event_id"]} for r in rows if r.get("agent")]
        if not probe:
            return set()
        return {r["event_id"] for r in self._read(C.KNOWN_EVENTS, {"rows": probe})}

    def delete_fix(self, fix_id: str) -> bool:
        return self.delete_fixes([fix_id]) == 1

    def delete_fixes(self, fix_ids: Sequence[str]) -> int:
        ids = list(dict.fromkeys(fix_ids))
        if not ids:
            return 0
        (rows,) = self._write([(C.DELETE_FIXES, {"ids": ids})])
        sigs = sorted({s for r in rows for s in r["sigs"] if s is not None})
        services = sorted({s for r in rows for s in r["services"] if s is not None})
        cleanup = []
        if sigs:
            cleanup.append((C.DELETE_ORPHAN_ISSUES, {"keys": sigs}))
        if services:
            cleanup.append((C.DELETE_ORPHAN_SERVICES, {"keys": services}))
        if cleanup:
            self._write(cleanup)
        return len(rows)

    def remove_agent(self, name: str) -> bool:
        (rows,) = self._write([(C.REMOVE_AGENT, {"name": name})])
        return bool(rows and int(rows[0]["n"] or 0))

    # --- reads
    def get_fix(self, fix_id: str) -> Fix | None:
        return self.get_fixes([fix_id]).get(fix_id)

    def get_fixes(self, fix_ids: Sequence[str]) -> dict[str, Fix]:
        ids = list(dict.fromkeys(fix_ids))
        if not ids:
            return {}
        rows = self._read(C.GET_FIXES, {"ids": ids})
        fixes = (C.fix_from_props(r, r["agents_count"]) for r in rows)
        return {f.id: f for f in fixes}

    def recent_fixes(
        self, limit: int, offset: int = 0, flt: FixFilter | None = None, order: str = "created"
    ) -> list[Fix]:
        if limit <= 0:
            return []
        params = {**C.filter_params(flt), "limit": int(limit), "offset": max(0, int(offset))}
        rows = self._read(C.recent_fixes_query(params, order), params)
        return [C.fix_from_props(r["f"], r["agents_count"]) for r in rows]

    def count_fixes(self, flt: FixFilter | None = None) -> int:
        params = C.filter_params(flt)
        rows = self._read(C.count_fixes_query(params), params)
        return int(rows[0]["n"]) if rows else 0

    def _ft_query(self, text: str) -> str | None:
        """The backend's full-text query for user text, or None when it has no words."""
        raise NotImplementedError

    def text_search(
        self, query: str, limit: int, flt: FixFilter | None = None
    ) -> list[tuple[str, float]]:
        q = self._ft_query(query)
        if q is None or limit <= 0:
            return []
        params = {**C.filter_params(flt), "q": q, "limit": int(limit)}
        rows = self._read(self._text["text_search"], params)
        return [(r["id"], float(r["score"])) for r in rows]

    def similar_issues(self, text: str, limit: int) -> list[IssueGroup]:
        q = self._ft_query(text)
        if q is None or limit <= 0:
            return []
        params = {"q": q, "limit": int(limit), "candidates": C.FT_CANDIDATES}
        rows = self._read(self._text["similar_issues"], params)
        return [
            IssueGroup(
                signature=r["signature"],
                issue=r["issue"] or "",
                occurrence_count=int(r["occurrences"] or 0),
                fixes=int(r["fixes"] or 0),
                success_rate=C.success_rate(r["successes"], r["failures"]),
                score=float(r["score"]),
                fix_ids=tuple(r["fix_ids"]),
            )
            for r in rows
        ]

    def agents(self, now_ms: int | None = None) -> list[Agent]:
        now = now_ms if now_ms is not None else _now_ms()
        return [C.agent_from_row(r, now) for r in self._read(C.AGENTS, {"name": None})]

    def get_agent(self, name: str, now_ms: int | None = None) -> Agent | None:
        now = now_ms if now_ms is not None else _now_ms()
        rows = self._read(C.AGENTS, {"name": name})
        return C.agent_from_row(rows[0], now) if rows else None

    def fixes_by_agent(self, name: str, limit: int = 50) -> list[Fix]:
        rows = self._read(C.FIXES_BY_AGENT, {"name": name, "limit": int(limit)})
        return [C.fix_from_props(r["f"], r["agents_count"]) for r in rows]

    def outcomes_for_fix(self, fix_id: str) -> list[dict[str, Any]]:
        return self._read(C.OUTCOMES_FOR_FIX, {"id": fix_id})

    def neighbourhood(self, fix_id: str, limit: int = 50) -> dict[str, list[dict[str, Any]]]:
        """Nodes are {id, kind, label, ...}; ids are "kind:key" so kinds never collide."""
        rows = self._read(C.NEIGHBOURHOOD, {"id": fix_id})
        if not rows:
            return {"nodes": [], "edges": []}
        fix = C.fix_from_props(rows[0]["f"])
        me = "fix:" + fix.id
        nodes: list[dict[str, Any]] = [
            {"id": me, "kind": "fix", "label": fix.issue[:80], "fix_id": fix.id,
             "success": fix.success, "occurrences": fix.occurrences, "center": True}
        ]  # fmt: skip
        edges: list[dict[str, Any]] = []
        for issue in rows[0]["issues"]:
            if not issue:
                continue
            nid = "issue:" + issue["signature"]
            nodes.append({"id": nid, "kind": "issue", "label": (issue.get("issue") or "")[:80]})
            edges.append({"source": me, "target": nid, "type": "RESOLVES"})
        for svc in rows[0]["services"]:
            if svc is None:
                continue
            nodes.append({"id": "service:" + svc, "kind": "service", "label": svc})
            edges.append({"source": me, "target": "service:" + svc, "type": "AFFECTS"})
        for a in self._read(C.NEIGHBOURHOOD_AGENTS, {"id": fix_id, "limit": int(limit)}):
            nid = "agent:" + a["name"]
            nodes.append({"id": nid, "kind": "agent", "label": a["name"],
                          "last_seen": a["last_seen"]})  # fmt: skip
            edges.append({"source": nid, "target": me, "type": "APPLIED", "times": a["times"]})
        for s in self._read(C.NEIGHBOURHOOD_SIBLINGS, {"id": fix_id, "limit": int(limit)}):
            nid = "fix:" + s["id"]
            nodes.append({"id": nid, "kind": "fix", "label": (s["solution"] or "")[:80],
                          "fix_id": s["id"], "success": s["success"],
                          "occurrences": s["occurrences"]})  # fmt: skip
            edges.append({"source": nid, "target": "issue:" + s["signature"], "type": "RESOLVES"})
        return {"nodes": nodes, "edges": edges}

    def explore(self, start: str, depth: int = 1, limit: int = 60) -> dict[str, Any] | None:
        """The explorer's walk (obsmem.stores.graph.explore); None when the start node is absent."""
        return explore_graph(self._read, start, depth=depth, limit=limit)

    def success_by_root_cause(self) -> list[dict[str, Any]]:
        rows = _ints(self._read(C.SUCCESS_BY_ROOT_CAUSE), "fixes", "successes", "failures")
        return [{**r, "success_rate": C.success_rate(r["successes"], r["failures"])} for r in rows]

    def success_by_signature(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = _ints(
            self._read(C.SUCCESS_BY_SIGNATURE, {"limit": int(limit)}),
            "fixes", "occurrences", "successes", "failures",
        )  # fmt: skip
        return [{**r, "success_rate": C.success_rate(r["successes"], r["failures"])} for r in rows]

    def fixes_over_time(self, bucket_ms: int, since_ms: int) -> list[dict[str, Any]]:
        if bucket_ms <= 0:
            raise ValueError("bucket_ms must be positive")
        rows = self._read(C.FIXES_OVER_TIME, {"bucket": int(bucket_ms), "since": int(since_ms)})
        return _ints(rows, "bucket", "fixes", "succeeded", "failed")

    def stats(self) -> GraphStats:
        nodes = {lbl: int(self._read(q)[0]["n"]) for lbl, q in C.COUNT_LABEL.items()}
        rels = {rel: int(self._read(q)[0]["n"]) for rel, q in C.COUNT_REL.items()}
        totals = self._read(C.FIX_TOTALS)[0]
        successes = int(totals["successes"] or 0)
        outcomes = successes + int(totals["failures"] or 0)
        return GraphStats(
            nodes=nodes,
            relationships=rels,
            fixes=nodes["Fix"],
            agents=nodes["Agent"],
            outcomes=outcomes,
            successes=successes,
            success_rate=successes / outcomes if outcomes else None,
            extra={"backend": self.backend},
        )

    def iter_fix_ids(self, batch: int = 5000) -> Iterator[str]:
        after = ""
        while True:
            rows = self._read(C.PAGE_FIX_IDS, {"after": after, "limit": int(batch)})
            yield from (r["id"] for r in rows)
            if len(rows) < batch:
                return
            after = rows[-1]["id"]

    def iter_fixes(self, batch: int = 1000) -> Iterator[Fix]:
        after = ""
        while True:
            rows = self._read(C.PAGE_FIXES, {"after": after, "limit": int(batch)})
            fixes = [C.fix_from_props(r["f"], r["agents_count"]) for r in rows]
            yield from fixes
            if len(rows) < batch:
                return
            after = fixes[-1].id

    def iter_outcomes(self, batch: int = 5000) -> Iterator[Outcome]:
        after = ""
        while True:
            rows = self._read(C.PAGE_OUTCOMES, {"after": after, "limit": int(batch)})
            for r in rows:
                yield Outcome(event_id=r["event_id"], fix_id=r["fix_id"],
                              success=bool(r["success"]), ts=int(r["ts"] or 0),
                              agent=r["agent"])  # fmt: skip
            if len(rows) < batch:
                return
            after = rows[-1]["event_id"]


def _ints(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    """FalkorDB returns sum() as a float; counts are whole numbers everywhere."""
    return [{**r, **{k: int(r[k] or 0) for k in keys}} for r in rows]
