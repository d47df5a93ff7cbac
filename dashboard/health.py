"""GET /health: one status a load balancer can act on, with the checks behind it.

healthy/degraded answer 200 (degraded still serves: a down store means writes
queue in the outbox and reads fall back), unhealthy answers 503, and so does
starting (`obsmem serve` is still loading and warming the embedder). Disk and RAM
are checked here because a full disk stops the outbox, which is what makes
writes safe while a store is down.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from flask import Blueprint, Response, current_app, jsonify

from dashboard.auth import reads_protected, token_ok
from obsmem.model import health_status

bp = Blueprint("health", __name__)

_RANK = {"healthy": 0, "degraded": 1, "starting": 2, "unhealthy": 3}
DISK_DEGRADED_FREE = 0.05  # below 5 % free: say so before the outbox hits the wall
DISK_UNHEALTHY_BYTES = 64 * 1024 * 1024
RAM_DEGRADED_PCT = 95.0
_DIR_SIZE_TTL_S = 30.0
_dir_size_cache: dict[str, tuple[float, int]] = {}


def _now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def worst(*statuses: str) -> str:
    return max(statuses, key=lambda s: _RANK.get(s, 2))


def _existing(path: Path) -> Path:
    path = path.resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def dir_size(path: Path) -> int:
    """Bytes under the data dir, cached: walking PGDATA on every refresh is wasteful."""
    key = str(path)
    hit = _dir_size_cache.get(key)
    now = time.monotonic()
    if hit and now - hit[0] < _DIR_SIZE_TTL_S:
        return hit[1]
    total = 0
    for root, _dirs, files in os.walk(path, onerror=lambda _e: None):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    _dir_size_cache[key] = (now, total)
    return total


def disk_check(data_dir: Path) -> dict[str, Any]:
    where = _existing(data_dir)
    usage = shutil.disk_usage(where)
    free_frac = usage.free / usage.total if usage.total else 0.0
    status = "healthy"
    if free_frac < DISK_DEGRADED_FREE:
        status = "degraded"
    if usage.free < DISK_UNHEALTHY_BYTES:
        status = "unhealthy"
    return {
        "status": status,
        "path": str(data_dir),
        "total_bytes": usage.total,
        "used_bytes": usage.used,
        "free_bytes": usage.free,
        "free_pct": round(free_frac * 100, 2),
        "usage_percent": round(usage.used / usage.total * 100, 1) if usage.total else 0.0,
        "data_dir_bytes": dir_size(where) if where == data_dir.resolve() else 0,
    }


def ram_check() -> dict[str, Any]:
    vm = psutil.virtual_memory()
    rss = psutil.Process().memory_info().rss
    return {
        "status": "degraded" if vm.percent >= RAM_DEGRADED_PCT else "healthy",
        "used_pct": vm.percent,
        "usage_percent": float(vm.percent),  # the ops guide's name
        "available_bytes": vm.available,
        "process_rss_bytes": rss,
    }


def store_status(report: dict[str, Any]) -> str:
    """Re-derived from the parts: all stores up and nothing queued or dead-lettered is healthy,
    some store up is degraded (writes queue, reads fall back), none up is unhealthy."""
    stores = (report.get("stores") or {}).values()
    return health_status([bool(s.get("ok")) for s in stores], report.get("outbox") or {})


def database_check(report: dict[str, Any]) -> dict[str, Any]:
    """The ops guide's `checks.database`: `connected` when a store answers (reads are served).

    `status` is "ok" with every store up, "degraded" with some, "error" with none.
    """
    up = {name: bool(s.get("ok")) for name, s in (report.get("stores") or {}).items()}
    if up and all(up.values()):
        status = "ok"
    elif any(up.values()):
        status = "degraded"
    else:
        status = "error"
    return {"status": status, "connected": any(up.values()), "stores": up}


def full_health() -> dict[str, Any]:
    """Memory.health() plus this host's disk and RAM, folded into one status."""
    memory = current_app.extensions["obsmem.memory"]
    settings = current_app.config["OBSMEM_SETTINGS"]
    try:
        report = dict(memory.health())
    except Exception as e:  # health must answer even when Memory itself is broken
        report = {"status": "unhealthy", "stores": {}, "outbox": {}, "error": type(e).__name__}
    disk = disk_check(Path(settings.data_dir))
    ram = ram_check()
    report["checks"] = {"disk": disk, "memory": ram, "database": database_check(report)}
    report["timestamp"] = report.get("checked_at") or _now_iso()  # the ops guide's name
    report["status"] = worst(store_status(report), disk["status"], ram["status"])
    ready = current_app.extensions.get("obsmem.ready")  # set by `obsmem serve` once warm
    if ready is not None and not ready.is_set() and report["status"] != "unhealthy":
        report["status"] = "starting"
    return report


@bp.get("/health")
def health() -> tuple[Response, int]:
    report = full_health()
    code = 503 if report["status"] in ("unhealthy", "starting") else 200
    if reads_protected() and not token_ok():
        return jsonify({"status": report["status"]}), code
    return jsonify(report), code
