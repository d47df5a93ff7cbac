"""Split py-spy samples of the server (`py-spy record --native --idle -f raw`) into coarse buckets.

Each sample is one thread's stack at one instant. Its state comes from the
deepest named native frame: waiting to take the GIL back (CPython 3.11 waits
for it in `pthread_cond_timedwait`; Python-level locks wait in semaphores, so
the two do not mix), idle (a lock, a queue, select/poll, a socket read), or
running. Running and GIL-waiting samples are then put in the bucket of the
deepest frame that names a known library or module (stdlib plumbing such as
threading.py or socket.py is skipped, so a Thread.start made by the store
guard counts as the guard). Used by bench.serve_cpu; run on its own as

    python -m bench.serve_profile /tmp/prof/server.collapsed
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any

# (bucket, substrings of a frame); the first rule a frame matches names its bucket.
RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("embedder (ORT, tokenizer, batching)", ("obsmem/embed.py", "onnxruntime", "tokenizers")),
    ("postgres client (psycopg, pool)", ("psycopg", "pgvector/", "obsmem/stores/pgvector.py")),
    ("falkordb client (redis, parse)", ("redis/", "falkordb/", "hiredis", "obsmem/stores/graph/")),
    ("store guard (breaker, read threads)", ("obsmem/stores/breaker.py", "obsmem/stores/router")),
    ("recall features + text", ("obsmem/text.py", "features (obsmem/recall.py", "snowballstemmer")),
    (
        "recall pipeline (fuse, rank, result)",
        (
            "obsmem/recall.py",
            "obsmem/ranking.py",
            "obsmem/memory.py",
            "obsmem/model.py",
            "obsmem/redact.py",
            "obsmem/served.py",
            "numpy",
        ),
    ),
    ("json encode/decode", ("json/", "_json")),
    ("logging (access log)", ("logging/", "dashboard/access_log.py")),
    ("metrics (prometheus)", ("prometheus_client", "dashboard/metrics.py")),
    ("app hooks + view", ("dashboard/",)),
    ("flask/werkzeug", ("flask/", "werkzeug/")),
    ("waitress", ("waitress/",)),
)
TRANSPARENT = (
    "threading.py", "queue.py", "concurrent/futures", "contextlib.py", "functools.py",
    "typing.py", "abc.py", "<frozen", "socket.py", "selectors.py", "weakref.py",
)  # fmt: skip
GIL_WAIT = ("pthread_cond_timedwait",)
IDLE = (
    "PyThread_acquire_lock_timed", "sem_clockwait", "sem_timedwait", "sem_wait", "select (",
    "poll (", "epoll_wait", "recv (", "recvfrom", "accept", "nanosleep", "pthread_cond_wait (",
    "read (libc",
)  # fmt: skip


def _named(frames: list[str]) -> list[str]:
    return [f for f in frames if not f.startswith("0x")]


def state(frames: list[str]) -> str:
    """gil_wait, idle or running, from the deepest named frame."""
    named = _named(frames)
    leaf = named[-1] if named else ""
    if any(leaf.startswith(g) for g in GIL_WAIT):
        return "gil_wait"
    if any(leaf.startswith(i) or i in leaf for i in IDLE):
        return "idle"
    return "running"


def bucket(frames: list[str]) -> str:
    for frame in reversed(frames):
        if frame.startswith("0x") or any(t in frame for t in TRANSPARENT):
            continue
        for name, needles in RULES:
            if any(n in frame for n in needles):
                return name
    return "other"


def buckets(text: str, *, gil: bool = False) -> dict[str, Any]:
    """Samples per state, and per bucket for running and GIL-waiting samples, with shares.

    `gil`: the samples come from `py-spy --gil` (only the GIL's holder), all "running".
    """
    by: dict[str, Counter[str]] = {"running": Counter(), "gil_wait": Counter(), "idle": Counter()}
    others: Counter[str] = Counter()
    for line in text.splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        frames = stack.split(";")[1:]  # the first frame names the thread
        st = "running" if gil else state(frames)
        b = bucket(frames) if st != "idle" else "idle"
        by[st][b] += int(n)
        if st == "running" and b == "other":
            others[" / ".join(_named(frames)[-2:])[:160]] += int(n)
    out: dict[str, Any] = {}
    for st, counts in by.items():
        total = sum(counts.values())
        out[st] = {
            "samples": total,
            "share": {k: round(v / total, 3) for k, v in counts.most_common()} if total else {},
        }
    out["running_other_top"] = dict(others.most_common(12))
    return out


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(json.dumps(buckets(f.read(), gil="--gil" in sys.argv), indent=1))
