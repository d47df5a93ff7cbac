"""The example agent runs one real round in-process: check, recall, apply, remember, heartbeat."""

from __future__ import annotations

import importlib.util
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from obsmem.memory import Memory
from tests.test_transfer import env_for, store_settings

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "obs_agent.py"


@pytest.fixture
def agent_mod(monkeypatch: pytest.MonkeyPatch):
    spec = importlib.util.spec_from_file_location("obs_agent", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "obs_agent", mod)  # dataclasses look their module up
    spec.loader.exec_module(mod)  # type: ignore[union-attr]
    return mod


def test_one_round_in_process(agent_mod, embedded, embedder, tmp_path: Path,
                              monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    settings = store_settings(embedded, tmp_path, "agent_")
    for key, value in env_for(settings).items():
        monkeypatch.setenv(key, value)
    with Memory.open(settings, embedder=embedder) as mem:
        known = mem.remember("TCP port 127.0.0.1:5999 not answering: connection refused",
                             "systemctl restart the service listening on the port", success=True)  # fmt: skip
    with socket.socket() as s:  # a port that is certainly closed
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    junk = tmp_path / "junk"
    junk.mkdir()
    old = junk / "old.log"
    old.write_text("x")
    week_ago = time.time() - 8 * 86400
    os.utime(old, (week_ago, week_ago))
    (junk / "new.log").write_text("y")

    done = agent_mod.loop(agent_mod.parse([
        "--local", "--once", "--name", "agent-under-test", "--port", str(closed),
        "--disk-path", str(tmp_path), "--disk-threshold", "0", "--load-threshold", "1000",
        "--apply", "--clean-dir", str(junk),
    ]))  # fmt: skip

    by_service = {d["finding"].split(" ")[0]: d for d in done}
    assert set(by_service) == {"Filesystem", "TCP"}
    assert by_service["TCP"]["suggested"] == known.id  # recalled the fix that worked
    assert by_service["TCP"]["fix_id"] is None  # a suggestion it did not apply is not remembered
    # applied, then re-checked: a 0% threshold still fires, so the outcome is "didn't fix it"
    assert by_service["Filesystem"]["applied"] and by_service["Filesystem"]["success"] is False
    assert not old.exists() and (junk / "new.log").exists()

    with Memory.open(settings, embedder=embedder) as mem:
        agent = mem.get_agent("agent-under-test")
        assert agent is not None and agent.status == "active"
        assert agent.server == socket.gethostname()
        applied = mem.get_fix(by_service["Filesystem"]["fix_id"])
        assert applied is not None and applied.failures == 1 and applied.successes == 0
        assert applied.agent == "agent-under-test"
        assert mem.get_fix(known.id).occurrences == 1  # a new wording, not a merge
        assert mem.count_fixes() == 2  # the known fix + the action it ran; no guesses

    # a problem nothing in memory matches: nothing suggested, nothing applied, nothing stored
    backend = agent_mod.Backend(agent_mod.parse(["--local"]))
    try:
        finding = agent_mod.Finding(
            issue="Certificate for api.example.org expires in 3 days",
            service="tls",
            severity="high",
        )
        out = agent_mod.handle(backend, finding, agent_mod.parse(["--local", "--name", "t"]))
    finally:
        backend.close()
    assert out["suggested"] is None and out["fix_id"] is None and not out["applied"]
    with Memory.open(settings, embedder=embedder) as mem:
        assert mem.count_fixes() == 2


def test_checks_see_the_real_machine(agent_mod) -> None:
    assert agent_mod.check_disk("/", 0).issue.startswith("Filesystem / ")
    assert agent_mod.check_disk("/", 100.1) is None
    assert agent_mod.check_load(10_000) is None
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        assert agent_mod.check_port("127.0.0.1", server.getsockname()[1]) is None
