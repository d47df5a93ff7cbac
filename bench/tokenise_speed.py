"""Splitting fix text into words: the word regex vs the ASCII fast path, and what a recall's
per-fix term profile costs on a cache miss with each (interleaved, this thread's CPU).

    python -m bench.tokenise_speed [--fixes 4000] [--rounds 6]

Texts: the varied corpus' fixes (bench/generate.py) and recall-bench's 196 runbooks
(/work/shared/data/recall-bench.jsonl, read in place). The word and stem caches are
warm, as in a running server; the profile itself is computed uncached (a miss: what
24 of 30 pooled fixes cost per recall at varied 100k).
"""

from __future__ import annotations

import argparse
import time
import unicodedata
from collections.abc import Callable

from bench.generate import fixes
from bench.measure import emit, load, machine
from bench.recall_quality import DATA
from bench.recall_quality import load as load_bench
from obsmem import recall as rc
from obsmem import text


def regex_words(s: str) -> list[str]:
    """text._words as it was: NFKC, NULs and placeholders out, then the word regex."""
    s = unicodedata.normalize("NFKC", s[: text.MAX_TEXT_CHARS]).replace("\x00", " ")
    return text._WORD.findall(text._PLACEHOLDER.sub(" ", s))


def _per_fix_us(fn: Callable[[str, str], object], texts: list[tuple[str, str]]) -> float:
    t = time.thread_time()
    for a, b in texts:
        fn(a, b)
    return (time.thread_time() - t) / len(texts) * 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixes", type=int, default=4000)
    ap.add_argument("--rounds", type=int, default=6)
    args = ap.parse_args(argv)
    fast = text._words
    corpora = {
        "varied": [(f["issue"], f["solution"]) for f in fixes(args.fixes, seed=0)],
        "recall-bench": [(f["issue"], f["solution"]) for f in load_bench(DATA)[0]] * 10,
    }
    for pairs in corpora.values():  # warm the word and stem caches
        for a, b in pairs:
            rc._profile.__wrapped__(a, b)
    variants = {"regex": regex_words, "fast": fast}
    runs: dict[str, list[float]] = {}
    try:
        for r in range(args.rounds):
            for name in list(variants)[:: 1 if r % 2 == 0 else -1]:
                words = variants[name]
                text._words = words  # what text.tokens and the profile call
                for corpus, pairs in corpora.items():
                    runs.setdefault(f"{corpus} words x2 {name}", []).append(
                        _per_fix_us(lambda a, b, w=words: (w(a), w(b)), pairs)
                    )
                    runs.setdefault(f"{corpus} profile miss {name}", []).append(
                        _per_fix_us(rc._profile.__wrapped__, pairs)
                    )
    finally:
        text._words = fast
    info = {
        "machine": machine(),
        "load_after": load(),
        "us_per_fix_median": {k: round(sorted(v)[len(v) // 2], 1) for k, v in runs.items()},
    }
    emit(info, None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
