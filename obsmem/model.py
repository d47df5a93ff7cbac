"""The nouns of obsmem (Fix, Agent, RecallHit, ...) and validation of what callers send.

Every write carries a stable id so that a replay from the outbox is idempotent:
the fix id (deterministic from the normalised text, so duplicates merge) and an
event id per call (so a replayed call never counts twice).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any

from obsmem.errors import ValidationError as ValidationError  # re-exported: old import path

MAX_ISSUE_CHARS = 20_000
MAX_SOLUTION_CHARS = 100_000
MAX_NAME_CHARS = 200
MAX_ROOT_CAUSE_CHARS = 2000
MAX_TAGS = 32
MAX_METADATA_BYTES = 64_000
MAX_METADATA_DEPTH = 8
MAX_QUERY_CHARS = 10_000
MAX_K = 100
MAX_LIMIT = 1000
MAX_OFFSET = 10_000_000
RECENT_EVENTS = 32  # event ids kept per fix (both stores) to recognise a replay

_WS = re.compile(r"\s+")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:/@-]{0,199}$")
_CONTROL = {c for c in map(chr, range(32)) if c not in "\t\n\r"}


def now_ms() -> int:
    """The clock of every stored timestamp: epoch milliseconds, UTC (the one "now" helper)."""
    return int(datetime.now(UTC).timestamp() * 1000)


def now_iso() -> str:
    """Now as the API speaks it: ISO-8601 UTC with a Z."""
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def to_ms(value: Any) -> int | None:
    """Epoch ms from what a store hands back: ms already (graph) or a datetime (Postgres)."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return int(value.timestamp() * 1000)
    return int(value)


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


_IDEMPOTENCY_NS = uuid.UUID("5b0f6a52-3c7e-4f0e-9a51-0b5d1c2e7a10")
MAX_IDEMPOTENCY_KEY = 200


def clean_idempotency_key(value: Any, field: str = "idempotency_key") -> str | None:
    """A client's retry key: 1..200 printable characters, or None."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(field, "must be a non-empty string")
    value = value.strip()
    if len(value) > MAX_IDEMPOTENCY_KEY or not value.isprintable():
        raise ValidationError(field, f"must be at most {MAX_IDEMPOTENCY_KEY} printable characters")
    return str(value)


def event_id_for(key: str | None, kind: str) -> str:
    """The write's event id: derived from the client's idempotency key when it sent one.

    Both stores already count an event id once (graph: the fix's recent events and the
    APPLIED edge; Postgres: recent_events), so a retried write with the same key lands
    on the same event id and counts once, however many times it is sent or replayed.
    """
    if key is None:
        return new_event_id()
    return uuid.uuid5(_IDEMPOTENCY_NS, f"{kind}\x00{key}").hex


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
        raise ValidationError(field, "must be 1-200 characters of letters, digits and _ . : / @ -")
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
    return float(value)


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
        raise ValidationError(
            "metadata", f"is {size} bytes as JSON; the limit is {MAX_METADATA_BYTES}"
        )
    return value


# ---------------------------------------------------------------- the fix record

_NAME_SCHEMA: dict[str, Any] = {"type": "string", "maxLength": MAX_NAME_CHARS}

# What a caller may send to `remember`, each with the JSON schema of its value. The API's
# accepted keys, its OpenAPI body, the agent helper's fields and the export fields derive
# from this and from `Fix`, so a field is added (or a limit changed) here and only here.
REMEMBER_FIELDS: dict[str, dict[str, Any]] = {
    "issue": {"type": "string", "maxLength": MAX_ISSUE_CHARS},
    "solution": {"type": "string", "maxLength": MAX_SOLUTION_CHARS},
    "success": {"type": ["boolean", "null"]},
    "agent": _NAME_SCHEMA,
    "service": _NAME_SCHEMA,
    "namespace": _NAME_SCHEMA,
    "severity": _NAME_SCHEMA,
    "root_cause": {"type": "string", "maxLength": MAX_ROOT_CAUSE_CHARS},
    "confidence": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
    "tags": {"type": "array", "items": _NAME_SCHEMA, "maxItems": MAX_TAGS},
    "metadata": {"type": "object"},
    "id": {"type": "string", "pattern": _ID_RE.pattern},
}
REMEMBER_REQUIRED = ("issue", "solution")
# The optional attributes of a fix (what an agent may put beside issue and solution).
FIX_ATTRIBUTES = tuple(
    k for k in REMEMBER_FIELDS if k not in {*REMEMBER_REQUIRED, "metadata", "id"}
)


def remember_schema() -> dict[str, Any]:
    """The JSON schema of a `remember` body (the API's OpenAPI document uses it)."""
    return {
        "type": "object",
        "required": list(REMEMBER_REQUIRED),
        "additionalProperties": False,
        "properties": {k: dict(v) for k, v in REMEMBER_FIELDS.items()},
    }


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
    def from_fix(cls, fix: Fix, event_id: str) -> FixWrite:
        """A fix as read back, written again under `event_id` (reconcile's re-embed)."""
        return cls(
            id=fix.id, event_id=event_id, issue=fix.issue, solution=fix.solution,
            signature=fix.signature or "", ts=fix.ts, success=fix.success, agent=fix.agent,
            service=fix.service, namespace=fix.namespace, severity=fix.severity,
            root_cause=fix.root_cause, confidence=fix.confidence, tags=fix.tags,
            metadata=fix.metadata,
        )  # fmt: skip

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

    @classmethod
    def from_record(cls, rec: Mapping[str, Any], agents_count: int = 0) -> Fix:
        """The one way a store's record becomes a Fix: graph node properties (epoch ms,
        metadata as JSON text) or a Postgres row (datetimes, jsonb); unknown keys are ignored."""
        metadata = rec.get("metadata") or {}
        if metadata == "{}":  # most fixes (the graph keeps metadata as JSON text): no parse
            metadata = {}
        elif isinstance(metadata, str | bytes):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                metadata = {}
        conf = rec.get("confidence")
        ts = rec["ts"] if rec.get("ts") is not None else rec.get("created_at")
        return cls(
            id=rec["id"],
            issue=rec.get("issue") or "",
            solution=rec.get("solution") or "",
            ts=to_ms(ts) or 0,
            last_seen=to_ms(rec.get("last_seen")),
            success=rec.get("success"),
            agent=rec.get("agent"),
            service=rec.get("service"),
            namespace=rec.get("namespace"),
            severity=rec.get("severity"),
            root_cause=rec.get("root_cause"),
            confidence=float(conf) if conf is not None else None,
            tags=tuple(rec.get("tags") or ()),
            metadata=metadata if isinstance(metadata, dict) else {},
            signature=rec.get("signature"),
            occurrences=int(rec.get("occurrences") or 0),
            successes=int(rec.get("successes") or 0),
            failures=int(rec.get("failures") or 0),
            agents_count=int(agents_count or 0),
        )

    def to_dict(self) -> dict[str, Any]:
        # Field by field rather than dataclasses.asdict, which walks every value through
        # its generic recursion: a recall answer serialises 5-30 fixes, and asdict was
        # most of the HTTP layer's own CPU time (same keys, order and copies).
        d = {name: getattr(self, name) for name in _FIX_NAMES}
        d["tags"] = list(self.tags)
        d["metadata"] = _json_copy(self.metadata)
        d["created_at"] = ms_to_iso(self.ts)
        d["last_seen_at"] = ms_to_iso(self.last_seen)
        d["success_rate"] = self.success_rate
        return d


def _json_copy(value: Any) -> Any:
    """A deep copy of JSON-shaped data (what asdict made of metadata), without copy.deepcopy."""
    if isinstance(value, dict):
        return {k: _json_copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_json_copy(v) for v in value)
    return value


_FIX_NAMES = tuple(f.name for f in fields(Fix))
# Export/import carries every stored attribute of a fix (agents_count is derived on read).
FIX_FIELDS = tuple(f.name for f in fields(Fix) if f.name != "agents_count")


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
    """One recalled fix. `score` orders hits; `relevance` is what to act on.

    `relevance` is a calibrated, absolute estimate (0..1) that the fix addresses
    the query, the same scale for every query (see obsmem/recall.py); `below_bar`
    marks a hit under the result's `min_relevance`: returned so a person can look,
    not to be applied.
    """

    fix: Fix
    score: float
    why: dict[
        str, float
    ]  # the parts of the score, e.g. {"vector": .., "keyword": .., "success": ..}
    relevance: float | None = None
    below_bar: bool = False

    def marked(self, min_relevance: float) -> RecallHit:
        """This hit with `below_bar` set against the given bar."""
        below = self.relevance is None or self.relevance < min_relevance
        return self if below == self.below_bar else replace(self, below_bar=below)

    def to_dict(self) -> dict[str, Any]:
        return {
            "fix": self.fix.to_dict(),
            "score": self.score,
            "relevance": self.relevance,
            "below_bar": self.below_bar,
            "why": self.why,
        }


class RecallResult(list[RecallHit]):
    """A list of hits that also says who answered (a plain list for old callers).

    `no_match` is true when no hit reaches `min_relevance`: "nothing I know
    matches", with the closest hits still in the list, marked `below_bar`.
    Not a dataclass: a dataclass `==`/`repr` would compare and show only the
    extra fields and ignore the hits themselves.
    """

    def __init__(
        self,
        hits: Iterable[RecallHit] = (),
        served_by: Iterable[str] = (),
        degraded: bool = False,
        timings_ms: dict[str, float] | None = None,
        min_relevance: float | None = None,
    ) -> None:
        list.__init__(self, hits)
        self.served_by: tuple[str, ...] = tuple(served_by)
        self.degraded = degraded
        self.timings_ms: dict[str, float] = dict(timings_ms or {})
        self.min_relevance = min_relevance

    @property
    def no_match(self) -> bool:
        """No hit reaches the bar (an empty result is no match too)."""
        return not any(not h.below_bar for h in self)

    @property
    def matches(self) -> list[RecallHit]:
        """The hits at or above the bar, best first."""
        return [h for h in self if not h.below_bar]

    def _key(self) -> tuple[Any, ...]:
        return (list(self), self.served_by, self.degraded, self.min_relevance)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RecallResult):
            return self._key() == other._key()
        return list.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None  # mutable, like list

    def __repr__(self) -> str:
        return (
            f"RecallResult({list.__repr__(self)}, served_by={self.served_by!r}, "
            f"degraded={self.degraded!r}, no_match={self.no_match!r}, "
            f"min_relevance={self.min_relevance!r})"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "hits": [h.to_dict() for h in self],
            "no_match": self.no_match,
            "min_relevance": self.min_relevance,
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
    # up / slow (answers, but slower than SLOW_PING_MS) / down (refused) / hanging (timed out)
    state: str = "up"
    since: str | None = None  # ISO time the current outage began
    last_error: str | None = None  # the latest outage error, kept after recovery
    last_error_at: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _total(value: Any) -> float:
    if isinstance(value, Mapping):
        return sum(float(v or 0) for v in value.values())
    return float(value or 0)


def health_status(stores_ok: Sequence[bool], outbox: Mapping[str, Any]) -> str:
    """healthy: every store up and nothing queued or dead-lettered; degraded: some store up
    (writes queue, reads fall back); unhealthy: none up. The one place this is decided."""
    if not stores_ok:
        return "unhealthy"
    backlog = _total(outbox.get("depth")) + _total(outbox.get("dead_letters"))
    if all(stores_ok) and not backlog:
        return "healthy"
    return "degraded" if any(stores_ok) else "unhealthy"
