"""Drop-in module API for agents written against the old helper module.

    from agent_memory import remember, recall
    remember("disk full on /var/lib/postgresql", "pg_archivecleanup ...", metadata={"success": True})
    for hit in recall("postgres disk full", limit=3): print(hit["solution"])

In-process by default (embedded stores or NEO4J_URI / DATABASE_URL from the
environment); set OBSMEM_URL (and OBSMEM_API_TOKEN) to talk to a running service.
Results are plain dicts, as the old module returned.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from obsmem.model import FIX_ATTRIBUTES  # stdlib only: no torch, no drivers

_FIELDS = FIX_ATTRIBUTES  # success, agent, service, ... from the one fix record
_lock = threading.Lock()
_backend: Any = None
_manager: Any = None


def _get() -> Any:
    global _backend
    with _lock:
        if _backend is None:
            # One backend per process, shared with the guide's db_manager: the same
            # OBSMEM_URL / in-process choice, opened once (closed at exit).
            from scripts.database_helpers import db_manager

            _backend = db_manager.backend
        return _backend


def _plain(obj: Any) -> Any:
    return obj.to_dict() if hasattr(obj, "to_dict") else obj


def remember(key: str, solution: str, metadata: dict[str, Any] | None = None) -> dict[str, Any]:
    """Store a fix for the problem `key`. Known metadata keys become fields; the rest stay metadata."""
    meta = dict(metadata or {})
    fields = {k: meta.pop(k) for k in _FIELDS if k in meta}
    return _plain(_get().remember(key, solution, metadata=meta or None, **fields))


def recall(query: str, limit: int = 5) -> list[dict[str, Any]]:
    """Fixes for problems like `query`, best first: {id, issue, solution, success, score,
    relevance, below_bar, why, ...}. Act only on hits whose `below_bar` is false."""
    return recall_result(query, limit)["hits"]


def recall_result(query: str, limit: int = 5, min_relevance: float | None = None) -> dict[str, Any]:
    """{"hits": [as recall()], "no_match": bool, "min_relevance": float}: no_match says nothing matches."""
    result = _get().recall(query, k=limit, min_relevance=min_relevance)
    out = result if isinstance(result, dict) else result.to_dict()
    hits = [
        {**h["fix"], "score": h["score"], "relevance": h.get("relevance"),
         "below_bar": h.get("below_bar", False), "why": h["why"]}
        for h in out["hits"]
    ]  # fmt: skip
    return {
        "hits": hits,
        "no_match": out.get("no_match", not hits),
        "min_relevance": out.get("min_relevance"),
    }


def _db() -> Any:
    """The guide's DatabaseManager over this module's backend (one backend per process)."""
    from scripts.database_helpers import DatabaseManager

    backend = _get()
    global _manager
    if _manager is None or _manager.backend is not backend:
        _manager = DatabaseManager(backend)
    return _manager


def get_recent_fixes(limit: int = 10) -> list[dict[str, Any]]:
    """Newest first, each with the guide's `timestamp` (epoch ms) beside `ts`; [] when down."""
    return _db().get_recent_fixes(limit=limit)


def get_all_agents() -> list[dict[str, Any]]:
    """Every agent with `last_seen` in epoch ms (the guide computes ages from it); [] when down."""
    return _db().get_all_agents()


def register_agent(name: str, server: str | None = None) -> bool:
    """The guide's success flag: True once obsmem has the agent, False (and a warning) if not."""
    return _db().register_agent(name, server)


def get_agent(name: str) -> dict[str, Any] | None:
    """One agent's record (what register_agent returned before it became a success flag)."""
    return _db().get_agent(name)


def find_similar_issues(issue: str, limit: int = 5) -> list[dict[str, Any]]:
    """Issues like `issue`: each with `issue`, `solution`, `occurrence_count`; [] when down."""
    return _db().find_similar_issues(issue, limit=limit)
