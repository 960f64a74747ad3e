"""The one polling helper of the tests: wait until a check passes, or fail saying what for
(`wait_for`), and its form for a camera stream (`next_item`)."""
from __future__ import annotations

import time

from edge.camera.frames import Frame, StreamEvent


def wait_for(check, timeout: float = 15.0, what: str = "condition", interval: float = 0.05):
    """Poll `check` until it returns something truthy (returned) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def next_item(stream, kind, within: float):
    """The next item of `kind` (a Frame, or a StreamEvent kind name) within `within` seconds."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        item = stream.get(timeout=0.5)
        if kind is Frame and isinstance(item, Frame):
            return item
        if isinstance(item, StreamEvent) and item.kind == kind:
            return item
    raise AssertionError(f"no {kind} within {within} s; status {stream.status}")
