"""The nouns of obsmem (Fix, Agent, RecallHit, ...) and validation of what callers send.

Every write carries a stable id so that a replay from the outbox is idempotent:
the fix id (deterministic from the normalised text, so duplicates merge) and an
event id per call (so a replayed call never counts twice).
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

MAX_ISSUE_CHARS = 20_000
MAX_SOLUTION_CHARS = 100_000
MAX_NAME_CHARS = 200
MAX_TAGS = 32
MAX_METADATA_BYTES = 64_000
MAX_METADATA_DEPTH = 8
MAX_QUERY_CHARS = 10_000
MAX_K = 100
MAX_LIMIT = 1000
MAX_OFFSET = 10_000_000

_WS = re.compile(r"\s+")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,199}$")
_CONTROL = {c for c in map(chr, range(32)) if c not in "\t\n\r"}


class ValidationError(ValueError):
    """Bad input: `field` names what was wrong, so an API can say 400 with the field."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


def now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)


def ms_to_iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def iso_to_ms(value: str, field: str = "since") -> int:
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        raise ValidationError(field, f"{value!r} is not an ISO-8601 time") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def new_event_id() -> str:
    return uuid.uuid4().hex


def normalise_text(text: str) -> str:
    """What counts as "the same text" for dedup: NFKC, case-folded, whitespace collapsed."""
    return _WS.sub(" ", unicodedata.normalize("NFKC", text)).strip().casefold()


def fix_id_for(issue: str, solution: str) -> str:
    digest = hashlib.sha256(
        (normalise_text(issue) + "\x1f" + normalise_text(solution)).encode("utf-8")
    )
    return "fix_" + digest.hexdigest()[:24]


def issue_signature(issue: str) -> str:
    """Groups fixes of the same problem: the issue text without volatile tokens."""
    text = normalise_text(issue)
    text = re.sub(r"\b[0-9a-f]{8,}\b", "#", text)  # hashes, pod suffixes
    text = re.sub(r"\d+(\.\d+)*", "#", text)  # numbers, versions, ips
    text = re.sub(r"[^\w# ]+", " ", text)
    text = _WS.sub(" ", text).strip()
    return "sig_" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


# ---------------------------------------------------------------- validation


def clean_text(value: Any, field: str, *, max_chars: int, required: bool = True) -> str | None:
    """Strings only; NUL and other control characters are refused, not silently dropped."""
    if value is None:
        if required:
            raise ValidationError(field, "is required")
        return None
    if not isinstance(value, str):
        raise ValidationError(field, f"must be a string, not {type(value).__name__}")
    if any(ch in _CONTROL for ch in value):
        raise ValidationError(field, "contains control characters (NUL, escape, ...)")
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in value):
        raise ValidationError(field, "contains unpaired surrogates (not valid unicode)")
    if required and not value.strip():
        raise ValidationError(field, "must not be empty")
    if len(value) > max_chars:
        raise ValidationError(field, f"is {len(value)} characters; the limit is {max_chars}")
    return value


def clean_name(value: Any, field: str, *, required: bool = False) -> str | None:
    text = clean_text(value, field, max_chars=MAX_NAME_CHARS, required=required)
    if text is None:
        return None
    text = text.strip()
    if not text:
        if required:
            raise ValidationError(field, "must not be empty")
        return None
    if "\n" in text or "\r" in text or "\t" in text:
        raise ValidationError(field, "must be a single line")
    return text


def clean_fix_id(value: Any, field: str = "id") -> str:
    if not isinstance(value, str) or not _ID_RE.match(value):
        raise ValidationError(
            field, "must be 1-200 characters of letters, digits and _ . : / @ -"
        )
    return value


def clean_bool(value: Any, field: str, *, required: bool = False) -> bool | None:
    if value is None and not required:
        return None
    if not isinstance(value, bool):
        raise ValidationError(field, "must be true or false")
    return value


def clean_confidence(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValidationError("confidence", "must be a number between 0 and 1")
    value = float(value)
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise ValidationError("confidence", "must be a number between 0 and 1")
    return value


def clean_int(value: Any, field: str, *, default: int, lo: int, hi: int) -> int:
    if value is None:
        return default
    if isinstance(value, str):
        try:
            value = int(value.strip(), 10)
        except ValueError:
            raise ValidationError(field, "must be a whole number") from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, "must be a whole number")
    if not lo <= value <= hi:
        raise ValidationError(field, f"must be between {lo} and {hi}")
    return value


def clean_tags(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list | tuple):
        raise ValidationError("tags", "must be a list of strings")
    if len(value) > MAX_TAGS:
        raise ValidationError("tags", f"at most {MAX_TAGS} tags")
    tags = [clean_name(t, "tags", required=True) for t in value]
    return tuple(dict.fromkeys(t for t in tags if t))


def clean_metadata(value: Any) -> dict[str, Any]:
    """JSON objects only, bounded in depth and size, strings free of NUL/surrogates."""
    import json

    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ValidationError("metadata", "must be a JSON object")

    def walk(node: Any, depth: int) -> None:
        if depth > MAX_METADATA_DEPTH:
            raise ValidationError("metadata", f"nested deeper than {MAX_METADATA_DEPTH} levels")
        if isinstance(node, dict):
            for k, v in node.items():
                if not isinstance(k, str):
                    raise ValidationError("metadata", "keys must be strings")
                walk(k, depth + 1)
                walk(v, depth + 1)
        elif isinstance(node, list):
            for v in node:
                walk(v, depth + 1)
        elif isinstance(node, str):
            if "\x00" in node or any(0xD800 <= ord(c) <= 0xDFFF for c in node):
                raise ValidationError("metadata", "strings must not contain NUL or surrogates")
        elif isinstance(node, float):
            if not math.isfinite(node):
                raise ValidationError("metadata", "numbers must be finite (no NaN/inf)")
        elif node is not None and not isinstance(node, bool | int):
            raise ValidationError("metadata", f"unsupported value of type {type(node).__name__}")

    walk(value, 0)
    size = len(json.dumps(value, ensure_ascii=False).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        raise ValidationError("metadata", f"is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}")
    return value


# ---------------------------------------------------------------- records


@dataclass(frozen=True)
class FixWrite:
    """One `remember` call as both stores receive it (and as the outbox keeps it)."""

    id: str
    event_id: str
    issue: str
    solution: str
    signature: str
    ts: int  # epoch ms of this occurrence
    success: bool | None = None
    agent: str | None = None
    service: str | None = None
    namespace: str | None = None
    severity: str | None = None
    root_cause: str | None = None
    confidence: float | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tags"] = list(self.tags)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FixWrite:
        """Keys starting with "_" ride along in outbox payloads (e.g. a precomputed embedding)."""
        fields = {k: v for k, v in d.items() if not k.startswith("_")}
        return cls(**{**fields, "tags": tuple(fields.get("tags") or ())})


@dataclass(frozen=True)
class Outcome:
    """One report that a fix worked or not (feedback); `event_id` makes replays count once."""

    event_id: str
    fix_id: str
    success: bool
    ts: int
    agent: str | None = None
    # A changed vote: the event id of this voter's previous, opposite outcome. Stores
    # undo that one while counting this one (still once per event id).
    replaces: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AgentWrite:
    name: str
    ts: int
    server: str | None = None
    status: str = "active"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Fix:
    """A fix as read back: text, filter attributes and the evidence recall ranks with."""

    id: str
    issue: str
    solution: str
    ts: int  # first seen, epoch ms
    last_seen: int | None = None
    success: bool | None = None  # latest reported outcome
    agent: str | None = None
    service: str | None = None
    namespace: str | None = None
    severity: str | None = None
    root_cause: str | None = None
    confidence: float | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] = field(default_factory=dict)
    signature: str | None = None
    occurrences: int = 1
    successes: int = 0
    failures: int = 0
    agents_count: int = 0

    @property
    def success_rate(self) -> float | None:
        n = self.successes + self.failures
        return self.successes / n if n else None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tags"] = list(self.tags)
        d["created_at"] = ms_to_iso(self.ts)
        d["last_seen_at"] = ms_to_iso(self.last_seen)
        d["success_rate"] = self.success_rate
        return d


@dataclass(frozen=True)
class Agent:
    name: str
    server: str | None
    status: str  # active / stale / inactive, derived from last_seen age
    last_seen: int | None
    registered_at: int | None = None
    fixes_applied: int = 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["last_seen_at"] = ms_to_iso(self.last_seen)
        d["registered_at_iso"] = ms_to_iso(self.registered_at)
        return d


@dataclass(frozen=True)
class FixFilter:
    service: str | None = None
    agent: str | None = None
    success: bool | None = None
    since_ms: int | None = None
    until_ms: int | None = None
    root_cause: str | None = None


@dataclass(frozen=True)
class IssueGroup:
    """Fixes of one issue signature, for `find_similar_issues`."""

    signature: str
    issue: str
    occurrence_count: int
    fixes: int
    success_rate: float | None
    score: float
    fix_ids: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["fix_ids"] = list(self.fix_ids)
        return d


@dataclass(frozen=True)
class RecallHit:
    fix: Fix
    score: float
    why: dict[str, float]  # the parts of the score, e.g. {"vector": .., "keyword": .., "success": ..}

    def to_dict(self) -> dict[str, Any]:
        return {"fix": self.fix.to_dict(), "score": self.score, "why": self.why}


@dataclass
class RecallResult(list[RecallHit]):  # type: ignore[misc]
    """A list of hits that also says who answered (a plain list for old callers)."""

    served_by: tuple[str, ...] = ()
    degraded: bool = False
    timings_ms: dict[str, float] = field(default_factory=dict)

    def __init__(self, hits=(), served_by=(), degraded=False, timings_ms=None):
        list.__init__(self, hits)
        self.served_by = tuple(served_by)
        self.degraded = degraded
        self.timings_ms = dict(timings_ms or {})

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": [h.to_dict() for h in self],
            "served_by": list(self.served_by),
            "degraded": self.degraded,
            "timings_ms": self.timings_ms,
        }


@dataclass(frozen=True)
class RememberResult:
    id: str
    stored_in: tuple[str, ...]  # stores that took the write now
    pending: tuple[str, ...]  # stores whose copy waits in the outbox
    duplicate_of: str | None = None  # the existing fix this merged into
    redacted: tuple[str, ...] = ()  # kinds of secret removed from the text

    def to_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}


@dataclass(frozen=True)
class StoreHealth:
    name: str  # "graph" / "vectors"
    backend: str  # falkordb / neo4j / postgres
    ok: bool
    latency_ms: float | None = None
    error: str | None = None
    embedded: bool = False
    restarts: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
