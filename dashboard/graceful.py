"""Stopping a waitress server whose loop runs on another thread, without racing that loop.

Why: waitress 3.0.2 has no stop for a server run on a thread. Closing its sockets from
the stopping thread races the loop thread, which may `select` on a descriptor that was
just closed (EBADF: the loop thread dies with the exception) or accept a connection
after the sockets were listed (the loop then never ends), while request threads still
write to the trigger pipe that wakes it (EBADF again, or a write into whatever file
reused the number). Here the loop thread closes every socket itself, run there through
waitress's trigger (its documented way to run a callable on the loop), in this order:
stop accepting and drop idle connections; let running requests finish (the dispatcher's
own `shutdown`) while the loop still sends their answers; close what is left and take
the trigger out of the map. The map is then empty, so waitress's `run()` returns; the
stopping thread joins it and only then closes the trigger's pipe.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, MutableMapping
from functools import partial
from typing import Any, cast

from waitress import wasyncore
from waitress.channel import HTTPChannel
from waitress.server import BaseWSGIServer
from waitress.trigger import trigger as Trigger

log = logging.getLogger("dashboard.serve")

FLUSH_S = 2.0  # how long finished answers may take to reach their clients before a hard close
POLL_S = 0.05  # how often the stopping thread asks the loop to close what has finished


def stop(server: Any, thread: threading.Thread, grace: float = 5.0, timeout: float = 10.0) -> bool:
    """Stop `server` (from waitress.create_server) running `run()` on `thread`.

    Running requests get `grace` seconds to finish and their answers up to FLUSH_S more
    to be sent; the whole stop takes at most about `grace + timeout`. Returns whether
    the loop thread ended.
    """
    sockets = _socket_map(server)
    triggers = [obj for obj in sockets.values() if isinstance(obj, Trigger)]
    if thread.is_alive():
        _on_loop(triggers, partial(_stop_accepting, sockets))
        server.task_dispatcher.shutdown(cancel_pending=False, timeout=grace)
        flushed_by = time.monotonic() + FLUSH_S
        ends_by = time.monotonic() + timeout
        while thread.is_alive() and time.monotonic() < ends_by:
            force = time.monotonic() >= flushed_by
            _on_loop(triggers, partial(_close_finished, sockets, force))
            thread.join(POLL_S)
        if thread.is_alive():
            log.warning("the waitress loop thread did not end within %.1f s", timeout)
            return False
    else:  # no loop to race: this thread may close the sockets itself
        server.task_dispatcher.shutdown(cancel_pending=True, timeout=grace)
        _close_finished(sockets, force=True)
    # The loop only took the triggers out of its map. Their pipes close here, after the
    # join, unless a request thread outlived the grace time: it pulls the trigger when
    # it ends, and must not write into a closed (or reused) descriptor.
    if not server.task_dispatcher.threads:
        for trigger in triggers:
            trigger.close()
    return True


def _socket_map(server: Any) -> MutableMapping[int, Any]:
    """The loop's map: `_map` on one listening server, `map` on a MultiSocketServer."""
    sockets = getattr(server, "_map", None)
    return cast("MutableMapping[int, Any]", sockets if sockets is not None else server.map)


def _on_loop(triggers: list[Any], fn: Callable[[], None]) -> None:
    """Run `fn` on the loop thread, the one thread that may close the loop's sockets."""

    def logged() -> None:
        try:
            fn()
        except Exception:  # waitress would swallow it into a one-line log_info
            log.warning("stopping the server: a step on the loop thread failed", exc_info=True)

    if triggers:
        triggers[0].pull_trigger(logged)


def _stop_accepting(sockets: MutableMapping[int, Any]) -> None:
    """Close the listening sockets and the connections with nothing in flight."""
    for obj in list(sockets.values()):
        if isinstance(obj, BaseWSGIServer):
            # the plain dispatcher close: BaseWSGIServer.close would also close the trigger
            wasyncore.dispatcher.close(obj)
        elif isinstance(obj, HTTPChannel) and not obj.requests and not obj.total_outbufs_len:
            obj.handle_close()


def _close_finished(sockets: MutableMapping[int, Any], force: bool) -> None:
    """Close connections whose answers are out; once none is left, empty the map.

    Called once the request threads are gone, so a request still queued on a
    connection will not be served: that connection closes too. With the map empty,
    waitress's loop returns.
    """
    for obj in list(sockets.values()):
        if not isinstance(obj, HTTPChannel):
            continue
        if force or obj.requests or not obj.total_outbufs_len:
            obj.handle_close()
        else:
            obj.close_when_flushed = True  # the loop closes it once the answer is sent
    left = list(sockets.values())
    if any(isinstance(obj, HTTPChannel) for obj in left):
        return
    for obj in left:
        if isinstance(obj, Trigger):
            obj.del_channel()  # out of the map only: the stopping thread closes it after the join
        else:  # a listening socket, if the first step never ran
            wasyncore.dispatcher.close(obj)
