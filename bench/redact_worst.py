"""Worst-case redaction time: every rule against pathological inputs of 1 MB.

A backtracking rule turns one pasted log into a request that holds the GIL for
minutes (issue 18: `'x-' * 50000` took 47 s). This feeds each rule inputs built
from its own trigger words repeated with the characters its patterns scan, plus
shapes that hurt regexes in general, and prints the slowest. Run:

    .venv/bin/python -m bench.redact_worst [--size 1000000] [--top 15]

`tests/test_redact.py` uses `pathological_inputs` with a one-second bound.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

from obsmem.redact import _RULES, _Rule, redact

_GENERIC = [
    "a", "a-", "x-", "a:", "a=", "a.", "a ", "a\n", " ", "-", "=", ":", "://", "://a:",
    "@", '"', "'", "{", '"data": {', "data:\n  a: b\n", "data:\n ", "eyJ", "eyJaaaaaaaaa.",
    "-----BEGIN RSA PRIVATE KEY-----", "-----BEGIN PRIVATE KEY-----\nAAAA",
    "PuTTY-User-Key-File-2:", "password=\"", "password: 'a", "mysql -u a ", "docker login -u a ",
    "--password", "--password ", "-u a:", "sk-", "sk-proj-", "T3BlbkFJ", "xoxb-", "aws_",
    "aws_secret=", "authorization: bearer ", "bearer ", "?sig=", "x-api-key:", "a_key=\"",
    "AKIA", "dckr_pat_", "hvs.", "pypi-AgE", "_pass=", "DB_PASSWORD=", "A1B2c3",
]  # fmt: skip
_SHAPES = ("{t}", "{t}a", "{t}-", "{t}=", "{t} ", "{t}:", '{t}"', "{t}.", "{t}aaaaaaaa.")


def pathological_inputs(rule: _Rule, size: int = 1_000_000) -> Iterator[tuple[str, str]]:
    """(label, text) pairs of about `size` characters that stress `rule`."""
    seen: set[str] = set()
    for seed in [*rule.triggers, *_GENERIC]:
        units = [shape.format(t=seed) for shape in _SHAPES]
        for unit in units:
            if unit in seen or not _runs(rule, unit):
                continue  # redact() skips a rule whose triggers are absent
            seen.add(unit)
            yield f"{unit!r} * n", unit * (size // len(unit))
        if _runs(rule, seed):
            yield f"{seed!r} + 'a' * n", seed + "a" * (size - len(seed))
            yield f"{seed!r} * n + ' =x'", seed * (size // len(seed)) + " =x"


def _runs(rule: _Rule, text: str) -> bool:
    haystack = text.lower() if rule.lower else text
    return not rule.triggers or any(t in haystack for t in rule.triggers)


def mixed_input(rule: _Rule, size: int = 1_000_000) -> str:
    """All of `rule`'s pathological shapes in one text of `size` characters.

    Each shape gets a segment of its own; a rule that is quadratic on any of them takes
    seconds on its segment alone (issue 18: 20k characters already cost up to 1 s)."""
    inputs = list(pathological_inputs(rule, size))
    if not inputs:
        return ""
    share = size // len(inputs)
    return "\n".join(text[:share] for _, text in inputs)


def time_rule(rule: _Rule, text: str) -> float:
    """CPU seconds one rule spends on `text` (CPU, not wall: the box is shared)."""
    low = text.lower()
    start = time.thread_time()
    for _ in rule.spans(text, low):
        pass
    return time.thread_time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1_000_000)
    ap.add_argument("--top", type=int, default=15)
    args = ap.parse_args()
    rows: list[tuple[float, int, str, str]] = []
    t0 = time.perf_counter()
    for i, rule in enumerate(_RULES):
        for label, text in pathological_inputs(rule, args.size):
            rows.append((time_rule(rule, text), i, rule.kind, label))
    rows.sort(reverse=True)
    print(
        f"{len(rows)} (rule, input) pairs of {args.size:,} chars in {time.perf_counter() - t0:.1f} s"
    )
    print("| CPU ms | rule # | kind | input |\n|---|---|---|---|")
    for sec, i, kind, label in rows[: args.top]:
        print(f"| {sec * 1000:.1f} | {i} | {kind} | `{label[:60]}` |")
    whole = [("'x-' * n", "x-" * (args.size // 2)), ("mixed", _mixed(args.size))]
    for label, text in whole:
        start = time.thread_time()
        redact(text)
        print(f"redact() whole, {label}: {(time.thread_time() - start) * 1000:.1f} ms CPU")


def _mixed(size: int) -> str:
    unit = "x-api-key: password=hunter2 eyJhbGciOi.a -----BEGIN PRIVATE KEY----- mysql -pX "
    return (unit * (size // len(unit) + 1))[:size]


if __name__ == "__main__":
    main()
