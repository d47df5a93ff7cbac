"""`obsmem serve`'s warm-up: real recalls before /health says healthy."""

from __future__ import annotations

import threading

from dashboard import serve


def test_warm_up_recalls_every_warm_query_then_sets_ready(dash_memory) -> None:
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


def test_a_failing_warm_up_still_sets_ready() -> None:
    class Broken:  # Memory without its stores: every call fails
        manager = None

    ready = threading.Event()
    serve.warm_up(Broken(), ready)
    assert ready.is_set()


def test_a_server_stopped_while_warming_ends_the_warm_up(dash_memory) -> None:
    """Stopping stops the warm-up after its current recall, before the stores close."""
    asked: list[str] = []
    recall = dash_memory.recall
    ready, stop = threading.Event(), threading.Event()

    def stopping_recall(q: str, **kw):  # the real recall; the server stops during the third
        asked.append(q)
        if len(asked) == 3:
            stop.set()
        return recall(q, **kw)

    dash_memory.recall = stopping_recall
    try:
        serve.warm_up(dash_memory, ready, stop)
    finally:
        del dash_memory.recall
    assert asked == list(serve.WARM_QUERIES[:3]) and ready.is_set()


def test_the_server_freezes_its_warm_heap_before_it_says_ready() -> None:
    """`then` (the server's `freeze_heap`) runs after the warm-up, failed or not, and before
    `ready`; after it the objects alive then are out of the collector's walks."""
    import gc

    class Broken:
        manager = None

    seen: list[bool] = []
    ready = threading.Event()
    serve.warm_up(Broken(), ready, then=lambda: seen.append(ready.is_set()))
    assert seen == [False] and ready.is_set()
    kept = [object() for _ in range(3)] + [[]]  # a tracked object made before the freeze
    try:
        serve.freeze_heap()
        assert gc.get_freeze_count() > 0
        assert not any(o is kept[-1] for o in gc.get_objects())
    finally:
        gc.unfreeze()  # the test process collects as before
    assert any(o is kept[-1] for o in gc.get_objects())
