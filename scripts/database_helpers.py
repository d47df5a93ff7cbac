"""The ops guide's `DatabaseManager` and module-level `db_manager`, over obsmem.

    from scripts.database_helpers import db_manager
    fixes = db_manager.get_recent_fixes(limit=20)
    db_manager.register_agent("agent-1", "server-1")
    similar = db_manager.find_similar_issues("connection", limit=5)
    stats = db_manager.get_database_stats()

Agents written against the original control plane call exactly this. It opens
lazily, on first use, from the same configuration as everything else:
in-process `Memory` (embedded stores, or NEO4J_URI / DATABASE_URL), or the
HTTP service when OBSMEM_URL is set (token from OBSMEM_API_TOKEN). Answers are
plain dicts, lists and bools in the guide's shapes, beside obsmem's own fields.

The guide's error rule holds: a store (or service) that is down gives empty
results or False and a logged warning, never an exception to the caller.
Writes are kept by obsmem's outbox while a store is down, as for any write.
OBS_AGENT_LOG_LEVEL (or OBSMEM_LOG_LEVEL), when set, sets the log level.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from obsmem import compat  # after the path fix; imports no DB driver
from obsmem.config import ConfigError, env_log_level

__all__ = ["DatabaseManager", "apply_log_level", "db_manager"]

log = logging.getLogger("scripts.database_helpers")
T = TypeVar("T")
_FIX_FIELDS = ("agent", "service", "namespace", "severity", "root_cause", "confidence", "tags")


def apply_log_level(env: dict[str, str] | None = None) -> str | None:
    """Honour OBS_AGENT_LOG_LEVEL / OBSMEM_LOG_LEVEL when one is set (the guide's switch).

    Sets the level of obsmem's and these scripts' loggers, and gives the root
    logger a stderr handler if the program has not configured logging itself.
    """
    try:
        level = env_log_level(env)
    except ConfigError as exc:
        log.warning("ignoring the log level: %s", exc)
        return None
    if level:
        logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
        for name in ("obsmem", "scripts"):
            logging.getLogger(name).setLevel(level)
    return level


def _remote(backend: Any) -> bool:
    """True for the HTTP client (answers are JSON dicts), False for an in-process Memory."""
    return hasattr(backend, "base_url")


def _plain(obj: Any) -> Any:
    return obj.to_dict() if hasattr(obj, "to_dict") else obj


class DatabaseManager:
    """Unified access to both stores in the guide's shapes; never raises for an outage."""

    def __init__(self, backend: Any = None, *, url: str | None = None, token: str | None = None):
        self._backend = backend
        self._url = url
        self._token = token
        self._owned = False
        self._lock = threading.Lock()

    # ------------------------------------------------------------ connection
    @property
    def backend(self) -> Any:
        """The Memory or Client behind this manager, opened on first use."""
        with self._lock:
            if self._backend is None:
                url = self._url or os.environ.get("OBSMEM_URL", "").strip()
                if url:
                    from obsmem.client import Client

                    self._backend = Client(url, self._token or os.environ.get("OBSMEM_API_TOKEN"))
                else:
                    from obsmem.memory import Memory

                    self._backend = Memory.open()
                self._owned = True
                atexit.register(self.close)
            return self._backend

    @backend.setter
    def backend(self, value: Any) -> None:
        with self._lock:
            self._backend, self._owned = value, False

    def close(self) -> None:
        """Close what this manager opened (idempotent); a later call opens again."""
        with self._lock:
            backend, owned = self._backend, self._owned
            self._backend, self._owned = None, False
        if backend is not None and owned:
            try:
                backend.close()
            except Exception as exc:  # closing must not crash the agent at exit either
                log.warning("closing obsmem failed: %s", exc)

    def _safe(self, what: str, default: T, fn: Callable[[Any], T]) -> T:
        """The guide's error rule: warn and answer `default` instead of raising."""
        try:
            return fn(self.backend)
        except Exception as exc:
            log.warning("%s failed, returning %r: %s: %s", what, default, type(exc).__name__, exc)
            return default

    # ------------------------------------------------------------ reads
    def get_recent_fixes(self, limit: int = 20) -> list[dict[str, Any]]:
        """Newest fixes first: {issue, solution, timestamp (epoch ms), success, ...}; [] when down."""

        def read(b: Any) -> list[dict[str, Any]]:
            if _remote(b):
                return compat.fix_items(b.get_recent_fixes(limit=limit)["fixes"])
            return compat.fix_items(f.to_dict() for f in b.get_recent_fixes(limit=limit))

        return self._safe("get_recent_fixes", [], read)

    def get_all_agents(self) -> list[dict[str, Any]]:
        """Every agent: {name, server, status, last_seen (epoch ms), ...}; [] when down."""
        return self._safe(
            "get_all_agents",
            [],
            lambda b: [compat.agent_item(_plain(a)) for a in b.get_all_agents()],
        )

    def get_agent(self, name: str) -> dict[str, Any] | None:
        """One agent (obsmem's addition; register_agent answers only True/False); None if unknown or down."""

        def read(b: Any) -> dict[str, Any] | None:
            if _remote(b):  # the HTTP API lists agents; there is no one-agent route
                return next((a for a in self.get_all_agents() if a.get("name") == name), None)
            agent = b.get_agent(name)
            return compat.agent_item(agent.to_dict()) if agent is not None else None

        return self._safe("get_agent", None, read)

    def find_similar_issues(self, issue: str, limit: int = 5) -> list[dict[str, Any]]:
        """Issues like `issue`: {issue, solution, occurrence_count, ...}; [] when down."""

        def read(b: Any) -> list[dict[str, Any]]:
            if _remote(b):
                found = b.find_similar_issues(issue, limit)
                if isinstance(found, dict):  # a server older than the `issues` key: groups only
                    found = found.get("groups", [])
                return [compat.issue_item(i, i.get("solution")) for i in found]
            return compat.similar_issue_items(b, issue, limit=limit)

        return self._safe("find_similar_issues", [], read)

    def get_database_stats(self) -> dict[str, Any]:
        """Connectivity and counts: `neo4j_connected` (the graph store, whichever backend) and
        `memori_available` (the vector store) as the guide names them, then obsmem's figures."""
        out: dict[str, Any] = {
            "neo4j_connected": False,
            "memori_available": False,
            "graph_connected": False,
            "vectors_connected": False,
            "status": "unavailable",
            "total_fixes": 0,
            "total_agents": 0,
            "success_rate": None,
            "outbox_pending": 0,
        }
        health = self._safe("get_database_stats (health)", {}, lambda b: _plain(b.health()))
        stores = health.get("stores") or {}
        graph_ok = bool((stores.get("graph") or {}).get("ok"))
        vectors_ok = bool((stores.get("vectors") or {}).get("ok"))
        if not stores and health.get("status") == "healthy":  # a locked /health says only this
            graph_ok = vectors_ok = True
        out.update(
            neo4j_connected=graph_ok,
            memori_available=vectors_ok,
            graph_connected=graph_ok,
            vectors_connected=vectors_ok,
            status=health.get("status", "unavailable"),
            graph_backend=(stores.get("graph") or {}).get("backend"),
        )
        outbox = health.get("outbox") or {}
        out["outbox_pending"] = int(outbox.get("total") or 0)
        if not (graph_ok or vectors_ok):
            return out

        def counts(b: Any) -> dict[str, Any]:
            return b.stats()["totals"] if _remote(b) else b.stats()

        totals = self._safe("get_database_stats (counts)", {}, counts)
        out["total_fixes"] = int(totals.get("fixes") or 0)
        out["total_agents"] = int(totals.get("agents") or 0)
        out["success_rate"] = totals.get("success_rate")
        return out

    # ------------------------------------------------------------ writes
    def register_agent(self, name: str, server: str | None = None) -> bool:
        """Register (or re-register) an agent; True once obsmem has it (stored or queued)."""
        return self._safe(
            "register_agent", False, lambda b: b.register_agent(name, server) is not None
        )

    def remember_fix(
        self,
        issue: str,
        solution: str,
        success: bool | None = None,
        metadata: dict[str, Any] | None = None,
        **fields: Any,
    ) -> bool:
        """Store a fix in both stores; True once it is stored or safely queued in the outbox.

        Extra keyword fields (agent, service, severity, root_cause, tags, ...) are obsmem's.
        """
        unknown = set(fields) - set(_FIX_FIELDS)
        if unknown:
            log.warning("remember_fix: unknown field(s) %s, returning False", sorted(unknown))
            return False

        def write(b: Any) -> bool:
            result = _plain(
                b.remember(issue, solution, success=success, metadata=metadata, **fields)
            )
            return bool(
                result["id"]
            )  # stored now, or queued in the outbox for a store that is down

        return self._safe("remember_fix", False, write)


apply_log_level()
db_manager = DatabaseManager()
