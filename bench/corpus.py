"""A fresh Memory in a temp dir, filled with generated fixes at a given size.

Embedding costs ~5 ms a text on 2 cores (100k = 8 min, 1M = 1.5 h), so the bulk of
a large corpus is loaded with *synthetic* embeddings straight through the store
APIs (graph.upsert_fixes + vectors.upsert): each row's vector is a real embedding
of another generated fix of the same failure mode plus noise, so the HNSW graph
sees clustered, text-consistent data rather than uniform noise. Ingest rate is
always measured separately with real embedding (bench.ingest).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.generate import fixes
from obsmem import model as m
from obsmem.config import Settings
from obsmem.memory import Memory
from obsmem.model import FixWrite

DAY_MS = 86_400_000
NOISE = 0.03  # per dimension; |noise| ~ 0.6, cosine to the parent ~ 0.85


def open_memory(root: Path, embedder: Any = None) -> Memory:
    """Its own data dir: its own embedded FalkorDB and Postgres, no demo data.

    Bulk fills get a 60 s store timeout: on a box shared with other jobs a 2,000-row
    COPY can outlast the 5 s default, and a fill is not an interactive write.
    """
    settings = Settings(data_dir=root / "data", demo=False, pg_pool_max=16, store_timeout_s=60.0)
    return Memory.open(settings, embedder=embedder)


def mode_key(item: dict[str, Any]) -> str:
    return "/".join(item["tags"][:2])


def write_for(item: dict[str, Any], ts: int | None = None) -> FixWrite:
    """A FixWrite as Memory would make it (generated text holds no secrets to redact)."""
    return FixWrite(
        id=m.fix_id_for(item["issue"], item["solution"]),
        event_id=m.new_event_id(),
        issue=item["issue"],
        solution=item["solution"],
        signature=m.issue_signature(item["issue"]),
        ts=ts if ts is not None else m.now_ms(),
        success=item["success"],
        agent=item["agent"],
        service=item["service"],
        namespace=item["namespace"],
        severity=item["severity"],
        root_cause=item["root_cause"],
        tags=tuple(item["tags"]),
    )


def fix_id(item: dict[str, Any]) -> str:
    return m.fix_id_for(item["issue"], item["solution"])


class Pool:
    """Real embeddings grouped by failure mode, to derive synthetic ones from."""

    def __init__(self, items: Sequence[dict[str, Any]], embeddings: np.ndarray):
        groups: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            groups.setdefault(mode_key(item), []).append(i)
        self.by_mode = {k: embeddings[v] for k, v in groups.items()}
        self.all = embeddings

    def synth(self, items: Sequence[dict[str, Any]], rng: np.random.Generator) -> np.ndarray:
        base = np.empty((len(items), self.all.shape[1]), dtype=np.float32)
        for i, item in enumerate(items):
            group = self.by_mode.get(mode_key(item), self.all)
            base[i] = group[rng.integers(len(group))]
        base += rng.normal(0.0, NOISE, size=base.shape).astype(np.float32)
        base /= np.linalg.norm(base, axis=1, keepdims=True)
        return base


def load_synthetic(
    mem: Memory, start: int, stop: int, seed: int, pool: Pool, batch: int = 2000, log: Any = print
) -> dict[str, float]:
    """Rows start..stop with synthetic embeddings; returns seconds spent per store."""
    from obsmem.stores.pgvector import VectorRow

    mgr = mem.manager
    rng = np.random.default_rng(seed + 11)
    clock = random.Random(seed + 12)
    now = m.now_ms()
    spent = {"generate": 0.0, "graph": 0.0, "vectors": 0.0}
    t_start = time.perf_counter()
    for lo in range(start, stop, batch):
        t0 = time.perf_counter()
        items = list(fixes(min(batch, stop - lo), seed=seed, start=lo))
        writes = [write_for(it, now - int(clock.random() * 180 * DAY_MS)) for it in items]
        embs = pool.synth(items, rng)
        rows = [VectorRow.from_write(w, e) for w, e in zip(writes, embs, strict=True)]
        t1 = time.perf_counter()
        mgr.graph.upsert_fixes(writes)
        t2 = time.perf_counter()
        mgr.vectors.upsert(rows)
        t3 = time.perf_counter()
        spent["generate"] += t1 - t0
        spent["graph"] += t2 - t1
        spent["vectors"] += t3 - t2
        done = lo + len(items) - start
        if done % 20_000 < batch:
            rate = done / (time.perf_counter() - t_start)
            log(f"    synthetic load {done:,}/{stop - start:,} ({rate:,.0f} rows/s)")
    return {k: round(v, 1) for k, v in spent.items()}
