"""Which stores served a read, and what could not be shown: the `served_by` / `degraded` of an answer.

Memory's read methods keep their plain return types (lists, dicts, Fix), so the
provenance travels beside them: inside `with served.trace() as t:` every read
notes the stores that answered and the ones it had to skip, and the caller (the
JSON API, the pages) turns the trace into `served_by`, `degraded` and a reason.
Outside a trace the notes go nowhere, at no cost.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

_CURRENT: contextvars.ContextVar[ReadTrace | None] = contextvars.ContextVar(
    "obsmem_read_trace", default=None
)


@dataclass
class ReadTrace:
    """What one request's reads met."""

    served: list[str] = field(default_factory=list)
    missing: dict[str, str] = field(default_factory=dict)  # store -> why it was skipped
    unavailable: dict[str, dict[str, Any]] = field(default_factory=dict)  # what -> details
    started: float = field(default_factory=time.monotonic)

    @property
    def served_by(self) -> list[str]:
        return [s for s in self.served if s not in self.missing]

    @property
    def degraded(self) -> bool:
        return bool(self.missing or self.unavailable)

    @property
    def reason(self) -> str | None:
        """One line for a banner: which store is out and what that hides."""
        if not self.degraded:
            return None
        parts = [f"the {store} store is unavailable ({why})" for store, why in self.missing.items()]
        for what, info in self.unavailable.items():
            parts.append(f"{what}: {info.get('message', 'unavailable')}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"served_by": self.served_by, "degraded": self.degraded}
        if self.degraded:
            out["degraded_reason"] = self.reason
            out["unavailable"] = {
                **{s: {"message": w} for s, w in self.missing.items()},
                **self.unavailable,
            }
        return out


@contextlib.contextmanager
def trace() -> Iterator[ReadTrace]:
    """Collect the provenance of the reads made inside the block (per thread / context)."""
    current = ReadTrace()
    token = _CURRENT.set(current)
    try:
        yield current
    finally:
        _CURRENT.reset(token)


def start() -> tuple[ReadTrace, contextvars.Token[ReadTrace | None]]:
    """Open a trace without a with-block (request hooks); close it with `stop(token)`."""
    current = ReadTrace()
    return current, _CURRENT.set(current)


def stop(token: contextvars.Token[ReadTrace | None]) -> None:
    with contextlib.suppress(ValueError):  # reset from another context: nothing to undo
        _CURRENT.reset(token)


def current() -> ReadTrace | None:
    return _CURRENT.get()


def served(store: str) -> None:
    t = _CURRENT.get()
    if t is not None and store not in t.served:
        t.served.append(store)


def missing(store: str, exc: BaseException | str) -> None:
    t = _CURRENT.get()
    if t is not None:
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}"
        t.missing.setdefault(store, text.splitlines()[0][:200] if text else store)


def unavailable(what: str, **info: Any) -> None:
    t = _CURRENT.get()
    if t is not None:
        t.unavailable[what] = info
