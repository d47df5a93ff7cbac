"""The recall pipeline: candidates -> fuse -> enrich -> relevance -> rerank -> no_match.

Fusion (obsmem.ranking) only picks which candidates are worth a closer look.
Each of those then gets an absolute `relevance`: a calibrated estimate of the
probability that the fix addresses the query, computed from that fix and the
query alone (cosine similarity, BM25 against what the query could score at
most, idf-weighted term coverage overall and in the issue, the share of the
fix's title words the query says). It never depends on
the other candidates, so 0.9 means the same for every query, and a result whose
best hit is below the bar says `no_match` instead of pretending.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from obsmem import model as m
from obsmem import served as trace
from obsmem import text
from obsmem.errors import OUTAGES
from obsmem.errors import NoStoreAvailable as Unavailable
from obsmem.model import Fix, FixFilter, RecallHit, RecallResult
from obsmem.ranking import Candidate, RankParams, evidence, fuse
from obsmem.stores.router import GRAPH, VECTORS

if TYPE_CHECKING:
    from obsmem.stores.router import DatabaseManager

log = logging.getLogger("obsmem.recall")

CANDIDATES = 50  # per retriever; fusion needs depth, the final list is k
ENRICH = 30  # how many fused candidates get graph evidence and a relevance
MAX_QUERY_TERMS = 64  # as the keyword search: a query is not a book
PROFILE_CACHE = 2048  # fixes whose term statistics stay cached (~10-40 KB each)
BM25_K1 = 1.2  # as obsmem.stores.pgvector (Lucene's defaults)
BM25_B = 0.75

# Default bar for `no_match` (OBSMEM_MIN_RELEVANCE overrides). Chosen on the
# out-of-fold predictions of bench/relevance_fit.py (abstention protocol): 0.05,
# 0.08 and 0.10 all said no_match on 50% of unanswerable queries, 0.08 flagging
# 7.8% of right rank-1 answers; 0.12 flagged 11% / 58%, 0.15 16% / 62%
# (bench/RESULTS.md).
DEFAULT_MIN_RELEVANCE = 0.08

# Logistic model: relevance = sigmoid(INTERCEPT + sum(COEFS[f] * feature f)).
# Fitted by bench/relevance_fit.py (scikit-learn L2 logistic regression, C=1.0, on
# the pooled top-30 candidates of the 98 hard queries of
# /work/shared/data/recall-bench.jsonl, label = "is the query's relevant fix"),
# checked with 5 folds by alert (fold means in bench/RESULTS.md). Hard queries
# only: in the easy ones the alert name, which is the title of its runbook, is
# in the query, so title_coverage would be learnt from a giveaway. Features are
# in 0..1 except cosine (-1..1); the *_stem ones match Snowball stems
# ("connections" ~ "connection"), which alone lifted CV hard R@1 0.83 -> 0.87;
# title_coverage (the share of the fix's title words the query says) told
# sibling runbooks apart: 0.87 -> 0.91.
# Refit with `python -m bench.relevance_fit` and paste its "final" line here.
INTERCEPT = -8.528
COEFS: dict[str, float] = {
    "cosine": 2.455,
    "bm25_stem": 1.67,
    "coverage_stem": 1.764,
    "issue_coverage_stem": 1.617,
    "issue_coverage": 1.652,
    "title_coverage": 3.251,
}
FEATURES = tuple(COEFS)


@dataclass(frozen=True)
class QueryTerms:
    """The query's distinct terms with their idf, and the most BM25 it could score."""

    qtf: dict[str, int]
    idf: dict[str, float]
    avgdl: float

    @functools.cached_property
    def ceiling(self) -> float:
        """BM25 of a document matching every term with unbounded frequency."""
        return sum(self.qtf[t] * self.idf[t] * (BM25_K1 + 1) for t in self.qtf)

    @functools.cached_property
    def idf_total(self) -> float:
        return sum(self.idf.values())

    @functools.cached_property
    def stem_of(self) -> dict[str, str]:
        """Each query term's stem, once per query rather than once per candidate."""
        return {t: stem(t) for t in self.qtf}

    @functools.cached_property
    def stems(self) -> frozenset[str]:
        return frozenset(self.stem_of.values())

    @functools.cached_property
    def weighted(self) -> tuple[tuple[str, int, float, str], ...]:
        """(term, count, idf, stem) of each query term, in `qtf`'s order, for the feature loop."""
        stem_of = self.stem_of
        return tuple((t, n, self.idf[t], stem_of[t]) for t, n in self.qtf.items())


def query_terms(query: str, docs: int, avgdl: float, df: dict[str, int]) -> QueryTerms:
    """Terms of the query, idf from the collection; a word no fix has gets df 0 (rare = telling)."""
    qtf: dict[str, int] = {}
    for tok in text.tokens(query):
        if tok in qtf or len(qtf) < MAX_QUERY_TERMS:
            qtf[tok] = qtf.get(tok, 0) + 1
    idf = {t: math.log(1.0 + (docs - df.get(t, 0) + 0.5) / (df.get(t, 0) + 0.5)) for t in qtf}
    return QueryTerms(qtf, idf, avgdl)


def stem(word: str) -> str:
    """Snowball (Porter 2) stem: "connections" and "connection" match in the coverage features.

    Numbers are their own stem (the algorithm only rewrites letters): they skip the cache,
    where incident numbers, ports and counts, unique to a fix, would only evict words.
    """
    if word.isdigit() and word.isascii():
        return word
    return _stem(word)


@functools.lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return str(_stemmer().stemWord(word))


_STEMMERS = threading.local()


def _stemmer() -> Any:
    """This thread's stemmer: a snowballstemmer object keeps its cursor in itself, so
    one shared by the server's threads raised IndexError and returned wrong stems
    (33 of 10,884 words under 8 concurrent recalls), which the cache then kept."""
    st = getattr(_STEMMERS, "stemmer", None)
    if st is None:
        import snowballstemmer

        st = _STEMMERS.stemmer = snowballstemmer.stemmer("english")
    return st


def _stemmed(tf: dict[str, float]) -> dict[str, float]:
    out: dict[str, float] = {}
    for t, f in tf.items():
        s = stem(t)
        out[s] = out.get(s, 0.0) + f
    return out


@dataclass(frozen=True)
class _Profile:
    tf: dict[str, float]  # issue-weighted term frequencies, as the keyword index stores them
    dl: float
    issue_tf: dict[str, int]
    tf_stem: dict[str, float]
    issue_stem: frozenset[str]
    title_stem: frozenset[str]  # stems of the issue's title line, if any (text.title_tokens)


@functools.lru_cache(maxsize=PROFILE_CACHE)
def _profile(issue: str, solution: str) -> _Profile:
    """A fix's term statistics; cached, because the same fixes come back query after query
    and tokenising them was most of recall's ranking time (read-only: shared between calls)."""
    issue_toks = text.tokens(issue)
    tf, dl = text.weighted_terms(issue_toks, text.tokens(solution))  # = text.doc_terms
    issue_tf = dict(Counter(issue_toks))  # = text.term_counts(issue)
    return _Profile(
        tf,
        dl,
        issue_tf,
        _stemmed(tf),
        frozenset(stem(t) for t in issue_tf),
        frozenset(stem(t) for t in text.title_tokens(issue)),
    )


def title_coverage(q: QueryTerms, title: frozenset[str]) -> float:
    """Share of the fix's title words (stemmed) that the query contains.

    The other features look from the query's side: how much of the query the fix
    explains. Sibling runbooks (`...Warning` / `...Critical`, `...TSDBHeadTruncation` /
    `...TSDBHeadCompaction`) explain a query almost equally; what tells them apart
    is the word in one title the query does not say. Unweighted: an idf per title
    word would need a second term-statistics lookup per recall, and measured the
    same R@1 (bench/RESULTS.md)."""
    if not title:
        return 0.0
    stems = q.stems
    return sum(t in stems for t in title) / len(title)


def model_features(q: QueryTerms, fix: Fix, cosine: float) -> dict[str, float]:
    """The features the relevance model uses (COEFS): what recall computes per candidate,
    30 a recall (`features` adds the three only bench.relevance_fit weighs)."""
    p = _profile(fix.issue, fix.solution)
    issue_tf, tf_s, issue_s = p.issue_tf, p.tf_stem, p.issue_stem
    bm25_s = in_issue = covered_s = in_issue_s = 0.0
    norm = BM25_K1 * (1 - BM25_B + BM25_B * p.dl / max(q.avgdl, 1.0))
    for t, n, idf, st in q.weighted:
        if issue_tf.get(t, 0):
            in_issue += idf
        fs = tf_s.get(st, 0.0)
        if fs:
            bm25_s += n * idf * fs * (BM25_K1 + 1) / (fs + norm)
            covered_s += idf
        if st in issue_s:
            in_issue_s += idf
    total = q.idf_total or 1.0
    return {
        "cosine": float(cosine),
        "issue_coverage": in_issue / total,
        "bm25_stem": bm25_s / (q.ceiling or 1.0),
        "coverage_stem": covered_s / total,
        "issue_coverage_stem": in_issue_s / total,
        # A fix without a title line (a one-line issue) is its own title: the share of
        # the query its issue says stands in (on recall-bench every fix has a title line).
        "title_coverage": title_coverage(q, p.title_stem) if p.title_stem else in_issue_s / total,
    }


def features(q: QueryTerms, fix: Fix, cosine: float) -> dict[str, float]:
    """What relevance is computed from (`model_features`), and three more features the
    model does not use, which bench.relevance_fit weighs when a feature set is refitted."""
    p = _profile(fix.issue, fix.solution)
    tf, issue_tf = p.tf, p.issue_tf
    bm25 = issue_bm25 = covered = 0.0
    norm = BM25_K1 * (1 - BM25_B + BM25_B * p.dl / max(q.avgdl, 1.0))
    issue_norm = BM25_K1 * (1 - BM25_B + BM25_B * sum(issue_tf.values()) / max(q.avgdl / 4, 1.0))
    for t, n, idf, _ in q.weighted:
        f = tf.get(t, 0.0)
        if f:
            bm25 += n * idf * f * (BM25_K1 + 1) / (f + norm)
            covered += idf
        fi = issue_tf.get(t, 0)
        if fi:
            issue_bm25 += n * idf * fi * (BM25_K1 + 1) / (fi + issue_norm)
    ceiling = q.ceiling or 1.0
    return {
        **model_features(q, fix, cosine),
        "bm25": bm25 / ceiling,
        "coverage": covered / (q.idf_total or 1.0),
        "issue_bm25": issue_bm25 / ceiling,
    }


def relevance(feats: dict[str, float]) -> float:
    z = INTERCEPT + sum(COEFS[k] * feats.get(k, 0.0) for k in COEFS)
    return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


@dataclass
class Scored:
    """One candidate after enrichment: its fix, fusion data, features and relevance."""

    fix: Fix
    cand: Candidate
    features: dict[str, float]
    relevance: float


def build_filter(
    *,
    service: Any = None,
    agent: Any = None,
    success: Any = None,
    since_ms: Any = None,
    root_cause: Any = None,
) -> FixFilter:
    if since_ms is not None and (isinstance(since_ms, bool) or not isinstance(since_ms, int)):
        raise m.ValidationError("since", "must be epoch milliseconds")
    return FixFilter(
        service=m.clean_name(service, "service"),
        agent=m.clean_name(agent, "agent"),
        success=m.clean_bool(success, "success"),
        since_ms=since_ms,
        root_cause=m.clean_name(root_cause, "root_cause"),
    )


def clean_min_relevance(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise m.ValidationError("min_relevance", "must be a number between 0 and 1") from None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise m.ValidationError("min_relevance", "must be a number between 0 and 1")
    return float(value)


def _row_to_fix(row: dict[str, Any]) -> Fix:
    """A vector-store row as a Fix, for answers while the graph is down."""
    return Fix.from_record(row)


class Pipeline:
    """One recall against a DatabaseManager; keeps which stores answered and the timings."""

    def __init__(
        self, manager: DatabaseManager, params: RankParams, *, every_feature: bool = False
    ):
        """`every_feature`: score with `features` (all of them, for bench.relevance_fit)
        rather than `model_features` (the ones relevance uses; the same values)."""
        self.mgr = manager
        self.params = params
        self.features = features if every_feature else model_features
        self.served: list[str] = []
        self.failed: list[str] = []
        self.timings: dict[str, float] = {}
        # Cosine similarity to the query of every vector hit and keyword hit (from the
        # same search); a candidate without one (Postgres down) gets 0.
        self.cos: dict[str, float] = {}

    def candidates(
        self, query: str, depth: int, flt: FixFilter
    ) -> tuple[list[tuple[str, float]], list[tuple[str, float]], QueryTerms | None]:
        """Vector + keyword candidates from Postgres, else the graph's full-text search."""
        t0 = time.perf_counter()
        vec_hits: list[tuple[str, float]] | None = None
        kw_hits: list[tuple[str, float]] = []
        q = None

        def embed() -> np.ndarray:
            # Called by the vector store while Postgres already runs the keyword leg.
            vec: np.ndarray = self.mgr.embedder.embed_query(query)  # int8 unless configured
            self.timings["embed"] = (time.perf_counter() - t0) * 1000
            return vec

        try:
            found = self.mgr.vectors.search(embed, query, depth, flt)
            vec_hits, kw_hits = found.vector, found.keyword
            self.cos = {fid: sim for fid, sim in found.vector}
            self.cos.update(found.cosines)
            q = query_terms(query, found.docs, found.avgdl, found.df)
            self.timings["search"] = (time.perf_counter() - t0) * 1000 - self.timings.get(
                "embed", 0.0
            )
            self.served.append(VECTORS)
        except OUTAGES as exc:
            self.failed.append(VECTORS)
            log.warning("vector store unavailable for recall: %s", exc)
        if vec_hits is None:  # Postgres down: the graph's own full-text search
            t2 = time.perf_counter()
            try:
                kw_hits = self.mgr.graph.text_search(query, depth, flt)
                vec_hits = []
                self.served.append(GRAPH)
            except OUTAGES as exc:
                raise Unavailable("neither the graph nor the vector store is reachable") from exc
            self.timings["search"] = (time.perf_counter() - t2) * 1000
        return vec_hits, kw_hits, q

    def enrich(self, ids: list[str]) -> dict[str, Fix]:
        """Fixes with their graph evidence; from Postgres rows when the graph is down."""
        if not ids:
            return {}
        try:
            fixes = self.mgr.graph.get_fixes(ids)
            if GRAPH not in self.served:
                self.served.append(GRAPH)
            return fixes
        except OUTAGES:
            if GRAPH not in self.failed:
                self.failed.append(GRAPH)
        rows = self.mgr.vectors.get_rows(ids)
        return {i: _row_to_fix(r) for i, r in rows.items()}

    def score(self, query: str, flt: FixFilter, depth: int, pool: int) -> list[Scored]:
        """Every pooled candidate with features and relevance, best relevance first."""
        vec_hits, kw_hits, q = self.candidates(query, depth, flt)
        t3 = time.perf_counter()
        cands = fuse(vec_hits, kw_hits, self.params)[:pool]
        fixes = self.enrich([c.id for c in cands])
        self.timings["graph"] = (time.perf_counter() - t3) * 1000
        t4 = time.perf_counter()
        if q is None:  # no collection statistics: every term counts the same
            q = QueryTerms(
                {t: 1 for t in text.query_terms(query, MAX_QUERY_TERMS)},
                {t: 1.0 for t in text.query_terms(query, MAX_QUERY_TERMS)},
                100.0,
            )
        cos, featurize = self.cos, self.features
        out = []
        for c in cands:
            fix = fixes.get(c.id)
            if fix is None:
                continue
            feats = featurize(q, fix, cos.get(c.id, 0.0))
            out.append(Scored(fix, c, feats, relevance(feats)))
        out.sort(key=lambda s: (-s.relevance, s.fix.id))
        self.timings["features"] = (time.perf_counter() - t4) * 1000
        return out


def rerank(
    scored: Sequence[Scored],
    now_ms: int,
    params: RankParams,
    *,
    k: int | None = None,
    keep: Callable[[Fix], bool] | None = None,
) -> list[RecallHit]:
    """Order by relevance scaled by graph evidence; `why` explains both numbers.

    Only the hits returned (the first `k` that `keep` accepts) get a `why`: a recall
    scores 30 candidates and answers 5, and rounding fourteen figures for each of
    the other 25 was a tenth of the pipeline's own Python.
    """
    ranked = []
    for s in scored:
        ev = evidence(s.fix, now_ms, params)
        combined = (
            params.success_weight * ev["success"]
            + params.usage_weight * ev["usage"]
            + params.recency_weight * ev["recency"]
        )
        factor = 1 - params.evidence_weight + params.evidence_weight * combined
        ranked.append((round(s.relevance * factor, 6), s, ev, factor))
    ranked.sort(key=lambda r: (-r[0], r[1].fix.id))
    hits: list[RecallHit] = []
    for score, s, ev, factor in ranked:
        if k is not None and len(hits) >= k:
            break
        if keep is None or keep(s.fix):
            hits.append(
                RecallHit(s.fix, score, _why(s, ev, factor), relevance=round(s.relevance, 4))
            )
    return hits


def _why(s: Scored, ev: dict[str, float], factor: float) -> dict[str, float]:
    why = {
        "relevance": round(s.relevance, 4),
        "vector": round(s.cand.vector if s.cand.vector_rank else s.features["cosine"], 4),
        "keyword": round(s.cand.keyword, 4),
        # the features relevance is computed from (see COEFS)
        **{f: round(s.features[f], 4) for f in FEATURES if f != "cosine"},
        "success": round(ev["success"], 4),
        "usage": round(ev["usage"], 4),
        "recency": round(ev["recency"], 4),
        "evidence_factor": round(factor, 4),
    }
    if s.cand.vector_rank is not None:
        why["vector_rank"] = s.cand.vector_rank
    if s.cand.keyword_rank is not None:
        why["keyword_rank"] = s.cand.keyword_rank
    return why


def _successful(fix: Fix) -> bool:
    return fix.success is True or fix.successes > 0


def recall(
    manager: DatabaseManager,
    params: RankParams,
    query: str,
    k: int,
    flt: FixFilter,
    *,
    only_successful: bool = False,
    min_relevance: float,
) -> RecallResult:
    """The whole pipeline for one validated query."""
    t0 = time.perf_counter()
    pipe = Pipeline(manager, params)
    scored = pipe.score(query, flt, max(CANDIDATES, 4 * k), max(ENRICH, 3 * k))
    t5 = time.perf_counter()
    hits = rerank(scored, m.now_ms(), params, k=k, keep=_successful if only_successful else None)
    hits = [h.marked(min_relevance) for h in hits]
    pipe.timings["rank"] = (time.perf_counter() - t5) * 1000
    pipe.timings["total"] = (time.perf_counter() - t0) * 1000
    for store in (GRAPH, VECTORS):  # for the HTTP answer's served_by / degraded banner
        if store in pipe.served:
            trace.served(store)
        elif store in pipe.failed:
            trace.missing(store, f"{store} did not answer this recall")
    return RecallResult(
        hits,
        served_by=pipe.served,
        degraded=bool(pipe.failed),
        timings_ms=pipe.timings,
        min_relevance=min_relevance,
    )
