"""Realistic, varied fix texts for benchmarks, deterministic by seed and streaming.

A fix is composed from a failure mode (bench.catalog: ~36 modes over 20 systems),
one of its symptom phrasings, error lines whose slots get realistic identifiers
(pod names with ReplicaSet hashes, IPs, ports, versions, paths, nodes), a root
cause, remediation commands and an outcome. Fix `i` depends only on (seed, i), so
`query_for(i)` can rebuild it and say the same problem in other words: another
symptom phrasing, another lead-in, part of the error, no solution. That gives
latency runs realistic hit patterns without keeping the corpus in memory.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from bench import catalog as c

_K8S = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of ReplicaSet and pod suffixes
_HEX = "0123456789abcdef"
_PORTS = (80, 443, 8080, 8443, 9090, 3000, 5000, 8000, 9000, 50051, 6379, 5432, 3306, 9092)


def _pick(seq: tuple[str, ...]) -> Callable[[random.Random], str]:
    return lambda r: seq[int(r.random() * len(seq))]


def _chars(alphabet: str, k: int) -> Callable[[random.Random], str]:
    return lambda r: "".join(r.choices(alphabet, k=k))


def _svc(r: random.Random) -> str:
    return f"{c.SERVICE_HEADS[int(r.random() * len(c.SERVICE_HEADS))]}-{c.SERVICE_TAILS[int(r.random() * len(c.SERVICE_TAILS))]}"


def _node(r: random.Random) -> str:
    if r.random() < 0.5:
        return f"ip-10-{r.randrange(256)}-{r.randrange(256)}-{r.randrange(256)}.ec2.internal"
    return f"gke-prod-{_pick(('default', 'highmem', 'spot', 'gpu'))(r)}-pool-{''.join(r.choices(_HEX, k=8))}-{''.join(r.choices(_K8S, k=4))}"


def _date(r: random.Random) -> str:
    return f"2025-{r.randrange(1, 13):02d}-{r.randrange(1, 29):02d}T{r.randrange(24):02d}:{r.randrange(60):02d}:{r.randrange(60):02d}Z"


# Slot name -> how to make a value. Values are made on first use and kept for the fix.
_SLOTS: dict[str, Callable[[random.Random], str]] = {
    "svc": _svc,
    "svc2": _svc,
    "ns": _pick(c.NAMESPACES),
    "env": _pick(c.ENVS),
    "zone": _pick(c.ZONES),
    "zone2": _pick(c.ZONES),
    "table": _pick(c.TABLES),
    "topic": _pick(c.TOPICS),
    "domain": _pick(c.DOMAINS),
    "registry": _pick(c.REGISTRIES),
    "path": _pick(c.PATHS),
    "container": _pick(c.CONTAINERS),
    "sev": _pick(c.SEVERITIES),
    "ip": lambda r: f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}",
    "ip2": lambda r: f"172.{r.randrange(16, 32)}.{r.randrange(256)}.{r.randrange(1, 255)}",
    "port": lambda r: str(
        _PORTS[int(r.random() * len(_PORTS))] if r.random() < 0.6 else r.randrange(1024, 65535)
    ),
    "ver": lambda r: f"v{r.randrange(1, 6)}.{r.randrange(30)}.{r.randrange(20)}",
    "ver0": lambda r: f"v{r.randrange(1, 6)}.{r.randrange(30)}.{r.randrange(20)}",
    "kver": lambda r: f"{r.choice(('5.15', '6.1', '6.6', '6.8'))}.0-{r.randrange(10, 120)}-generic",
    "pgver": lambda r: str(r.choice((13, 14, 15, 16, 17))),
    "node": _node,
    "host": lambda r: (
        f"{r.choice(('redis', 'kafka', 'rabbit', 'es', 'db', 'cache'))}-{r.randrange(10)}.{r.choice(c.ENVS)}.internal"
    ),
    "dbhost": lambda r: f"pg-{r.choice(c.SERVICE_HEADS)}-{r.randrange(1, 6)}",
    "db": lambda r: f"{r.choice(c.SERVICE_HEADS)}_{r.choice(('db', 'prod', 'main'))}",
    "group": lambda r: (
        f"{r.choice(c.SERVICE_HEADS)}-{r.choice(('consumer', 'indexer', 'sink', 'projector'))}"
    ),
    "index": lambda r: (
        f"logs-{r.choice(c.SERVICE_HEADS)}-2025.{r.randrange(1, 13):02d}.{r.randrange(1, 29):02d}"
    ),
    "bucket": lambda r: f"example-{r.choice(c.SERVICE_HEADS)}-{r.choice(c.ENVS)}",
    "vol": lambda r: "vol-0" + "".join(r.choices(_HEX, k=16)),
    "dev": lambda r: f"nvme{r.randrange(4)}n1p1",
    "slot": lambda r: f"{r.choice(c.SERVICE_HEADS)}_slot_{r.randrange(10)}",
    "key": lambda r: (
        f"{r.choice(('FEATURE', 'DB', 'CACHE', 'AUTH'))}_{r.choice(('URL', 'TIMEOUT', 'ENABLED', 'POOL_SIZE'))}"
    ),
    "hash5": _chars(_K8S, 5),
    "hash8": _chars(_HEX, 8),
    "date": _date,
    "date2": _date,
    "mem": lambda r: str(r.choice((128, 256, 384, 512, 768, 1024))),
    "mem2": lambda r: str(r.choice((1024, 1536, 2048, 3072, 4096))),
    "cpu": lambda r: str(r.choice((500, 1000, 2000, 4000))),
    "cpu2": lambda r: str(r.choice((100, 200, 250))),
    "pct": lambda r: str(r.randrange(91, 101)),
    "n": lambda r: str(r.randrange(2, 13)),
    "n2": lambda r: str(r.randrange(3, 64)),
    "n3": lambda r: str(r.randrange(100, 9999)),
    "n4": lambda r: str(r.randrange(10_000, 9_999_999)),
}


class _Slots(dict[str, str]):
    """Fills `{slot}` on first use, so one fix uses one pod name everywhere."""

    def __init__(self, rng: random.Random, system: str):
        super().__init__()
        self.rng = rng
        self.system = system

    def __missing__(self, key: str) -> str:
        if key == "pod":
            value = f"{self['svc']}-{''.join(self.rng.choices(_K8S, k=10))}-{''.join(self.rng.choices(_K8S, k=5))}"
        elif key == "System":
            value = _pick(c.SYSTEM_WORDS[self.system])(self.rng)
        else:
            value = _SLOTS[key](self.rng)
        self[key] = value
        return value


@dataclass(frozen=True)
class Parts:
    """What fix `i` was made of, so a query can say the same problem differently."""

    mode: c.Mode
    symptom: int
    slots: _Slots


def _rng(seed: int, i: int, salt: int = 0) -> random.Random:
    return random.Random((seed * 0x9E3779B1 + i) * 4 + salt)


def _choice(rng: random.Random, seq: tuple[str, ...]) -> str:
    return seq[int(rng.random() * len(seq))]


def _sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    first = text.split(" ", 1)[0]
    if first.isalpha() and first.islower():  # leave commands and identifiers as typed
        text = text[0].upper() + text[1:]
    return text + ("" if text[-1] in ".!?;'\"" else ".")


def _compose(seed: int, i: int) -> tuple[dict[str, Any], Parts]:
    rng = _rng(seed, i)
    mode = c.MODES[int(rng.random() * len(c.MODES))]
    s = _Slots(rng, mode.system)
    sym = int(rng.random() * len(mode.symptoms))
    lead = _choice(rng, c.ISSUE_LEADS).format_map(s)
    issue = lead + mode.symptoms[sym].format_map(s)
    errs = [_choice(rng, mode.errors)]
    if rng.random() < 0.35:
        errs.append(_choice(rng, mode.errors))
    sep = _choice(rng, ("\n", " - ", ". Log: ", "\nError: "))
    issue += sep + " | ".join(dict.fromkeys(e.format_map(s) for e in errs))
    cause = _choice(rng, mode.causes).format_map(s)
    steps = [_choice(rng, mode.fixes)]
    if rng.random() < 0.4:
        steps.append(_choice(rng, mode.fixes))
    remedy = "; then ".join(dict.fromkeys(x.format_map(s) for x in steps))
    outcome = _choice(rng, c.OUTCOMES).format_map(s)
    solution = " ".join(
        x
        for x in (
            _sentence(_choice(rng, c.CAUSE_LEADS) + cause),
            _sentence(_choice(rng, c.FIX_LEADS) + remedy),
            outcome,
        )
        if x
    )
    success = rng.random() < 0.82
    item = {
        "issue": issue,
        "solution": solution,
        "success": success,
        "agent": _choice(rng, c.AGENTS),
        "service": s["svc"],
        "namespace": s["ns"],
        "severity": s["sev"],
        "root_cause": f"{mode.system}/{mode.name}: {cause}",
        "tags": [mode.system, mode.name],
    }
    return item, Parts(mode, sym, s)


def fix(i: int, seed: int = 0) -> dict[str, Any]:
    """Fix number `i` as keyword arguments for Memory.remember / an item for remember_many."""
    return _compose(seed, i)[0]


def fixes(n: int, seed: int = 0, start: int = 0) -> Iterator[dict[str, Any]]:
    """Fixes start..start+n, one at a time (1M fits in a stream, not in a list)."""
    for i in range(start, start + n):
        yield _compose(seed, i)[0]


def query_for(i: int, seed: int = 0) -> str:
    """An agent's question about fix `i`'s problem, in other words than the fix uses."""
    _, parts = _compose(seed, i)
    rng = _rng(seed, i, salt=1)
    mode, s = parts.mode, parts.slots
    others = [k for k in range(len(mode.symptoms)) if k != parts.symptom] or [parts.symptom]
    sym = mode.symptoms[others[int(rng.random() * len(others))]].format_map(s)
    text = _choice(rng, c.QUERY_LEADS).format_map(s) + sym
    roll = rng.random()
    if roll < 0.45:  # paste part of the error line, as agents do
        err = _choice(rng, mode.errors).format_map(s)
        words = err.split()
        text += " " + " ".join(words[: max(4, int(len(words) * (0.4 + 0.6 * rng.random())))])
    elif roll < 0.7:
        text += f" in {s['env']} ({_choice(rng, c.SYSTEM_WORDS[mode.system])})"
    return text


@dataclass(frozen=True)
class Query:
    text: str
    target: int  # the index of the fix it paraphrases


def queries(n: int, corpus_size: int, seed: int = 0) -> list[Query]:
    """`n` queries about fixes drawn uniformly from the first `corpus_size`; distinct texts."""
    rng = random.Random(seed * 7919 + 17)
    out: list[Query] = []
    seen: set[str] = set()
    attempts = 0
    while len(out) < n and attempts < n * 20:
        attempts += 1
        target = rng.randrange(corpus_size)
        text = query_for(target, seed)
        if text not in seen:  # an embedder cache hit would flatter latency
            seen.add(text)
            out.append(Query(text, target))
    return out


def main() -> None:
    """`python -m bench.generate N` prints N fixes as JSON lines (for eyeballing)."""
    import json
    import sys

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    for i, item in enumerate(fixes(n)):
        print(json.dumps({**item, "query": query_for(i)}, ensure_ascii=False))


if __name__ == "__main__":
    main()
