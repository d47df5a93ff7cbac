"""Do two `obsmem serve` checkouts answer the same? Recall answers compared field by field.

    python -m bench.answers_ab --data /tmp/serve-rep100k/data --a /tmp/obsmem-main --queries 300

A change meant only to cost less (bench.serve_ab, bench.serve_cpu measure that) must
not change what recall answers. Server A (the checkout in `--a`) and server B (this
one) attach to the same embedded stores and get the same queries (bench.repetitive,
as the served benches send them); per query the answers must have the same fields,
the same hits in the same order, and the same values, numbers to `--tolerance`
(`timings_ms` aside; scores are rounded to 6 decimals, so the default lets one rounding
step through). Prints the first differences and the largest number gap.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench import repetitive
from bench.api import Server, _client
from bench.measure import emit, load, run_info


def differences(a: Any, b: Any, tol: float, path: str = "") -> tuple[list[str], float]:
    """Where `a` and `b` differ (numbers beyond `tol`), and the largest number gap seen."""
    if isinstance(a, bool) or isinstance(b, bool) or a is None or b is None:
        return ([] if a == b else [f"{path}: {a!r} != {b!r}"]), 0.0
    if isinstance(a, int | float) and isinstance(b, int | float):
        gap = abs(float(a) - float(b))
        return ([] if gap <= tol else [f"{path}: {a!r} != {b!r}"]), gap
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            return [f"{path}: keys {list(a)} != {list(b)}"], 0.0
        out: list[str] = []
        worst = 0.0
        for k in a:
            if path == "" and k == "timings_ms":
                continue
            d, g = differences(a[k], b[k], tol, f"{path}.{k}")
            out += d
            worst = max(worst, g)
        return out, worst
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: {len(a)} items != {len(b)}"], 0.0
        out, worst = [], 0.0
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            d, g = differences(x, y, tol, f"{path}[{i}]")
            out += d
            worst = max(worst, g)
        return out, worst
    return ([] if a == b else [f"{path}: {a!r} != {b!r}"]), 0.0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--a", type=Path, required=True, help="code dir of server A")
    ap.add_argument("--queries", type=int, default=300)
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--tolerance", type=float, default=1.5e-6)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    info: dict[str, Any] = run_info(args)
    with tempfile.TemporaryDirectory(prefix="obsmem-answers-") as tmp:
        servers = {}
        try:
            for name, code in (("A", args.a), ("B", None)):
                servers[name] = Server(args.data, Path(tmp) / f"{name}.log", code_dir=code)
                servers[name].wait_ready(600)
            info["load_before"] = load()
            texts = [repetitive.query(700_000 + j) for j in range(args.queries)]
            with _client(servers["A"].url) as ca, _client(servers["B"].url) as cb:
                answers = [(ca.recall(t, k=args.k), cb.recall(t, k=args.k)) for t in texts]
        finally:
            for srv in servers.values():
                srv.stop()
    differing, worst, hits = [], 0.0, 0
    fields: Counter[str] = Counter()  # which fields differ, over every answer
    for text, (a, b) in zip(texts, answers, strict=True):
        diffs, gap = differences(a, b, args.tolerance)
        worst = max(worst, gap)
        hits += len(a.get("hits") or a.get("results") or [])
        fields.update(re.sub(r"\[\d+\]", "[]", d.split(":", 1)[0]) for d in diffs)
        if diffs:
            differing.append({"query": text, "first": diffs[:5]})
    info["queries"] = len(texts)
    info["hits_compared"] = hits
    info["answers_differing"] = len(differing)
    info["differing_fields"] = dict(fields.most_common())
    info["largest_number_gap"] = worst
    info["examples"] = differing[:5]
    info["load_after"] = load()
    emit(info, args.out)
    return 1 if differing else 0


if __name__ == "__main__":
    raise SystemExit(main())
