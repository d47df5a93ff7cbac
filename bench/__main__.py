"""`python -m bench [--full] [--sizes 10000,100000] [--no-http] [--no-quality]`.

Quick (default): 10k fixes + recall quality + relevance calibration/abstention
(bench.relevance_fit), < 6 minutes on 2 cores.
Full: 10k, 100k and 1M. Prints markdown tables and the targets met/missed, and
writes everything to bench/out/<timestamp>.json (and .md). Each size and the
quality run get their own temp data dir, deleted afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from bench import quality, relevance_fit, report, scale
from bench.measure import machine

OUT = Path(__file__).with_name("out")


def _args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--full", action="store_true", help="10k, 100k and 1M fixes")
    p.add_argument("--sizes", help="comma-separated corpus sizes, e.g. 10000,100000")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--queries", type=int, help="recall queries per latency run")
    p.add_argument("--bulk", type=int, help="fixes ingested with real embedding per size")
    p.add_argument("--no-http", action="store_true", help="skip the server subprocess")
    p.add_argument("--no-quality", action="store_true", help="skip the recall-bench quality run")
    p.add_argument("--tmp", help="parent dir for the temp data dirs (default: system temp)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    a = _args(argv)
    if a.sizes:
        sizes = [int(s.replace("_", "")) for s in a.sizes.split(",") if s.strip()]
    else:
        sizes = [10_000, 100_000, 1_000_000] if a.full else [10_000]
    plan = scale.Plan(
        bulk=a.bulk or (5000 if a.full else 500),
        queries=a.queries or (500 if a.full else 300),
        http=not a.no_http,
    )
    results: dict[str, Any] = {
        "command": "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "mode": "full" if a.full else "quick",
        "machine": machine(),
        "plan": plan.__dict__,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "sizes": [],
    }
    from obsmem.embed import Embedder

    embedder = Embedder().load()  # one model for every Memory this run opens
    t0 = time.perf_counter()
    OUT.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix=f"obsmem-bench-{size}-", dir=a.tmp) as tmp:
            results["sizes"].append(scale.run_size(size, a.seed, Path(tmp), plan, embedder))
        (OUT / f"{stamp}.partial.json").write_text(json.dumps(results, indent=2, default=str))
    if not a.no_quality:
        scale.log("recall quality on recall-bench")
        with tempfile.TemporaryDirectory(prefix="obsmem-bench-quality-", dir=a.tmp) as tmp:
            results["quality"] = quality.run(Path(tmp), embedder)
        scale.log("relevance calibration and abstention on recall-bench (5-fold CV by alert)")
        with tempfile.TemporaryDirectory(prefix="obsmem-bench-relevance-", dir=a.tmp) as tmp:
            results["relevance"] = relevance_fit.run(Path(tmp), embedder)
    results["seconds"] = round(time.perf_counter() - t0, 1)
    results["targets"] = report.targets(results)
    text = report.markdown(results)
    print(text)
    (OUT / f"{stamp}.partial.json").unlink(missing_ok=True)
    (OUT / f"{stamp}.json").write_text(json.dumps(results, indent=2, default=str))
    (OUT / f"{stamp}.md").write_text(text)
    print(f"\nwrote {OUT / stamp}.json and .md", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
