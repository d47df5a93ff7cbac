"""Feedback with a trail: one vote per (fix, agent, voter key), changeable, in both stores."""

from __future__ import annotations

import uuid

import pytest


def _figures(mem, fix_id):
    graph = mem.manager.graph.get_fix(fix_id)
    row = mem.manager.vectors.get_rows([fix_id])[fix_id]
    return (graph.successes, graph.failures), (row["successes"], row["failures"])


def test_a_vote_counts_once_and_can_be_changed(memory):
    fid = memory.remember(
        f"vote test {uuid.uuid4().hex}: pod crashloop after config push", "roll back the config map"
    ).id
    session = uuid.uuid4().hex
    first = memory.feedback(fid, True, agent="alice", vote=session)
    assert first["vote"] == "new" and first["agent"] == "alice"
    assert _figures(memory, fid) == ((1, 0), (1, 0))
    again = memory.feedback(fid, True, agent="alice", vote=session)
    assert again["vote"] == "unchanged" and again["event_id"] == first["event_id"]
    assert _figures(memory, fid) == ((1, 0), (1, 0))

    changed = memory.feedback(fid, False, agent="alice", vote=session)
    assert changed["vote"] == "changed"
    assert _figures(memory, fid) == ((0, 1), (0, 1))
    detail = memory.fix_detail(fid)
    assert [(o["agent"], o["success"]) for o in detail["outcomes"]] == [("alice", False)]
    assert detail["fix"]["success"] is False

    # another voter, and a vote without an agent name, are their own votes
    memory.feedback(fid, True, agent="bob", vote=session)
    memory.feedback(fid, True, vote=uuid.uuid4().hex)
    assert _figures(memory, fid) == ((2, 1), (2, 1))
    agents = sorted(o["agent"] for o in memory.fix_detail(fid)["outcomes"])
    assert agents == ["alice", "bob", "dashboard"]


def test_a_replayed_vote_change_counts_once(memory):
    """The outbox may deliver a write twice: the change is keyed on its own event id."""
    from obsmem.model import Outcome

    fid = memory.remember(
        f"replay vote {uuid.uuid4().hex}: kafka lag spike", "add two consumers"
    ).id
    first = memory.feedback(fid, True, agent="carol", vote="s1")
    change = Outcome(
        "vote-replay-" + uuid.uuid4().hex,
        fid,
        False,
        first["event_id"] and 2**41,
        "carol",
        replaces=first["event_id"],
    )
    for _ in range(2):
        memory.manager.graph.record_outcomes([change])
        memory.manager.vectors.record_outcomes([change])
    assert _figures(memory, fid) == ((0, 1), (0, 1))


@pytest.mark.parametrize("vote", ["", " " * 3, "x" * 300])
def test_bad_vote_keys_are_refused(memory, vote):
    from obsmem.model import ValidationError

    fid = memory.remember(f"bad vote {uuid.uuid4().hex}", "nothing").id
    if vote.strip():
        with pytest.raises(ValidationError):
            memory.feedback(fid, True, vote=vote)
    else:  # blank means "no vote key": a plain outcome
        assert "vote" not in memory.feedback(fid, True, vote=vote)
