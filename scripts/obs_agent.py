#!/usr/bin/env python3
"""An example observability agent: check -> recall -> apply -> verify -> remember -> heartbeat.

It watches real things on this machine (disk usage, load average, TCP ports that
should answer), asks obsmem for fixes that worked on similar problems, "applies"
the best one (prints it; with --apply it runs one safe action: clearing old
files from a temp directory you name), re-runs the check, and records the outcome.

It does not poison its own memory: a recalled fix below the relevance bar
(`below_bar`; the result says `no_match`) is never applied or suggested, and a
suggestion it did not apply and verify is not remembered at all. Remembering it,
even with an unknown outcome, would store the guess under this very issue text,
so the next recall of the same alert would find the agent's own guess first,
looking like the best-matching fix. Only an action it ran is remembered, with
the outcome the re-check saw (resolved: success; still firing: failure).

    python scripts/obs_agent.py --once                          # against `make run`
    python scripts/obs_agent.py --local --once                  # in-process, no server
    python scripts/obs_agent.py --url http://host:8000 --token $OBSMEM_API_TOKEN \\
        --port 5432 --disk-threshold 80 --interval 60

Thresholds default low enough to trip on a dev box, so a first run shows the
whole loop; tune them for real use.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Finding:
    """Something wrong, worded like an alert so recall matches past incidents."""

    issue: str
    service: str
    severity: str
    safe_action: str | None = None  # name of an action this script can run itself


def check_disk(path: str, threshold_pct: float) -> Finding | None:
    usage = shutil.disk_usage(path)
    pct = 100.0 * usage.used / usage.total
    if pct < threshold_pct:
        return None
    return Finding(
        issue=f"Filesystem {path} {pct:.0f}% full on {socket.gethostname()}: "
        f"{usage.free // 2**30} GiB free, no space left on device soon",
        service="host-disk",
        severity="high" if pct > 90 else "medium",
        safe_action="clean_tmp",
    )


def check_load(threshold_per_cpu: float) -> Finding | None:
    load1, _, _ = os.getloadavg()
    cpus = os.cpu_count() or 1
    if load1 / cpus < threshold_per_cpu:
        return None
    return Finding(
        issue=f"High load average {load1:.1f} on {cpus} CPUs on {socket.gethostname()}: "
        "processes waiting for CPU, latency rising",
        service="host-cpu",
        severity="medium",
    )


def check_port(host: str, port: int, timeout: float = 1.0) -> Finding | None:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return Finding(
            issue=f"TCP port {host}:{port} not answering ({exc.strerror or exc}): "
            "connection refused, service down or not listening",
            service=f"port-{port}",
            severity="high",
        )


def clean_tmp(directory: Path, older_than_s: float = 7 * 86400) -> int:
    """The one safe action: delete regular files older than a week from a directory you chose."""
    cutoff = time.time() - older_than_s
    removed = 0
    for entry in directory.iterdir():
        if entry.is_file() and not entry.is_symlink() and entry.stat().st_mtime < cutoff:
            entry.unlink()
            removed += 1
    return removed


class Backend:
    """Memory (in-process) or Client (HTTP) behind the same dict-shaped answers."""

    def __init__(self, args: argparse.Namespace) -> None:
        if args.local:
            from obsmem.memory import Memory

            self.api: Any = Memory.open()
            self.local = True
        else:
            from obsmem.client import Client

            self.api = Client(args.url, args.token or os.environ.get("OBSMEM_API_TOKEN"))
            self.local = False

    def _plain(self, value: Any) -> Any:
        return value.to_dict() if hasattr(value, "to_dict") else value

    def register(self, name: str) -> None:
        self.api.register_agent(name, server=socket.gethostname())

    def recall(self, query: str) -> list[dict[str, Any]]:
        """Hits best first, each with `relevance` and `below_bar` (under the configured bar)."""
        return list(self._plain(self.api.recall(query, 3))["hits"])

    def remember(self, finding: Finding, solution: str, success: bool | None, agent: str) -> str:
        result = self._plain(self.api.remember(
            finding.issue, solution, success=success, agent=agent, service=finding.service,
            severity=finding.severity, tags=["obs-agent"],
        ))  # fmt: skip
        return str(result["id"])

    def feedback(self, fix_id: str, success: bool, agent: str) -> None:
        self.api.feedback(fix_id, success, agent=agent)

    def heartbeat(self, name: str) -> None:
        self.api.heartbeat(name)

    def close(self) -> None:
        self.api.close()


def findings(args: argparse.Namespace) -> list[Finding]:
    checks = [check_disk(args.disk_path, args.disk_threshold), check_load(args.load_threshold)]
    checks += [check_port(args.host, p) for p in args.port]
    return [f for f in checks if f is not None]


def recheck(finding: Finding, args: argparse.Namespace) -> bool:
    """Is the problem gone? The same check that found it, run again."""
    if finding.service == "host-disk":
        return check_disk(args.disk_path, args.disk_threshold) is None
    return False


def handle(backend: Backend, finding: Finding, args: argparse.Namespace) -> dict[str, Any]:
    print(f"[{args.name}] {finding.severity.upper()}: {finding.issue}")
    hits = backend.recall(finding.issue)
    for h in hits:
        fix = h["fix"]
        rel = h.get("relevance")
        print(f"  candidate {fix['id']} relevance {'?' if rel is None else f'{rel:.2f}'}"
              f"{' (below bar)' if h.get('below_bar') else ''} worked "
              f"{fix['successes']}/{fix['successes'] + fix['failures']}: "
              f"{' '.join(fix['solution'].split())[:110]}")  # fmt: skip
    good = [h for h in hits if not h.get("below_bar")]
    if args.apply and finding.safe_action == "clean_tmp" and args.clean_dir:
        removed = clean_tmp(Path(args.clean_dir))
        solution = f"Removed {removed} files older than 7 days from {args.clean_dir}."
        worked = recheck(finding, args)  # verified by the check, not assumed
        fix_id = backend.remember(finding, solution, worked, args.name)
        print(f"  applied: {solution} -> remembered {fix_id} "
              f"({'resolved' if worked else 'still firing'})")  # fmt: skip
        return {"finding": finding.issue, "fix_id": fix_id, "applied": True, "success": worked}
    if good:
        best = good[0]["fix"]
        print(f"  would apply {best['id']} (relevance {good[0]['relevance']:.2f}; "
              "dry run: nothing applied, nothing remembered)")  # fmt: skip
        return {"finding": finding.issue, "fix_id": None, "applied": False, "suggested": best["id"]}
    print("  no good match in memory: escalate to on-call (nothing applied, nothing remembered)")
    return {"finding": finding.issue, "fix_id": None, "applied": False, "suggested": None}


def loop(args: argparse.Namespace) -> list[dict[str, Any]]:
    backend = Backend(args)
    done: list[dict[str, Any]] = []
    try:
        backend.register(args.name)
        while True:
            found = findings(args)
            if not found:
                print(f"[{args.name}] all checks passed")
            for finding in found:
                done.append(handle(backend, finding, args))
            backend.heartbeat(args.name)
            if args.once:
                return done
            time.sleep(args.interval)
    finally:
        backend.close()


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = p.add_mutually_exclusive_group()
    where.add_argument("--local", action="store_true", help="in-process Memory (no server)")
    where.add_argument("--url", default=os.environ.get("OBSMEM_URL", "http://127.0.0.1:8000"))
    p.add_argument("--token", help="API token (default: $OBSMEM_API_TOKEN)")
    p.add_argument("--name", default=f"obs-agent@{socket.gethostname()}")
    p.add_argument("--once", action="store_true", help="one round, then exit")
    p.add_argument("--interval", type=float, default=60.0)
    p.add_argument("--disk-path", default="/")
    p.add_argument("--disk-threshold", type=float, default=50.0, help="percent used")
    p.add_argument("--load-threshold", type=float, default=1.5, help="1-min load per CPU")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument(
        "--port", type=int, action="append", default=[], help="TCP port that must answer"
    )
    p.add_argument("--apply", action="store_true", help="run the safe action where there is one")
    p.add_argument("--clean-dir", help="directory --apply may clean of week-old files")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    try:
        from obsmem.config import env_log_level

        # OBS_AGENT_LOG_LEVEL (the ops guide's name) or OBSMEM_LOG_LEVEL; warnings by default.
        logging.basicConfig(
            level=env_log_level() or "WARNING",
            format="%(levelname)s %(name)s: %(message)s",
            stream=sys.stderr,
        )
        loop(parse(argv))
    except KeyboardInterrupt:
        return 0
    except Exception as exc:  # one line for the operator, not a traceback
        print(f"obs_agent: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
