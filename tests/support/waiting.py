"""The one polling helper of the tests: wait until a check passes, or fail saying what for."""
from __future__ import annotations

import time


def wait_for(check, timeout: float = 15.0, what: str = "condition", interval: float = 0.05):
    """Poll `check` until it returns something truthy (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
