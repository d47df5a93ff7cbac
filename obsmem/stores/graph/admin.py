"""Schema init/verify/report for either backend: used by scripts/init_neo4j.py and `obsmem init`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from obsmem.stores.graph.base import GraphStats, GraphStore, SchemaItem


@dataclass(frozen=True)
class SchemaReport:
    backend: str
    statements: list[str]
    created: list[str] = field(default_factory=list)  # names this run created
    present: list[str] = field(default_factory=list)  # names present after the run
    missing: list[str] = field(default_factory=list)  # names still missing (dry run, or failure)
    stats: GraphStats | None = None

    @property
    def ok(self) -> bool:
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "statements": self.statements,
            "created": self.created,
            "present": self.present,
            "missing": self.missing,
            "ok": self.ok,
            "stats": None if self.stats is None else self.stats.__dict__,
        }


def init_schema(store: GraphStore, dry_run: bool = False) -> SchemaReport:
    """Create what is missing (idempotent), then verify every item exists."""
    before: list[SchemaItem] = store.schema()
    statements = [i.statement for i in before]
    if dry_run:
        return SchemaReport(
            backend=store.backend,
            statements=statements,
            present=[i.name for i in before if i.exists],
            missing=[i.name for i in before if not i.exists],
            stats=store.stats(),
        )
    store.ensure_schema()
    after = store.schema()
    existed = {i.name for i in before if i.exists}
    return SchemaReport(
        backend=store.backend,
        statements=statements,
        created=[i.name for i in after if i.exists and i.name not in existed],
        present=[i.name for i in after if i.exists],
        missing=[i.name for i in after if not i.exists],
        stats=store.stats(),
    )


def format_report(report: SchemaReport) -> str:
    lines = [f"backend: {report.backend}"]
    for name in report.present:
        lines.append(f"  ok       {name}" + ("  (created)" if name in report.created else ""))
    for name in report.missing:
        lines.append(f"  MISSING  {name}")
    if report.stats is not None:
        s = report.stats
        nodes = ", ".join(f"{k}={v}" for k, v in s.nodes.items())
        rels = ", ".join(f"{k}={v}" for k, v in s.relationships.items())
        rate = "n/a" if s.success_rate is None else f"{s.success_rate:.1%}"
        lines.append(f"nodes: {nodes}")
        lines.append(f"relationships: {rels}")
        lines.append(f"outcomes: {s.outcomes} (success rate {rate})")
    return "\n".join(lines)
