"""Retention: forget fixes nobody has seen for a while, from both stores together.

Age is measured from `last_seen` (the last time any agent hit the problem), not
from creation: a fix that keeps being applied stays. Candidates come from the
graph, the source of truth; the delete goes through Memory so that a store that
is down gets it queued in the outbox instead of drifting.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from obsmem.model import Fix, ValidationError, ms_to_iso, now_ms

if TYPE_CHECKING:
    from obsmem.memory import Memory

_UNITS_MS = {
    "s": 1000,
    "m": 60_000,
    "h": 3_600_000,
    "d": 86_400_000,
    "w": 7 * 86_400_000,
}
_DURATION = re.compile(r"^\s*(\d+)\s*([smhdw])\s*$", re.IGNORECASE)
DELETE_BATCH = 500


def parse_duration(text: str, field_name: str = "older_than") -> int:
    """'90d', '12h', '2w', '30m', '45s' -> milliseconds (a bare number is refused: say the unit)."""
    match = _DURATION.match(text or "")
    if not match:
        raise ValidationError(field_name, f"{text!r} is not a duration like 90d, 12h, 2w, 30m")
    value = int(match.group(1))
    if value <= 0:
        raise ValidationError(field_name, "must be longer than zero")
    return value * _UNITS_MS[match.group(2).lower()]


def last_seen(fix: Fix) -> int:
    return fix.last_seen if fix.last_seen is not None else fix.ts


def worked(fix: Fix) -> bool:
    """A fix that ever worked (or whose latest outcome is success) counts as successful."""
    return fix.success is True or fix.successes > 0


@dataclass
class PrunePlan:
    cutoff_ms: int
    keep_successful: bool
    candidates: list[dict[str, Any]] = field(default_factory=list)
    kept_successful: int = 0
    scanned: int = 0
    deleted: int = 0
    dry_run: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {
            "cutoff": ms_to_iso(self.cutoff_ms),
            "keep_successful": self.keep_successful,
            "dry_run": self.dry_run,
            "scanned": self.scanned,
            "matched": len(self.candidates),
            "kept_successful": self.kept_successful,
            "deleted": self.deleted,
            "fixes": self.candidates,
        }


def iter_expired(
    fixes: Iterator[Fix], cutoff_ms: int, keep_successful: bool, plan: PrunePlan
) -> Iterator[Fix]:
    for fix in fixes:
        plan.scanned += 1
        if last_seen(fix) >= cutoff_ms:
            continue
        if keep_successful and worked(fix):
            plan.kept_successful += 1
            continue
        yield fix


def prune(
    memory: Memory,
    older_than_ms: int,
    *,
    keep_successful: bool = False,
    dry_run: bool = False,
    now: int | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> PrunePlan:
    """Delete (or, with dry_run, list) fixes last seen before now - older_than_ms."""
    cutoff = (now if now is not None else now_ms()) - older_than_ms
    plan = PrunePlan(cutoff_ms=cutoff, keep_successful=keep_successful, dry_run=dry_run)
    batch: list[str] = []

    def flush() -> None:
        if batch and not dry_run:
            plan.deleted += memory.delete_fixes(batch)
            if on_progress:
                on_progress(len(batch))
        batch.clear()

    # Ids are collected page by page from the graph; deleting while paging by id is safe
    # because the pager resumes after the last id it saw.
    for fix in iter_expired(memory.manager.graph.iter_fixes(), cutoff, keep_successful, plan):
        plan.candidates.append(
            {
                "id": fix.id,
                "issue": fix.issue.splitlines()[0][:120] if fix.issue else "",
                "last_seen": ms_to_iso(last_seen(fix)),
                "success": fix.success,
                "successes": fix.successes,
                "failures": fix.failures,
            }
        )
        batch.append(fix.id)
        if len(batch) >= DELETE_BATCH:
            flush()
    flush()
    return plan
