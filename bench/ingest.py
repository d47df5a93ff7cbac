"""`remember` throughput with real embedding, next to what the embedder alone can do.

The ceiling (embedder.embed_many on the very texts remember_many will embed) is
measured in the same process just before the ingest, so load on the machine
affects both alike; the ratio is the figure to watch (target >= 0.8).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.measure import summary
from obsmem.memory import Memory
from obsmem.ranking import embedding_text


def embed_ceiling(mem: Memory, items: Sequence[dict[str, Any]]) -> tuple[float, np.ndarray]:
    """texts/s of embed_many alone (same batch size remember_many uses), and the vectors."""
    emb = mem.manager.embedder
    texts = [embedding_text(i["issue"], i["solution"]) for i in items]
    emb.embed_many(texts[:32])  # warm: model loaded, first-call allocations done
    t0 = time.perf_counter()
    vecs = emb.embed_many(texts)
    return len(texts) / (time.perf_counter() - t0), vecs


def bulk_ingest(mem: Memory, items: Sequence[dict[str, Any]]) -> float:
    """texts/s through Memory.remember_many: validate, redact, embed, write both stores."""
    t0 = time.perf_counter()
    results = mem.remember_many(list(items))
    elapsed = time.perf_counter() - t0
    pending = sum(bool(r.pending) for r in results)
    if pending:
        raise RuntimeError(
            f"{pending} of {len(results)} writes were queued, not stored: a store is down"
        )
    return len(items) / elapsed


def single_calls(mem: Memory, items: Sequence[dict[str, Any]]) -> dict[str, float]:
    """Latency (ms) of one remember call each: what an agent waits for."""
    lat = []
    for item in items:
        t0 = time.perf_counter()
        mem.remember(**item)
        lat.append((time.perf_counter() - t0) * 1000)
    return summary(lat)


def paired(mem: Memory, items: Sequence[dict[str, Any]], chunk: int = 250) -> tuple[float, float]:
    """(embedder-only texts/s, remember_many texts/s), measured in alternating chunks.

    On a shared machine load drifts within minutes; alternating the two on the
    same chunk of texts exposes both to the same load, so their ratio holds.
    """
    t_embed = t_ingest = 0.0
    emb = mem.manager.embedder
    for lo in range(0, len(items), chunk):
        part = items[lo : lo + chunk]
        texts = [embedding_text(i["issue"], i["solution"]) for i in part]
        t0 = time.perf_counter()
        emb.embed_many(texts)
        t1 = time.perf_counter()
        bulk_ingest(mem, part)
        t_embed += t1 - t0
        t_ingest += time.perf_counter() - t1
    return len(items) / t_embed, len(items) / t_ingest
