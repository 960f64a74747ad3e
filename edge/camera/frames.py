"""What capture hands to analysis: decoded frames, and events about the stream itself."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np


@dataclass(frozen=True, slots=True)
class Frame:
    index: int            # 0-based index of this frame in the source (skipped frames count)
    image: np.ndarray     # BGR uint8, the stream's own resolution
    ts: datetime          # capture time, UTC (for a file: its start time + pos_s)
    pos_s: float          # seconds since the start of the source (file position or stream uptime)
    fresh: bool = False   # first frames after a (re)connect: train the background, raise nothing


@dataclass(frozen=True, slots=True)
class StreamEvent:
    kind: Literal["lost", "restored"]
    ts: datetime
    details: dict[str, Any] = field(default_factory=dict)  # reason, outage_s, attempts, url (no password)
