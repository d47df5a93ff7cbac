"""Crash suite: concurrent writers while the stores and the API server are SIGKILLed.

Writers (threads and separate processes through `Memory`, threads through the
HTTP `Client` against a real `python -m dashboard.serve` subprocess) remember
known, unique fixes while a chaos step SIGKILLs and restarts FalkorDB, then
Postgres, then both, then the obsmem server itself (restarted on the same data
dir and port). Afterwards every acknowledged write (a call that returned
normally) must be in both stores exactly once with the content that was sent,
the outbox must be empty, nothing dead-lettered, and recall must work.

Short mode runs in CI from tests/test_crash.py. Long mode, loopback only:

    .venv/bin/python -m bench.crash --threads 4 --procs 2 --http 4 --settle 10 --down 8 --rounds 3

writes a JSON report to bench/out/crash-<time>.json and prints the table.
Every loop here is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "bench" / "out"
PHASES = ("falkordb", "postgres", "both", "server")


@dataclass
class Plan:
    """How much load and how much chaos; the defaults are the CI short mode."""

    threads: int = 2  # Memory writer threads in this process
    procs: int = 1  # Memory writer processes
    http: int = 2  # HTTP client writer threads
    settle_s: float = 2.0  # load before each kill
    down_s: float = 2.0  # how long a killed store stays dead (supervision paused here)
    rounds: int = 1  # the four phases, this many times
    pause_s: float = 0.02  # between one writer's calls
    max_items: int = 5000  # per writer, a hard bound
    drain_timeout_s: float = 90.0
    store_timeout_s: float = 1.0  # short, so a write during an outage queues instead of waiting
    phases: tuple[str, ...] = PHASES


@dataclass
class PhaseResult:
    phase: str
    killed_at: float
    up_s: float | None = None  # kill -> target serving again
    drained_s: float | None = None  # restart -> outbox empty (None: never within the timeout)
    max_depth: int = 0


@dataclass
class Report:
    plan: dict[str, Any]
    phases: list[dict[str, Any]] = field(default_factory=list)
    by_writer: dict[str, dict[str, int]] = field(default_factory=dict)
    attempted: int = 0
    acknowledged: int = 0
    present: int = 0  # acknowledged writes found in both stores with the right content
    duplicated: int = 0  # ids with more than one occurrence in either store (any write)
    missing: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    stray: int = 0  # fixes in a store that no writer attempted
    unacked_present: int = 0
    outbox_depth: int = -1
    dead_letters: int = -1
    recall_ok: bool = False
    memory_errors: list[str] = field(default_factory=list)  # Memory.remember raised (should not)
    http_errors: dict[str, int] = field(default_factory=dict)  # error kind -> count (not acked)
    seconds: float = 0.0


# ---------------------------------------------------------------- the known fixes


def item(run: str, tag: str, i: int) -> dict[str, Any]:
    """A unique, recognisable fix (no secrets in it, so redaction leaves it unchanged)."""
    return {
        "issue": f"crash {run} {tag} #{i}: consumer group lag on topic orders-{i % 11} grows after rebalance",
        "solution": f"restart consumer {tag}-{i} with static membership and raise session timeout to {i % 30 + 10}s",
        "agent": f"crash-{tag}",
        "service": f"orders-{i % 5}",
        "metadata": {"run": run, "writer": tag, "i": i},
    }


def expected_id(it: dict[str, Any]) -> str:
    from obsmem.model import fix_id_for

    return fix_id_for(it["issue"], it["solution"])


def write_loop(
    run: str,
    tag: str,
    call: Callable[[dict[str, Any]], Any],
    stop: threading.Event,
    plan: Plan,
    sink: Callable[[dict[str, Any]], None],
) -> None:
    """Remember items until told to stop; one record per attempt, ok only if the call returned."""
    for i in range(plan.max_items):
        if stop.is_set():
            return
        it = item(run, tag, i)
        rec: dict[str, Any] = {"tag": tag, "i": i, "id": expected_id(it), "ok": False, "err": None}
        try:
            call(it)
            rec["ok"] = True
        except Exception as exc:  # recorded, not raised: the verdict is made at the end
            rec["err"] = f"{type(exc).__name__}: {exc}"[:300]
        sink(rec)
        time.sleep(plan.pause_s if rec["ok"] else max(plan.pause_s, 0.2))


# ---------------------------------------------------------------- writer processes


def _worker(data_dir: str, run: str, tag: str, acks: str, stop_file: str, plan_json: str) -> None:
    """A separate process writing through its own Memory on the shared data dir."""
    from obsmem.config import Settings
    from obsmem.memory import Memory

    plan = Plan(**{**json.loads(plan_json), "phases": PHASES})
    mem = Memory.open(
        Settings(data_dir=Path(data_dir), demo=False, store_timeout_s=plan.store_timeout_s)
    )
    mem.manager.embedder.embed("warm up")
    stop = threading.Event()
    deadline = time.monotonic() + 600

    def watch() -> None:
        while not Path(stop_file).exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()

    threading.Thread(target=watch, daemon=True).start()
    with open(acks, "a", encoding="utf-8") as out:
        print("ready", flush=True)

        def sink(rec: dict[str, Any]) -> None:
            out.write(json.dumps(rec) + "\n")
            out.flush()

        write_loop(run, tag, lambda it: mem.remember(**it), stop, plan, sink)
    mem.close()


# ---------------------------------------------------------------- the API server process


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProc:
    """`python -m dashboard.serve` on the data dir, always on the same loopback port."""

    def __init__(self, data_dir: Path, port: int, store_timeout_s: float = 5.0):
        self.data_dir, self.port, self.timeout = data_dir, port, store_timeout_s
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "server.log"

    def start(self, timeout: float = 120.0, wait: bool = True) -> None:
        env = {
            **os.environ,
            "OBSMEM_DATA_DIR": str(self.data_dir),
            "OBSMEM_HOST": "127.0.0.1",
            "OBSMEM_PORT": str(self.port),
            "OBSMEM_DEMO": "0",
            "OBSMEM_THREADS": "4",
            "OBSMEM_STORE_TIMEOUT": str(self.timeout),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        env.pop("OBSMEM_API_TOKEN", None)
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "dashboard.serve"],
                env=env,
                cwd=ROOT,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if wait:
            self.wait_up(timeout)

    def wait_up(self, timeout: float) -> None:
        import requests

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"dashboard.serve exited {self.proc.returncode}; see {self.log}")
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + "/health", timeout=2).status_code in (200, 503):
                    return
            time.sleep(0.1)
        raise RuntimeError(f"dashboard.serve did not answer within {timeout:.0f} s; see {self.log}")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


# ---------------------------------------------------------------- chaos


def _sigkill(pid: int | None) -> None:
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(psutil.Error):
        psutil.Process(pid).wait(10)


def _wait(cond: Callable[[], bool], timeout: float, step: float = 0.1) -> float | None:
    """Seconds until `cond()` held, or None after `timeout`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        with contextlib.suppress(Exception):
            if cond():
                return time.monotonic() - t0
        time.sleep(step)
    return None


def chaos_phase(phase: str, mem: Any, server: ServerProc, plan: Plan) -> PhaseResult:
    emb = mem.manager.embedded
    outbox = mem.manager.outbox
    res = PhaseResult(phase, killed_at=time.time())
    depth = [0]

    def drained() -> bool:
        d = outbox.depth()
        depth[0] = max(depth[0], d)
        return d == 0

    if phase == "server":
        server.kill()
        time.sleep(plan.down_s)
        t0 = time.monotonic()
        server.start()
        res.up_s = round(time.monotonic() - t0 + plan.down_s, 3)
    else:
        targets = {
            "falkordb": [emb.falkor],
            "postgres": [emb.postgres],
            "both": [emb.falkor, emb.postgres],
        }[phase]
        t_kill = time.monotonic()
        with emb.supervision_paused():
            for t in targets:
                _sigkill(t.pid())
            # The API server supervises too and may restart them first: that is fine.
            while time.monotonic() - t_kill < plan.down_s:  # sample the queue meanwhile
                drained()
                time.sleep(0.1)
            emb.check_and_restart()
        up = _wait(lambda: all(t.running() for t in targets), 60)
        res.up_s = None if up is None else round(time.monotonic() - t_kill, 3)
    t_up = time.monotonic()
    res.drained_s = _wait(drained, plan.drain_timeout_s, 0.05)
    if res.drained_s is not None:
        res.drained_s = round(time.monotonic() - t_up, 3)
    res.max_depth = depth[0]
    return res


# ---------------------------------------------------------------- verification


def _chunks(ids: list[str], n: int = 500) -> Iterator[list[str]]:
    for i in range(0, len(ids), n):
        yield ids[i : i + n]


def verify(mem: Any, run: str, records: list[dict[str, Any]], report: Report) -> None:
    mgr = mem.manager
    attempted_ids = {r["id"] for r in records}
    acked = {r["id"]: r for r in records if r["ok"]}
    graph: dict[str, Any] = {}
    rows: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(sorted(attempted_ids)):
        graph.update(mgr.graph.get_fixes(chunk))
        rows.update(mgr.vectors.get_rows(chunk))
    report.duplicated = sum(1 for f in graph.values() if f.occurrences > 1) + sum(
        1 for r in rows.values() if int(r.get("occurrences") or 1) > 1
    )
    for fid, rec in sorted(acked.items()):
        it = item(run, rec["tag"], rec["i"])
        g, v = graph.get(fid), rows.get(fid)
        if g is None or v is None:
            report.missing.append(
                f"{fid} ({rec['tag']}#{rec['i']}: graph={g is not None} vectors={v is not None})"
            )
            continue
        same = (g.issue, g.solution, g.agent, g.service, g.metadata) == (
            it["issue"],
            it["solution"],
            it["agent"],
            it["service"],
            it["metadata"],
        ) and (v["issue"], v["solution"]) == (it["issue"], it["solution"])
        if not same:
            report.wrong.append(fid)
            continue
        report.present += 1
    report.unacked_present = sum(1 for f in attempted_ids - set(acked) if f in graph or f in rows)
    report.stray = (mgr.graph.count_fixes(None) - len(graph)) + (
        mgr.vectors.count(None) - len(rows)
    )
    report.outbox_depth = mgr.outbox.depth()
    report.dead_letters = int(mgr.outbox.stats()["dead_letters_total"])
    sample = [
        item(run, r["tag"], r["i"]) for r in list(acked.values())[:: max(1, len(acked) // 3)][:3]
    ]
    report.recall_ok = bool(sample) and all(
        expected_id(it) in {h.fix.id for h in mem.recall(it["issue"], k=5)} for it in sample
    )


# ---------------------------------------------------------------- the run


def run(
    plan: Plan, data_dir: Path, *, embedder: Any = None, log: Callable[[str], None] = print
) -> Report:
    """One crash-suite run on a fresh data dir; the caller asserts on the report."""
    from obsmem.client import Client
    from obsmem.config import Settings
    from obsmem.memory import Memory

    t_start = time.monotonic()
    say = log

    def log(msg: str) -> None:
        say(f"[{time.monotonic() - t_start:6.1f} s] {msg}")

    run_id = uuid.uuid4().hex[:8]
    data_dir.mkdir(parents=True, exist_ok=True)
    report = Report(
        plan={k: v for k, v in asdict(plan).items() if k != "phases"}
        | {"phases": list(plan.phases)}
    )
    records: list[dict[str, Any]] = []
    lock = threading.Lock()

    def sink(rec: dict[str, Any]) -> None:
        with lock:
            records.append(rec)

    mem = Memory.open(
        Settings(data_dir=data_dir, demo=False, store_timeout_s=plan.store_timeout_s),
        embedder=embedder,
    )
    server = ServerProc(data_dir, free_port(), plan.store_timeout_s)
    stop = threading.Event()
    stop_file = data_dir / "stop-writers"
    procs: list[subprocess.Popen[str]] = []
    threads: list[threading.Thread] = []
    try:
        mem.manager.embedder.embed("warm up")
        server.start(wait=False)  # its start-up overlaps the writer processes'
        plan_json = json.dumps({k: v for k, v in asdict(plan).items() if k != "phases"})
        for p in range(plan.procs):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "bench.crash",
                        "--worker",
                        str(data_dir),
                        run_id,
                        f"proc{p}",
                        str(data_dir / f"acks-proc{p}.jsonl"),
                        str(stop_file),
                        plan_json,
                    ],
                    cwd=ROOT,
                    stdout=subprocess.PIPE,
                    stderr=open(data_dir / f"proc{p}.log", "ab"),  # noqa: SIM115
                    stdin=subprocess.DEVNULL,
                    text=True,
                    env={**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"},
                )
            )
        server.wait_up(120)
        log(f"server up on {server.url}")
        clients = [Client(server.url, timeout=60, retries=2) for _ in range(plan.http)]
        with contextlib.suppress(Exception):
            clients[0].recall("warm up the server's model", k=1) if clients else None
        for p in procs:  # each prints "ready" once its model is loaded
            assert p.stdout is not None
            line = p.stdout.readline()
            if "ready" not in line:
                raise RuntimeError(f"writer process failed to start: {line!r}; see {data_dir}")

        def mem_call(it: dict[str, Any]) -> Any:
            return mem.remember(**it)

        for t in range(plan.threads):
            threads.append(
                threading.Thread(
                    target=write_loop,
                    args=(run_id, f"thread{t}", mem_call, stop, plan, sink),
                    daemon=True,
                )
            )
        for h, c in enumerate(clients):
            threads.append(
                threading.Thread(
                    target=write_loop,
                    args=(run_id, f"http{h}", lambda it, c=c: c.remember(**it), stop, plan, sink),
                    daemon=True,
                )
            )
        for th in threads:
            th.start()
        log("writers started")
        for rnd in range(plan.rounds):
            for phase in plan.phases:
                time.sleep(plan.settle_s)
                res = chaos_phase(phase, mem, server, plan)
                report.phases.append(asdict(res) | {"round": rnd})
                log(
                    f"{phase}: up after {res.up_s} s, outbox drained {res.drained_s} s later "
                    f"(max depth {res.max_depth})"
                )
        time.sleep(plan.settle_s)
    finally:
        stop.set()
        stop_file.touch()
        for th in threads:
            th.join(120)
        for p in procs:
            try:
                p.wait(120)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(10)
    log("writers stopped")
    try:
        for p in range(plan.procs):
            path = data_dir / f"acks-proc{p}.jsonl"
            if path.exists():
                records.extend(
                    json.loads(line) for line in path.read_text().splitlines() if line.strip()
                )
        if not mem.drain(plan.drain_timeout_s):
            log(f"outbox did not drain: {mem.manager.outbox.stats()}")
        for rec in records:
            kind = "http" if rec["tag"].startswith("http") else "memory"
            w = report.by_writer.setdefault(kind, {"attempted": 0, "acknowledged": 0})
            w["attempted"] += 1
            w["acknowledged"] += int(rec["ok"])
            if kind == "memory" and not rec["ok"]:
                report.memory_errors.append(f"{rec['tag']}#{rec['i']}: {rec['err']}")
            elif not rec["ok"]:
                key = str(rec["err"])[:120]
                report.http_errors[key] = report.http_errors.get(key, 0) + 1
        log("drained")
        report.attempted = len(records)
        report.acknowledged = sum(1 for r in records if r["ok"])
        verify(mem, run_id, records, report)
    finally:
        server.stop()
        mem.close()
        assert mem.manager.embedded is not None
        mem.manager.embedded.stop(force=True)
    report.seconds = round(time.monotonic() - t_start, 1)
    return report


def table(report: Report) -> str:
    """The crash-suite table (markdown) for the report and the closing note."""
    lines = [
        "| phase | kill -> up (s) | up -> outbox drained (s) | max outbox depth |",
        "|---|---:|---:|---:|",
    ]
    for p in report.phases:
        lines.append(
            f"| {p['phase']} (round {p['round'] + 1}) | {p['up_s']} | {p['drained_s']} | {p['max_depth']} |"
        )
    lines += [
        "",
        "| writers | attempted | acknowledged |",
        "|---|---:|---:|",
        *[
            f"| {k} | {v['attempted']} | {v['acknowledged']} |"
            for k, v in sorted(report.by_writer.items())
        ],
        "",
        f"attempted {report.attempted}, acknowledged {report.acknowledged}, present {report.present}, "
        f"duplicated {report.duplicated}, missing {len(report.missing)}, wrong content {len(report.wrong)}, "
        f"stray {report.stray}, unacknowledged but present {report.unacked_present}, "
        f"outbox {report.outbox_depth}, dead letters {report.dead_letters}, recall ok {report.recall_ok}, "
        f"{report.seconds} s",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "--worker":
        _worker(*argv[1:7])
        return 0
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--http", type=int, default=4)
    ap.add_argument("--settle", type=float, default=10.0)
    ap.add_argument("--down", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data-dir", type=Path, default=None)
    a = ap.parse_args(argv)
    plan = Plan(
        threads=a.threads,
        procs=a.procs,
        http=a.http,
        settle_s=a.settle,
        down_s=a.down,
        rounds=a.rounds,
        drain_timeout_s=180,
    )
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory(prefix="obsmem-crash-") as tmp:
        report = run(plan, a.data_dir or Path(tmp) / "data")
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"crash-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(asdict(report), indent=2))
    print(table(report))
    print(f"report: {path}")
    ok = (
        report.duplicated == 0
        and not report.missing
        and not report.wrong
        and report.outbox_depth == 0
        and report.dead_letters == 0
        and report.recall_ok
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
