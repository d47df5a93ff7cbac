"""The benchmark data generator: deterministic, varied, and its queries paraphrase their fix."""

from __future__ import annotations

import itertools
import re

from bench.generate import fix, fixes, queries, query_for
from obsmem.memory import Memory
from obsmem.model import ValidationError


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z][a-z_]{2,}", text.lower()))


def test_same_seed_same_text_and_other_seed_other_text() -> None:
    a = list(fixes(50, seed=3))
    assert a == list(fixes(50, seed=3))
    assert a[17] == fix(17, seed=3)  # random access agrees with the stream
    b = list(fixes(50, seed=4))
    assert sum(x["issue"] == y["issue"] for x, y in zip(a, b, strict=True)) < 3


def test_start_offset_continues_the_stream() -> None:
    assert list(fixes(5, seed=1, start=10)) == list(itertools.islice(fixes(15, seed=1), 10, 15))


def test_10k_issues_are_varied_not_a_counter_on_one_template() -> None:
    items = list(fixes(10_000, seed=0))
    issues = [f["issue"] for f in items]
    assert len(set(issues)) / len(issues) > 0.95
    assert len({f["solution"] for f in items}) / len(items) > 0.9
    # Without digits and hex ids, texts must still differ in shape, not only in identifiers.
    shapes = {re.sub(r"[0-9a-f]{5,}|\d+", "#", t) for t in issues}
    assert len(shapes) > 5_000
    assert len({f["tags"][0] for f in items}) >= 15  # systems
    assert len({f["service"] for f in items}) >= 100
    assert len({f["agent"] for f in items}) >= 8
    vocab = set().union(*(_words(t) for t in issues[:2000]))
    assert len(vocab) > 600
    success = sum(bool(f["success"]) for f in items) / len(items)
    assert 0.6 < success < 0.95


def test_every_fix_is_a_valid_remember_call() -> None:
    mem = Memory.__new__(Memory)  # _prepare validates and redacts; it touches no store
    for item in fixes(300, seed=9):
        try:
            write, _ = mem._prepare(item)
        except ValidationError as exc:  # pragma: no cover - the message is the point
            raise AssertionError(f"{exc}: {item}") from None
        assert write.issue and write.solution


def test_query_paraphrases_its_fix_without_copying_it() -> None:
    shared = 0
    for i in range(200):
        f, q = fix(i), query_for(i)
        assert q != f["issue"] and q not in f["issue"]
        assert query_for(i) == q  # deterministic
        shared += bool(_words(q) & _words(f["issue"] + " " + f["solution"]))
    assert shared > 180  # about the same problem: most share some words with their fix


def test_queries_are_distinct_and_target_the_corpus() -> None:
    qs = queries(500, corpus_size=1000, seed=2)
    assert len(qs) == 500
    assert len({q.text for q in qs}) == 500
    assert all(0 <= q.target < 1000 for q in qs)
    assert queries(500, corpus_size=1000, seed=2) == qs
