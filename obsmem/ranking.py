"""How recall orders fixes: fuse vector and keyword candidates, then weigh graph evidence.

Relevance decides; evidence (did the fix work, how often and by how many agents
was it applied, how recently) only reorders fixes of similar relevance. Every
part of a score is returned in `why` so an agent or a person can see the reason.
The defaults are tuned on real alert/runbook text (bench/recall_quality.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from obsmem.model import Fix

DAY_MS = 86_400_000
MIN_SIMILARITY_SPAN = 0.2


@dataclass(frozen=True)
class RankParams:
    # Fusion: weighted reciprocal-rank fusion plus a score-aware term, so a keyword
    # match that stands far above the rest (a rare, telling word) is not flattened
    # to "rank 1" like a marginal one.
    # Tuned on ../shared/data/recall-bench.jsonl (bench/recall_quality.py): keyword
    # rank + both scores beat plain RRF (hard R@5 0.99 vs 0.98; paraphrase R@5 0.97 vs 0.93).
    rrf_k: float = 60.0
    w_vector: float = 0.0
    w_keyword: float = 1.0
    w_vector_score: float = 5.0
    w_keyword_score: float = 4.0
    # Vector similarities min-max scaled within the candidate list (cosine values
    # of a small model bunch together, so raw values say little about the gap).
    vector_minmax: bool = True
    # Evidence: multiplies relevance by (1 - evidence_weight + evidence_weight * evidence).
    evidence_weight: float = 0.3
    success_weight: float = 0.7
    usage_weight: float = 0.2
    recency_weight: float = 0.1
    half_life_days: float = 60.0


DEFAULT_PARAMS = RankParams()


def embedding_text(issue: str, solution: str) -> str:
    """What gets embedded for a fix. MiniLM reads 256 word pieces, so the issue leads."""
    return f"{issue.strip()}\n{solution.strip()}"


@dataclass
class Candidate:
    id: str
    vector: float = 0.0  # cosine similarity, 0 when not a vector candidate
    keyword: float = 0.0  # keyword score, 0 when no keyword match
    vector_rank: int | None = None
    keyword_rank: int | None = None
    relevance: float = 0.0
    vector_scaled: float = 0.0


def fuse(
    vector_hits: Sequence[tuple[str, float]],
    keyword_hits: Sequence[tuple[str, float]],
    params: RankParams = DEFAULT_PARAMS,
) -> list[Candidate]:
    """Combine two ranked lists into one, best first."""
    cands: dict[str, Candidate] = {}
    sims = [float(s) for _, s in vector_hits]
    lo, hi = (min(sims), max(sims)) if sims else (0.0, 1.0)
    span = max(hi - lo, MIN_SIMILARITY_SPAN)  # two near-equal hits stay near-equal
    for rank, (fid, sim) in enumerate(vector_hits, start=1):
        c = cands.setdefault(fid, Candidate(fid))
        c.vector, c.vector_rank = float(sim), rank
        c.vector_scaled = (float(sim) - lo) / span if params.vector_minmax else max(float(sim), 0.0)
    top_kw = max((s for _, s in keyword_hits), default=0.0) or 1.0
    for rank, (fid, score) in enumerate(keyword_hits, start=1):
        c = cands.setdefault(fid, Candidate(fid))
        c.keyword, c.keyword_rank = float(score) / top_kw, rank
    k = params.rrf_k
    for c in cands.values():
        rel = 0.0
        if c.vector_rank is not None:
            rel += (
                params.w_vector / (k + c.vector_rank) + params.w_vector_score * c.vector_scaled / k
            )
        if c.keyword_rank is not None:
            rel += params.w_keyword / (k + c.keyword_rank) + params.w_keyword_score * c.keyword / k
        c.relevance = rel
    return sorted(cands.values(), key=lambda c: (-c.relevance, c.id))


def evidence(fix: Fix, now_ms: int, params: RankParams = DEFAULT_PARAMS) -> dict[str, float]:
    """Graph evidence for one fix, each part in 0..1 (0.5 = no information)."""
    # Beta(1,1) prior: an untried fix sits at 0.5, one success moves it to 0.67.
    success = (fix.successes + 1) / (fix.successes + fix.failures + 2)
    applied = max(fix.occurrences, 1) + fix.successes + fix.failures
    usage = 1 - 1 / (1 + math.log1p(applied - 1) + 0.5 * math.log1p(max(fix.agents_count - 1, 0)))
    last = fix.last_seen or fix.ts
    age_days = max(now_ms - last, 0) / DAY_MS
    recency = 0.5 ** (age_days / params.half_life_days)
    return {"success": success, "usage": usage, "recency": recency}
