"""Export and import: the whole memory as versioned JSONL, streamed both ways.

This is backup/restore and also the way from the embedded stores to Neo4j +
an external Postgres (export with one configuration, import with the other).

Format (one JSON object per line):
    {"type": "header", "format": "obsmem-export", "version": 1, "model": ..., "dim": ...,
     "created_at": ..., "with_vectors": bool}
    {"type": "agent", "name", "server", "last_seen", "registered_at"}          (all agents)
    {"type": "fix", "id", "issue", "solution", "signature", "ts", "last_seen", "success",
     "agent", "service", "namespace", "severity", "root_cause", "confidence", "tags",
     "metadata", "occurrences", "successes", "failures"[, "embedding"]}
    {"type": "outcome", "event_id", "fix_id", "agent", "ts", "success"}        (after its fix)
    {"type": "end", "agents": n, "fixes": n, "outcomes": n}
An outcome is one agent's application of a fix (the graph's APPLIED edge);
`success` is null when the agent reported none. Timestamps are epoch ms.

Import restores each fix exactly (ids, event ids, first/last seen, success
figures) rather than replaying it as new `remember` calls, so a re-import
changes nothing and a round trip gives the same recall answers. The graph is
the source of truth for an export; vector rows without a graph fix are not
exported (`obsmem reconcile` shows them).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from obsmem import model as m
from obsmem.graph import cypher as C
from obsmem.model import AgentWrite, Fix, FixWrite

FORMAT = "obsmem-export"
VERSION = 1
T = TypeVar("T")

FIX_FIELDS = (
    "id", "issue", "solution", "signature", "ts", "last_seen", "success", "agent", "service",
    "namespace", "severity", "root_cause", "confidence", "tags", "metadata", "occurrences",
    "successes", "failures",
)  # fmt: skip


class TransferError(ValueError):
    """The file is not an obsmem export this version can read (the message says where)."""


def chunks(items: Iterable[T], size: int) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


# ------------------------------------------------------------------ export


def fix_record(fix: Fix) -> dict[str, Any]:
    d = {k: getattr(fix, k) for k in FIX_FIELDS}
    d["tags"] = list(fix.tags)
    d["signature"] = fix.signature or m.issue_signature(fix.issue)
    return {"type": "fix", **d}


@contextlib.contextmanager
def _open_out(path: Path | str) -> Iterator[IO[str]]:
    """Write to a temp file and rename on success: a failed export never looks complete."""
    if str(path) == "-":
        yield sys.stdout
        sys.stdout.flush()
        return
    # A fresh 0600 file with a random name made with O_EXCL|O_NOFOLLOW beside the target (a symlink
    # planted at a predictable temp name is never followed), renamed over it when complete.
    from obsmem.private_files import replace_exclusively

    with replace_exclusively(Path(path)) as (fd, _tmp), open(fd, "w", encoding="utf-8") as f:
        yield f
        f.flush()
        os.fsync(f.fileno())


def export(
    manager: Any,
    path: Path | str,
    *,
    with_vectors: bool = False,
    page: int = 500,
    on_fix: Callable[[], None] | None = None,
) -> dict[str, int]:
    """Stream every agent, fix and outcome from the stores to `path` ('-' for stdout)."""
    graph = manager.graph
    counts = {"agents": 0, "fixes": 0, "outcomes": 0}

    def line(out: IO[str], record: dict[str, Any]) -> None:
        out.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")

    with _open_out(path) as out:
        line(out, {
            "type": "header", "format": FORMAT, "version": VERSION,
            "model": manager.embedder_name, "dim": manager.embedder_dim,
            "created_at": m.ms_to_iso(m.now_ms()), "with_vectors": with_vectors,
            "graph_backend": getattr(graph, "backend", None),
        })  # fmt: skip
        for agent in graph.agents(m.now_ms()):
            line(out, {"type": "agent", "name": agent.name, "server": agent.server,
                       "last_seen": agent.last_seen, "registered_at": agent.registered_at})  # fmt: skip
            counts["agents"] += 1
        for fixes in chunks(graph.iter_fixes(batch=page), page):
            embeddings = manager.vectors.get_embeddings([f.id for f in fixes]) if with_vectors else {}
            for fix in fixes:
                record = fix_record(fix)
                if with_vectors and fix.id in embeddings:
                    record["embedding"] = [float(x) for x in embeddings[fix.id]]
                line(out, record)
                counts["fixes"] += 1
                for o in reversed(graph.outcomes_for_fix(fix.id)):  # oldest first
                    line(out, {"type": "outcome", "event_id": o["event_id"], "fix_id": fix.id,
                               "agent": o.get("agent"), "ts": o.get("ts"),
                               "success": o.get("success")})  # fmt: skip
                    counts["outcomes"] += 1
                if on_fix:
                    on_fix()
        line(out, {"type": "end", **counts})
    return counts


# ------------------------------------------------------------------ reading


def read_records(path: Path | str) -> Iterator[dict[str, Any]]:
    """Records of an export, header first, checked line by line (streamed, never all in memory)."""
    stream: IO[str]
    if str(path) == "-":
        stream = io.TextIOWrapper(sys.stdin.buffer, encoding="utf-8")
        close = False
    else:
        stream = open(path, encoding="utf-8")  # noqa: SIM115 - closed below, generator-owned
        close = True
    try:
        first = True
        for n, raw in enumerate(stream, 1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except ValueError as exc:
                raise TransferError(f"{path}:{n}: not JSON ({exc.msg})") from None
            if not isinstance(record, dict) or "type" not in record:
                raise TransferError(f"{path}:{n}: a record must be an object with a 'type'")
            if first:
                _check_header(record, f"{path}:{n}")
                first = False
            record["_line"] = n
            yield record
        if first:
            raise TransferError(f"{path}: empty file, not an obsmem export")
    finally:
        if close:
            stream.close()


def _check_header(record: dict[str, Any], where: str) -> None:
    if record.get("type") != "header" or record.get("format") != FORMAT:
        raise TransferError(f"{where}: not an obsmem export (no '{FORMAT}' header)")
    version = record.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise TransferError(f"{where}: export format version {version!r}; this obsmem reads {VERSION}")


# ------------------------------------------------------------------ import



def _int(value: Any, field: str, where: str, *, default: int | None = None) -> int:
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TransferError(f"{where}: {field} must be a non-negative whole number")
    return value


def _clean_fix(rec: dict[str, Any], where: str) -> dict[str, Any]:
    """Validate a fix record with the same rules as `remember` (plus the restored figures)."""
    try:
        fix_id = m.clean_fix_id(rec.get("id"))
        issue = m.clean_text(rec.get("issue"), "issue", max_chars=m.MAX_ISSUE_CHARS)
        solution = m.clean_text(rec.get("solution"), "solution", max_chars=m.MAX_SOLUTION_CHARS)
        out = {
            "id": fix_id, "issue": issue, "solution": solution,
            "signature": rec.get("signature") or m.issue_signature(issue or ""),
            "success": m.clean_bool(rec.get("success"), "success"),
            "agent": m.clean_name(rec.get("agent"), "agent"),
            "service": m.clean_name(rec.get("service"), "service"),
            "namespace": m.clean_name(rec.get("namespace"), "namespace"),
            "severity": m.clean_name(rec.get("severity"), "severity"),
            "root_cause": m.clean_text(rec.get("root_cause"), "root_cause", max_chars=2000,
                                       required=False),
            "confidence": m.clean_confidence(rec.get("confidence")),
            "tags": list(m.clean_tags(rec.get("tags"))),
            "metadata": m.clean_metadata(rec.get("metadata")),
        }  # fmt: skip
    except m.ValidationError as exc:
        raise TransferError(f"{where}: {exc}") from None
    ts = _int(rec.get("ts"), "ts", where)
    out["ts"] = ts
    out["last_seen"] = _int(rec.get("last_seen"), "last_seen", where, default=ts)
    out["occurrences"] = _int(rec.get("occurrences"), "occurrences", where, default=1)
    out["successes"] = _int(rec.get("successes"), "successes", where, default=0)
    out["failures"] = _int(rec.get("failures"), "failures", where, default=0)
    emb = rec.get("embedding")
    if emb is not None and not (isinstance(emb, list) and all(isinstance(x, int | float) for x in emb)):
        raise TransferError(f"{where}: embedding must be a list of numbers")
    out["embedding"] = emb
    return out


def _clean_outcome(rec: dict[str, Any], where: str) -> dict[str, Any]:
    try:
        event_id = m.clean_fix_id(rec.get("event_id"), "event_id")
        fix_id = m.clean_fix_id(rec.get("fix_id"), "fix_id")
        agent = m.clean_name(rec.get("agent"), "agent", required=True)
        success = m.clean_bool(rec.get("success"), "success")
    except m.ValidationError as exc:
        raise TransferError(f"{where}: {exc}") from None
    return {"event_id": event_id, "fix_id": fix_id, "agent": agent,
            "ts": _int(rec.get("ts"), "ts", where), "success": success}  # fmt: skip


class Importer:
    """Applies records in batches: agents, then fixes (graph, then vectors), then outcomes."""

    def __init__(self, manager: Any, header: dict[str, Any], batch_size: int = 256,
                 on_fix: Callable[[], None] | None = None) -> None:  # fmt: skip
        self.manager = manager
        self.batch_size = batch_size
        self.on_fix = on_fix
        self.reuse_vectors = bool(
            header.get("with_vectors")
            and header.get("model") == manager.embedder_name
            and header.get("dim") == manager.embedder_dim
        )
        self.fixes: list[dict[str, Any]] = []
        self.outcomes: list[dict[str, Any]] = []
        self.events: dict[str, list[tuple[int, str, bool | None]]] = {}
        self.summary = {"agents": 0, "fixes": 0, "outcomes": 0, "embedded": 0,
                        "vectors_reused": 0, "vectors_existing": 0}  # fmt: skip

    def add(self, rec: dict[str, Any]) -> None:
        where = f"line {rec.get('_line')}"
        kind = rec["type"]
        if kind == "agent":
            self._agent(rec, where)
        elif kind == "fix":
            self.fixes.append(_clean_fix(rec, where))
            if len(self.fixes) >= self.batch_size:
                self.flush()
        elif kind == "outcome":
            self.outcomes.append(_clean_outcome(rec, where))
            if len(self.outcomes) >= self.batch_size * 8:
                self.flush()
        elif kind in {"header", "end"}:
            pass
        else:
            raise TransferError(f"{where}: unknown record type {kind!r}")

    def _agent(self, rec: dict[str, Any], where: str) -> None:
        try:
            name = m.clean_name(rec.get("name"), "name", required=True)
            server = m.clean_name(rec.get("server"), "server")
        except m.ValidationError as exc:
            raise TransferError(f"{where}: {exc}") from None
        last_seen = _int(rec.get("last_seen"), "last_seen", where, default=0)
        registered = _int(rec.get("registered_at"), "registered_at", where, default=last_seen)
        # Two writes (one batch would fold them): the earliest ts sets registered_at,
        # the newest last_seen.
        self.manager.graph.upsert_agents([AgentWrite(name=name, ts=registered, server=server)])
        self.manager.graph.upsert_agents([AgentWrite(name=name, ts=last_seen, server=server)])
        self.summary["agents"] += 1

    def flush(self) -> None:
        """Fixes first (outcomes MATCH their fix), then outcomes."""
        if self.fixes:
            self._flush_fixes(self.fixes)
            self.fixes = []
        if self.outcomes:
            self._flush_outcomes(self.outcomes)
            self.outcomes = []

    def _flush_fixes(self, fixes: list[dict[str, Any]]) -> None:
        mgr = self.manager
        rows = []
        for f in fixes:
            row = {k: v for k, v in f.items() if k != "embedding"}
            row["metadata"] = json.dumps(f["metadata"] or {}, ensure_ascii=False, sort_keys=True)
            row["success_ts"] = f["last_seen"] if f["success"] is not None else None
            rows.append(row)
        mgr.graph.restore_fixes(rows)
        self._restore_vectors(fixes)
        self.summary["fixes"] += len(fixes)
        if self.on_fix:
            for _ in fixes:
                self.on_fix()

    def _restore_vectors(self, fixes: list[dict[str, Any]]) -> None:
        """Create missing rows (embedding only those), then set every row's figures exactly."""
        import numpy as np

        from obsmem.reconcile import copy_figures

        mgr = self.manager
        existing = set(mgr.vectors.get_rows([f["id"] for f in fixes]))
        self.summary["vectors_existing"] += len(existing)
        missing = [f for f in fixes if f["id"] not in existing]
        if missing:
            writes = [FixWrite(
                id=f["id"], event_id="import:" + f["id"], issue=f["issue"], solution=f["solution"],
                signature=f["signature"], ts=f["ts"], success=f["success"], agent=f["agent"],
                service=f["service"], namespace=f["namespace"], severity=f["severity"],
                root_cause=f["root_cause"], confidence=f["confidence"], tags=tuple(f["tags"]),
                metadata=f["metadata"],
            ) for f in missing]  # fmt: skip
            embs: list[Any] = [
                f["embedding"] if self.reuse_vectors and f["embedding"] is not None else None
                for f in missing
            ]
            reused = sum(e is not None for e in embs)
            self.summary["vectors_reused"] += reused
            self.summary["embedded"] += len(missing) - reused
            rows = mgr.vector_rows(writes, [None if e is None else np.asarray(e, np.float32)
                                            for e in embs])  # fmt: skip
            mgr.vectors.upsert(rows)
        copy_figures(mgr.vectors, [_as_fix(f) for f in fixes])

    def _flush_outcomes(self, outcomes: list[dict[str, Any]]) -> None:
        self.manager.graph.restore_outcomes(outcomes)
        self.summary["outcomes"] += len(outcomes)
        # The graph's replay guard: the newest event ids of each fix.
        by_fix: dict[str, list[tuple[int, str]]] = {}
        for o in outcomes:
            by_fix.setdefault(o["fix_id"], []).append((o["ts"], o["event_id"]))
        self._recent(by_fix)

    def _recent(self, by_fix: dict[str, list[tuple[int, str]]]) -> None:
        rows = [{"id": fid, "events": [e for _, e in sorted(evs)][-C.RECENT_EVENTS:]}
                for fid, evs in by_fix.items()]  # fmt: skip
        self.manager.graph.set_recent_events(rows)


def _as_fix(f: dict[str, Any]) -> Fix:
    return Fix(
        id=f["id"], issue=f["issue"], solution=f["solution"], ts=f["ts"],
        last_seen=f["last_seen"], success=f["success"], agent=f["agent"], service=f["service"],
        namespace=f["namespace"], severity=f["severity"], root_cause=f["root_cause"],
        confidence=f["confidence"], tags=tuple(f["tags"]), metadata=f["metadata"],
        signature=f["signature"], occurrences=f["occurrences"], successes=f["successes"],
        failures=f["failures"],
    )  # fmt: skip


def import_records(
    manager: Any,
    records: Iterable[dict[str, Any]],
    *,
    batch_size: int = 256,
    on_fix: Callable[[], None] | None = None,
) -> dict[str, Any]:
    """Apply a stream of export records (header first) to the manager's stores."""
    it = iter(records)
    header = next(it, None)
    if header is None:
        raise TransferError("no records")
    _check_header(header, "header")
    importer = Importer(manager, header, batch_size=batch_size, on_fix=on_fix)
    end: dict[str, Any] | None = None
    for rec in it:
        if rec["type"] == "end":
            end = rec
        importer.add(rec)
    importer.flush()
    summary: dict[str, Any] = dict(importer.summary)
    summary["complete"] = end is not None
    if end is None:
        raise TransferError(
            f"the file ends without its 'end' record (truncated?): imported what was there "
            f"({summary['fixes']} fixes); re-run the export"
        )
    for key in ("agents", "fixes", "outcomes"):
        if end.get(key) != summary[key]:
            raise TransferError(f"the file says {end.get(key)} {key} but holds {summary[key]}")
    return summary


def import_file(
    manager: Any,
    path: Path | str,
    *,
    batch_size: int = 256,
    on_fix: Callable[[], None] | None = None,
) -> dict[str, Any]:
    return import_records(manager, read_records(path), batch_size=batch_size, on_fix=on_fix)
