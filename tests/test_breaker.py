"""The circuit breaker on its own: open on an outage, fail fast, probe, close, tell the owner."""

from __future__ import annotations

import threading

import pytest

from obsmem.errors import GraphUnavailable, is_unavailable
from obsmem.stores import breaker as B
from tests import waiting


class Flaky:
    """A stand-in target with a real outage switch (the breaker only needs `ping`)."""

    def __init__(self) -> None:
        self.down = True
        self.calls = 0
        self.pings = 0

    def ping(self) -> float:
        self.pings += 1
        if self.down:
            raise ConnectionRefusedError("refused")
        return 0.1

    def read(self, x: int) -> int:
        self.calls += 1
        if self.down:
            raise GraphUnavailable("down")
        return x * 2

    def buggy(self) -> None:
        self.calls += 1
        raise ValueError("a bug, not an outage")


@pytest.fixture(autouse=True)
def fast_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(B, "PROBE_INTERVAL_S", 0.02)


def make(target: Flaky, on_close: list[int]) -> tuple[B.Breaker, Flaky]:
    br = B.Breaker("graph", lambda: target, is_outage=is_unavailable, make_error=GraphUnavailable,
                   on_close=lambda: on_close.append(1))  # fmt: skip
    return br, B.guarded(br, lambda: target)


def wait_for(cond, timeout: float = 5.0) -> bool:
    return waiting.wait_for(cond, timeout, 0.01)


def test_closed_breaker_passes_calls_through() -> None:
    target = Flaky()
    target.down = False
    br, store = make(target, [])
    assert store.read(21) == 42 and not br.is_open
    assert br.state() == {
        "open": False,
        "open_for_s": None,
        "last_error": None,
        "kind": None,
        "since": None,
    }


def test_outage_opens_then_calls_fail_fast_until_the_probe_closes_it() -> None:
    target, closed = Flaky(), []
    br, store = make(target, closed)
    with pytest.raises(GraphUnavailable):
        store.read(1)
    assert br.is_open and target.calls == 1
    assert br.last_error == "GraphUnavailable: down"
    for _ in range(5):  # open: the store is not even called
        with pytest.raises(GraphUnavailable, match="graph is unavailable"):
            store.read(1)
    assert target.calls == 1
    assert wait_for(lambda: target.pings >= 2)  # probing while down keeps it open
    assert br.is_open and closed == []
    target.down = False
    assert wait_for(lambda: not br.is_open)
    assert wait_for(lambda: closed == [1])
    assert store.read(5) == 10 and target.calls == 2
    br.stop()


def test_a_bug_does_not_open_the_breaker() -> None:
    target = Flaky()
    target.down = False
    br, store = make(target, [])
    with pytest.raises(ValueError, match="a bug"):
        store.buggy()
    assert not br.is_open and target.calls == 1


def test_one_prober_however_many_trips() -> None:
    target = Flaky()
    br, _ = make(target, [])
    threads = [threading.Thread(target=br.trip, args=(GraphUnavailable("x"),)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    probers = [t for t in threading.enumerate() if t.name == "obsmem-probe-graph"]
    assert len(probers) == 1
    br.stop()
    assert wait_for(lambda: not probers[0].is_alive())
    assert br.is_open  # stopped, not closed: nobody saw the store answer


def test_attributes_that_are_not_methods_pass_through() -> None:
    target = Flaky()
    br, store = make(target, [])
    br.trip(GraphUnavailable("x"))
    assert store.down is True  # plain attributes are read even while open
    br.stop()
