"""What round 4 of issue 14 tried for abstention, reproducible in seconds from the cache.

    .venv/bin/python -m bench.relevance_explore

Needs bench/out/relevance_features.json (written by `python -m bench.relevance_fit`).
Every row is cross-validated exactly as bench.relevance_fit does (5 folds by alert,
trained on hard queries, the bar chosen out of fold), with two more figures: the
leave-one-out abstention AUROC (every test query scored as if its fix were gone:
98 unanswerable queries instead of 26) and the 95% bootstrap interval of the pooled
AUROC. None of these was shipped (bench/RESULTS.md, issue 14, round 4).

The features here are bench-only on purpose. Several need what recall does not
have at run time: `title_missing_idf` and `contrast_idf` need the document
frequency of the fix's title words (a second term-statistics lookup per recall, or
a stored column), `cosine_issue` a second embedding per fix. They are computed
from the cached pools and the recall-bench texts, with the collection's document
frequencies counted from the fixes each run stored.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys
from collections import Counter
from typing import Any

import numpy as np

from bench import relevance_fit as rf
from bench.recall_quality import load

SHIPPED = (
    "cosine",
    "bm25_stem",
    "coverage_stem",
    "issue_coverage_stem",
    "issue_coverage",
    "title_coverage",
)
SOFT_PREFIX = 5  # "creation" ~ "create", "registrations" ~ "register"
_SENTENCE = re.compile(r"(?<=[.!?])\s")


def _soft(a: str, b: str) -> bool:
    n = SOFT_PREFIX
    return a == b or (len(a) >= n and len(b) >= n and a[:n] == b[:n])


def contrast_features(
    query: str,
    q: Any,
    issue: str,
    solution: str,
    x: dict[str, float],
    stem_df: Counter[str],
    docs: int,
) -> dict[str, float]:
    """Title-contrast and query-side features of one (query, fix) pair.

    Sibling runbooks share every title word but one (TSDBHeadCompaction /
    TSDBHeadTruncation); these look for that one word: a word of the fix's title
    the query does not say (soft: a shared 5-letter prefix counts as said), and a
    word of the query the fix does not say."""
    from obsmem import text
    from obsmem.recall import BM25_K1, _profile, stem

    p = _profile(issue, solution)
    said = q.stems | set(q.qtf)
    title = p.title_stem
    missing = [t for t in title if not any(_soft(t, s) for s in said)]
    exact_missing = [t for t in title if t not in q.stems]
    whole = set(p.tf_stem)
    total = q.idf_total or 1.0
    top_idf = max(q.idf.values()) if q.idf else 1.0
    idf_cap = math.log(1.0 + (docs + 0.5) / 0.5)  # a word no fix has

    def idf(term: str) -> float:
        df = stem_df.get(term, 0)
        return math.log(1.0 + (docs - df + 0.5) / (df + 0.5))

    missing_idf = max((idf(t) for t in missing), default=0.0) / idf_cap
    first = set(text.tokens(_SENTENCE.split(query, maxsplit=1)[0]))
    absent_first = [q.idf[t] for t in first if t in q.idf and q.stem_of[t] not in p.issue_stem]
    absent_issue = sum(q.idf[t] for t in q.qtf if q.stem_of[t] not in p.issue_stem) / total
    absent_whole = any(q.stem_of[t] not in whole for t in q.qtf)
    unknown = {t for t in q.qtf if q.idf[t] >= idf_cap - 1e-9}
    known = sum(q.idf[t] for t in q.qtf if t not in unknown) or 1.0
    ceiling = q.ceiling or 1.0
    known_ceiling = (
        sum(q.qtf[t] * q.idf[t] * (BM25_K1 + 1) for t in q.qtf if t not in unknown) or 1.0
    )
    qs = [stem(t) for t in text.tokens(query)]
    iss = [stem(t) for t in text.tokens(issue)]
    issue_pairs = set(itertools.pairwise(iss))
    pairs = list(dict.fromkeys(itertools.pairwise(qs)))
    return {
        "title_missing": float(len(exact_missing)),
        "title_missing_any": float(bool(missing)),
        "title_coverage_soft": 1.0 - len(missing) / len(title) if title else 0.0,
        "title_missing_idf": missing_idf,
        "title_complete": float(bool(title) and not exact_missing),
        "contrast_issue": float(bool(missing)) * absent_issue,
        "contrast_whole": float(bool(missing) and absent_whole),
        "contrast_idf": missing_idf * (max(absent_first, default=0.0) / top_idf),
        "unknown_share": 1.0 - known / total,
        "known_bm25_stem": x["bm25_stem"] * ceiling / known_ceiling,
        "known_coverage_stem": min(1.0, x["coverage_stem"] * total / known),
        "known_issue_coverage_stem": min(1.0, x["issue_coverage_stem"] * total / known),
        "known_issue_coverage": min(1.0, x["issue_coverage"] * total / known),
        "issue_bigrams": sum(b in issue_pairs for b in pairs) / len(pairs) if pairs else 0.0,
    }


def add_features(data: dict[str, Any], fixes: list[dict[str, Any]], queries: list[Any]) -> None:
    """`contrast_features` into every cached pool, with each run's own collection statistics."""
    from obsmem import text
    from obsmem.recall import QueryTerms, stem

    by_id = {f["id"]: f for f in fixes}
    text_of = {q["qid"]: q["query"] for q in queries}
    gone = set(data["held_out_fixes"])
    for run in ("full", "abstention"):
        stored = [f for f in fixes if run == "full" or f["id"] not in gone]
        stem_df: Counter[str] = Counter()
        for f in stored:
            stem_df.update({stem(t) for t in text.tokens(f["issue"]) + text.tokens(f["solution"])})
        for qid, pool in data[run].items():
            t = data["terms"][run][qid]
            q = QueryTerms(t["qtf"], t["idf"], t["avgdl"])
            for p in pool:
                f = by_id[p["id"]]
                p["x"].update(
                    contrast_features(
                        text_of[qid], q, f["issue"], f["solution"], p["x"], stem_df, len(stored)
                    )
                )


# ---------------------------------------------------------------- other model forms


def _xy(
    data: dict[str, Any],
    qids: list[str],
    relevant: dict[str, list[str]],
    feats: tuple[str, ...],
    runs: tuple[str, ...] = ("full",),
) -> tuple[np.ndarray, np.ndarray, list[dict[str, Any]]]:
    rows, ys, pool_of = [], [], []
    for qid in qids:
        for run in runs:
            pool = data[run].get(qid, [])
            for p in pool:
                rows.append([p["x"][f] for f in feats])
                ys.append(int(p["id"] in relevant[qid]))
                pool_of.append({"pool": pool, "p": p, "run": run})
    return np.array(rows, dtype=float), np.array(ys), pool_of


def _logistic(c: float = rf.C_REG) -> Any:
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=5000)


def fit_hard_negatives(weight: float = 10.0, top: int = 3) -> rf.Fitter:
    """Logistic regression with each query's `top` strongest wrong candidates (by BM25 +
    title coverage) weighted `weight` times: the negatives abstention is about."""

    def fit(data: dict[str, Any], qids: list[str], relevant: Any, feats: tuple[str, ...]) -> Any:
        x, y, meta = _xy(data, qids, relevant, feats)
        strong: set[int] = set()
        for qid in qids:
            pool = data["full"][qid]
            wrong = [p for p in pool if p["id"] not in relevant[qid]]
            wrong.sort(key=lambda p: -(p["x"]["bm25_stem"] + p["x"]["title_coverage"]))
            strong.update(id(p) for p in wrong[:top])
        w = np.array([weight if id(m["p"]) in strong else 1.0 for m in meta])
        model = _logistic()
        model.fit(x, y, sample_weight=w)
        model.obsmem_features = feats
        return model

    return fit


def fit_with_abstention_pools(
    data: dict[str, Any], qids: list[str], relevant: Any, feats: tuple[str, ...]
) -> Any:
    """The training folds' abstention-run pools added to the fit: their unanswerable
    queries make every candidate, siblings included, a negative."""
    x, y, _ = _xy(data, qids, relevant, feats, runs=("full", "abstention"))
    model = _logistic()
    model.fit(x, y)
    model.obsmem_features = feats
    return model


def fit_spline(knots: int = 4, c: float = 1.0) -> rf.Fitter:
    """A monotone-free non-linear calibrator: each feature through a quadratic spline basis."""

    def fit(data: dict[str, Any], qids: list[str], relevant: Any, feats: tuple[str, ...]) -> Any:
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import SplineTransformer, StandardScaler

        x, y, _ = _xy(data, qids, relevant, feats)
        model = make_pipeline(
            SplineTransformer(n_knots=knots, degree=2), StandardScaler(), _logistic(c)
        )
        model.fit(x, y)
        model.obsmem_features = feats
        return model

    return fit


def fit_monotone_boosting(
    data: dict[str, Any], qids: list[str], relevant: Any, feats: tuple[str, ...]
) -> Any:
    """Gradient-boosted trees (depth 2), relevance non-decreasing in every feature."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    x, y, _ = _xy(data, qids, relevant, feats)
    model = HistGradientBoostingClassifier(
        max_depth=2,
        learning_rate=0.05,
        max_iter=100,
        min_samples_leaf=20,
        monotonic_cst=[1] * len(feats),
    )
    model.fit(x, y)
    model.obsmem_features = feats
    return model


class TwoStage:
    """One model orders the pool, another gives the top hits their relevance."""

    def __init__(self, ranker: Any, calibrator: Any, feats: tuple[str, ...], cal: tuple[str, ...]):
        self.ranker, self.calibrator, self.feats, self.cal = ranker, calibrator, feats, cal

    def ranked(self, pool: list[dict[str, Any]]) -> list[tuple[str, float]]:
        order = self.ranker.predict_proba(rf.design(pool, self.feats))[:, 1]
        rel = self.calibrator.predict_proba(rf.design(pool, self.cal))[:, 1]
        idx = sorted(range(len(pool)), key=lambda i: (-order[i], pool[i]["id"]))
        return [(pool[i]["id"], float(rel[i])) for i in idx]


def fit_two_stage(cal: tuple[str, ...]) -> rf.Fitter:
    """Ranker: the shipped logistic regression. Calibrator: a logistic regression on the
    ranker's top hit of every training query (right or wrong) and on the top hit of the
    same pool without its relevant fix (a simulated unanswerable query): trained on
    exactly the decision `no_match` makes."""

    def fit(data: dict[str, Any], qids: list[str], relevant: Any, feats: tuple[str, ...]) -> Any:
        ranker = rf.fit(data, qids, relevant, feats)
        rows, ys = [], []
        for qid in qids:
            pool = data["full"][qid]
            order = rf.predict(ranker, pool)
            got = {p["id"]: p for p in pool}
            if order:
                top = got[order[0][0]]
                rows.append([top["x"][f] for f in cal])
                ys.append(int(top["id"] in relevant[qid]))
            rest = [got[i] for i, _ in order if i not in relevant[qid]]
            if rest:
                rows.append([rest[0]["x"][f] for f in cal])
                ys.append(0)
        calibrator = _logistic()
        calibrator.fit(np.array(rows, dtype=float), np.array(ys))
        return TwoStage(ranker, calibrator, feats, cal)

    return fit


# ---------------------------------------------------------------- what was compared

STEM_EXACT = SHIPPED[:-1]
FEATURE_ROWS: dict[str, tuple[str, ...]] = {
    "shipped": SHIPPED,
    **{
        f"shipped + {f}": (*SHIPPED, f)
        for f in (
            "title_missing",
            "title_missing_any",
            "title_coverage_soft",
            "title_missing_idf",
            "title_complete",
            "contrast_issue",
            "contrast_whole",
            "contrast_idf",
            "unknown_share",
            "issue_bigrams",
        )
    },
    "known words only + unknown_share": (
        "cosine",
        "known_bm25_stem",
        "known_coverage_stem",
        "known_issue_coverage_stem",
        "known_issue_coverage",
        "title_coverage",
        "unknown_share",
    ),
    "shipped + unknown_share + contrast_whole (forward selection on leave-one-out)": (
        *SHIPPED,
        "unknown_share",
        "contrast_whole",
    ),
    "shipped + contrast_idf + title_missing_idf": (*SHIPPED, "contrast_idf", "title_missing_idf"),
    "shipped + contrast_idf + cosine_issue (2nd embedding, title df)": (
        *SHIPPED,
        "contrast_idf",
        "cosine_issue",
    ),
    "stem + exact + title_complete + cosine_issue (round 3's best AUROC)": (
        *STEM_EXACT,
        "title_complete",
        "cosine_issue",
    ),
}
MODEL_ROWS: dict[str, rf.Fitter] = {
    "hard negatives x10": fit_hard_negatives(10.0),
    "+ training folds' abstention pools": fit_with_abstention_pools,
    "spline calibrator, 4 knots, C=1": fit_spline(4, 1.0),
    "spline calibrator, 4 knots, C=0.1": fit_spline(4, 0.1),
    "two-stage: calibrator on top hits + simulated unanswerables": fit_two_stage(SHIPPED),
    "two-stage, calibrator on issue_coverage + cosine": fit_two_stage(("issue_coverage", "cosine")),
}


SLOW_ROWS: dict[str, rf.Fitter] = {  # --all: a minute of tree predictions on 2 cores
    "monotone boosted trees, depth 2": fit_monotone_boosting,
}
# Won on the 26 unanswerable queries, lost on the leave-one-out ones: `paired_difference`.
SUSPECT = "two-stage, calibrator on issue_coverage + cosine"


def _tops(
    data: dict[str, Any], queries: list[Any], fitter: rf.Fitter
) -> tuple[dict[str, float], dict[str, float], dict[str, float], dict[str, float]]:
    """Per query, out of fold: top relevance of right answers and unanswerable queries
    (abstention run), and the same for the leave-one-out simulation."""
    hard = [q for q in queries if q["variant"] == "hard"]
    gone = set(data["held_out_fixes"])
    relevant = {q["qid"]: q["relevant"] for q in queries}
    right, unans, loo_right, loo_unans = {}, {}, {}, {}
    for k in range(rf.FOLDS):
        train = [q["qid"] for q in hard if rf.fold_of(q["alert"]) != k]
        model = fitter(data, train, relevant, SHIPPED)
        for q in (q for q in hard if rf.fold_of(q["alert"]) == k):
            qid = q["qid"]
            top = rf.predict(model, data["abstention"][qid])
            if rf.unanswerable(q, gone):
                unans[qid] = top[0][1] if top else 0.0
            elif top and top[0][0] in q["relevant"]:
                right[qid] = top[0][1]
            full = rf.predict(model, data["full"][qid])
            if full and full[0][0] in q["relevant"]:
                loo_right[qid] = full[0][1]
            rest = [r for i, r in full if i not in q["relevant"]]
            loo_unans[qid] = rest[0] if rest else 0.0
    return right, unans, loo_right, loo_unans


def paired_difference(
    data: dict[str, Any], queries: list[Any], fitter: rf.Fitter, rounds: int = rf.BOOTSTRAP
) -> dict[str, Any]:
    """AUROC of `fitter` minus the shipped model's, same queries resampled for both:
    median and 95% interval, on the 26 unanswerable queries and on the 98 leave-one-out ones."""
    a, b = _tops(data, queries, rf.fit), _tops(data, queries, fitter)
    rng = np.random.default_rng(0)
    out: dict[str, Any] = {}
    for name, (ra, ua, rb, ub) in {
        "abstention run": (a[0], a[1], b[0], b[1]),
        "leave-one-out": (a[2], a[3], b[2], b[3]),
    }.items():
        right, unans = sorted(set(ra) & set(rb)), sorted(set(ua) & set(ub))
        diffs = []
        for _ in range(rounds):
            r, u = rng.choice(right, len(right)), rng.choice(unans, len(unans))
            diffs.append(
                rf.auroc([rb[x] for x in r], [ub[x] for x in u])
                - rf.auroc([ra[x] for x in r], [ua[x] for x in u])
            )
        q = np.quantile(diffs, [0.025, 0.5, 0.975])
        out[name] = {"median": round(float(q[1]), 3), "95": [round(float(v), 3) for v in q[::2]]}
    return out


def row(res: dict[str, Any]) -> dict[str, Any]:
    f = res["fold_means"]
    return {
        "R@1": f["hard_R@1"],
        "MRR@10": f["hard_MRR@10"],
        "para_R@1": f["para_R@1"],
        "AUROC": f["AUROC"],
        "AUROC_fold_sd": res["AUROC_fold_sd"],
        "AUROC_pooled": round(res["pooled"]["AUROC"], 3),
        "AUROC_95": res["AUROC_95"],
        "no_match": f["no_match_unanswerable"],
        "flagged": f["flagged_right"],
        "no_match_at_10pct": res["best_bar"]["no_match"],
        "loo_AUROC": res["leave_one_out"]["AUROC"],
        "loo_no_match_at_10pct": res["leave_one_out"]["no_match"],
    }


def explore(
    data: dict[str, Any], fixes: list[Any], queries: list[Any], slow: bool = False
) -> dict[str, Any]:
    """Every row, cross-validated as bench.relevance_fit does; `no_match` / `flagged` at the
    bar each fold chose, `no_match_at_10pct` the most any bar gets (pooled, a ceiling)."""
    add_features(data, fixes, queries)
    out: dict[str, Any] = {}
    for name, feats in FEATURE_ROWS.items():
        out[name] = row(rf.evaluate(data, queries, ("hard",), feats))
    for name, fitter in (MODEL_ROWS | (SLOW_ROWS if slow else {})).items():
        out[f"shipped features, {name}"] = row(
            rf.evaluate(data, queries, ("hard",), SHIPPED, fitter)
        )
    out[f"paired difference to shipped: {SUSPECT}"] = paired_difference(
        data, queries, MODEL_ROWS[SUSPECT]
    )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--all", action="store_true", help="also the slow rows (boosted trees)")
    args = ap.parse_args(argv)
    if not rf.CACHE.exists():
        print(f"{rf.CACHE} missing: run `python -m bench.relevance_fit` first", file=sys.stderr)
        return 2
    fixes, queries = load(rf.DATA)
    data = json.loads(rf.CACHE.read_text())
    rf.recompute(data, fixes)
    out = explore(data, fixes, queries, slow=args.all)
    for name, r in out.items():
        print(f"{name}: {json.dumps(r)}", flush=True)
    (rf.OUT / "relevance_explore.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
