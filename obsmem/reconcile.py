"""Reconcile: do the graph and the vector store hold the same fixes with the same figures?

Drift happens when something writes to one store behind obsmem's back, when a
store is restored from an older backup, or after a bug. The graph is the source
of truth: `repair` re-embeds fixes the vector store lacks (from the graph's
text), deletes vector rows whose fix the graph does not have, and copies the
success/occurrence figures from the graph.

Both passes go in batches by membership (no ordered merge), so the result does
not depend on Postgres' collation and memory stays flat however large the store.
Repair refuses to run while the outbox still holds writes: those writes are the
drift's own cure, and repairing first would make their replay count twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from obsmem.errors import ReconcileError as ReconcileError  # re-exported: old import path
from obsmem.model import Fix, FixWrite

BATCH = 500
LIST_LIMIT = 1000  # ids kept per kind of drift in the report (counts are always exact)
FIGURES = ("success", "successes", "failures", "occurrences", "first_seen", "last_seen")


def _ms(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return round(value.timestamp() * 1000)
    return int(value)


def graph_figures(fix: Fix) -> dict[str, Any]:
    return {
        "success": fix.success,
        "successes": fix.successes,
        "failures": fix.failures,
        "occurrences": fix.occurrences,
        "first_seen": fix.ts,
        "last_seen": fix.last_seen if fix.last_seen is not None else fix.ts,
    }


def vector_figures(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "success": row.get("success"),
        "successes": int(row.get("successes") or 0),
        "failures": int(row.get("failures") or 0),
        "occurrences": int(row.get("occurrences") or 0),
        "first_seen": _ms(row.get("created_at")),
        "last_seen": _ms(row.get("last_seen")),
    }


def copy_figures(vectors: Any, fixes: Sequence[Fix]) -> int:
    """Make the vector rows of `fixes` carry the graph's figures and filter columns."""
    return int(vectors.set_figures(fixes))


@dataclass
class Report:
    graph_fixes: int = 0
    vector_rows: int = 0
    only_in_graph: list[str] = field(default_factory=list)
    only_in_vectors: list[str] = field(default_factory=list)
    differing: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: {"only_in_graph": 0, "only_in_vectors": 0, "differing": 0}
    )
    repaired: dict[str, int] | None = None
    outbox_depth: int = 0

    @property
    def drift(self) -> int:
        return sum(self.counts.values())

    @property
    def remaining_drift(self) -> int:
        return 0 if self.repaired is not None else self.drift

    def note(self, kind: str, item: Any) -> None:
        self.counts[kind] += 1
        bucket = getattr(self, kind)
        if len(bucket) < LIST_LIMIT:
            bucket.append(item)

    def to_dict(self) -> dict[str, Any]:
        return {
            "in_sync": self.drift == 0,
            "graph_fixes": self.graph_fixes,
            "vector_rows": self.vector_rows,
            "drift": self.drift,
            "counts": dict(self.counts),
            "only_in_graph": self.only_in_graph,
            "only_in_vectors": self.only_in_vectors,
            "differing": self.differing,
            "repaired": self.repaired,
            "outbox_depth": self.outbox_depth,
        }

    def summary_lines(self) -> list[str]:
        c = self.counts
        lines = [
            f"graph fixes {self.graph_fixes}, vector rows {self.vector_rows}",
            f"only in graph:   {c['only_in_graph']}",
            f"only in vectors: {c['only_in_vectors']}",
            f"figures differ:  {c['differing']}",
        ]
        for fid in self.only_in_graph[:20]:
            lines.append(f"  graph only   {fid}")
        for fid in self.only_in_vectors[:20]:
            lines.append(f"  vectors only {fid}")
        for d in self.differing[:20]:
            diffs = ", ".join(f"{k} {g}≠{v}" for k, (g, v) in d["fields"].items())
            lines.append(f"  differs      {d['id']}: {diffs} (graph≠vectors)")
        if self.outbox_depth:
            lines.append(f"note: {self.outbox_depth} write(s) still queued in the outbox; "
                         "drift may close once they replay")  # fmt: skip
        if self.drift == 0:
            lines.append("in sync")
        elif self.repaired is not None:
            r = self.repaired
            lines.append(f"repaired: re-embedded {r['embedded']}, deleted {r['deleted']}, "
                         f"figures copied {r['copied']}")  # fmt: skip
        else:
            lines.append("run `obsmem reconcile --repair` to fix (the graph wins)")
        return lines


def compare(manager: Any) -> tuple[Report, dict[str, Fix]]:
    """Both passes; returns the report and the graph fixes needed for a repair."""
    graph, vectors = manager.graph, manager.vectors
    report = Report()
    to_fix: dict[str, Fix] = {}
    batch: list[Fix] = []

    def check(fixes: list[Fix]) -> None:
        rows = vectors.get_rows([f.id for f in fixes])
        for f in fixes:
            row = rows.get(f.id)
            if row is None:
                report.note("only_in_graph", f.id)
                to_fix[f.id] = f
                continue
            g, v = graph_figures(f), vector_figures(row)
            diff = {k: (g[k], v[k]) for k in FIGURES if g[k] != v[k]}
            if diff:
                report.note("differing", {"id": f.id, "fields": diff})
                to_fix[f.id] = f

    for fix in graph.iter_fixes(batch=BATCH):
        report.graph_fixes += 1
        batch.append(fix)
        if len(batch) >= BATCH:
            check(batch)
            batch = []
    if batch:
        check(batch)

    for ids in vectors.iter_ids(batch=BATCH):
        report.vector_rows += len(ids)
        known = graph.get_fixes(ids)
        for fid in ids:
            if fid not in known:
                report.note("only_in_vectors", fid)
    return report, to_fix


def reconcile(manager: Any, *, repair: bool = False) -> Report:
    depth = int((manager.outbox.stats() or {}).get("total") or 0)
    if repair and depth:
        raise ReconcileError(
            f"{depth} write(s) are still queued in the outbox; let them replay first "
            "(run `obsmem serve`, or wait until `obsmem health` shows depth 0), then repair"
        )
    report, to_fix = compare(manager)
    report.outbox_depth = depth
    if repair and report.drift:
        report.repaired = _repair(manager, report, to_fix)
    elif repair:
        report.repaired = {"embedded": 0, "deleted": 0, "copied": 0}
    return report


def _repair(manager: Any, report: Report, to_fix: dict[str, Fix]) -> dict[str, int]:
    """Graph wins. Lists past LIST_LIMIT are re-found by a second compare, so nothing is missed."""
    done = {"embedded": 0, "deleted": 0, "copied": 0}
    while True:
        missing = [f for f in to_fix.values() if f.id in set(report.only_in_graph)]
        for i in range(0, len(missing), BATCH):
            chunk = missing[i : i + BATCH]
            writes = [FixWrite.from_fix(f, "reconcile:" + f.id) for f in chunk]
            manager.vectors.upsert(manager.vector_rows(writes))
            done["embedded"] += len(chunk)
        for i in range(0, len(report.only_in_vectors), BATCH):
            done["deleted"] += manager.vectors.delete(report.only_in_vectors[i : i + BATCH])
        fixes = list(to_fix.values())
        for i in range(0, len(fixes), BATCH):
            done["copied"] += copy_figures(manager.vectors, fixes[i : i + BATCH])
        truncated = any(report.counts[k] > len(getattr(report, k)) for k in report.counts)
        if not truncated:
            return done
        report, to_fix = compare(manager)
