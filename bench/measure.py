"""Small measuring helpers: percentiles, the machine a run happened on, process memory.

Figures are only comparable with the machine and its load next to them, so every
result file starts with `machine()`.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import psutil


def pct(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks."""
    if not values:
        return float("nan")
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo = int(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(values: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99/mean in the values' unit, rounded for a table."""
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(pct(values, 50), 2),
        "p95": round(pct(values, 95), 2),
        "p99": round(pct(values, 99), 2),
        "mean": round(sum(values) / len(values), 2),
        "max": round(max(values), 2),
    }


def load() -> tuple[float, float, float]:
    return tuple(round(x, 2) for x in os.getloadavg())  # type: ignore[return-value]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args],
            capture_output=True,
            text=True,
            timeout=10,
            cwd=Path(__file__).resolve().parents[1],
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def served_ab_args(ap: Any, *, queries: int, queries_help: str) -> None:
    """The arguments every served A/B bench takes: the data dir, rounds, queries, clients, out."""
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--queries", type=int, default=queries, help=queries_help)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--out", type=Path, default=None)


def run_info(args: Any) -> dict[str, Any]:
    """The head of a bench's JSON: the machine, and the arguments it ran with."""
    return {"machine": machine(), "args": {k: str(v) for k, v in vars(args).items()}}


def machine() -> dict[str, Any]:
    return {
        "cores": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": _cpu_model(),
        "python": platform.python_version(),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(_git("status", "--porcelain", "--untracked-files=no")),
        "load_at_start": load(),
    }


def rss_mb(pids: Iterable[int | None], children: bool = False) -> float:
    """Resident memory of processes (PSS when available, so shared pages count once)."""
    total = 0
    seen: set[int] = set()
    for pid in pids:
        if not pid:
            continue
        try:
            procs = [psutil.Process(pid)]
            if children:
                procs += procs[0].children(recursive=True)
        except psutil.Error:
            continue
        for p in procs:
            if p.pid in seen:
                continue
            seen.add(p.pid)
            try:
                info = p.memory_full_info()
                total += getattr(info, "pss", 0) or info.rss
            except psutil.Error:
                with contextlib.suppress(psutil.Error):
                    total += p.memory_info().rss
    return round(total / 2**20, 1)


def emit(info: dict[str, Any], out: Path | None) -> None:
    """A benchmark's JSON result: printed, and written to `out` when given."""
    text = json.dumps(info, indent=1)
    print(text)
    if out:
        out.write_text(text)
