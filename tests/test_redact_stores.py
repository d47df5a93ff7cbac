"""The secret table end to end: what people paste never reaches a store, the outbox, a log or an export.

Every shape in `tests/test_redact.SECRET_TABLE` goes in through `Memory.remember`
(in every field a fix has) and through `obsmem import`; afterwards each secret is
looked for in every Postgres row, every graph property, the outbox file, the log
records and a fresh export. Real FalkorDB and Postgres (the session's servers).
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import pytest

from obsmem.memory import Memory
from tests.test_redact import AWS_ID, SECRET_TABLE
from tests.test_security import _graph_dump, _vectors_dump

NAME_FIELDS = ("agent", "service", "namespace", "severity")


def _single_line(text: str) -> bool:
    return "\n" not in text and len(text) <= 200


def _items() -> list[dict]:
    """Each table entry placed in a different field (names get the single-line ones)."""
    items = []
    for i, (text, secret) in enumerate(SECRET_TABLE):
        item = {
            "issue": f"case {i}: deploy failed",
            "solution": f"case {i}: rotated the credential",
            "metadata": {"case": i},
        }
        slot = i % 6
        if slot == 0:
            item["issue"] += "\n" + text
        elif slot == 1:
            item["solution"] += "\n" + text
        elif slot == 2:
            item["root_cause"] = text
        elif slot == 3:
            item["metadata"] = {"case": i, "log": {"lines": [text]}, text[:60]: "key as pasted"}
        elif slot == 4 and _single_line(text):
            item["tags"] = ["ci", text]
        elif slot == 5 and _single_line(text):
            item[NAME_FIELDS[i % 4]] = text
        else:
            item["issue"] += " " + text
        # and the value under a credential-like key, whatever the text around it
        item["metadata"]["credentials"] = {"db_password": secret, "nested": {"api_key": secret}}
        items.append(item)
    return items


def _everything(mem: Memory, export_path: Path) -> dict[str, str]:
    from obsmem.transfer import export

    data = Path(mem.settings.data_dir)
    outbox = ""
    for name in ("outbox.sqlite3", "outbox.sqlite3-wal"):
        if (data / name).exists():
            outbox += (data / name).read_bytes().decode("latin-1")
    export(mem.manager, export_path, with_vectors=False)
    logs = "".join(p.read_text(errors="replace") for p in data.rglob("*.log"))
    return {
        "graph": _graph_dump(mem),
        "postgres": _vectors_dump(mem),
        "outbox": outbox,
        "export": export_path.read_text(),
        "log files": logs,
    }


def _assert_absent(where: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    where = {**where, "log records": "\n".join(r.getMessage() for r in caplog.records)}
    for text, secret in SECRET_TABLE:
        for name, content in where.items():
            assert secret not in content, (
                f"{secret[:12]}... (from {text[:30]!r}) reached the {name}"
            )


def test_secret_table_through_remember(fresh_memory: Memory, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    mem = fresh_memory
    results = mem.remember_many(_items())
    assert all(r.redacted for r in results), [i for i, r in enumerate(results) if not r.redacted]
    mem.register_agent(AWS_ID, server="ci-runner")  # an access key id used as an agent name
    mem.heartbeat(AWS_ID)
    assert mem.drain(30)
    _assert_absent(_everything(mem, tmp_path / "export.jsonl"), caplog)
    assert mem.count_fixes() == len(SECRET_TABLE)


def test_a_secret_in_an_id_is_refused(fresh_memory: Memory) -> None:
    from obsmem.model import ValidationError

    with pytest.raises(ValidationError, match="credential"):
        fresh_memory.remember("disk full", "cleaned logs", id=AWS_ID)


def test_secret_table_queued_in_the_outbox(embedded, embedder, tmp_path: Path, caplog) -> None:
    """With the graph down, the graph's copy waits in the outbox file: redacted there too."""
    from obsmem.config import Settings
    from tests.conftest import _fresh_db
    from tests.dashboard.tcpproxy import TcpProxy

    caplog.set_level(logging.DEBUG)
    proxy, url = TcpProxy.for_url(embedded.falkordb_url())
    settings = Settings(data_dir=tmp_path / "q", falkordb_url=url,
                        falkordb_graph="q_" + uuid.uuid4().hex[:6], store_timeout_s=0.5,
                        database_url=_fresh_db(embedded.postgres_url(), "q_"), demo=False)  # fmt: skip
    with Memory.open(settings, embedder=embedder, replay=False) as mem:
        proxy.cut()
        results = mem.remember_many(_items()[:12])
        assert all("graph" in r.pending for r in results)
        queued = json.dumps([e.payload for e in mem.manager.outbox.peek("graph", 1000)])
    raw = "".join(
        p.read_bytes().decode("latin-1") for p in (tmp_path / "q").glob("outbox.sqlite3*")
    )
    for _, secret in SECRET_TABLE[:12]:
        assert secret not in queued and secret not in raw


def _import_file(path: Path, dim: int) -> None:
    header = {"type": "header", "format": "obsmem-export", "version": 1, "dim": dim}
    lines = [header]
    lines.append({"type": "agent", "name": AWS_ID, "server": "ci", "last_seen": 1_700_000_000_000})
    for i, item in enumerate(_items()):
        fix = {"type": "fix", "id": f"imp-{i}", "ts": 1_700_000_000_000 + i, **item}
        lines.append(fix)
        lines.append({"type": "outcome", "event_id": f"ev-{i}", "fix_id": f"imp-{i}",
                      "agent": AWS_ID if i % 2 else "importer", "ts": 1_700_000_000_500 + i,
                      "success": True})  # fmt: skip
    n = len(SECRET_TABLE)
    lines.append({"type": "end", "agents": 1, "fixes": n, "outcomes": n})
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))


def test_secret_table_through_import(fresh_memory: Memory, tmp_path: Path, caplog) -> None:
    from obsmem.transfer import import_file

    caplog.set_level(logging.DEBUG)
    mem = fresh_memory
    path = tmp_path / "in.jsonl"
    _import_file(path, mem.manager.embedder_dim)
    summary = import_file(mem.manager, path)
    assert summary["fixes"] == len(SECRET_TABLE) and summary["redacted"]
    path.unlink()  # the input held the secrets; what matters is what obsmem wrote
    _assert_absent(_everything(mem, tmp_path / "export.jsonl"), caplog)
