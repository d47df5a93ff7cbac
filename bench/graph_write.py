"""Batched upsert_fixes throughput on the embedded FalkorDB, at batch 1 and batch 1000.

Run: .venv/bin/python -m bench.graph_write  (writes bench/out/graph_write.json)
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from pathlib import Path

from obsmem.model import FixWrite, fix_id_for, issue_signature
from obsmem.stores.embedded import EmbeddedServers
from obsmem.stores.graph.falkor import FalkorGraph

OUT = Path(__file__).resolve().parent / "out" / "graph_write.json"


def _writes(n: int, tag: str) -> list[FixWrite]:
    out = []
    for i in range(n):
        issue = f"{tag} OOMKilled in pod api-{i % 500} of service svc-{i % 20}"
        solution = f"raise memory limit to {256 + i % 7 * 128}Mi and restart ({i})"
        out.append(FixWrite(
            id=fix_id_for(issue, solution), event_id=uuid.uuid4().hex, issue=issue,
            solution=solution, signature=issue_signature(issue), ts=1_700_000_000_000 + i,
            success=i % 3 != 0, agent=f"agent-{i % 10}", service=f"svc-{i % 20}",
            root_cause="memory", tags=("k8s", "oom"), metadata={"i": i},
        ))  # fmt: skip
    return out


def run(graph: FalkorGraph, batch: int, total: int) -> dict[str, float]:
    writes = _writes(total, f"b{batch}")
    t0 = time.perf_counter()
    for i in range(0, total, batch):
        graph.upsert_fixes(writes[i : i + batch])
    elapsed = time.perf_counter() - t0
    t1 = time.perf_counter()
    for i in range(0, total, batch):  # the outbox replaying the same writes
        graph.upsert_fixes(writes[i : i + batch])
    replay = time.perf_counter() - t1
    assert graph.count_fixes() >= total
    return {"batch": batch, "fixes": total, "seconds": round(elapsed, 3),
            "fixes_per_s": round(total / elapsed, 1),
            "replay_fixes_per_s": round(total / replay, 1)}  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="obsmem-bench-") as tmp:
        servers = EmbeddedServers(Path(tmp), want_vectors=False).start(supervise=False)
        try:
            results = []
            for batch, total in ((1, 500), (1000, 10_000)):
                graph = FalkorGraph(servers.falkordb_url(), graph=f"bench_{batch}")
                graph.ensure_schema()
                results.append(run(graph, batch, total))
                graph.drop()
                graph.close()
        finally:
            servers.stop(force=True)
    print(f"{'batch':>6} {'fixes':>7} {'seconds':>8} {'fixes/s':>9} {'replay/s':>9}")
    for r in results:
        print(
            f"{r['batch']:>6} {r['fixes']:>7} {r['seconds']:>8} {r['fixes_per_s']:>9} "
            f"{r['replay_fixes_per_s']:>9}"
        )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"cpus": os.cpu_count(), "results": results}, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
