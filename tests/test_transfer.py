"""Export -> file -> import into empty stores gives the same memory and the same recall answers."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from obsmem.config import Settings
from obsmem.memory import Memory

QUERIES = [
    "pod restarting with exit code 137 OOMKilled",
    "postgres replica is minutes behind primary",
    "too many connections to the database",
    "certificate expired x509 error",
    "kafka consumers falling behind",
    "disk full no space left on device",
    "dns lookups time out from pods",
    "rabbitmq publishers blocked memory alarm",
]


def store_settings(embedded, tmp_path: Path, prefix: str) -> Settings:
    """Settings for an empty graph and an empty database on the session's servers."""
    import psycopg

    pg = embedded.postgres_url()
    name = prefix + uuid.uuid4().hex[:10]
    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return Settings(
        data_dir=tmp_path / name,
        falkordb_url=embedded.falkordb_url(),
        falkordb_graph=name,
        database_url=pg.replace("/postgres?", f"/{name}?"),
        demo=False,
    )


def env_for(settings: Settings) -> dict[str, str]:
    """The environment under which the CLI opens exactly these stores."""
    return {
        "OBSMEM_DATA_DIR": str(settings.data_dir),
        "FALKORDB_URL": settings.falkordb_url or "",
        "OBSMEM_GRAPH": settings.falkordb_graph,
        "DATABASE_URL": settings.database_url or "",
        "OBSMEM_DEMO": "0",
        "HF_HUB_OFFLINE": "1",
    }


@pytest.fixture(scope="module")
def seeded(embedded, embedder, tmp_path_factory) -> Iterator[Memory]:
    """A memory holding the demo set plus one feedback, shared by the module (read-only)."""
    from obsmem.demo import seed

    settings = store_settings(embedded, tmp_path_factory.mktemp("seeded"), "src_")
    with Memory.open(settings, embedder=embedder) as mem:
        seed(mem)
        fix = mem.get_recent_fixes(1)[0]
        mem.feedback(fix.id, False, agent="oncall-copilot")
        yield mem


@pytest.fixture
def empty(embedded, embedder, tmp_path) -> Iterator[Memory]:
    with Memory.open(store_settings(embedded, tmp_path, "dst_"), embedder=embedder) as mem:
        yield mem


def top5(mem: Memory) -> list[list[tuple[str, float]]]:
    return [[(h.fix.id, round(h.score, 4)) for h in mem.recall(q, 5)] for q in QUERIES]


def shrink(path: Path, fixes: int) -> None:
    """Keep the header, agents and the first `fixes` fixes (with their outcomes); fix the end."""
    kept, counts, seen = [], {"agents": 0, "fixes": 0, "outcomes": 0}, 0
    for line in path.read_text().splitlines():
        rec = json.loads(line)
        if rec["type"] == "fix":
            seen += 1
        if rec["type"] == "end" or seen > fixes:
            continue
        if rec["type"] != "header":
            counts[{"agent": "agents", "fix": "fixes", "outcome": "outcomes"}[rec["type"]]] += 1
        kept.append(line)
    kept.append(json.dumps({"type": "end", **counts}))
    path.write_text("\n".join(kept) + "\n")


def body(path: Path) -> list[str]:
    """The file without its header (which carries the export time)."""
    return path.read_text().splitlines()[1:]


@pytest.fixture(scope="module")
def backup(seeded: Memory, tmp_path_factory) -> Path:
    from obsmem.transfer import export

    path = tmp_path_factory.mktemp("backup") / "backup.jsonl"
    export(seeded.manager, path)
    return path


def test_round_trip_gives_identical_recall(seeded: Memory, empty: Memory, backup: Path,
                                           tmp_path: Path) -> None:  # fmt: skip
    from obsmem.reconcile import reconcile
    from obsmem.transfer import export, import_file

    lines = [json.loads(x) for x in backup.read_text().splitlines()]
    counts = lines[-1]
    assert counts["fixes"] == 61 and counts["agents"] == 8 and counts["outcomes"] >= 100
    assert lines[0]["format"] == "obsmem-export" and lines[0]["version"] == 1
    assert lines[0]["model"] == "all-MiniLM-L6-v2" and lines[0]["dim"] == 384
    assert counts["type"] == "end"
    assert not any("embedding" in r for r in lines)

    summary = import_file(empty.manager, backup, batch_size=16)
    assert summary["fixes"] == 61 and summary["embedded"] == 61

    assert top5(empty) == top5(seeded)
    assert empty.stats()["graph"] == seeded.stats()["graph"]
    report = reconcile(empty.manager)
    assert report.drift == 0, report.to_dict()

    # The copy exports to the same file: agents, fixes, figures, outcomes and event ids.
    again = tmp_path / "again.jsonl"
    export(empty.manager, again)
    assert body(again) == body(backup)

    # Importing the same file again changes nothing and embeds nothing.
    before = empty.stats()["graph"]
    summary = import_file(empty.manager, backup)
    assert summary["embedded"] == 0 and summary["vectors_existing"] == 61
    assert empty.stats()["graph"] == before
    export(empty.manager, again)
    assert body(again) == body(backup)
    assert reconcile(empty.manager).drift == 0


def test_with_vectors_skips_embedding(seeded: Memory, empty: Memory, tmp_path: Path) -> None:
    import numpy as np

    from obsmem.transfer import export, import_file

    path = tmp_path / "vectors.jsonl"
    export(seeded.manager, path, with_vectors=True)
    fixes = [json.loads(x) for x in path.read_text().splitlines() if '"type":"fix"' in x]
    assert all(len(f["embedding"]) == 384 for f in fixes)
    summary = import_file(empty.manager, path)
    assert summary["vectors_reused"] == 61 and summary["embedded"] == 0
    ids = [f["id"] for f in fixes[:5]]
    src, dst = seeded.manager.vectors.get_embeddings(ids), empty.manager.vectors.get_embeddings(ids)
    for i in ids:
        assert np.array_equal(src[i], dst[i])
    assert top5(empty) == top5(seeded)


def test_other_model_in_file_means_re_embedding(
    seeded: Memory, empty: Memory, tmp_path: Path
) -> None:
    from obsmem.transfer import export, import_file

    path = tmp_path / "vectors.jsonl"
    export(seeded.manager, path, with_vectors=True)
    shrink(path, 4)
    lines = path.read_text().splitlines()
    header = json.loads(lines[0])
    header["model"] = "some-other-model"
    path.write_text("\n".join([json.dumps(header), *lines[1:]]) + "\n")
    summary = import_file(empty.manager, path)
    assert summary["vectors_reused"] == 0 and summary["embedded"] == 4


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "empty file"),
        ('{"type": "fix", "id": "x"}\n', "not an obsmem export"),
        ('{"type": "header", "format": "obsmem-export", "version": 99}\n', "version 99"),
        ("not json\n", "not JSON"),
    ],
)
def test_bad_files_are_refused_with_the_reason(empty: Memory, tmp_path: Path, content: str,
                                               message: str) -> None:  # fmt: skip
    from obsmem.transfer import TransferError, import_file

    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(TransferError, match=message):
        import_file(empty.manager, path)
    assert empty.count_fixes() == 0


def test_truncated_file_imports_what_it_has_and_says_so(seeded: Memory, empty: Memory,
                                                        tmp_path: Path) -> None:  # fmt: skip
    from obsmem.transfer import TransferError, export, import_file

    path = tmp_path / "cut.jsonl"
    export(seeded.manager, path)
    shrink(path, 3)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-1]) + "\n")  # the end record is gone
    with pytest.raises(TransferError, match="truncated"):
        import_file(empty.manager, path)
    assert empty.count_fixes() == 3


def test_invalid_record_names_line_and_field(empty: Memory, tmp_path: Path) -> None:
    from obsmem.transfer import TransferError, import_file

    header = {"type": "header", "format": "obsmem-export", "version": 1}
    fix = {"type": "fix", "id": "ok-id", "issue": "disk full", "solution": "", "ts": 1}
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(header) + "\n" + json.dumps(fix) + "\n")
    with pytest.raises(TransferError, match=r"line 2: solution"):
        import_file(empty.manager, path)
