"""Where the time goes: pyinstrument over recall and single remember at one corpus size.

    .venv/bin/python -m bench.profile --size 10000 [--queries 200] [--html out.html]

Loads the corpus the way `python -m bench` does (synthetic embeddings for the
base, real ones for the pool), then profiles the calls an agent makes. For the
native side (torch kernels, libpq waits) use py-spy on the same command:
`py-spy record --native -o recall.svg -- .venv/bin/python -m bench.profile ...`.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench import ingest
from bench.corpus import Pool, load_synthetic, open_memory
from bench.generate import fixes, queries


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.profile")
    p.add_argument("--size", type=int, default=10_000)
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--remembers", type=int, default=50)
    p.add_argument(
        "--pool", type=int, default=300, help="fixes embedded for real (seed the synthetic rest)"
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--html", help="also write pyinstrument's HTML report here")
    a = p.parse_args(argv)
    from pyinstrument import Profiler

    pool_n = min(a.pool, a.size // 2)
    base = a.size - pool_n - a.remembers
    with tempfile.TemporaryDirectory(prefix="obsmem-bench-profile-") as tmp:
        mem = open_memory(Path(tmp))
        try:
            pool_items = list(fixes(pool_n, seed=a.seed, start=base))
            _, vecs = ingest.embed_ceiling(mem, pool_items)
            load_synthetic(mem, 0, base, a.seed, Pool(pool_items, vecs))
            mem.remember_many(pool_items)
            qs = queries(a.queries + 20, corpus_size=a.size, seed=a.seed)
            for q in qs[:20]:
                mem.recall(q.text)
            singles = list(fixes(a.remembers, seed=a.seed, start=base + pool_n))
            prof = Profiler(interval=0.0005)
            with prof:
                for q in qs[20:]:
                    mem.recall(q.text)
                for item in singles:
                    mem.remember(**item)
            print(prof.output_text(unicode=False, color=False, show_all=False))
            if a.html:
                Path(a.html).write_text(prof.output_html())
        finally:
            mem.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
