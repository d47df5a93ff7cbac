"""`obsmem serve`'s warm-up: real recalls before /health says healthy, then the startup heap frozen."""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator

import pytest

from dashboard import serve


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()  # other tests run with the collector as they expect it


def test_warm_up_recalls_every_warm_query_then_sets_ready(dash_memory, unfrozen) -> None:
    asked: list[str] = []
    recall = dash_memory.recall

    def counting_recall(q: str, **kw):  # the real recall, counted
        asked.append(q)
        return recall(q, **kw)

    ready = threading.Event()
    dash_memory.recall = counting_recall
    try:
        serve.warm_up(dash_memory, ready)
    finally:
        del dash_memory.recall
    assert ready.is_set()
    assert asked == list(serve.WARM_QUERIES) * serve.WARM_ROUNDS
    assert len({len(q.split()) for q in serve.WARM_QUERIES}) >= 8  # many input lengths
    assert gc.get_freeze_count() > 0


def test_a_failing_warm_up_still_sets_ready(unfrozen) -> None:
    class Broken:  # Memory without its stores: every call fails
        manager = None

    ready = threading.Event()
    serve.warm_up(Broken(), ready)
    assert ready.is_set()
