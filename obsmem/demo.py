"""`obsmem demo`: seed the realistic incident set of `demo_data` so a new install has a live dashboard.

Each occurrence of an incident is one `remember` event dated in the past 30 days,
written through the same path as a real `remember` (so a store that is down
gets it queued). Event ids are derived from the incident and occurrence number,
so seeding twice, even days apart, changes nothing: both stores skip event ids
they already counted.
"""

from __future__ import annotations

import hashlib
from typing import Any

from obsmem import model as m
from obsmem.demo_data import AGENTS, INCIDENTS
from obsmem.model import AgentWrite, FixWrite

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
_OUTCOME = {"S": True, "F": False, "?": None}


def _event_id(fix_id: str, n: int) -> str:
    return "demo-" + hashlib.sha256(f"{fix_id}#{n}".encode()).hexdigest()[:24]


def events(now: int | None = None) -> tuple[list[AgentWrite], list[FixWrite]]:
    """The demo set as store writes, dated relative to `now` (deterministic but for the dates)."""
    now = m.now_ms() if now is None else now
    heartbeat = {name: now - int(hours * HOUR_MS) for name, _server, hours in AGENTS}
    agents = [AgentWrite(name=name, ts=heartbeat[name], server=server)
              for name, server, _hours in AGENTS]  # fmt: skip
    writes: list[FixWrite] = []
    for inc in INCIDENTS:
        fix_id = m.fix_id_for(inc["issue"], inc["solution"])
        n = len(inc["outcomes"])
        first = now - inc["days"] * DAY_MS
        for i, (agent, outcome) in enumerate(zip(inc["agents"], inc["outcomes"], strict=True)):
            # Spread repeats between the first occurrence and now, never after the
            # agent's last heartbeat (stale agents stay stale).
            ts = first + (now - first) * i // max(n, 1) + i * 7 * 60_000
            ts = min(ts, heartbeat[agent] - 60_000)
            writes.append(FixWrite(
                id=fix_id, event_id=_event_id(fix_id, i), issue=inc["issue"],
                solution=inc["solution"], signature=m.issue_signature(inc["issue"]), ts=ts,
                success=_OUTCOME[outcome], agent=agent, service=inc.get("service"),
                namespace=inc.get("namespace"), severity=inc.get("severity"),
                root_cause=inc.get("root_cause"), confidence=0.9 if outcome == "S" else None,
                tags=tuple(inc.get("tags", ())), metadata={"source": "obsmem demo"},
            ))  # fmt: skip
    writes.sort(key=lambda w: w.ts)
    return agents, writes


def seed(memory: Any, now: int | None = None) -> dict[str, Any]:
    """Write the demo set into both stores (idempotent); returns what the set holds."""
    from obsmem.stores.router import GRAPH, VECTORS

    mgr = memory.manager
    agents, writes = events(now)
    ids = sorted({w.id for w in writes})
    # A second run skips fixes a store already has: their events are in, and dates
    # computed from a later "now" must not move them.
    have = {GRAPH: set(mgr.graph.get_fixes(ids)), VECTORS: set(mgr.vectors.get_rows(ids))}
    mgr.write(GRAPH, "agent", [a.to_dict() for a in agents])
    stored = {
        store: mgr.write(store, "fix", [w.to_dict() for w in writes if w.id not in have[store]])
        for store in (GRAPH, VECTORS)
    }
    # Heartbeats last, so they stay the agents' newest sighting.
    mgr.write(GRAPH, "agent", [a.to_dict() for a in agents])
    return {
        "fixes": len({w.id for w in writes}),
        "agents": len(agents),
        "events": len(writes),
        "added": len(set(ids) - have[GRAPH]),
        "pending": [s for s, ok in stored.items() if not ok],
    }
