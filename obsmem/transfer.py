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
import math
import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from obsmem import model as m
from obsmem.errors import TransferError as TransferError  # re-exported: old import path
from obsmem.model import AgentWrite, Fix, FixWrite

FORMAT = "obsmem-export"
VERSION = 1
T = TypeVar("T")

FIX_FIELDS = m.FIX_FIELDS  # the one fix record: every stored attribute of `Fix`


# Import limits: a hostile file must not crash a store, stall the process or leave a fix in
# one store only, so every value is checked against these before anything is written.
MAX_LINE_CHARS = 4_000_000  # a 100k-char solution escaped as \uXXXX, plus metadata and vector
MAX_NESTING = 64  # JSON depth of one record (metadata is capped far lower by model.py)
MIN_TS_MS = 0  # 1970
MAX_TS_MS = 4_102_444_800_000  # 2100-01-01: a later timestamp is a bad record, not a date
MAX_COUNT = 10**12
MAX_EMBEDDING_DIM = 4096
_SIGNATURE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*+"|[\[\]{}]')


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
            embeddings = (
                manager.vectors.get_embeddings([f.id for f in fixes]) if with_vectors else {}
            )
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
        for n, raw in enumerate(_bounded_lines(stream, str(path)), 1):
            if not raw.strip():
                continue
            _check_nesting(raw, f"{path}:{n}")
            try:
                record = json.loads(raw)
            except ValueError as exc:
                raise TransferError(f"{path}:{n}: not JSON ({getattr(exc, 'msg', exc)})") from None
            except RecursionError:  # belt and braces: _check_nesting should have caught it
                raise TransferError(f"{path}:{n}: nested too deeply") from None
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


def _bounded_lines(stream: IO[str], path: str) -> Iterator[str]:
    """Lines of at most MAX_LINE_CHARS: a 300 MB line is refused after 4 MB, not read whole."""
    n = 0
    while True:
        raw = stream.readline(MAX_LINE_CHARS + 1)
        if not raw:
            return
        n += 1
        if len(raw) > MAX_LINE_CHARS:
            raise TransferError(
                f"{path}:{n}: line is longer than {MAX_LINE_CHARS:,} characters; the import stops here"
            )
        yield raw


def _check_nesting(raw: str, where: str) -> None:
    """Refuse deep JSON before parsing it (200k levels would raise RecursionError)."""
    if raw.count("[") + raw.count("{") <= MAX_NESTING:
        return
    depth = 0
    for tok in _BRACKETS.finditer(raw):
        ch = tok.group()
        if ch in "[{":
            depth += 1
            if depth > MAX_NESTING:
                raise TransferError(f"{where}: nested deeper than {MAX_NESTING} levels")
        elif ch in "]}":
            depth -= 1


def _check_header(record: dict[str, Any], where: str) -> None:
    if record.get("type") != "header" or record.get("format") != FORMAT:
        raise TransferError(f"{where}: not an obsmem export (no '{FORMAT}' header)")
    version = record.get("version")
    if not isinstance(version, int) or version > VERSION or version < 1:
        raise TransferError(
            f"{where}: export format version {version!r}; this obsmem reads {VERSION}"
        )


# ------------------------------------------------------------------ import


def _int(value: Any, field: str, where: str, *, default: int | None = None,
         hi: int = MAX_COUNT) -> int:  # fmt: skip
    if value is None and default is not None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TransferError(f"{where}: {field} must be a non-negative whole number")
    if value > hi:
        raise TransferError(f"{where}: {field} is {value}; the limit is {hi}")
    return value


def _ts(value: Any, field: str, where: str, *, default: int | None = None) -> int:
    """Epoch ms between 1970 and 2100 (`ts: 10**15` once made every page answer 500)."""
    ts = _int(value, field, where, default=default, hi=MAX_TS_MS)
    if ts < MIN_TS_MS:
        raise TransferError(f"{where}: {field} is before {MIN_TS_MS}")
    return ts


def _signature(value: Any, issue: str, where: str) -> str:
    """An issue signature: short and plain (a multi-KB one crashed FalkorDB's unique index)."""
    if value is None or value == "":
        return m.issue_signature(issue)
    if not isinstance(value, str) or not _SIGNATURE.fullmatch(value):
        raise TransferError(f"{where}: signature must be 1-64 letters, digits and _ . : -")
    return value


def _embedding(value: Any, dim: int | None, where: str) -> list[float] | None:
    """A vector of finite numbers of the header's dimension (a wrong one left a fix in one store)."""
    if value is None:
        return None
    if not isinstance(value, list) or not 0 < len(value) <= MAX_EMBEDDING_DIM:
        raise TransferError(
            f"{where}: embedding must be a list of at most {MAX_EMBEDDING_DIM} numbers"
        )
    if not all(
        isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x) for x in value
    ):
        raise TransferError(f"{where}: embedding must hold finite numbers only")
    if dim is not None and len(value) != dim:
        raise TransferError(
            f"{where}: embedding has {len(value)} dimensions; the header says {dim}"
        )
    return value


def _redacted(rec: dict[str, Any], kinds: set[str]) -> dict[str, Any]:
    """The record's text fields with credentials removed, as `remember` does."""
    from obsmem.redact import redact, redact_tree

    out = dict(rec)
    for field in ("issue", "solution", "root_cause", "agent", "service", "namespace", "severity",
                  "name", "server"):  # fmt: skip
        if isinstance(out.get(field), str):
            out[field], found = redact(out[field])
            kinds.update(found)
    if isinstance(out.get("tags"), list):
        tags = []
        for t in out["tags"]:
            if isinstance(t, str):
                t, found = redact(t)
                kinds.update(found)
            tags.append(t)
        out["tags"] = tags
    if isinstance(out.get("metadata"), dict):
        out["metadata"], found_in_tree = redact_tree(out["metadata"])
        kinds.update(found_in_tree)
    return out


def _secret_free_id(value: Any, field: str) -> str:
    from obsmem.redact import redact

    ident = m.clean_fix_id(value, field)
    if redact(ident)[1]:
        raise m.ValidationError(field, "looks like it contains a credential")
    return ident


def _clean_fix(rec: dict[str, Any], where: str, dim: int | None = None,
               kinds: set[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Validate a fix record with the same rules as `remember` (plus the restored figures),
    redacting credentials as `remember` does; raises TransferError naming line and field."""
    try:
        fix_id = _secret_free_id(rec.get("id"), "id")
        m.clean_text(rec.get("issue"), "issue", max_chars=m.MAX_ISSUE_CHARS)
        m.clean_text(rec.get("solution"), "solution", max_chars=m.MAX_SOLUTION_CHARS)
        m.clean_metadata(rec.get("metadata"))  # checked before redaction rewrites it
        rec = _redacted(rec, kinds if kinds is not None else set())
        issue = m.clean_text(rec.get("issue"), "issue", max_chars=m.MAX_ISSUE_CHARS * 2)
        solution = m.clean_text(rec.get("solution"), "solution", max_chars=m.MAX_SOLUTION_CHARS * 2)
        out: dict[str, Any] = {
            "id": fix_id, "issue": issue, "solution": solution,
            "signature": _signature(rec.get("signature"), issue or "", where),
            "success": m.clean_bool(rec.get("success"), "success"),
            "agent": m.clean_name(rec.get("agent"), "agent"),
            "service": m.clean_name(rec.get("service"), "service"),
            "namespace": m.clean_name(rec.get("namespace"), "namespace"),
            "severity": m.clean_name(rec.get("severity"), "severity"),
            "root_cause": m.clean_text(rec.get("root_cause"), "root_cause", max_chars=m.MAX_ROOT_CAUSE_CHARS,
                                       required=False),
            "confidence": m.clean_confidence(rec.get("confidence")),
            "tags": list(m.clean_tags(rec.get("tags"))),
            "metadata": m.clean_metadata(rec.get("metadata")),
        }  # fmt: skip
    except m.ValidationError as exc:
        raise TransferError(f"{where}: {exc}") from None
    ts = _ts(rec.get("ts"), "ts", where)
    out["ts"] = ts
    out["last_seen"] = _ts(rec.get("last_seen"), "last_seen", where, default=ts)
    out["occurrences"] = _int(rec.get("occurrences"), "occurrences", where, default=1)
    out["successes"] = _int(rec.get("successes"), "successes", where, default=0)
    out["failures"] = _int(rec.get("failures"), "failures", where, default=0)
    out["embedding"] = _embedding(rec.get("embedding"), dim, where)
    return out


def _clean_outcome(
    rec: dict[str, Any], where: str, kinds: set[str] | None = None
) -> dict[str, Any]:
    try:
        event_id = _secret_free_id(rec.get("event_id"), "event_id")
        fix_id = m.clean_fix_id(rec.get("fix_id"), "fix_id")
        m.clean_name(rec.get("agent"), "agent", required=True)
        agent = m.clean_name(_redacted(rec, kinds if kinds is not None else set()).get("agent"),
                             "agent", required=True)  # fmt: skip
        success = m.clean_bool(rec.get("success"), "success")
    except m.ValidationError as exc:
        raise TransferError(f"{where}: {exc}") from None
    return {"event_id": event_id, "fix_id": fix_id, "agent": agent,
            "ts": _ts(rec.get("ts"), "ts", where), "success": success}  # fmt: skip


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
        dim = header.get("dim")
        self.dim = dim if isinstance(dim, int) and not isinstance(dim, bool) else None
        self.redacted: set[str] = set()
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
            self.fixes.append(_clean_fix(rec, where, self.dim, self.redacted))
            if len(self.fixes) >= self.batch_size:
                self.flush()
        elif kind == "outcome":
            self.outcomes.append(_clean_outcome(rec, where, self.redacted))
            if len(self.outcomes) >= self.batch_size * 8:
                self.flush()
        elif kind in {"header", "end"}:
            pass
        else:
            raise TransferError(f"{where}: unknown record type {kind!r}")

    def _agent(self, rec: dict[str, Any], where: str) -> None:
        try:
            m.clean_name(rec.get("name"), "name", required=True)
            m.clean_name(rec.get("server"), "server")
            clean = _redacted(rec, self.redacted)
            name = m.clean_name(clean.get("name"), "name", required=True)
            server = m.clean_name(clean.get("server"), "server")
        except m.ValidationError as exc:
            raise TransferError(f"{where}: {exc}") from None
        assert name is not None  # required=True
        last_seen = _ts(rec.get("last_seen"), "last_seen", where, default=0)
        registered = _ts(rec.get("registered_at"), "registered_at", where, default=last_seen)
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
        rows = [{"id": fid, "events": [e for _, e in sorted(evs)][-m.RECENT_EVENTS:]}
                for fid, evs in by_fix.items()]  # fmt: skip
        self.manager.graph.set_recent_events(rows)


def _as_fix(f: dict[str, Any]) -> Fix:
    return Fix.from_record(f)


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
    try:
        for rec in it:
            if rec["type"] == "end":
                end = rec
            importer.add(rec)
    except TransferError:
        # Stop at the first bad record: it reached no store; the valid records before it
        # are written whole (both stores), so fixing the line and re-importing completes it.
        importer.flush()
        raise
    importer.flush()
    summary: dict[str, Any] = dict(importer.summary)
    summary["redacted"] = sorted(importer.redacted)
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
