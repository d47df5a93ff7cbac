"""A remember whose Postgres write meets a SIGSTOPped server: with the write deadline (B) or without (A).

    python -m bench.write_hang --rounds 3 --stop-s 4

Its own embedded pair in a temp dir, write timeout (`OBSMEM_STORE_TIMEOUT`) 1 s
(`--timeout`). Each round, A and B in turn (which goes first flips every round):
SIGSTOP Postgres (postmaster and every backend), one remember of a new fix on a
thread, SIGCONT `--stop-s` seconds after the stop (in A nothing else ends the
wait), then wait for the breaker to close and the outbox to drain. A sets the
vector store guard's write timeout to None: the write path before the deadline.
Per mode: the remember's wall time, where its vector write went, whether the
breaker opened, and, once drained, the fix's occurrences in Postgres (1 = counted
once, although in B the server applied the cut write after SIGCONT and the replay
applied its queued copy again). Prints one JSON document (and `--out FILE`).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.hang import stopped
from bench.measure import emit, load, run_info, summary
from obsmem.config import Settings
from obsmem.memory import Memory


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stop-s", type=float, default=4.0, help="seconds Postgres stays stopped")
    ap.add_argument("--timeout", type=float, default=1.0, help="the write timeout, seconds")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    info: dict[str, Any] = run_info(args)
    tmp = tempfile.TemporaryDirectory(prefix="obsmem-write-hang-")
    settings = Settings(data_dir=Path(tmp.name), demo=False, store_timeout_s=args.timeout,
                        read_timeout_s=0.5)  # fmt: skip
    mem = Memory.open(settings)
    mgr = mem.manager
    guard: Any = mgr.vectors
    timeouts = {"A": lambda: None, "B": lambda: args.timeout}
    runs: dict[str, list[dict[str, Any]]] = {"A": [], "B": []}
    loads = [load()[0]]
    try:
        mem.remember("warm-up: disk full on db-1", "rotate the logs")
        assert mem.drain(30)
        for r in range(args.rounds):
            for mode in "AB" if r % 2 == 0 else "BA":
                guard._write_timeout = timeouts[mode]
                box: dict[str, Any] = {}

                def remember(n: str = f"{r}{mode}", box: dict[str, Any] = box) -> None:
                    t = time.perf_counter()
                    got = mem.remember(f"queue lag on orders topic {n}", f"scale consumers {n}")
                    box.update(s=time.perf_counter() - t, got=got, open=mgr.is_down("vectors"))

                with stopped(mem, "vectors"):
                    worker = threading.Thread(target=remember, daemon=True)
                    t0 = time.monotonic()
                    worker.start()
                    worker.join(args.stop_s)
                    time.sleep(max(0.0, args.stop_s - (time.monotonic() - t0)))
                worker.join(60)
                assert mem.drain(60), "the outbox did not drain"
                fid = box["got"].id
                rows = mgr.vectors.get_rows([fid])
                runs[mode].append({
                    "remember_s": round(box["s"], 3), "vectors": "queued"
                    if "vectors" in box["got"].pending else "applied", "breaker_opened": box["open"],
                    "occurrences_after": int(rows[fid]["occurrences"]) if fid in rows else 0,
                })  # fmt: skip
            loads.append(load()[0])
        info["returns_bad"] = mgr._vectors._pool.get_stats().get("returns_bad", 0)
    finally:
        guard._write_timeout = lambda: mgr.settings.store_timeout_s
        mem.close()
        if mgr.embedded is not None:
            mgr.embedded.stop(force=True)
        tmp.cleanup()
    info["load1"] = loads
    for mode, name in (("A", "no write deadline (before)"), ("B", "write deadline per round trip")):
        info[mode] = {
            "writes": name,
            "remember_s": summary([x["remember_s"] for x in runs[mode]]),
            "runs": runs[mode],
        }
    emit(info, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
