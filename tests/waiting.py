"""Waiting in tests: poll a condition until it holds or a deadline passes (never a fixed sleep)."""

import time


def wait_for(predicate, timeout: float = 20.0, what: str = "a condition", interval: float = 0.2):
    """Return the first truthy value of ``predicate()``; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
