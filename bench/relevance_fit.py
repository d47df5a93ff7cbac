"""Fit and check recall's calibrated `relevance` (obsmem/recall.py) on recall-bench.

Through the real stores of one fresh Memory: every fix goes in with
`remember_many`; each query's top candidates (the pool recall scores) come
with the features recall computes. Then the abstention protocol of the data's
README: the fixes of held-out alerts (sha1(alert) % 4 == 0) are deleted and
the hard queries run again.

A logistic regression over the features (label: "is the query's relevant fix")
is both the calibrator and the ranker. It is checked with 5 folds by alert
(fold = sha1("fold:" + alert) % 5; a fold's alerts never train its model):
R@1 / MRR@10 on hard queries and the hard-paraphrase slice, and on the
abstention run the AUROC of the top hit's relevance between answerable queries
answered right at rank 1 and unanswerable ones, with the shares flagged
`no_match`. Fold means are reported. The final coefficients are fitted on all
queries; paste them into obsmem/recall.py.

    .venv/bin/python -m bench.relevance_fit [--cached]

--cached reuses bench/out/relevance_features.json (skips the stores and the model) and
recomputes every feature from its stored query statistics with the current
`obsmem.recall.features`, so a new feature can be tried in seconds; only the
"Memory.recall end to end" figures then still describe the run that made the cache.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench.recall_quality import DATA as QUALITY_DATA
from bench.recall_quality import load, slices

DATA = (
    QUALITY_DATA
    if QUALITY_DATA.exists()
    else Path(__file__).resolve().parents[2] / "shared" / "data" / QUALITY_DATA.name
)
OUT = Path(__file__).with_name("out")
CACHE = OUT / "relevance_features.json"
FOLDS = 5
C_REG = 1.0  # inverse L2 strength of the logistic regression
TARGET_FLAGGED = 0.10
BOOTSTRAP = 1000  # resamples for the AUROC interval
# The final model is trained on the hard queries only: an easy query carries its alert's
# name, the title of the runbook it wants, so title_coverage is a giveaway there
# (CV with hard+easy training: R@1 0.903, paraphrase 0.765, vs 0.912 / 0.799 on hard).
TRAIN_VARIANTS = ("hard",)
BARS = (
    0.03,
    0.05,
    0.08,
    0.1,
    0.12,
    0.15,
    0.2,
    0.3,
    0.5,
)  # a bar may flag at most this share of right rank-1 answers


def held_out(alert: str) -> bool:
    """The abstention protocol's held-out alerts (data README)."""
    return int(hashlib.sha1(alert.encode()).hexdigest(), 16) % 4 == 0


def fold_of(alert: str) -> int:
    return int(hashlib.sha1(("fold:" + alert).encode()).hexdigest(), 16) % FOLDS


def _pool(
    scored: list[Any], to_bench: dict[str, str], extra: dict[str, dict[str, float]]
) -> list[dict[str, Any]]:
    out = []
    for s in scored:
        x = {**s.features, **extra.get(s.fix.id, {})}
        x["keyword_rank"] = 1.0 / s.cand.keyword_rank if s.cand.keyword_rank else 0.0
        x["vector_rank"] = 1.0 / s.cand.vector_rank if s.cand.vector_rank else 0.0
        out.append({"id": to_bench.get(s.fix.id, s.fix.id), "x": x, "rel": s.relevance})
    return out


def collect(root: Path, path: Path = DATA, embedder: Any = None) -> dict[str, Any]:
    """Features of every query's candidate pool, on the full store and on the abstention store."""
    from bench.corpus import open_memory
    from obsmem import text
    from obsmem.model import FixFilter
    from obsmem.recall import CANDIDATES, ENRICH, MAX_QUERY_TERMS, Pipeline, query_terms

    fixes, queries = load(path)
    t0 = time.perf_counter()
    mem = open_memory(root, embedder)
    try:
        items = [
            {"issue": f["issue"], "solution": f["solution"], "metadata": {"bench_id": f["id"]}}
            for f in fixes
        ]
        stored = mem.remember_many(items)
        to_bench = {r.id: f["id"] for r, f in zip(stored, fixes, strict=True)}
        to_obsmem = {b: o for o, b in to_bench.items()}

        # Tried as a feature: cosine to an embedding of the issue text alone (what a second,
        # issue-only embedding column would give).
        emb = mem.manager.embedder
        issue_vecs = dict(zip(to_bench, emb.embed_many([f["issue"] for f in fixes]), strict=True))

        terms: dict[str, dict[str, Any]] = {"full": {}, "abstention": {}}

        def pools(sel: list[dict[str, Any]], run: str) -> dict[str, list[dict[str, Any]]]:
            out = {}
            for q in sel:
                pipe = Pipeline(mem.manager, mem.params, every_feature=True)
                scored = pipe.score(q["query"], FixFilter(), CANDIDATES, ENRICH)
                # the query's term statistics, so features can be recomputed offline (--cached)
                docs, avgdl, df = mem.manager.vectors.term_stats(
                    text.query_terms(q["query"], MAX_QUERY_TERMS)
                )
                qt = query_terms(q["query"], docs, avgdl, df)
                terms[run][q["qid"]] = {"qtf": qt.qtf, "idf": qt.idf, "avgdl": qt.avgdl}
                qv = emb.embed_query(q["query"])
                extra = {
                    s.fix.id: {"cosine_issue": float(np.dot(issue_vecs[s.fix.id], qv))}
                    for s in scored
                }
                out[q["qid"]] = _pool(scored, to_bench, extra)
            return out

        full = pools(queries, "full")
        hard = [q for q in queries if q["variant"] == "hard"]
        gone = sorted({fid for q in hard if held_out(q["alert"]) for fid in q["relevant"]})
        mem.delete_fixes([to_obsmem[f] for f in gone if f in to_obsmem])
        abst = pools(hard, "abstention")
        # end to end: what Memory.recall itself says at the default bar
        e2e = {}
        for q in hard:
            res = mem.recall(q["query"], k=1)
            top = res[0] if res else None
            e2e[q["qid"]] = {
                "top": to_bench.get(top.fix.id, top.fix.id) if top else None,
                "relevance": top.relevance if top else 0.0,
                "no_match": res.no_match,
            }
    finally:
        mem.close()
    return {
        "full": full,
        "abstention": abst,
        "recall_end_to_end": e2e,
        "held_out_fixes": gone,
        "terms": terms,
        "seconds": round(time.perf_counter() - t0, 1),
    }


def recompute(data: dict[str, Any], fixes: list[dict[str, Any]]) -> None:
    """Features of the cached pools again, with today's `features()` (cosines are kept)."""
    from obsmem.model import Fix
    from obsmem.recall import QueryTerms, features, relevance

    by_id = {f["id"]: f for f in fixes}
    for run in ("full", "abstention"):
        for qid, pool in data[run].items():
            t = data.get("terms", {}).get(run, {}).get(qid)
            if t is None:
                continue
            q = QueryTerms(t["qtf"], t["idf"], t["avgdl"])
            for p in pool:
                f = by_id.get(p["id"])
                if f is not None:
                    fix = Fix(id="x", issue=f["issue"], solution=f["solution"], ts=0)
                    p["x"].update(features(q, fix, p["x"]["cosine"]))
                    p["rel"] = relevance(p["x"])


# ---------------------------------------------------------------- metrics


def auroc(pos: Sequence[float], neg: Sequence[float]) -> float:
    """Probability that a random positive outranks a random negative (ties count half)."""
    if len(pos) == 0 or len(neg) == 0:
        return float("nan")
    p = np.asarray(pos, dtype=float)[:, None]
    n = np.asarray(neg, dtype=float)[None, :]
    return float(((p > n) + 0.5 * (p == n)).mean())


def auroc_interval(
    pos: Sequence[float], neg: Sequence[float], rounds: int = BOOTSTRAP, seed: int = 0
) -> tuple[float, float]:
    """95% bootstrap interval of `auroc` (queries resampled on both sides): with 26
    unanswerable queries it is about +-0.09, wider than most feature-set differences."""
    if len(pos) == 0 or len(neg) == 0:
        return (float("nan"), float("nan"))
    rng = np.random.default_rng(seed)
    p, n = np.asarray(pos, dtype=float), np.asarray(neg, dtype=float)
    got = [auroc(rng.choice(p, len(p)), rng.choice(n, len(n))) for _ in range(rounds)]
    lo, hi = np.quantile(got, [0.025, 0.975])
    return (round(float(lo), 3), round(float(hi), 3))


def rank_metrics(ranked: dict[str, list[str]], sel: list[dict[str, Any]]) -> dict[str, float]:
    r1 = mrr = 0.0
    for q in sel:
        top = ranked[q["qid"]][:10]
        hit = next((i for i, fid in enumerate(top) if fid in q["relevant"]), None)
        if hit is not None:
            r1 += hit == 0
            mrr += 1 / (hit + 1)
    n = max(len(sel), 1)
    return {"R@1": r1 / n, "MRR@10": mrr / n, "n": len(sel)}


def unanswerable(q: dict[str, Any], gone: set[str]) -> bool:
    return all(f in gone for f in q["relevant"])


def abstention(
    top: dict[str, tuple[str, float]], hard: list[dict[str, Any]], bar: float, gone: set[str]
) -> dict[str, float]:
    """Top-hit relevance: right-at-1 answerable vs unanswerable; shares below `bar`."""
    right, unans = [], []
    for q in hard:
        fid, rel = top.get(q["qid"], ("", 0.0))
        if unanswerable(q, gone):
            unans.append(rel)
        elif fid in q["relevant"]:
            right.append(rel)
    return {
        "AUROC": auroc(right, unans),
        "no_match_unanswerable": float(np.mean([r < bar for r in unans]))
        if unans
        else float("nan"),
        "flagged_right": float(np.mean([r < bar for r in right])) if right else float("nan"),
        "n_right": len(right),
        "n_unanswerable": len(unans),
    }


# ---------------------------------------------------------------- model


def design(pool: list[dict[str, Any]], feats: tuple[str, ...]) -> np.ndarray:
    return np.array([[p["x"][f] for f in feats] for p in pool], dtype=float).reshape(
        len(pool), len(feats)
    )


def fit(
    data: dict[str, Any], qids: list[str], relevant: dict[str, list[str]], feats: tuple[str, ...]
) -> Any:
    from sklearn.linear_model import LogisticRegression

    xs, ys = [], []
    for qid in qids:
        pool = data["full"][qid]
        xs.append(design(pool, feats))
        ys.extend(int(p["id"] in relevant[qid]) for p in pool)
    model = LogisticRegression(C=C_REG, max_iter=1000)
    model.fit(np.vstack(xs), np.array(ys))
    model.obsmem_features = feats
    return model


def predict(model: Any, pool: list[dict[str, Any]]) -> list[tuple[str, float]]:
    """(id, relevance) best first. A model with its own `ranked` (one model orders, another
    gives relevance: bench.relevance_explore) answers itself."""
    if not pool:
        return []
    if hasattr(model, "ranked"):
        return list(model.ranked(pool))
    p = model.predict_proba(design(pool, model.obsmem_features))[:, 1]
    return sorted(
        zip([x["id"] for x in pool], p.tolist(), strict=True), key=lambda t: (-t[1], t[0])
    )


def choose_bar(right: list[float], target: float = TARGET_FLAGGED) -> float:
    """The highest bar that flags at most `target` of right answers (a low quantile of their relevance)."""
    if not right:
        return 0.5
    return float(np.quantile(np.array(right), target))


Fitter = Callable[[dict[str, Any], list[str], dict[str, list[str]], tuple[str, ...]], Any]


def best_bar(
    right: list[float], unans: list[float], target: float = TARGET_FLAGGED
) -> dict[str, float]:
    """The most `no_match` any bar gets on these out-of-fold relevances while flagging at
    most `target` of right answers (a ceiling for the default bar, not a choice of it)."""
    best = {"no_match": 0.0, "flagged": 0.0, "bar": 0.0}
    for r in sorted(set(right) | set(unans)):
        bar = r + 1e-9
        flagged = float(np.mean([x < bar for x in right])) if right else 0.0
        said = float(np.mean([x < bar for x in unans])) if unans else 0.0
        if flagged <= target and said > best["no_match"]:
            best = {"no_match": round(said, 3), "flagged": round(flagged, 3), "bar": round(bar, 3)}
    return best


def evaluate(
    data: dict[str, Any],
    queries: list[dict[str, Any]],
    train_variants: tuple[str, ...],
    feats: tuple[str, ...],
    fitter: Fitter = fit,
) -> dict[str, Any]:
    """5-fold CV by alert. Besides the data README's abstention protocol (26 unanswerable
    queries), every test query is also scored as if its relevant fix were gone: the
    best remaining candidate of its full-store pool stands for an unanswerable query
    ("leave-one-out", 98 of them; the pool's other candidates and statistics are as
    stored, so it is an approximation of deleting the fix, and a less noisy one)."""
    sl = slices(queries)
    hard = sl["hard"]
    gone = set(data["held_out_fixes"])
    relevant = {q["qid"]: q["relevant"] for q in queries}
    per_fold = []
    pooled_right: list[float] = []
    pooled_unans: list[float] = []
    loo_right: list[float] = []
    loo_unans: list[float] = []
    oof_top: dict[str, tuple[str, float]] = {}
    oof_rank: dict[str, list[str]] = {}
    for k in range(FOLDS):
        train = [
            q["qid"] for q in queries if q["variant"] in train_variants and fold_of(q["alert"]) != k
        ]
        test = [q for q in hard if fold_of(q["alert"]) == k]
        model = fitter(data, train, relevant, feats)
        full_pred = {q["qid"]: predict(model, data["full"][q["qid"]]) for q in test}
        ranked = {qid: [i for i, _ in pred] for qid, pred in full_pred.items()}
        for q in test:
            pred = full_pred[q["qid"]]
            if pred and pred[0][0] in q["relevant"]:
                loo_right.append(pred[0][1])
            rest = [r for i, r in pred if i not in q["relevant"]]
            loo_unans.append(rest[0] if rest else 0.0)
        oof_rank.update(ranked)
        top = {}
        for q in test:
            pred = predict(model, data["abstention"][q["qid"]])
            top[q["qid"]] = pred[0] if pred else ("", 0.0)
        oof_top.update(top)
        # the bar is chosen on the training folds only (their own out-of-sample predictions are
        # not available here, so use in-sample right answers: slightly optimistic)
        train_hard = [q for q in hard if q["qid"] in set(train)]
        right_train = []
        for q in train_hard:
            pred = predict(model, data["full"][q["qid"]])
            if pred and pred[0][0] in q["relevant"]:
                right_train.append(pred[0][1])
        bar = choose_bar(right_train)
        paraphrase = [q for q in sl["hard-paraphrase"] if fold_of(q["alert"]) == k]
        fold = {
            "fold": k,
            "bar": bar,
            **{f"hard_{a}": b for a, b in rank_metrics(ranked, test).items()},
            **{f"para_{a}": b for a, b in rank_metrics(ranked, paraphrase).items()},
            **abstention(top, test, bar, gone),
        }
        per_fold.append(fold)
        for q in test:
            fid, rel = top[q["qid"]]
            if unanswerable(q, gone):
                pooled_unans.append(rel)
            elif fid in q["relevant"]:
                pooled_right.append(rel)

    def mean(key: str) -> float:
        vals = [f[key] for f in per_fold if not np.isnan(f[key])]
        return float(np.mean(vals)) if vals else float("nan")

    keys = [
        "hard_R@1",
        "hard_MRR@10",
        "para_R@1",
        "para_MRR@10",
        "AUROC",
        "no_match_unanswerable",
        "flagged_right",
    ]
    return {
        "folds": per_fold,
        "fold_means": {k: round(mean(k), 3) for k in keys},
        "pooled": {
            **{f"hard_{a}": b for a, b in rank_metrics(oof_rank, hard).items()},
            **{f"para_{a}": b for a, b in rank_metrics(oof_rank, sl["hard-paraphrase"]).items()},
            "AUROC": auroc(pooled_right, pooled_unans),
            "right_relevance_q10": choose_bar(pooled_right),
        },
        "AUROC_95": auroc_interval(pooled_right, pooled_unans),
        "AUROC_fold_sd": round(float(np.nanstd([f["AUROC"] for f in per_fold])), 3),
        "leave_one_out": {
            "AUROC": round(auroc(loo_right, loo_unans), 3),
            **best_bar(loo_right, loo_unans),
        },
        "best_bar": best_bar(pooled_right, pooled_unans),
        # out-of-fold top-hit relevance against candidate bars: what each default would do
        "bars": {
            str(bar): {
                "no_match_unanswerable": round(float(np.mean([r < bar for r in pooled_unans])), 3),
                "flagged_right": round(float(np.mean([r < bar for r in pooled_right])), 3),
            }
            for bar in BARS
        },
        "oof_top": oof_top,
    }


def baselines(data: dict[str, Any], queries: list[dict[str, Any]]) -> dict[str, float]:
    """AUROC of the top cosine / top BM25 feature alone, on the abstention run (for comparison)."""
    hard = [q for q in queries if q["variant"] == "hard"]
    gone = set(data["held_out_fixes"])
    out = {}
    for name in ("cosine", "bm25"):
        top = {}
        for q in hard:
            pool = data["abstention"][q["qid"]]
            best = max(pool, key=lambda p: p["x"][name]) if pool else {"id": "", "x": {name: 0.0}}
            top[q["qid"]] = (best["id"], best["x"][name])
        out[f"top_{name}_AUROC"] = round(abstention(top, hard, 0.0, gone)["AUROC"], 3)
    # what the shipped coefficients give, in-sample (the pipeline's own relevance)
    top = {}
    for q in hard:
        pool = data["abstention"][q["qid"]]
        best = max(pool, key=lambda p: p["rel"]) if pool else {"id": "", "rel": 0.0}
        top[q["qid"]] = (best["id"], best["rel"])
    from obsmem.recall import DEFAULT_MIN_RELEVANCE

    shipped = abstention(top, hard, DEFAULT_MIN_RELEVANCE, gone)
    out.update({f"shipped_{k}": round(v, 3) for k, v in shipped.items()})
    return out


# Feature sets compared with --explore (the shipped one is obsmem.recall.FEATURES).
# keyword_rank / vector_rank depend on the other candidates, so they may order but
# never calibrate; cosine_issue needs a second (issue-only) embedding per fix.
CANDIDATE_SETS: dict[str, tuple[str, ...]] = {
    "exact": ("cosine", "bm25", "coverage", "issue_coverage"),
    "exact+issue_bm25": ("cosine", "bm25", "coverage", "issue_coverage", "issue_bm25"),
    "exact+cosine_issue": ("cosine", "bm25", "coverage", "issue_coverage", "cosine_issue"),
    "cos+bm25": ("cosine", "bm25"),
    "stem": ("cosine", "bm25_stem", "coverage_stem", "issue_coverage_stem"),
    "stem+exact_issue": (
        "cosine", "bm25_stem", "coverage_stem", "issue_coverage_stem", "issue_coverage",
    ),
    "stem+exact_issue+cosine_issue": (
        "cosine", "bm25_stem", "coverage_stem", "issue_coverage_stem", "issue_coverage", "cosine_issue",
    ),
    "stem+exact_issue+title_coverage (shipped)": (
        "cosine", "bm25_stem", "coverage_stem", "issue_coverage_stem", "issue_coverage",
        "title_coverage",
    ),
    "shipped+cosine_issue": (
        "cosine", "bm25_stem", "coverage_stem", "issue_coverage_stem", "issue_coverage",
        "title_coverage", "cosine_issue",
    ),
    "stem+keyword_rank (not absolute)": (
        "cosine", "bm25_stem", "coverage_stem", "issue_coverage_stem", "keyword_rank",
    ),
}  # fmt: skip


def run(
    root: Path | None = None,
    embedder: Any = None,
    path: Path = DATA,
    cached: bool = False,
    sets: dict[str, tuple[str, ...]] | None = None,
) -> dict[str, Any]:
    from obsmem.recall import FEATURES

    if not path.exists():
        return {"skipped": f"{path} not found"}
    fixes, queries = load(path)
    if cached and CACHE.exists():
        data = json.loads(CACHE.read_text())
        recompute(data, fixes)
    else:
        with tempfile.TemporaryDirectory(prefix="obsmem-relfit-", dir=root) as tmp:
            data = collect(Path(tmp), path, embedder)
        OUT.mkdir(exist_ok=True)
        CACHE.write_text(json.dumps(data))
    results: dict[str, Any] = {"features": list(FEATURES), "seconds_collect": data.get("seconds")}
    for name, feats in (sets or {"shipped": tuple(FEATURES)}).items():
        for variants in (("hard",), ("hard", "easy")):
            res = evaluate(data, queries, variants, feats)
            res.pop("oof_top")
            results[f"cv[{name}] train " + "+".join(variants)] = res
    relevant = {q["qid"]: q["relevant"] for q in queries}
    final = fit(
        data,
        [q["qid"] for q in queries if q["variant"] in TRAIN_VARIANTS],
        relevant,
        tuple(FEATURES),
    )
    results["final"] = {
        "intercept": round(float(final.intercept_[0]), 3),
        "coefs": {k: round(float(c), 3) for k, c in zip(FEATURES, final.coef_[0], strict=True)},
    }
    if sets:  # --explore: also round 4's bench-only features and model forms
        from bench.relevance_explore import explore

        results["round4"] = explore(json.loads(json.dumps(data)), fixes, queries)
    results["baselines"] = baselines(data, queries)
    if "recall_end_to_end" in data:
        results["recall_end_to_end"] = end_to_end(data, queries)
    return results


def end_to_end(data: dict[str, Any], queries: list[dict[str, Any]]) -> dict[str, Any]:
    """The abstention protocol through Memory.recall (shipped coefficients and default bar)."""
    from obsmem.recall import DEFAULT_MIN_RELEVANCE

    hard = [q for q in queries if q["variant"] == "hard"]
    gone = set(data["held_out_fixes"])
    e2e = data["recall_end_to_end"]
    right = [
        e2e[q["qid"]]
        for q in hard
        if not unanswerable(q, gone) and e2e[q["qid"]]["top"] in q["relevant"]
    ]
    unans = [e2e[q["qid"]] for q in hard if unanswerable(q, gone)]
    answerable = [q for q in hard if not unanswerable(q, gone)]
    return {
        "min_relevance": DEFAULT_MIN_RELEVANCE,
        "AUROC": round(auroc([r["relevance"] for r in right], [r["relevance"] for r in unans]), 3),
        "no_match_unanswerable": round(float(np.mean([r["no_match"] for r in unans])), 3),
        "flagged_right": round(float(np.mean([r["no_match"] for r in right])), 3),
        "answerable_R@1": round(len(right) / max(len(answerable), 1), 3),
        "n_right": len(right),
        "n_answerable": len(answerable),
        "n_unanswerable": len(unans),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cached", action="store_true", help="reuse bench/out/relevance_features.json")
    ap.add_argument(
        "--explore",
        action="store_true",
        help="also cross-validate the other feature sets and model forms (bench.relevance_explore)",
    )
    args = ap.parse_args(argv)
    out = run(cached=args.cached, sets=CANDIDATE_SETS if args.explore else None)
    for key, res in out.items():
        if key.startswith("cv"):
            print(f"{key}: fold means {res['fold_means']}")
            print(f"  pooled {json.dumps({k: round(v, 3) for k, v in res['pooled'].items()})}")
            print(f"  bars (out of fold) {json.dumps(res['bars'])}")
            print(
                f"  AUROC pooled 95% interval {res['AUROC_95']}, fold sd {res['AUROC_fold_sd']};"
                f" best bar at <= 10% flagged {res['best_bar']};"
                f" leave-one-out unanswerable {res['leave_one_out']}"
            )
    for name, res in out.get("round4", {}).items():
        print(f"round 4 [{name}]: {json.dumps(res)}")
    print("final:", out["final"])
    print("baselines:", out["baselines"])
    print("Memory.recall end to end:", out.get("recall_end_to_end"))
    (OUT / "relevance_fit.json").write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
