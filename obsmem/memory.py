"""Memory: what agents call. One call to remember, one to recall.

Writes never raise for a store outage (they queue in the outbox and `remember`
says what is pending) unless the outbox itself cannot queue (disk full, data dir
read-only): then `remember` raises OutboxError saying which store has the write,
rather than pretend it is safe. Reads degrade to whichever store answers and say so.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar, cast

from obsmem import model as m
from obsmem import recall as rc
from obsmem import served as trace
from obsmem.config import Settings
from obsmem.errors import OUTAGES
from obsmem.errors import NoStoreAvailable as Unavailable  # the old name, kept importable
from obsmem.errors import NotFound as NotFound
from obsmem.model import (
    Agent,
    AgentWrite,
    Fix,
    FixWrite,
    IssueGroup,
    Outcome,
    RecallResult,
    RememberResult,
    ValidationError,
)
from obsmem.ranking import DEFAULT_PARAMS, RankParams, fuse
from obsmem.recall import CANDIDATES, ENRICH, _row_to_fix  # noqa: F401  (old import paths)
from obsmem.recall import build_filter as _filter
from obsmem.stores.graph.explore import KINDS as EXPLORE_KINDS
from obsmem.stores.graph.explore import MAX_DEPTH as EXPLORE_MAX_DEPTH
from obsmem.stores.graph.explore import MAX_NODES as EXPLORE_MAX_NODES
from obsmem.stores.outbox import OutboxError
from obsmem.stores.protocols import GraphStore, VectorStore
from obsmem.stores.router import GRAPH, VECTORS, DatabaseManager

log = logging.getLogger("obsmem.memory")
T = TypeVar("T")

_pool_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None


def _embedding_pool() -> ThreadPoolExecutor:
    """Threads that embed a remember's documents while its graph write is in flight."""
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="obsmem-embed")
        return _pool


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
    """Metadata with keys and string values redacted, and values under credential-like
    keys (`password`, `token`, `*_key`, ...) replaced whole at any depth."""
    from obsmem.redact import redact_tree

    return redact_tree(node)


def _redact_name(value: str | None, kinds: set[str]) -> str | None:
    """A name field (agent, service, namespace, ...) with any credential in it replaced:
    an `AKIA...` id pasted as an agent name must not become a graph node's key."""
    if value is None:
        return None
    from obsmem.redact import redact

    text, found = redact(value)
    kinds.update(found)
    return text


def _clean_secret_free_id(value: Any, field: str = "id") -> str:
    """Ids are keys callers use again, so one holding a credential is refused, not rewritten."""
    from obsmem.redact import redact

    fix_id = m.clean_fix_id(value, field)
    if redact(fix_id)[1]:
        raise ValidationError(field, "looks like it contains a credential; choose another id")
    return fix_id


class Memory:
    """The in-process API over both stores."""

    def __init__(self, manager: DatabaseManager, params: RankParams = DEFAULT_PARAMS):
        self.manager = manager
        self.settings = manager.settings
        self.params = params
        # Agents live in the graph only: the last list it gave, shown (labelled with its
        # age) while the graph is down, and when the graph last answered at all.
        self._agents_copy: tuple[float, list[Agent]] | None = None
        self._graph_seen: float | None = None

    @classmethod
    def open(
        cls,
        settings: Settings | None = None,
        *,
        embedder: Any = None,
        replay: bool = True,
    ) -> Memory:
        settings = settings or Settings.from_env()
        if settings.graph_embedded or settings.vectors_embedded:
            info = settings.data_dir_info
            (log.warning if info.is_new else log.info)("obsmem data dir: %s", info.describe())
        return cls(DatabaseManager(settings, embedder=embedder, replay=replay))

    def close(self) -> None:
        self.manager.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ writes
    def _prepare(
        self, item: dict[str, Any], idempotency_key: str | None = None
    ) -> tuple[FixWrite, tuple[str, ...]]:
        """Validate and redact one remember call; raises ValidationError naming the field."""
        from obsmem.redact import redact

        known = set(m.REMEMBER_FIELDS)  # the one fix record
        extra = set(item) - known
        if extra:
            raise ValidationError(sorted(extra)[0], "is not a field of a fix")
        issue = m.clean_text(item.get("issue"), "issue", max_chars=m.MAX_ISSUE_CHARS)
        solution = m.clean_text(item.get("solution"), "solution", max_chars=m.MAX_SOLUTION_CHARS)
        root_cause = m.clean_text(
            item.get("root_cause"), "root_cause", max_chars=m.MAX_ROOT_CAUSE_CHARS, required=False
        )
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
        fix_id = (
            _clean_secret_free_id(fix_id) if fix_id is not None else m.fix_id_for(issue, solution)
        )
        names = {
            f: _redact_name(m.clean_name(item.get(f), f), kinds)
            for f in ("agent", "service", "namespace", "severity")
        }
        write = FixWrite(
            id=fix_id,
            event_id=m.event_id_for(idempotency_key, "remember"),
            issue=issue,
            solution=solution,
            signature=m.issue_signature(issue),
            ts=m.now_ms(),
            success=m.clean_bool(item.get("success"), "success"),
            agent=names["agent"],
            service=names["service"],
            namespace=names["namespace"],
            severity=names["severity"],
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
        idempotency_key: str | None = None,
    ) -> RememberResult:
        """Store one fix in both stores (or queue it). A retry with the same `idempotency_key`
        (e.g. after a lost response) counts the occurrence once."""
        item = {
            "issue": issue, "solution": solution, "success": success, "agent": agent,
            "service": service, "namespace": namespace, "severity": severity,
            "root_cause": root_cause, "confidence": confidence,
            "tags": list(tags) if isinstance(tags, list | tuple) else tags,  # else: a clear error
            "metadata": metadata, "id": id,
        }  # fmt: skip
        key = m.clean_idempotency_key(idempotency_key)
        return self._remember_batch([self._prepare(item, key)])[0]

    def remember_many(
        self,
        items: Iterable[dict[str, Any]],
        batch_size: int = 256,
        *,
        idempotency_key: str | None = None,
    ) -> list[RememberResult]:
        """Bulk remember: validated up front (nothing is written if one item is bad), embedded in batches.

        With `idempotency_key`, item i gets the key "<key>#<i>": resending the same batch counts once."""
        key = m.clean_idempotency_key(idempotency_key)
        prepared: list[tuple[FixWrite, tuple[str, ...]]] = []
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise ValidationError(f"items[{i}]", "must be an object")
            try:
                prepared.append(self._prepare(item, f"{key}#{i}" if key else None))
            except ValidationError as exc:
                raise ValidationError(f"items[{i}].{exc.field}", exc.message) from None
        results: list[RememberResult] = []
        for start in range(0, len(prepared), max(batch_size, 1)):
            results.extend(self._remember_batch(prepared[start : start + batch_size]))
        return results

    def _existing(self, ids: list[str]) -> set[str]:
        try:
            return set(self.manager.graph.get_fixes(ids))
        except OUTAGES:
            pass  # an outage: fall through to the other store
        if self.manager.outbox.has_pending(VECTORS):
            # Down or catching up: asking would cost a full pool timeout per write during an
            # outage of both stores, for an answer the backlog makes stale anyway.
            return set()
        try:
            return set(self.manager.vectors.get_rows(ids))
        except OUTAGES:
            return set()

    def _remember_batch(
        self, batch: list[tuple[FixWrite, tuple[str, ...]]]
    ) -> list[RememberResult]:
        mgr = self.manager
        writes = [w for w, _ in batch]
        # Embed while the graph is read and written: those round trips hide behind the model.
        rows = _embedding_pool().submit(mgr.vector_rows, writes)
        existing = self._existing(sorted({w.id for w in writes}))
        stored: list[str] = []
        pending: list[str] = []
        try:
            graph_ok = mgr.write_fixes(GRAPH, writes)
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

    def _write_vectors(
        self, writes: list[FixWrite], rows_future: Future[list[Any]] | None = None
    ) -> bool:
        """Store or queue, with embeddings computed up front (`DatabaseManager.write_fixes`
        says why); `rows_future` carries them when they were embedded beside the graph write."""
        rows = rows_future.result() if rows_future is not None else None
        return self.manager.write_fixes(VECTORS, writes, rows=rows)

    def feedback(
        self,
        fix_id: str,
        success: bool,
        agent: str | None = None,
        vote: str | None = None,
        *,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        """Record that a fix worked or not; a retry with the same `idempotency_key` counts once.

        With `vote` (e.g. a browser session id) the
        (fix, agent, vote) triple holds one vote: repeating it changes nothing, the
        opposite answer changes it (the old outcome is undone). Votes need the graph,
        where the trail lives, to find the previous one."""
        key = m.clean_idempotency_key(idempotency_key)
        fix_id = m.clean_fix_id(fix_id, "fix_id")
        success = m.clean_bool(success, "success", required=True)  # type: ignore[assignment]
        agent = _redact_name(m.clean_name(agent, "agent"), set())
        vote = m.clean_name(vote, "vote")
        if not self._existing([fix_id]) and self._any_store_up():
            raise NotFound(f"no fix with id {fix_id!r}")
        now = m.now_ms()
        outcome = Outcome(
            m.event_id_for(key, f"feedback:{fix_id}"), fix_id, bool(success), now, agent
        )
        state = None
        if vote is not None:
            agent = agent or "dashboard"
            prefix = (
                "vote-"
                + hashlib.sha256("\x00".join((fix_id, agent, vote)).encode()).hexdigest()[:24]
            )
            trail = self._graph_read(lambda g: g.outcomes_for_fix(fix_id))
            mine = [o for o in trail if str(o.get("event_id") or "").startswith(prefix + "-")]
            previous = max(mine, key=lambda o: o.get("ts") or 0) if mine else None
            if previous is not None and bool(previous["success"]) == bool(success):
                return {
                    "fix_id": fix_id,
                    "success": success,
                    "agent": agent,
                    "vote": "unchanged",
                    "event_id": previous["event_id"],
                    "stored_in": [],
                    "pending": [],
                }
            outcome = Outcome(
                f"{prefix}-{now}",
                fix_id,
                bool(success),
                now,
                agent,
                replaces=previous["event_id"] if previous else None,
            )
            state = "changed" if previous else "new"
        stored, pending = self._write_both("outcome", [outcome.to_dict()])
        out = {"fix_id": fix_id, "success": success, "stored_in": stored, "pending": pending}
        if state is not None:
            out.update(agent=agent, vote=state, event_id=outcome.event_id)
        return out

    def _write_both(self, kind: str, payloads: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
        stored: list[str] = []
        pending: list[str] = []
        for store in (GRAPH, VECTORS):
            (stored if self.manager.write(store, kind, payloads) else pending).append(store)
        return stored, pending

    def _any_store_up(self) -> bool:
        return any(self.manager.store_health(s).ok for s in (GRAPH, VECTORS))

    def register_agent(
        self, name: str, server: str | None = None, *, idempotency_key: str | None = None
    ) -> Agent:
        """Create or refresh an agent. Agent writes set state (last seen, server) and count
        nothing, so a retry is harmless; the key is accepted (and checked) for a uniform API."""
        m.clean_idempotency_key(idempotency_key)
        name = _redact_name(m.clean_name(name, "name", required=True), set())  # type: ignore[assignment]
        server = _redact_name(m.clean_name(server, "server"), set())
        write = AgentWrite(name=name, ts=m.now_ms(), server=server)
        self.manager.write(GRAPH, "agent", [write.to_dict()])
        return self.get_agent(name) or Agent(name, server, "active", write.ts, write.ts)

    def heartbeat(self, name: str, *, idempotency_key: str | None = None) -> Agent:
        m.clean_idempotency_key(idempotency_key)
        name = _redact_name(m.clean_name(name, "name", required=True), set())  # type: ignore[assignment]
        current = self._graph_read(lambda g: g.get_agent(name), default=None)
        server = current.server if current is not None else None
        return self.register_agent(name, server)

    def remove_agent(self, name: str) -> bool:
        """Forget an agent (graph only: Postgres keeps no agents). Not queued: with the graph
        down this raises Unavailable, so an operator knows it did not happen. A running agent
        that heartbeats again comes back."""
        name = m.clean_name(name, "name", required=True)  # type: ignore[assignment]
        return bool(self._graph_read(lambda g: g.remove_agent(name)))

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
        min_relevance: float | None = None,
    ) -> RecallResult:
        """Fixes for a problem, best first, each with a calibrated `relevance`.

        `no_match` is true when no hit reaches `min_relevance` (default:
        OBSMEM_MIN_RELEVANCE, else obsmem.recall.DEFAULT_MIN_RELEVANCE); the hits
        below it are still returned, marked `below_bar`.
        """
        from obsmem.redact import redact

        query = m.clean_text(query, "query", max_chars=m.MAX_QUERY_CHARS)  # type: ignore[assignment]
        query = redact(query)[0]  # a pasted secret must not sit in the embedder's query cache
        k = m.clean_int(k, "k", default=5, lo=1, hi=m.MAX_K)
        if not isinstance(only_successful, bool):
            raise ValidationError("only_successful", "must be true or false")
        bar = rc.clean_min_relevance(min_relevance)
        if bar is None:
            bar = self.settings.min_relevance
        if bar is None:
            bar = rc.DEFAULT_MIN_RELEVANCE
        flt = _filter(
            service=service,
            agent=agent,
            success=True if only_successful else None,
            since_ms=since_ms,
        )
        return rc.recall(
            self.manager,
            self.params,
            query,
            k,
            flt,
            only_successful=only_successful,
            min_relevance=bar,
        )

    # ------------------------------------------------------------ reads
    def _graph_read(self, fn: Callable[[GraphStore], T], default: Any = Unavailable) -> T:
        try:
            out = fn(self.manager.graph)
        except OUTAGES as exc:
            trace.missing(GRAPH, exc)
            if default is Unavailable:
                raise Unavailable(f"the graph is unreachable: {exc}") from exc
            return cast(T, default)
        self._graph_seen = time.time()
        trace.served(GRAPH)
        return out

    def _either(
        self, from_graph: Callable[[GraphStore], T], from_vectors: Callable[[VectorStore], T]
    ) -> T:
        """The graph's answer, else the same answer from Postgres; Unavailable only when both are out.

        The fallback lives here, above the graph backend, so it holds for FalkorDB and Neo4j alike.
        """
        try:
            out = from_graph(self.manager.graph)
            self._graph_seen = time.time()
            trace.served(GRAPH)
            return out
        except OUTAGES as exc:
            trace.missing(GRAPH, exc)
        try:
            out = from_vectors(self.manager.vectors)
        except OUTAGES as exc:
            trace.missing(VECTORS, exc)
            raise Unavailable("neither the graph nor the vector store is reachable") from exc
        trace.served(VECTORS)
        return out

    def _graph_down_info(self) -> dict[str, Any]:
        """When the graph was last seen and since when it is out, for 'unavailable' labels."""
        breaker = self.manager._breakers[GRAPH]
        return {
            "graph_last_seen": m.ms_to_iso(int(self._graph_seen * 1000))
            if self._graph_seen
            else None,
            "graph_down_since": m.ms_to_iso(int(breaker.opened_at * 1000))
            if breaker.opened_at
            else None,
        }

    def get_fix(self, fix_id: str) -> Fix | None:
        fix_id = m.clean_fix_id(fix_id, "fix_id")

        def from_vectors(v: Any) -> Fix | None:
            rows = v.get_rows([fix_id])
            return _row_to_fix(rows[fix_id]) if fix_id in rows else None

        return self._either(lambda g: g.get_fix(fix_id), from_vectors)

    def fix_detail(self, fix_id: str) -> dict[str, Any] | None:
        fix = self.get_fix(fix_id)
        if fix is None:
            return None
        outcomes = self._graph_read(lambda g: g.outcomes_for_fix(fix.id), default=None)
        detail: dict[str, Any] = {
            "fix": fix.to_dict(),
            "outcomes": [{**o, "at": m.ms_to_iso(o.get("ts"))} for o in outcomes or []],
            "agents": sorted({o["agent"] for o in outcomes or [] if o.get("agent")}),
        }
        if outcomes is None:  # outcome history lives in the graph only
            info = self._graph_down_info()
            trace.unavailable(
                "outcomes", message="the outcome history lives in the graph, which is down", **info
            )
            detail["outcomes_unavailable"] = {"reason": "graph unavailable", **info}
        return detail

    def get_all_agents(self) -> list[Agent]:
        """The graph's agents; while it is down, the last list it gave (labelled with its age).

        Raises Unavailable only when no store answers at all.
        """
        try:
            agents = self.manager.graph.agents(m.now_ms())
        except OUTAGES as exc:
            trace.missing(GRAPH, exc)
            try:
                self.manager.vectors.ping()
            except OUTAGES as exc2:
                trace.missing(VECTORS, exc2)
                raise Unavailable("neither the graph nor the vector store is reachable") from exc2
            trace.served(VECTORS)
            copy = self._agents_copy
            info = self._graph_down_info()
            age = round(time.time() - copy[0], 1) if copy else None
            as_of = m.ms_to_iso(int(copy[0] * 1000)) if copy else None
            message = "agents live in the graph, which is down"
            message += (
                f"; showing the last-known copy from {as_of} ({age:g} s old)"
                if copy
                else "; no copy known"
            )
            trace.unavailable("agents", message=message, copy_as_of=as_of, copy_age_s=age, **info)
            return list(copy[1]) if copy else []
        self._graph_seen = time.time()
        self._agents_copy = (self._graph_seen, list(agents))
        trace.served(GRAPH)
        return agents

    def get_agent(self, name: str) -> Agent | None:
        name = _redact_name(m.clean_name(name, "name", required=True), set())  # type: ignore[assignment]
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
        order: str = "created",
    ) -> list[Fix]:
        """Newest first: by when first seen (order="created") or last seen ("last_seen")."""
        limit = m.clean_int(limit, "limit", default=20, lo=1, hi=m.MAX_LIMIT)
        offset = m.clean_int(offset, "offset", default=0, lo=0, hi=m.MAX_OFFSET)
        if order not in ("created", "last_seen"):
            raise m.ValidationError("order", "must be created or last_seen")
        flt = _filter(agent=agent, service=service, success=success, since_ms=since_ms)
        return self._either(
            lambda g: g.recent_fixes(limit, offset, flt, order=order),
            lambda v: [_row_to_fix(r) for r in v.recent_rows(limit, offset, flt)],
        )

    def count_fixes(
        self,
        *,
        agent: str | None = None,
        service: str | None = None,
        success: bool | None = None,
        since_ms: int | None = None,
    ) -> int:
        flt = _filter(agent=agent, service=service, success=success, since_ms=since_ms)
        return int(self._either(lambda g: g.count_fixes(flt), lambda v: v.count(flt)))

    def find_similar_issues(self, text: str, limit: int = 5) -> list[IssueGroup]:
        text = m.clean_text(text, "text", max_chars=m.MAX_QUERY_CHARS)  # type: ignore[assignment]
        limit = m.clean_int(limit, "limit", default=5, lo=1, hi=m.MAX_K)
        return self._either(
            lambda g: g.similar_issues(text, limit),
            lambda v: self._similar_from_vectors(v, text, limit),
        )

    def _similar_from_vectors(self, v: Any, text: str, limit: int) -> list[IssueGroup]:
        """Issue groups from Postgres's keyword ranking, for while the graph is down."""
        from obsmem.ranking import embedding_text

        emb = self.manager.embedder.embed_query(embedding_text(text, ""))
        found = v.search(emb, text, CANDIDATES, None)
        order = [c.id for c in fuse(found.vector, found.keyword, self.params)]
        rows = v.get_rows(order)
        groups: dict[str, dict[str, Any]] = {}
        for rank, fid in enumerate(order):
            r = rows.get(fid)
            if r is None:
                continue
            sig = r.get("signature") or m.issue_signature(r.get("issue") or "")
            g = groups.setdefault(sig, {"issue": r.get("issue") or "", "occ": 0, "s": 0, "f": 0,
                                        "ids": [], "score": 1.0 / (1 + rank)})  # fmt: skip
            g["occ"] += int(r.get("occurrences") or 0)
            g["s"] += int(r.get("successes") or 0)
            g["f"] += int(r.get("failures") or 0)
            g["ids"].append(fid)
        out = [
            IssueGroup(sig, g["issue"], g["occ"], len(g["ids"]),
                       g["s"] / (g["s"] + g["f"]) if g["s"] + g["f"] else None,
                       round(g["score"], 4), tuple(g["ids"]))
            for sig, g in groups.items()
        ]  # fmt: skip
        return sorted(out, key=lambda x: -x.score)[:limit]

    def success_rate_by_root_cause(self) -> list[dict[str, Any]]:
        return self._either(
            lambda g: g.success_by_root_cause(), lambda v: v.success_by_root_cause()
        )

    def success_by_signature(self, limit: int = 20) -> list[dict[str, Any]]:
        limit = m.clean_int(limit, "limit", default=20, lo=1, hi=m.MAX_LIMIT)
        return self._either(
            lambda g: g.success_by_signature(limit), lambda v: v.success_by_signature(limit)
        )

    def fixes_over_time(self, days: int = 30) -> list[dict[str, Any]]:
        days = m.clean_int(days, "days", default=30, lo=1, hi=3660)
        since = m.now_ms() - days * 86_400_000
        rows = self._either(
            lambda g: g.fixes_over_time(86_400_000, since),
            lambda v: v.fixes_over_time(86_400_000, since),
        )
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
        return self._either(
            lambda g: g.neighbourhood(fix_id), lambda v: self._lone_fix_node(v, fix_id)
        )

    def _lone_fix_node(self, v: Any, fix_id: str) -> dict[str, Any]:
        """The fix alone (its links live in the graph), so the graph view still shows something."""
        rows = v.get_rows([fix_id])
        if fix_id not in rows:
            return {"nodes": [], "edges": []}
        fix = _row_to_fix(rows[fix_id])
        trace.unavailable("neighbourhood", message="links live in the graph, which is down; the fix alone is shown",
                          **self._graph_down_info())  # fmt: skip
        node = {"id": "fix:" + fix.id, "kind": "fix", "label": fix.issue[:80], "fix_id": fix.id,
                "success": fix.success, "occurrences": fix.occurrences, "center": True}  # fmt: skip
        return {"nodes": [node], "edges": []}

    def explore(self, node: str, depth: int = 1, limit: int = 60) -> dict[str, Any] | None:
        """The graph around any node ("fix:ID", "agent:NAME", "service:NAME", "issue:SIG").

        Depth 1-3 hops, 1-300 nodes; None when the node does not exist. Graph only:
        with the graph down this raises Unavailable (Postgres has no edges).
        """
        kind, _, key = str(node or "").partition(":")
        if kind not in EXPLORE_KINDS or not key:
            raise m.ValidationError(
                "node", "must be kind:key with kind one of " + ", ".join(EXPLORE_KINDS)
            )
        if kind == "fix":
            m.clean_fix_id(key, "node")
        else:
            m.clean_name(key, "node", required=True)
        depth = m.clean_int(depth, "depth", default=1, lo=1, hi=EXPLORE_MAX_DEPTH)
        limit = m.clean_int(limit, "limit", default=60, lo=1, hi=EXPLORE_MAX_NODES)
        return self._graph_read(lambda g: g.explore(f"{kind}:{key}", depth=depth, limit=limit))

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
            out.update(
                fixes=g.fixes, agents=g.agents, outcomes=g.outcomes, success_rate=g.success_rate
            )
            self._graph_seen = time.time()
            trace.served(GRAPH)
        except OUTAGES as exc:
            trace.missing(GRAPH, exc)
        try:
            out["vectors"] = {"fixes": int(self.manager.vectors.count(None))}
            out.setdefault("fixes", out["vectors"]["fixes"])
            trace.served(VECTORS)
        except OUTAGES as exc:
            trace.missing(VECTORS, exc)
        out["outbox"] = self.manager.outbox.stats()
        return out

    def drain(self, timeout: float = 30.0) -> bool:
        """Block until queued writes are applied (True) or the timeout passes (False)."""
        return self.manager.drain(timeout)

    def with_params(self, **changes: Any) -> Memory:
        """The same stores, ranked with other parameters (for tuning and benchmarks)."""
        return Memory(self.manager, replace(self.params, **changes))
