"""Interleaved A/B of the recall pipeline: a baseline `obsmem/recall.py` from git vs this tree's.

    python -m bench.recall_ab --keep /work/h1-rep10k --corpus repetitive --queries 300 [--base main]

Both pipelines run in one process against the same open stores, alternating
query by query (ABBA order, so neither always goes first), so that load on a
shared machine falls on both alike. The baseline module is `git show
BASE:obsmem/recall.py` loaded under another name; it calls the store methods
it called then, so those must still exist. Each variant gets its own query text
(trailing spaces differ) so the embedder's LRU cache never answers. Also checks
that both return the same hits with the same relevance (quality unchanged).
Fill the data dir first with `python -m bench.recall_speed --keep DIR --only-fill`.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from bench.corpus import open_memory
from bench.measure import load, run_info, summary
from bench.recall_speed import _queries
from obsmem import recall as rc

ROOT = Path(__file__).resolve().parent.parent


def base_module(ref: str) -> ModuleType:
    src = subprocess.run(
        ["git", "show", f"{ref}:obsmem/recall.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    spec = importlib.util.spec_from_loader("obsmem_recall_base", loader=None)
    assert spec is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["obsmem_recall_base"] = mod  # dataclasses look their module up
    exec(compile(src, f"{ref}:obsmem/recall.py", "exec"), mod.__dict__)
    return mod


def _run(mod: ModuleType, mem: Any, q: str, k: int) -> Any:
    flt = mod.build_filter()
    return mod.recall(mem.manager, mem.params, q, k, flt, min_relevance=mod.DEFAULT_MIN_RELEVANCE)


def _same(a: Any, b: Any) -> bool:
    def key(res: Any) -> list[Any]:
        return [
            (h.fix.id, h.relevance, {k: v for k, v in h.why.items() if k != "recency"}) for h in res
        ]

    return key(a) == key(b)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", type=Path, required=True, help="a filled data dir")
    ap.add_argument("--corpus", choices=("repetitive", "varied"), default="repetitive")
    ap.add_argument("--size", type=int, default=10_000, help="for the varied corpus' queries")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--base", default="main", help="git ref of the baseline recall.py")
    ap.add_argument("--rounds", type=int, default=1, help="passes over the queries")
    args = ap.parse_args(argv)
    base = base_module(args.base)
    variants = {"base": base, "new": rc}
    queries = _queries(args.corpus, args.queries, args.size, args.seed)
    info: dict[str, Any] = run_info(args)
    mem = open_memory(args.keep)
    try:
        mem.manager.embedder.warm()
        for q in queries[:10]:
            for mod in variants.values():
                _run(mod, mem, q + " ", args.k)
        info["load_before"] = load()
        lat: dict[str, list[float]] = {v: [] for v in variants}
        stages: dict[str, dict[str, list[float]]] = {v: {} for v in variants}
        differ = 0
        n = 0
        for r in range(args.rounds):
            for i, q in enumerate(queries):
                order = ["base", "new"] if (i + r) % 2 == 0 else ["new", "base"]
                got = {}
                for name in order:
                    text = q + " " * (1 + 2 * r + (name == "new"))  # never an embedder cache hit
                    t = time.perf_counter()
                    res = _run(variants[name], mem, text, args.k)
                    lat[name].append((time.perf_counter() - t) * 1000)
                    got[name] = res
                    for s, v in res.timings_ms.items():
                        stages[name].setdefault(s, []).append(v)
                differ += not _same(got["base"], got["new"])
                n += 1
        info["load_after"] = load()
        info["recall"] = {v: summary(x) for v, x in lat.items()}
        info["stage_p50"] = {
            v: {s: summary(x)["p50"] for s, x in st.items()} for v, st in stages.items()
        }
        info["queries_with_different_hits"] = f"{differ}/{n}"
    finally:
        mem.close()
    print(json.dumps(info, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
