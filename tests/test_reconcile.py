"""Reconcile finds exactly the drift made behind obsmem's back, and --repair removes it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from obsmem.memory import Memory
from obsmem.model import Outcome
from obsmem.reconcile import ReconcileError, reconcile
from tests.test_transfer import store_settings

ITEMS = [
    {
        "issue": "nginx 502 upstream sent too big header",
        "solution": "raise proxy_buffer_size to 16k",
    },
    {"issue": "kafka consumer lag growing on orders topic", "solution": "skip the poison message"},
    {"issue": "postgres WAL volume full", "solution": "drop the abandoned replication slot"},
    {"issue": "node NotReady PLEG not healthy", "solution": "drain and reboot the node"},
    {"issue": "TLS certificate expires in 3 days", "solution": "fix the ACME HTTP-01 solver"},
]


@pytest.fixture
def mem(embedded, embedder, tmp_path: Path) -> Iterator[Memory]:
    with Memory.open(store_settings(embedded, tmp_path, "rec_"), embedder=embedder) as m:
        m.remember_many([{**it, "agent": "tester", "success": True} for it in ITEMS])
        yield m


def test_zero_drift_after_normal_writes(mem: Memory) -> None:
    report = reconcile(mem.manager)
    assert report.drift == 0
    assert report.graph_fixes == report.vector_rows == len(ITEMS)


def test_reports_exactly_the_drift_made_behind_its_back_and_repairs_it(mem: Memory) -> None:
    mgr = mem.manager
    ids = [f.id for f in mem.get_recent_fixes(10)]
    gone_from_vectors, gone_from_graph, changed = sorted(ids)[:3]
    mgr.vectors.delete([gone_from_vectors])
    mgr.graph.delete_fixes([gone_from_graph])
    mgr.vectors.record_outcomes([Outcome("ev-behind-back", changed, False, 1)])

    report = reconcile(mgr)
    assert report.only_in_graph == [gone_from_vectors]
    assert report.only_in_vectors == [gone_from_graph]
    assert [d["id"] for d in report.differing] == [changed]
    assert report.differing[0]["fields"] == {"success": (True, False), "failures": (0, 1)}
    assert report.counts == {"only_in_graph": 1, "only_in_vectors": 1, "differing": 1}
    assert report.remaining_drift == 3

    repaired = reconcile(mgr, repair=True)
    assert repaired.repaired == {"embedded": 1, "deleted": 1, "copied": 2}
    assert repaired.remaining_drift == 0
    assert reconcile(mgr).drift == 0

    # The re-embedded row answers vector search again; the orphan row is gone.
    issue = next(i["issue"] for i in ITEMS if mem.get_fix(gone_from_vectors).issue == i["issue"])
    assert mem.recall(issue, 1)[0].fix.id == gone_from_vectors
    assert mgr.vectors.get_rows([gone_from_graph]) == {}
    assert mgr.vectors.get_rows([changed])[changed]["failures"] == 0


def test_repair_waits_for_the_outbox(embedded, embedder, tmp_path: Path) -> None:
    """Queued writes are the drift's own cure; repairing first would count them twice."""
    settings = store_settings(embedded, tmp_path, "recq_")
    with Memory.open(settings, embedder=embedder, replay=False) as m:
        m.manager.outbox.append_many("vectors", "delete", [{"id": "fix_pending"}])
        with pytest.raises(ReconcileError, match="queued in the outbox"):
            reconcile(m.manager, repair=True)
        assert reconcile(m.manager).outbox_depth == 1  # a plain report still runs
