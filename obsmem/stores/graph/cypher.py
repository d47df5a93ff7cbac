"""The Cypher both backends run, and the pure helpers that shape rows for it.

Every statement here is a constant: user values only ever travel as parameters.
Backends differ only in DDL and in how a full-text index is called; they pass
their `FT_CALL` (a constant) to `text_statements` once, at construction.

FalkorDB evaluates the SET expressions of one UNWIND batch against the state
before the batch (no read-your-writes inside a query), so a batch is split in
`rounds` where every fix id appears at most once; agents are folded to one row
per name before they are written.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from obsmem.model import RECENT_EVENTS, Agent, AgentWrite, Fix, FixWrite, Outcome
from obsmem.stores import batching
from obsmem.text import query_terms

MAX_TAGS_PER_FIX = 64
ACTIVE_MS = 5 * 60 * 1000  # agent seen within 5 min: active
STALE_MS = 60 * 60 * 1000  # within an hour: stale; older: inactive
MAX_SEARCH_TERMS = 64
FT_CANDIDATES = 500  # full-text hits considered before grouping/filtering

LABELS = ("Fix", "Agent", "Issue", "Service")
REL_TYPES = ("APPLIED", "RESOLVES", "AFFECTS")
INTERNAL_FIX_PROPS = frozenset({"recent_events", "success_ts"})

# ---------------------------------------------------------------- writes

UPSERT_AGENTS = """
UNWIND $rows AS r
MERGE (a:Agent {name: r.name})
ON CREATE SET a.registered_at = r.ts, a.last_seen = r.ts, a.server = r.server, a.status = r.status
WITH a, r, r.ts >= coalesce(a.last_seen, 0) AS newer
SET a.last_seen = CASE WHEN newer THEN r.ts ELSE a.last_seen END,
    a.server = CASE WHEN newer AND r.server IS NOT NULL THEN r.server ELSE a.server END,
    a.status = CASE WHEN newer AND r.status IS NOT NULL THEN r.status ELSE a.status END,
    a.registered_at = CASE WHEN a.registered_at IS NULL OR r.ts < a.registered_at
                           THEN r.ts ELSE a.registered_at END
RETURN count(*) AS n
"""

# An event is new when the fix has not recorded its id in the recent list; events
# already present as an APPLIED edge (which outlives the list) are dropped before
# the batch by KNOWN_EVENTS. A pattern comprehension here gave wrong answers on
# FalkorDB 4.x after many edges (measured: a replay counted twice).
_FRESH = "(NOT r.event_id IN coalesce(f.recent_events, []))"

KNOWN_EVENTS = """
UNWIND $rows AS r
MATCH (:Fix {id: r.fix})<-[e:APPLIED {event_id: r.event_id}]-(:Agent)
RETURN DISTINCT e.event_id AS event_id
"""

# Edges go in a second statement of the same batch; the counters run first, so
# the edge never hides a new event. Every write ends in RETURN: FalkorDB 4.x
# mis-evaluated the freshness check of UPSERT_FIXES when the query had no
# RETURN (measured: a replayed event counted twice).
_APPLIED = """
FOREACH (_ IN CASE WHEN r.agent IS NULL THEN [] ELSE [1] END |
  MERGE (a:Agent {name: r.agent})
  MERGE (a)-[e:APPLIED {event_id: r.event_id}]->(f)
  ON CREATE SET e.ts = r.ts, e.success = r.success
)
"""

UPSERT_FIXES = (
    """
UNWIND $rows AS r
MERGE (f:Fix {id: r.id})
ON CREATE SET f.issue = r.issue, f.solution = r.solution, f.signature = r.signature,
  f.ts = r.ts, f.last_seen = r.ts, f.occurrences = 0, f.successes = 0, f.failures = 0,
  f.recent_events = [], f.agent = r.agent, f.service = r.service, f.namespace = r.namespace,
  f.tags = [], f.metadata = '{}'
WITH f, r, """
    + _FRESH
    + """ AS fresh
WITH f, r, fresh,
  fresh AND r.ts >= coalesce(f.last_seen, 0) AS newest,
  fresh AND r.success IS NOT NULL AND r.ts >= coalesce(f.success_ts, 0) AS outcome_newest
SET f.occurrences = f.occurrences + CASE WHEN fresh THEN 1 ELSE 0 END,
    f.successes = f.successes + CASE WHEN fresh AND r.success = true THEN 1 ELSE 0 END,
    f.failures = f.failures + CASE WHEN fresh AND r.success = false THEN 1 ELSE 0 END,
    f.success = CASE WHEN outcome_newest THEN r.success ELSE f.success END,
    f.success_ts = CASE WHEN outcome_newest THEN r.ts ELSE f.success_ts END,
    f.last_seen = CASE WHEN newest THEN r.ts ELSE f.last_seen END,
    f.ts = CASE WHEN fresh AND r.ts < f.ts THEN r.ts ELSE f.ts END,
    f.agent = coalesce(f.agent, r.agent),
    f.service = coalesce(f.service, r.service),
    f.namespace = coalesce(f.namespace, r.namespace),
    f.severity = CASE WHEN newest AND r.severity IS NOT NULL THEN r.severity ELSE f.severity END,
    f.root_cause = CASE WHEN newest AND r.root_cause IS NOT NULL
                        THEN r.root_cause ELSE f.root_cause END,
    f.confidence = CASE WHEN newest AND r.confidence IS NOT NULL
                        THEN r.confidence ELSE f.confidence END,
    f.metadata = CASE WHEN newest AND r.metadata <> '{}' THEN r.metadata ELSE f.metadata END,
    f.tags = (coalesce(f.tags, []) + [t IN r.tags WHERE NOT t IN coalesce(f.tags, [])])[0..__MAX_TAGS__],
    f.recent_events = CASE WHEN fresh
                           THEN (coalesce(f.recent_events, []) + [r.event_id])[-__RECENT__..]
                           ELSE f.recent_events END
RETURN count(*) AS n
"""
)

# Every fix hangs off its Issue signature and, when it has one, its Service.
_LINK_ISSUE_AND_SERVICE = """
WITH f, r
MERGE (i:Issue {signature: r.signature})
ON CREATE SET i.issue = r.issue
MERGE (f)-[:RESOLVES]->(i)
WITH f, r
FOREACH (_ IN CASE WHEN r.service IS NULL THEN [] ELSE [1] END |
  MERGE (s:Service {name: r.service})
  MERGE (f)-[:AFFECTS]->(s)
)
"""

LINK_FIXES = (
    """
UNWIND $rows AS r
MATCH (f:Fix {id: r.id})
"""
    + _APPLIED
    + _LINK_ISSUE_AND_SERVICE
    + "RETURN count(*) AS n"
)

RECORD_OUTCOMES = (
    """
UNWIND $rows AS r
MATCH (f:Fix {id: r.fix_id})
WITH f, r, """
    + _FRESH
    + """ AS fresh
WITH f, r, fresh, fresh AND r.ts >= coalesce(f.success_ts, 0) AS outcome_newest
SET f.successes = f.successes + CASE WHEN fresh AND r.success = true THEN 1 ELSE 0 END,
    f.failures = f.failures + CASE WHEN fresh AND r.success = false THEN 1 ELSE 0 END,
    f.success = CASE WHEN outcome_newest THEN r.success ELSE f.success END,
    f.success_ts = CASE WHEN outcome_newest THEN r.ts ELSE f.success_ts END,
    f.recent_events = CASE WHEN fresh
                           THEN (coalesce(f.recent_events, []) + [r.event_id])[-__RECENT__..]
                           ELSE f.recent_events END
RETURN count(*) AS n
"""
)

LINK_OUTCOMES = (
    """
UNWIND $rows AS r
MATCH (f:Fix {id: r.fix_id})
"""
    + _APPLIED
    + "RETURN count(*) AS n"
)


# A changed vote moves one count from the old side to the new one, once per event id;
# the old vote's APPLIED edge goes so the trail shows the vote as it stands.
CHANGE_VOTES = """
UNWIND $rows AS r
MATCH (f:Fix {id: r.fix_id})
WITH f, r, (NOT r.event_id IN coalesce(f.recent_events, [])) AS fresh
WITH f, r, fresh, fresh AND r.ts >= coalesce(f.success_ts, 0) AS outcome_newest
SET f.successes = CASE WHEN NOT fresh THEN f.successes
                       WHEN r.success = true THEN f.successes + 1
                       WHEN f.successes > 0 THEN f.successes - 1 ELSE 0 END,
    f.failures = CASE WHEN NOT fresh THEN f.failures
                      WHEN r.success = false THEN f.failures + 1
                      WHEN f.failures > 0 THEN f.failures - 1 ELSE 0 END,
    f.success = CASE WHEN outcome_newest THEN r.success ELSE f.success END,
    f.success_ts = CASE WHEN outcome_newest THEN r.ts ELSE f.success_ts END,
    f.recent_events = CASE WHEN fresh
                           THEN (coalesce(f.recent_events, []) + [r.event_id])[-__RECENT__..]
                           ELSE f.recent_events END
RETURN count(*) AS n
"""

DROP_REPLACED_VOTES = """
UNWIND $rows AS r
MATCH (:Agent)-[e:APPLIED {event_id: r.replaces}]->(:Fix {id: r.fix_id})
DELETE e
RETURN count(*) AS n
"""


def _consts(query: str) -> str:
    return query.replace("__RECENT__", str(RECENT_EVENTS)).replace(
        "__MAX_TAGS__", str(MAX_TAGS_PER_FIX)
    )


UPSERT_FIXES = _consts(UPSERT_FIXES)
RECORD_OUTCOMES = _consts(RECORD_OUTCOMES)
CHANGE_VOTES = _consts(CHANGE_VOTES)

# ---------------------------------------------------------------- restore (import)

# Restores a fix node exactly as exported. Constant statement, values are parameters.
# success_ts and recent_events are the graph's own bookkeeping (see graph/cypher.py).
RESTORE_FIXES = (
    """
UNWIND $rows AS r
MERGE (f:Fix {id: r.id})
ON CREATE SET f.recent_events = []
SET f.issue = r.issue, f.solution = r.solution, f.signature = r.signature, f.ts = r.ts,
    f.last_seen = r.last_seen, f.success = r.success, f.success_ts = r.success_ts,
    f.agent = r.agent, f.service = r.service, f.namespace = r.namespace,
    f.severity = r.severity, f.root_cause = r.root_cause, f.confidence = r.confidence,
    f.tags = r.tags, f.metadata = r.metadata, f.occurrences = r.occurrences,
    f.successes = r.successes, f.failures = r.failures
"""
    + _LINK_ISSUE_AND_SERVICE
    + "RETURN count(*) AS n"
)

RESTORE_APPLIED = """
UNWIND $rows AS r
MATCH (f:Fix {id: r.fix_id})
MERGE (a:Agent {name: r.agent})
ON CREATE SET a.registered_at = r.ts, a.last_seen = r.ts, a.status = 'active'
MERGE (a)-[e:APPLIED {event_id: r.event_id}]->(f)
ON CREATE SET e.ts = r.ts, e.success = r.success
RETURN count(e) AS n
"""

SET_RECENT_EVENTS = """
UNWIND $rows AS r
MATCH (f:Fix {id: r.id})
SET f.recent_events = (coalesce(f.recent_events, [])
                       + [e IN r.events WHERE NOT e IN coalesce(f.recent_events, [])])[-__RECENT__..]
RETURN count(*) AS n
"""
SET_RECENT_EVENTS = _consts(SET_RECENT_EVENTS)

DELETE_FIXES = """
UNWIND $ids AS id
MATCH (f:Fix {id: id})
OPTIONAL MATCH (f)-[:RESOLVES]->(i:Issue)
OPTIONAL MATCH (f)-[:AFFECTS]->(s:Service)
WITH f, collect(DISTINCT i.signature) AS sigs, collect(DISTINCT s.name) AS services
DETACH DELETE f
RETURN sigs, services
"""

DELETE_ORPHAN_ISSUES = """
UNWIND $keys AS k
MATCH (i:Issue {signature: k})
WITH i, size([(i)<-[:RESOLVES]-() | 1]) AS users
WHERE users = 0
DETACH DELETE i
RETURN count(*) AS n
"""

DELETE_ORPHAN_SERVICES = """
UNWIND $keys AS k
MATCH (s:Service {name: k})
WITH s, size([(s)<-[:AFFECTS]-() | 1]) AS users
WHERE users = 0
DETACH DELETE s
RETURN count(*) AS n
"""

# ---------------------------------------------------------------- reads

# One constant filter; a null parameter switches its clause off. Pattern
# comprehensions must be projected before WHERE can use them (FalkorDB).
_BY_AGENT = """($agent IS NULL OR f.agent = $agent
       OR size([(f)<-[:APPLIED]-(x:Agent {name: $agent}) | 1]) > 0)"""

_OTHER_FILTERS = """
  ($service IS NULL OR f.service = $service)
  AND ($success IS NULL OR f.success = $success)
  AND ($since IS NULL OR f.ts >= $since)
  AND ($until IS NULL OR f.ts < $until)
  AND ($root_cause IS NULL OR f.root_cause = $root_cause)
"""


def filtered(carry: str) -> str:
    """A WITH clause keeping `carry` (which binds f) for fixes that pass the filter."""
    return f"WITH {carry}, {_BY_AGENT} AS by_agent WHERE by_agent AND {_OTHER_FILTERS}"


_WITH_AGENTS = """
OPTIONAL MATCH (ag:Agent)-[:APPLIED]->(f)
WITH f, count(DISTINCT ag) AS agents_count
"""

# What Fix.from_record reads of a node: recall's enrichment (30 ids a query) returns these
# as columns instead of properties(f), so the internal lists (recent_events: up to 32 ids
# a fix) stay on the server and the client parses fewer values (redis-py parses RESP in
# Python). The agents are counted from the fix's side: GRAPH.PROFILE on FalkorDB, 10k
# fixes, 30 ids: 0.1 ms for (f)<-[:APPLIED]-(ag:Agent) vs 1.8 ms for (ag:Agent)-[:APPLIED]->(f).
FIX_COLUMNS = (
    "id", "issue", "solution", "ts", "last_seen", "success", "agent", "service", "namespace",
    "severity", "root_cause", "confidence", "tags", "metadata", "signature", "occurrences",
    "successes", "failures",
)  # fmt: skip

GET_FIXES = (
    "UNWIND $ids AS id MATCH (f:Fix {id: id})"
    " OPTIONAL MATCH (f)<-[:APPLIED]-(ag:Agent)"
    " WITH f, count(DISTINCT ag) AS agents_count RETURN "
    + ", ".join(f"f.{c} AS {c}" for c in FIX_COLUMNS)
    + ", agents_count"
)

# Listing and counting touch every Fix node, so they only carry the clauses of the
# filters that are set (each a constant fragment; values stay parameters): an
# unfiltered count never evaluates a pattern comprehension per node.
_SIMPLE_CONDITIONS = {
    "service": "f.service = $service",
    "success": "f.success = $success",
    "since": "f.ts >= $since",
    "until": "f.ts < $until",
    "root_cause": "f.root_cause = $root_cause",
}
_AGENT_CONDITION = (
    "WITH f, size([(f)<-[:APPLIED]-(x:Agent {name: $agent}) | 1]) AS applied "
    "WHERE f.agent = $agent OR applied > 0 "
)


def _match_filtered(params: Mapping[str, Any]) -> str:
    conds = [c for key, c in _SIMPLE_CONDITIONS.items() if params.get(key) is not None]
    head = "MATCH (f:Fix) " + ("WHERE " + " AND ".join(conds) + " " if conds else "")
    if params.get("agent") is not None:
        head += _AGENT_CONDITION
    return head


# Lists sort by when a fix was first seen (created) or last seen; the key is one of
# these constants, never input.
FIX_ORDER = {"created": "f.ts", "last_seen": "f.last_seen"}


def recent_fixes_query(params: Mapping[str, Any], order: str = "created") -> str:
    key = FIX_ORDER[order]
    return (
        _match_filtered(params)
        + f"WITH f ORDER BY {key} DESC, f.id SKIP $offset LIMIT $limit"
        + _WITH_AGENTS
        + f"RETURN properties(f) AS f, agents_count ORDER BY {key} DESC, f.id"
    )


def count_fixes_query(params: Mapping[str, Any]) -> str:
    return _match_filtered(params) + "RETURN count(f) AS n"


FIXES_BY_AGENT = (
    "MATCH (:Agent {name: $name})-[:APPLIED]->(f:Fix) WITH DISTINCT f"
    " ORDER BY f.last_seen DESC, f.id LIMIT $limit"
    + _WITH_AGENTS
    + "RETURN properties(f) AS f, agents_count ORDER BY f.last_seen DESC, f.id"
)

AGENTS = """
MATCH (a:Agent)
WHERE $name IS NULL OR a.name = $name
OPTIONAL MATCH (a)-[e:APPLIED]->(:Fix)
RETURN a.name AS name, a.server AS server, a.last_seen AS last_seen,
       a.registered_at AS registered_at, count(e) AS applied
ORDER BY name
"""

OUTCOMES_FOR_FIX = """
MATCH (a:Agent)-[e:APPLIED]->(f:Fix {id: $id})
RETURN a.name AS agent, e.success AS success, e.ts AS ts, e.event_id AS event_id
ORDER BY e.ts DESC, e.event_id
"""

NEIGHBOURHOOD = """
MATCH (f:Fix {id: $id})
OPTIONAL MATCH (f)-[:RESOLVES]->(i:Issue)
OPTIONAL MATCH (f)-[:AFFECTS]->(s:Service)
RETURN properties(f) AS f, collect(DISTINCT properties(i)) AS issues,
       collect(DISTINCT s.name) AS services
"""

NEIGHBOURHOOD_AGENTS = """
MATCH (a:Agent)-[e:APPLIED]->(:Fix {id: $id})
WITH a, count(e) AS times, max(e.ts) AS last
RETURN a.name AS name, a.last_seen AS last_seen, times
ORDER BY last DESC LIMIT $limit
"""

NEIGHBOURHOOD_SIBLINGS = """
MATCH (:Fix {id: $id})-[:RESOLVES]->(i:Issue)<-[:RESOLVES]-(s:Fix)
WHERE s.id <> $id
RETURN s.id AS id, s.solution AS solution, s.success AS success, s.occurrences AS occurrences,
       i.signature AS signature
ORDER BY s.occurrences DESC, s.id LIMIT $limit
"""

# An operator removes an agent: the node and its APPLIED edges go; the fixes keep
# their counters (what was learnt stays), and other agents' outcomes are untouched.
REMOVE_AGENT = """
MATCH (a:Agent {name: $name})
WITH a, a.name AS name
DETACH DELETE a
RETURN count(name) AS n
"""

# The explorer walks one hop at a time from any node (fix, agent, service, issue
# signature); each statement returns the start node's neighbours, best first,
# one row more than asked so the caller can say "more". Outcomes ride on APPLIED
# edges, so agent-fix rows carry worked/failed counts for edge colours.
EXPLORE_FIX = """
MATCH (f:Fix {id: $key})
OPTIONAL MATCH (f)-[:RESOLVES]->(i:Issue)
OPTIONAL MATCH (f)-[:AFFECTS]->(s:Service)
RETURN f.id AS id, f.issue AS issue, f.success AS success, f.occurrences AS occurrences,
       collect(DISTINCT i.signature) AS signatures, collect(DISTINCT i.issue) AS issues,
       collect(DISTINCT s.name) AS services
"""

EXPLORE_FIX_AGENTS = """
MATCH (a:Agent)-[e:APPLIED]->(:Fix {id: $key})
WITH a, count(e) AS times, max(e.ts) AS last,
     sum(CASE WHEN e.success = true THEN 1 ELSE 0 END) AS worked,
     sum(CASE WHEN e.success = false THEN 1 ELSE 0 END) AS failed
RETURN a.name AS name, times, worked, failed
ORDER BY last DESC, name LIMIT $limit
"""

EXPLORE_AGENT = """
MATCH (a:Agent {name: $key})
OPTIONAL MATCH (a)-[e:APPLIED]->(f:Fix)
WITH a, f, count(e) AS times, max(e.ts) AS last,
     sum(CASE WHEN e.success = true THEN 1 ELSE 0 END) AS worked,
     sum(CASE WHEN e.success = false THEN 1 ELSE 0 END) AS failed
RETURN a.name AS name, f.id AS id, f.issue AS issue, f.success AS success,
       f.occurrences AS occurrences, times, worked, failed
ORDER BY last DESC, id LIMIT $limit
"""

EXPLORE_SERVICE = """
MATCH (s:Service {name: $key})
OPTIONAL MATCH (f:Fix)-[:AFFECTS]->(s)
RETURN s.name AS name, f.id AS id, f.issue AS issue, f.success AS success,
       f.occurrences AS occurrences
ORDER BY f.last_seen DESC, id LIMIT $limit
"""

EXPLORE_ISSUE = """
MATCH (i:Issue {signature: $key})
OPTIONAL MATCH (f:Fix)-[:RESOLVES]->(i)
RETURN i.signature AS name, i.issue AS label, f.id AS id, f.issue AS issue,
       f.success AS success, f.occurrences AS occurrences
ORDER BY f.occurrences DESC, id LIMIT $limit
"""

SUCCESS_BY_ROOT_CAUSE = """
MATCH (f:Fix) WHERE f.root_cause IS NOT NULL
RETURN f.root_cause AS root_cause, count(f) AS fixes,
       sum(f.successes) AS successes, sum(f.failures) AS failures
ORDER BY fixes DESC, root_cause
"""

SUCCESS_BY_SIGNATURE = """
MATCH (f:Fix)-[:RESOLVES]->(i:Issue)
WITH i, count(f) AS fixes, sum(f.occurrences) AS occurrences,
     sum(f.successes) AS successes, sum(f.failures) AS failures
RETURN i.signature AS signature, i.issue AS issue, fixes, occurrences, successes, failures
ORDER BY occurrences DESC, signature LIMIT $limit
"""

FIXES_OVER_TIME = """
MATCH (f:Fix) WHERE f.ts >= $since
WITH f.ts - (f.ts % $bucket) AS bucket, f
RETURN bucket, count(f) AS fixes,
       sum(CASE WHEN f.success = true THEN 1 ELSE 0 END) AS succeeded,
       sum(CASE WHEN f.success = false THEN 1 ELSE 0 END) AS failed
ORDER BY bucket
"""

COUNT_LABEL = {label: f"MATCH (n:{label}) RETURN count(n) AS n" for label in LABELS}
COUNT_REL = {rel: f"MATCH ()-[r:{rel}]->() RETURN count(r) AS n" for rel in REL_TYPES}

FIX_TOTALS = """
MATCH (f:Fix)
RETURN count(f) AS fixes, sum(f.successes) AS successes, sum(f.failures) AS failures
"""

PAGE_FIX_IDS = "MATCH (f:Fix) WHERE f.id > $after RETURN f.id AS id ORDER BY f.id LIMIT $limit"

PAGE_FIXES = (
    "MATCH (f:Fix) WHERE f.id > $after WITH f ORDER BY f.id LIMIT $limit"
    + _WITH_AGENTS
    + "RETURN properties(f) AS f, agents_count ORDER BY f.id"
)

PAGE_OUTCOMES = """
MATCH (a:Agent)-[e:APPLIED]->(f:Fix)
WHERE e.success IS NOT NULL AND e.event_id > $after
RETURN e.event_id AS event_id, f.id AS fix_id, e.success AS success, e.ts AS ts, a.name AS agent
ORDER BY e.event_id LIMIT $limit
"""

PING = "RETURN 1 AS ok"


def text_statements(ft_call: str) -> dict[str, str]:
    """The full-text reads for one backend; `ft_call` is that backend's constant CALL clause
    yielding `node, score` for the parameter `$q`."""
    head = ft_call + " YIELD node, score WITH node AS f, score "
    return {
        "text_search": head
        + filtered("f, score")
        + "RETURN f.id AS id, score ORDER BY score DESC, id LIMIT $limit",
        "similar_issues": head
        + """ORDER BY score DESC LIMIT $candidates
MATCH (f)-[:RESOLVES]->(i:Issue)
WITH i, max(score) AS score
ORDER BY score DESC, i.signature LIMIT $limit
MATCH (g:Fix)-[:RESOLVES]->(i)
WITH i, score, g ORDER BY g.occurrences DESC, g.id
RETURN i.signature AS signature, i.issue AS issue, score, count(g) AS fixes,
       sum(g.occurrences) AS occurrences, sum(g.successes) AS successes,
       sum(g.failures) AS failures, collect(g.id) AS fix_ids
ORDER BY score DESC, signature
""",
    }


# ---------------------------------------------------------------- search text


def search_terms(text: str) -> list[str]:
    """Words of user text, lower-cased and de-duplicated: nothing else reaches a query parser.

    The one tokeniser (`obsmem.text`, the same as the BM25 side) yields only letters,
    digits and inner underscores, which makes any input safe for both Lucene (Neo4j)
    and RediSearch (FalkorDB) syntax instead of chasing each dialect's escape rules;
    lower-casing keeps Lucene's AND/OR/NOT from acting as operators.
    """
    return query_terms(text or "", MAX_SEARCH_TERMS)


# ---------------------------------------------------------------- rows


def _fold_agents(items: Iterable[tuple[str, int, str | None, str | None]]) -> list[dict[str, Any]]:
    """One row per agent name (the newest wins) so a batch never races itself."""
    out: dict[str, dict[str, Any]] = {}
    for name, ts, server, status in items:
        cur = out.get(name)
        if cur is None:
            out[name] = {"name": name, "ts": ts, "server": server, "status": status}
            continue
        if ts >= cur["ts"]:
            cur.update(ts=ts, server=server or cur["server"], status=status or cur["status"])
    return list(out.values())


def agent_rows(agents: Sequence[AgentWrite]) -> list[dict[str, Any]]:
    return _fold_agents((a.name, a.ts, a.server, a.status) for a in agents)


def agents_of_fixes(writes: Sequence[FixWrite]) -> list[dict[str, Any]]:
    return _fold_agents((w.agent, w.ts, None, "active") for w in writes if w.agent)


def agents_of_outcomes(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    return _fold_agents((o.agent, o.ts, None, "active") for o in outcomes if o.agent)


def fix_row(w: FixWrite) -> dict[str, Any]:
    return {
        "id": w.id,
        "event_id": w.event_id,
        "issue": w.issue,
        "solution": w.solution,
        "signature": w.signature,
        "ts": int(w.ts),
        "success": w.success,
        "agent": w.agent,
        "service": w.service,
        "namespace": w.namespace,
        "severity": w.severity,
        "root_cause": w.root_cause,
        "confidence": w.confidence,
        "tags": list(w.tags),
        "metadata": json.dumps(w.metadata or {}, ensure_ascii=False, sort_keys=True),
    }


def outcome_row(o: Outcome) -> dict[str, Any]:
    return {
        "event_id": o.event_id,
        "fix_id": o.fix_id,
        "success": bool(o.success),
        "ts": int(o.ts),
        "agent": o.agent,
        "replaces": o.replaces,
    }


def rounds(rows: Sequence[dict[str, Any]], key: str) -> list[list[dict[str, Any]]]:
    """Split rows so no `key` repeats within a round (see `obsmem.stores.batching`)."""
    return batching.rounds(rows, lambda r: r[key], lambda r: r["event_id"])


def filter_params(flt: Any) -> dict[str, Any]:
    return {
        "service": getattr(flt, "service", None),
        "agent": getattr(flt, "agent", None),
        "success": getattr(flt, "success", None),
        "since": getattr(flt, "since_ms", None),
        "until": getattr(flt, "until_ms", None),
        "root_cause": getattr(flt, "root_cause", None),
    }


# ---------------------------------------------------------------- read models


def fix_from_props(props: Mapping[str, Any], agents_count: int = 0) -> Fix:
    """The read model from node properties (`Fix.from_record`: metadata from JSON text)."""
    return Fix.from_record(props, agents_count)


def _int_or_none(v: Any) -> int | None:
    return None if v is None else int(v)


def agent_status(last_seen: int | None, now: int) -> str:
    if last_seen is None:
        return "inactive"
    age = now - int(last_seen)
    if age < ACTIVE_MS:
        return "active"
    if age < STALE_MS:
        return "stale"
    return "inactive"


def agent_from_row(row: Mapping[str, Any], now: int) -> Agent:
    return Agent(
        name=row["name"],
        server=row.get("server"),
        status=agent_status(row.get("last_seen"), now),
        last_seen=_int_or_none(row.get("last_seen")),
        registered_at=_int_or_none(row.get("registered_at")),
        fixes_applied=int(row.get("applied") or 0),
    )


def success_rate(successes: int | None, failures: int | None) -> float | None:
    s, f = int(successes or 0), int(failures or 0)
    return s / (s + f) if s + f else None
