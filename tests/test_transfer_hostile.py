"""Hostile import files: refused at the bad line, with both stores left consistent.

The import stops at the first bad record and says which line; the valid records
before it are written to both stores, the bad one and everything after it to
neither. Real FalkorDB and Postgres (the session's servers).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from obsmem.memory import Memory


def _fix(i: int, **extra: object) -> dict:
    return {"type": "fix", "id": f"good-{i}", "issue": f"disk full on node {i}",
            "solution": f"rotated logs on node {i}", "ts": 1_700_000_000_000 + i, **extra}  # fmt: skip


def _write(path: Path, bad_line: str, dim: int = 384) -> None:
    header = {"type": "header", "format": "obsmem-export", "version": 1, "dim": dim,
              "with_vectors": True, "model": "x"}  # fmt: skip
    lines = [json.dumps(header), json.dumps(_fix(1)), bad_line, json.dumps(_fix(3)),
             json.dumps({"type": "end", "agents": 0, "fixes": 3, "outcomes": 0})]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")


def _ids(mem: Memory) -> tuple[set[str], set[str]]:
    import psycopg

    graph = {r["id"] for r in mem.manager.graph._read("MATCH (f:Fix) RETURN f.id AS id")}
    with psycopg.connect(mem.settings.database_url) as conn:
        vectors = {r[0] for r in conn.execute("SELECT id FROM fixes").fetchall()}
    return graph, vectors


HOSTILE = {
    "huge ts": json.dumps(_fix(2, ts=10**15)),
    "negative ts": json.dumps(_fix(2, ts=-5)),
    "huge last_seen": json.dumps(_fix(2, last_seen=10**16)),
    "bool count": json.dumps(_fix(2, occurrences=True)),
    "huge count": json.dumps(_fix(2, successes=10**20)),
    "long signature": json.dumps(_fix(2, signature="s" * 6000)),
    "signature not text": json.dumps(_fix(2, signature={"a": 1})),
    "wrong embedding dim": json.dumps(_fix(2, embedding=[0.1] * 17)),
    "nan in embedding": json.dumps(_fix(2)).replace("}", ', "embedding": [NaN]}'),
    "deep nesting": '{"type": "fix", "metadata": ' + "[" * 200_000 + "]" * 200_000 + "}",
    "deep metadata": json.dumps(
        _fix(2, metadata={"a": {"b": {"c": {"d": {"e": {"f": {"g": {"h": {"i": 1}}}}}}}}})
    ),
    "huge line": json.dumps(_fix(2, solution="x" * 5_000_000)),
    "not json": "{nope",
    "secret in id": json.dumps({**_fix(2), "id": "AKIA" + "IOSFODNN7EXAMPLE"}),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_record_stops_the_import_at_its_line_and_nothing_is_half_written(
    fresh_memory: Memory, tmp_path: Path, case: str
) -> None:
    from obsmem.transfer import TransferError, import_file

    path = tmp_path / "hostile.jsonl"
    _write(path, HOSTILE[case], dim=fresh_memory.manager.embedder_dim)
    with pytest.raises(TransferError, match=r"(line |:)3\b") as err:
        import_file(fresh_memory.manager, path)
    assert len(str(err.value)) < 500  # a clear message, not the record echoed back
    graph, vectors = _ids(fresh_memory)
    assert graph == vectors == {"good-1"}, (graph, vectors)
    # the pages that a bad ts once broke still answer
    assert [f.id for f in fresh_memory.get_recent_fixes(10)] == ["good-1"]
    assert fresh_memory.stats()


def test_a_huge_line_is_not_read_whole(tmp_path: Path) -> None:
    """The reader stops after MAX_LINE_CHARS instead of holding a 300 MB line."""
    import tracemalloc

    from obsmem.transfer import MAX_LINE_CHARS, TransferError, read_records

    path = tmp_path / "big.jsonl"
    header = json.dumps({"type": "header", "format": "obsmem-export", "version": 1})
    with path.open("w") as f:
        f.write(header + "\n")
        f.write('{"type": "fix", "issue": "')
        chunk = "y" * 1_000_000
        for _ in range(40):  # 40 MB on one line
            f.write(chunk)
        f.write('"}\n')
    tracemalloc.start()
    with pytest.raises(TransferError, match="longer than"):
        list(read_records(path))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < MAX_LINE_CHARS * 6  # a few copies of the cap, never the 40 MB line
