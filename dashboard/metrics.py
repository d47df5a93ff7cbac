"""Prometheus metrics: request latency per endpoint plus a live view of the stores.

Each app gets its own CollectorRegistry, so several apps in one process (tests,
a server embedding two memories) never clash over metric names. Under
dashboard.workers the request metrics are summed over the worker processes. Store health,
outbox depth and counts are read from Memory at scrape time by a collector
rather than kept as gauges that could go stale.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterator
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("obsmem.dashboard")

bp = Blueprint("metrics", __name__)

_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _per_store(value: Any) -> dict[str, float]:
    """Outbox figures come per store ({"graph": n, "vectors": m}); tolerate a bare number."""
    if isinstance(value, dict):
        return {str(k): float(v or 0) for k, v in value.items()}
    return {"all": float(value or 0)}


class MemoryCollector(Collector):
    """Store up/down and latency, outbox depth and counts, asked of Memory per scrape."""

    def __init__(self, memory: Any):
        self.memory = memory

    def collect(self) -> Iterator[GaugeMetricFamily]:
        up = GaugeMetricFamily("obsmem_store_up", "1 when the store answers", labels=["store"])
        lat = GaugeMetricFamily(
            "obsmem_store_latency_seconds", "last health-check round trip", labels=["store"]
        )
        try:
            health = self.memory.health()
        except Exception:  # a scrape must never fail because a store did
            log.exception("health() failed during a metrics scrape")
            health = {"stores": {}, "outbox": {}}
        for name, store in (health.get("stores") or {}).items():
            up.add_metric([name], 1.0 if store.get("ok") else 0.0)
            if store.get("latency_ms") is not None:
                lat.add_metric([name], float(store["latency_ms"]) / 1000.0)
        yield up
        yield lat
        outbox = health.get("outbox") or {}
        for key, help_text in (
            ("depth", "writes waiting in the outbox, per target store"),
            ("dead_letters", "writes the replayer gave up on, per store"),
        ):
            fam = GaugeMetricFamily(f"obsmem_outbox_{key}", help_text, labels=["store"])
            for store, value in _per_store(outbox.get(key)).items():
                fam.add_metric([store], float(value))
            yield fam
        age = GaugeMetricFamily(
            "obsmem_outbox_oldest_age_seconds", "age of the oldest pending write (0 when empty)"
        )
        age.add_metric([], float(outbox.get("oldest_age_s") or 0))
        yield age
        try:
            stats = self.memory.stats()
        except Exception:
            log.exception("stats() failed during a metrics scrape")
            return
        counts = stats.get("counts") or stats
        for key in ("fixes", "agents", "outcomes"):
            value = counts.get(key)
            if isinstance(value, int | float):
                fam = GaugeMetricFamily(f"obsmem_{key}", f"number of {key} in memory")
                fam.add_metric([], float(value))
                yield fam


# Label values come from fixed sets: 2,000 made-up method names once grew /metrics to 8 MB.
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})


def method_label(method: str) -> str:
    """The request method, or "other" for anything a client made up."""
    return method if method in METHODS else "other"


def init_metrics(app: Flask, memory: Any) -> None:
    registry = CollectorRegistry()
    exposed = registry
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # A worker of dashboard.workers: the request metrics go to per-process files
        # there, and /metrics shows their sums over all workers, not this one's share.
        from prometheus_client import multiprocess

        exposed = CollectorRegistry()
        multiprocess.MultiProcessCollector(exposed)
    latency = Histogram(
        "obsmem_http_request_duration_seconds",
        "request latency",
        ["endpoint", "method"],
        registry=registry,
        buckets=_BUCKETS,
    )
    responses = Counter(
        "obsmem_http_responses_total",
        "responses by status",
        ["endpoint", "method", "status"],
        registry=registry,
    )
    exposed.register(MemoryCollector(memory))
    app.extensions["obsmem.metrics"] = exposed

    @app.before_request
    def _start() -> None:
        g.obsmem_t0 = time.perf_counter()

    @app.after_request
    def _observe(resp: Response) -> Response:
        t0 = g.pop("obsmem_t0", None)
        # The rule, not the path: /api/fixes/<fix_id> is one series, not one per id.
        endpoint = request.url_rule.rule if request.url_rule else "unmatched"
        method = method_label(request.method)
        if t0 is not None:
            latency.labels(endpoint, method).observe(time.perf_counter() - t0)
        responses.labels(endpoint, method, str(resp.status_code)).inc()
        return resp


@bp.get("/metrics")
def metrics() -> Response:
    registry: CollectorRegistry = current_app.extensions["obsmem.metrics"]
    return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})
