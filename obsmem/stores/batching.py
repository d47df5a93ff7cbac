"""Rounds: split a write batch so no key repeats within one statement.

Both stores need it: Postgres refuses one INSERT ... ON CONFLICT that touches a
row twice, and FalkorDB evaluates an UNWIND batch against the state before the
batch. A repeated (key, event id) is dropped: it could only count once anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from typing import TypeVar

T = TypeVar("T")


def rounds(
    items: Iterable[T], key: Callable[[T], Hashable], event: Callable[[T], Hashable]
) -> list[list[T]]:
    """Items in rounds where each key appears at most once; order per key is kept."""
    out: list[list[T]] = []
    depth: dict[Hashable, int] = {}
    seen: set[tuple[Hashable, Hashable]] = set()
    for item in items:
        k = key(item)
        ev = (k, event(item))
        if ev in seen:
            continue
        seen.add(ev)
        n = depth.get(k, 0)
        depth[k] = n + 1
        if n == len(out):
            out.append([])
        out[n].append(item)
    return out
