"""Polling for a condition in tests that watch background threads (breakers, replay, probes)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(cond: Callable[[], object], timeout: float = 20.0, interval: float = 0.05) -> bool:
    """True as soon as `cond()` is truthy; False if it is still falsy after `timeout` s."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(interval)
    return False
