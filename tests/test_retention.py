"""prune --older-than: by last_seen, both stores together, dry-run deletes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from obsmem import model as m
from obsmem.memory import Memory
from obsmem.model import FixWrite, ValidationError
from obsmem.retention import parse_duration, prune
from obsmem.stores.router import GRAPH, VECTORS
from tests.test_transfer import store_settings

DAY = 86_400_000


def write(mem: Memory, issue: str, solution: str, days_ago: float, success: bool | None,
          now: int) -> str:  # fmt: skip
    """A fix first and last seen `days_ago`, written through the manager like a replay."""
    fid = m.fix_id_for(issue, solution)
    w = FixWrite(id=fid, event_id=m.new_event_id(), issue=issue, solution=solution,
                 signature=m.issue_signature(issue), ts=now - int(days_ago * DAY),
                 success=success, agent="janitor")  # fmt: skip
    for store in (GRAPH, VECTORS):
        assert mem.manager.write(store, "fix", [w.to_dict()])
    return fid


@pytest.fixture
def aged(embedded, embedder, tmp_path: Path) -> Iterator[tuple[Memory, dict[str, str], int]]:
    now = m.now_ms()
    with Memory.open(store_settings(embedded, tmp_path, "ret_"), embedder=embedder) as mem:
        ids = {
            "old_failed": write(mem, "cron job missed its window", "restart cron", 120, False, now),
            "old_worked": write(
                mem, "inode exhaustion on /var", "delete php sessions", 100, True, now
            ),
            "old_unknown": write(mem, "ntp drift on host", "restart chronyd", 95, None, now),
            "recent": write(mem, "disk full on build agent", "docker system prune", 3, True, now),
        }
        yield mem, ids, now


@pytest.mark.parametrize(("text", "ms"), [("90d", 90 * DAY), ("12h", 12 * 3_600_000),
                                          ("2w", 14 * DAY), ("30m", 1_800_000), (" 7D ", 7 * DAY)])  # fmt: skip
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["90", "d", "-5d", "0d", "1y", "", "5 days"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValidationError, match="older_than"):
        parse_duration(text)


def test_dry_run_lists_and_deletes_nothing(aged) -> None:
    mem, ids, now = aged
    plan = prune(mem, parse_duration("90d"), dry_run=True, now=now)
    listed = {f["id"] for f in plan.candidates}
    assert listed == {ids["old_failed"], ids["old_worked"], ids["old_unknown"]}
    assert plan.deleted == 0 and plan.scanned == 4
    assert mem.count_fixes() == 4 and mem.manager.vectors.count() == 4


def test_keep_successful_spares_fixes_that_worked(aged) -> None:
    mem, ids, now = aged
    plan = prune(mem, parse_duration("90d"), keep_successful=True, dry_run=True, now=now)
    assert {f["id"] for f in plan.candidates} == {ids["old_failed"], ids["old_unknown"]}
    assert plan.kept_successful == 1


def test_prune_deletes_from_both_stores(aged) -> None:
    mem, ids, now = aged
    plan = prune(mem, parse_duration("110d"), now=now)
    assert plan.deleted == 1
    gone = ids["old_failed"]
    assert mem.get_fix(gone) is None
    assert mem.manager.vectors.get_rows([gone]) == {}
    remaining = {f.id for f in mem.get_recent_fixes(10)}
    assert remaining == {ids["old_worked"], ids["old_unknown"], ids["recent"]}
    assert mem.manager.vectors.count() == 3
    # last_seen, not first seen: applying an old fix again keeps it.
    write(mem, "ntp drift on host", "restart chronyd", 0, True, now)
    plan = prune(mem, parse_duration("90d"), now=now)
    assert plan.deleted == 1 and mem.get_fix(ids["old_unknown"]) is not None
    assert mem.get_fix(ids["old_worked"]) is None
