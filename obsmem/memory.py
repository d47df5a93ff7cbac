"""Memory: what agents call. One call to remember, one to recall.

Writes never raise for a store outage (they queue in the outbox and `remember`
says what is pending) unless the outbox itself cannot queue (disk full, data dir
read-only): then `remember` raises OutboxError saying which store has the write,
rather than pretend it is safe. Reads degrade to whichever store answers and say so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

from obsmem import model as m
from obsmem.config import Settings
from obsmem.manager import GRAPH, VECTORS, DatabaseManager, is_unavailable
from obsmem.model import (
    Agent,
    AgentWrite,
    Fix,
    FixFilter,
    FixWrite,
    IssueGroup,
    Outcome,
    RecallHit,
    RecallResult,
    RememberResult,
    ValidationError,
)
from obsmem.outbox import OutboxError
from obsmem.ranking import DEFAULT_PARAMS, RankParams, fuse, rerank

log = logging.getLogger("obsmem.memory")

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _embedding_pool() -> ThreadPoolExecutor:
    """Threads that embed a remember's documents while its graph write is in flight."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="obsmem-embed")
        return _pool


CANDIDATES = 50  # per retriever; fusion needs depth, the final list is k
ENRICH = 30  # how many fused candidates get graph evidence


class Unavailable(RuntimeError):
    """No store can answer this read right now."""


class NotFound(KeyError):
    """The fix (or agent) does not exist in any store."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "not found"


def _filter(
    *,
    service: Any = None,
    agent: Any = None,
    success: Any = None,
    since_ms: Any = None,
    root_cause: Any = None,
) -> FixFilter:
    if since_ms is not None and (isinstance(since_ms, bool) or not isinstance(since_ms, int)):
        raise ValidationError("since", "must be epoch milliseconds")
    return FixFilter(
        service=m.clean_name(service, "service"),
        agent=m.clean_name(agent, "agent"),
        success=m.clean_bool(success, "success"),
        since_ms=since_ms,
        root_cause=m.clean_name(root_cause, "root_cause"),
    )


def _not_safe(exc: OutboxError, stored: list[str], pending: list[str]) -> OutboxError:
    """A store was down and the outbox could not queue its copy: say exactly what is where."""
    lost = VECTORS if GRAPH in stored + pending else GRAPH
    where = f"stored in {' and '.join(stored)}" if stored else "stored in no store"
    if pending:
        where += f", queued for {' and '.join(pending)}"
    return OutboxError(
        f"this write is NOT safe: the {lost} store is unavailable and the outbox could not queue "
        f"its copy ({where}; the {lost} copy is lost). Free space or fix the data dir, then retry. "
        f"Cause: {exc}"
    )


def _redact_tree(node: Any) -> tuple[Any, set[str]]:
    """Metadata with every string value redacted (agents put env dumps and URLs there too)."""
    from obsmem.redact import redact

    kinds: set[str] = set()

    def walk(n: Any) -> Any:
        if isinstance(n, str):
            text, found = redact(n)
            kinds.update(found)
            return text
        if isinstance(n, dict):
            return {k: walk(v) for k, v in n.items()}
        if isinstance(n, list):
            return [walk(v) for v in n]
        return n

    return walk(node), kinds


def _row_to_fix(row: dict[str, Any]) -> Fix:
    """A vector-store row as a Fix, for answers while the graph is down."""

    def ms(value: Any) -> int | None:
        if value is None:
            return None
        if isinstance(value, int | float):
            return int(value)
        return int(value.timestamp() * 1000)

    return Fix(
        id=row["id"],
        issue=row.get("issue") or "",
        solution=row.get("solution") or "",
        ts=ms(row.get("created_at")) or 0,
        last_seen=ms(row.get("last_seen")),
        success=row.get("success"),
        agent=row.get("agent"),
        service=row.get("service"),
        namespace=row.get("namespace"),
        severity=row.get("severity"),
        root_cause=row.get("root_cause"),
        metadata=row.get("metadata") or {},
        occurrences=int(row.get("occurrences") or 1),
        successes=int(row.get("successes") or 0),
        failures=int(row.get("failures") or 0),
    )


class Memory:
    """The in-process API over both stores."""

    def __init__(self, manager: DatabaseManager, params: RankParams = DEFAULT_PARAMS):
        self.manager = manager
        self.settings = manager.settings
        self.params = params

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        embedder: Any = None,
        replay: bool = True,
    ) -> Memory:
        settings = settings or Settings.from_env()
        return cls(DatabaseManager(settings, embedder=embedder, replay=replay))

    def close(self) -> None:
        self.manager.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writes
    def _prepare(self, item: dict[str, Any]) -> tuple[FixWrite, tuple[str, ...]]:
        """Validate and redact one remember call; raises ValidationError naming the field."""
        from obsmem.redact import redact

        known = {
            "issue", "solution", "success", "agent", "service", "namespace", "severity",
            "root_cause", "confidence", "tags", "metadata", "id",
        }  # fmt: skip
        extra = set(item) - known
        if extra:
            raise ValidationError(sorted(extra)[0], "is not a field of a fix")
        issue = m.clean_text(item.get("issue"), "issue", max_chars=m.MAX_ISSUE_CHARS)
        solution = m.clean_text(item.get("solution"), "solution", max_chars=m.MAX_SOLUTION_CHARS)
        root_cause = m.clean_text(item.get("root_cause"), "root_cause", max_chars=2000, required=False)
        assert issue is not None and solution is not None
        issue, k1 = redact(issue)
        solution, k2 = redact(solution)
        kinds = set(k1) | set(k2)
        if root_cause:
            root_cause, k3 = redact(root_cause)
            kinds |= set(k3)
        metadata, k4 = _redact_tree(m.clean_metadata(item.get("metadata")))
        redacted_tags = [redact(t) for t in m.clean_tags(item.get("tags"))]
        tags = tuple(text for text, _ in redacted_tags)
        kinds |= k4 | {k for _, found in redacted_tags for k in found}
        fix_id = item.get("id")
        fix_id = m.clean_fix_id(fix_id) if fix_id is not None else m.fix_id_for(issue, solution)
        write = FixWrite(
            id=fix_id,
            event_id=m.new_event_id(),
            issue=issue,
            solution=solution,
            signature=m.issue_signature(issue),
            ts=m.now_ms(),
            success=m.clean_bool(item.get("success"), "success"),
            agent=m.clean_name(item.get("agent"), "agent"),
            service=m.clean_name(item.get("service"), "service"),
            namespace=m.clean_name(item.get("namespace"), "namespace"),
            severity=m.clean_name(item.get("severity"), "severity"),
            root_cause=root_cause.strip() if root_cause and root_cause.strip() else None,
            confidence=m.clean_confidence(item.get("confidence")),
            tags=tags,
            metadata=metadata,
        )
        return write, tuple(sorted(kinds))

    def remember(
        self,
        issue: str,
        solution: str,
        *,
        success: bool | None = None,
        agent: str | None = None,
        service: str | None = None,
        namespace: str | None = None,
        severity: str | None = None,
        root_cause: str | None = None,
        confidence: float | None = None,
        tags: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
        id: str | None = None,
    ) -> RememberResult:
        item = {
            "issue": issue, "solution": solution, "success": success, "agent": agent,
            "service": service, "namespace": namespace, "severity": severity,
            "root_cause": root_cause, "confidence": confidence,
            "tags": list(tags) if isinstance(tags, list | tuple) else tags,  # else: a clear error
            "metadata": metadata, "id": id,
        }  # fmt: skip
        return self._remember_batch([self._prepare(item)])[0]

    def remember_many(self, items: Iterable[dict[str, Any]], batch_size: int = 256) -> list[RememberResult]:
        """Bulk remember: validated up front (nothing is written if one item is bad), embedded in batches."""
        prepared: list[tuple[FixWrite, tuple[str, ...]]] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValidationError(f"items[{i}]", "must be an object")
            try:
                prepared.append(self._prepare(item))
            except ValidationError as exc:
                raise ValidationError(f"items[{i}].{exc.field}", exc.message) from None
        results: list[RememberResult] = []
        for start in range(0, len(prepared), max(batch_size, 1)):
            results.extend(self._remember_batch(prepared[start : start + batch_size]))
        return results

    def _existing(self, ids: list[str]) -> set[str]:
        try:
            return set(self.manager.graph.get_fixes(ids))
        except Exception as exc:
            if not is_unavailable(exc):
                raise
        if self.manager.outbox.has_pending(VECTORS):
            # Down or catching up: asking would cost a full pool timeout per write during an
            # outage of both stores, for an answer the backlog makes stale anyway.
            return set()
        try:
            return set(self.manager.vectors.get_rows(ids))
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            return set()

    def _remember_batch(self, batch: list[tuple[FixWrite, tuple[str, ...]]]) -> list[RememberResult]:
        mgr = self.manager
        writes = [w for w, _ in batch]
        # Embed while the graph is read and written: those round trips hide behind the model.
        rows = _embedding_pool().submit(mgr.vector_rows, writes)
        existing = self._existing(sorted({w.id for w in writes}))
        stored: list[str] = []
        pending: list[str] = []
        try:
            graph_ok = mgr.write(GRAPH, "fix", [w.to_dict() for w in writes])
            (stored if graph_ok else pending).append(GRAPH)
            vectors_ok = self._write_vectors(writes, rows)
            (stored if vectors_ok else pending).append(VECTORS)
        except OutboxError as exc:
            raise _not_safe(exc, stored, pending) from exc
        seen: set[str] = set()
        out = []
        for w, kinds in batch:
            dup = w.id if (w.id in existing or w.id in seen) else None
            seen.add(w.id)
            out.append(RememberResult(w.id, tuple(stored), tuple(pending), dup, kinds))
        return out

    def _write_vectors(self, writes: list[FixWrite], rows_future: Future[list[Any]] | None = None) -> bool:
        """Embed now, always; a queued write carries its embedding.

        Queueing without embedding made a write 10x cheaper while Postgres had a
        backlog, so under load writers filled the queue faster than the replayer
        (which then had to embed) could drain it: recovery never finished. Paying the
        embedding up front keeps writers at their normal pace and replay cheap.
        """
        mgr = self.manager
        rows = rows_future.result() if rows_future is not None else mgr.vector_rows(writes)
        payloads = lambda: [  # noqa: E731
            {**w.to_dict(), "_embedding": [float(x) for x in r.embedding]}
            for w, r in zip(writes, rows, strict=True)
        ]
        if mgr.outbox.has_pending(VECTORS) or mgr.is_down(VECTORS) or not mgr.ensure_schema(VECTORS):
            return mgr.write(VECTORS, "fix", payloads())  # queues behind the backlog
        try:
            mgr.vectors.upsert(rows)
            return True
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("vectors unavailable, queueing %d fix write(s): %s", len(writes), exc)
        mgr.outbox.append_many(VECTORS, "fix", payloads())
        mgr.replayer.kick()
        return False

    def feedback(self, fix_id: str, success: bool, agent: str | None = None) -> dict[str, Any]:
        fix_id = m.clean_fix_id(fix_id, "fix_id")
        success = m.clean_bool(success, "success", required=True)  # type: ignore[assignment]
        agent = m.clean_name(agent, "agent")
        if not self._existing([fix_id]) and self._any_store_up():
            raise NotFound(f"no fix with id {fix_id!r}")
        outcome = Outcome(m.new_event_id(), fix_id, bool(success), m.now_ms(), agent)
        stored, pending = self._write_both("outcome", [outcome.to_dict()])
        return {"fix_id": fix_id, "success": success, "stored_in": stored, "pending": pending}

    def _write_both(self, kind: str, payloads: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        stored, pending = [], []
        for store in (GRAPH, VECTORS):
            (stored if self.manager.write(store, kind, payloads) else pending).append(store)
        return stored, pending

    def _any_store_up(self) -> bool:
        return any(self.manager.store_health(s).ok for s in (GRAPH, VECTORS))

    def register_agent(self, name: str, server: str | None = None) -> Agent:
        name = m.clean_name(name, "name", required=True)  # type: ignore[assignment]
        server = m.clean_name(server, "server")
        write = AgentWrite(name=name, ts=m.now_ms(), server=server)
        self.manager.write(GRAPH, "agent", [write.to_dict()])
        return self.get_agent(name) or Agent(name, server, "active", write.ts, write.ts)

    def heartbeat(self, name: str) -> Agent:
        name = m.clean_name(name, "name", required=True)  # type: ignore[assignment]
        current = self._graph_read(lambda g: g.get_agent(name), default=None)
        server = current.server if current is not None else None
        return self.register_agent(name, server)

    def delete_fix(self, fix_id: str) -> bool:
        """Delete from both stores together; a store that is down gets the delete queued."""
        fix_id = m.clean_fix_id(fix_id, "fix_id")
        existed = bool(self._existing([fix_id]))
        self._write_both("delete", [{"id": fix_id}])
        return existed

    def delete_fixes(self, fix_ids: Sequence[str]) -> int:
        ids = [m.clean_fix_id(f, "fix_id") for f in fix_ids]
        if not ids:
            return 0
        existing = self._existing(ids)
        self._write_both("delete", [{"id": f} for f in ids])
        return len(existing)

    # ------------------------------------------------------------ recall
    def recall(
        self,
        query: str,
        k: int = 5,
        *,
        service: str | None = None,
        agent: str | None = None,
        only_successful: bool = False,
        since_ms: int | None = None,
    ) -> RecallResult:
        query = m.clean_text(query, "query", max_chars=m.MAX_QUERY_CHARS)  # type: ignore[assignment]
        from obsmem.redact import redact

        query = redact(query)[0]  # a pasted secret must not sit in the embedder's query cache
        k = m.clean_int(k, "k", default=5, lo=1, hi=m.MAX_K)
        if not isinstance(only_successful, bool):
            raise ValidationError("only_successful", "must be true or false")
        flt = _filter(service=service, agent=agent, success=True if only_successful else None, since_ms=since_ms)
        timings: dict[str, float] = {}
        served: list[str] = []
        mgr = self.manager
        depth = max(CANDIDATES, 4 * k)

        t0 = time.perf_counter()
        vec_hits: list[tuple[str, float]] | None = None
        kw_hits: list[tuple[str, float]] = []
        try:
            # The keyword leg runs in Postgres while the query is embedded here (see candidates).
            def embed() -> Any:
                emb = mgr.embedder.embed(query)
                timings["embed"] = (time.perf_counter() - t0) * 1000
                return emb

            vec_hits, kw_hits = mgr.vectors.candidates(embed, query, depth, flt)
            timings["search"] = (time.perf_counter() - t0) * 1000 - timings.get("embed", 0.0)
            served.append(VECTORS)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            log.warning("vector store unavailable for recall: %s", exc)

        t2 = time.perf_counter()
        if vec_hits is None:  # Postgres down: the graph's own full-text search
            try:
                kw_hits = mgr.graph.text_search(query, depth, flt)
                vec_hits = []
                served.append(GRAPH)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                raise Unavailable("neither the graph nor the vector store is reachable") from exc
            timings["search"] = (time.perf_counter() - t2) * 1000

        t3 = time.perf_counter()
        cands = fuse(vec_hits, kw_hits, self.params)[: max(ENRICH, k * 3)]
        ids = [c.id for c in cands]
        fixes: dict[str, Fix] = {}
        if ids:
            try:
                fixes = mgr.graph.get_fixes(ids)
                if GRAPH not in served:
                    served.append(GRAPH)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                rows = mgr.vectors.get_rows(ids)
                fixes = {i: _row_to_fix(r) for i, r in rows.items()}
        t4 = time.perf_counter()
        timings["graph"] = (t4 - t3) * 1000
        ranked = rerank(cands, fixes, m.now_ms(), self.params)
        if only_successful:
            ranked = [t for t in ranked if t[0].success is True or t[0].successes > 0]
        hits = [RecallHit(fix, score, why) for fix, score, why in ranked[:k]]
        timings["rank"] = (time.perf_counter() - t4) * 1000
        timings["total"] = (time.perf_counter() - t0) * 1000
        degraded = len(served) < 2
        return RecallResult(hits, served_by=served, degraded=degraded, timings_ms=timings)

    # ------------------------------------------------------------ reads
    def _graph_read(self, fn: Any, default: Any = Unavailable) -> Any:
        try:
            return fn(self.manager.graph)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            if default is Unavailable:
                raise Unavailable(f"the graph is unreachable: {exc}") from exc
            return default

    def get_fix(self, fix_id: str) -> Fix | None:
        fix_id = m.clean_fix_id(fix_id, "fix_id")
        try:
            return self.manager.graph.get_fix(fix_id)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
        try:
            rows = self.manager.vectors.get_rows([fix_id])
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            raise Unavailable("neither store is reachable") from exc
        return _row_to_fix(rows[fix_id]) if fix_id in rows else None

    def fix_detail(self, fix_id: str) -> dict[str, Any] | None:
        fix = self.get_fix(fix_id)
        if fix is None:
            return None
        outcomes = self._graph_read(lambda g: g.outcomes_for_fix(fix.id), default=[])
        agents = sorted({o["agent"] for o in outcomes if o.get("agent")})
        return {
            "fix": fix.to_dict(),
            "outcomes": [{**o, "at": m.ms_to_iso(o.get("ts"))} for o in outcomes],
            "agents": agents,
        }

    def get_all_agents(self) -> list[Agent]:
        return self._graph_read(lambda g: g.agents(m.now_ms()))

    def get_agent(self, name: str) -> Agent | None:
        name = m.clean_name(name, "name", required=True)  # type: ignore[assignment]
        return self._graph_read(lambda g: g.get_agent(name, m.now_ms()), default=None)

    def get_recent_fixes(
        self,
        limit: int = 20,
        offset: int = 0,
        *,
        agent: str | None = None,
        service: str | None = None,
        success: bool | None = None,
        since_ms: int | None = None,
    ) -> list[Fix]:
        limit = m.clean_int(limit, "limit", default=20, lo=1, hi=m.MAX_LIMIT)
        offset = m.clean_int(offset, "offset", default=0, lo=0, hi=m.MAX_OFFSET)
        flt = _filter(agent=agent, service=service, success=success, since_ms=since_ms)
        return self._graph_read(lambda g: g.recent_fixes(limit, offset, flt))

    def count_fixes(
        self,
        *,
        agent: str | None = None,
        service: str | None = None,
        success: bool | None = None,
        since_ms: int | None = None,
    ) -> int:
        flt = _filter(agent=agent, service=service, success=success, since_ms=since_ms)
        try:
            return int(self.manager.graph.count_fixes(flt))
        except Exception as exc:
            if not is_unavailable(exc):
                raise
        try:
            return int(self.manager.vectors.count(flt))
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            raise Unavailable("neither store is reachable") from exc

    def find_similar_issues(self, text: str, limit: int = 5) -> list[IssueGroup]:
        text = m.clean_text(text, "text", max_chars=m.MAX_QUERY_CHARS)  # type: ignore[assignment]
        limit = m.clean_int(limit, "limit", default=5, lo=1, hi=m.MAX_K)
        return self._graph_read(lambda g: g.similar_issues(text, limit))

    def success_rate_by_root_cause(self) -> list[dict[str, Any]]:
        return self._graph_read(lambda g: g.success_by_root_cause())

    def success_by_signature(self, limit: int = 20) -> list[dict[str, Any]]:
        limit = m.clean_int(limit, "limit", default=20, lo=1, hi=m.MAX_LIMIT)
        return self._graph_read(lambda g: g.success_by_signature(limit))

    def fixes_over_time(self, days: int = 30) -> list[dict[str, Any]]:
        days = m.clean_int(days, "days", default=30, lo=1, hi=3660)
        since = m.now_ms() - days * 86_400_000
        rows = self._graph_read(lambda g: g.fixes_over_time(86_400_000, since))
        return [
            {
                "t": m.ms_to_iso(r["bucket"]),
                "fixes": r["fixes"],
                "successes": r["succeeded"],
                "failures": r["failed"],
            }
            for r in rows
        ]

    def neighbourhood(self, fix_id: str) -> dict[str, Any]:
        fix_id = m.clean_fix_id(fix_id, "fix_id")
        return self._graph_read(lambda g: g.neighbourhood(fix_id))

    def health(self) -> dict[str, Any]:
        return self.manager.health()

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = {"graph": None, "vectors": None}
        try:
            g = self.manager.graph.stats()
            out["graph"] = {
                "nodes": g.nodes, "relationships": g.relationships, "fixes": g.fixes,
                "agents": g.agents, "outcomes": g.outcomes, "success_rate": g.success_rate,
            }  # fmt: skip
            out.update(fixes=g.fixes, agents=g.agents, outcomes=g.outcomes, success_rate=g.success_rate)
        except Exception as exc:
            if not is_unavailable(exc):
                raise
        try:
            out["vectors"] = {"fixes": int(self.manager.vectors.count(None))}
            out.setdefault("fixes", out["vectors"]["fixes"])
        except Exception as exc:
            if not is_unavailable(exc):
                raise
        out["outbox"] = self.manager.outbox.stats()
        return out

    def drain(self, timeout: float = 30.0) -> bool:
        """Block until queued writes are applied (True) or the timeout passes (False)."""
        return self.manager.drain(timeout)

    def with_params(self, **changes: Any) -> Memory:
        """The same stores, ranked with other parameters (for tuning and benchmarks)."""
        return Memory(self.manager, replace(self.params, **changes))
